//! Curvature of the training loss (SCIENCE.md section 3): exact Hessian-vector products,
//! Lanczos for extreme eigenvalues with certified error bounds, every eigenvalue above a
//! threshold with a miss certificate (`outliers`), Hutchinson and Hutch++ for the trace,
//! stochastic Lanczos quadrature for the spectral density. The Hessian is never formed, except
//! by `dense`, which exists to test the rest.

pub mod dense;
pub mod hvp;
pub mod lanczos;
pub mod outliers;
pub mod trace;
