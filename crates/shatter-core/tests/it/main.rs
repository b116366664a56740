//! Integration tests of shatter-core against golden values computed outside the project
//! (`tests/data`, see its README) and end-to-end properties of training.

mod bound;
mod curvature;
mod golden;
mod training;
