//! shatter-core: the numerics of shatter. Two-layer networks (SCIENCE.md section 2), exact
//! gradients and Hessian-vector products (section 3), Lanczos and friends for curvature,
//! training loops, and the measurements of sections 4 to 6. No files, no terminal, no database:
//! callers get results as values and progress through callbacks.

pub mod data;
pub mod float;
pub mod model;
pub mod rng;

pub use data::Dataset;
pub use float::{Float, Precision};
pub use model::{Activation, Network, Shape};
pub mod baseline;
pub mod batch;
pub mod construction;
pub mod grad;
pub mod hessian;
pub mod loss;
pub mod measure;
pub mod reference;
pub mod sensing;
pub mod theory;
pub mod train;

pub use loss::Loss;
