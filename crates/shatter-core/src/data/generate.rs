//! Generators of inputs and targets (SCIENCE.md sections 2 and 7).
