//! The Hessian of the training loss as a [`SymmetricOperator`] for Lanczos, and the sharpness
//! tracker that warm-starts each estimate from the previous top eigenvector.
//!
//! The operator acts on the trainable parameters only: with biases off its dimension is
//! `Shape::trainable()` and the `b` block never enters, so no spurious zero eigenvalue appears.

use super::lanczos::{
    extreme_eigenvalues, LanczosError, LanczosOptions, LanczosWorkspace, Spectrum,
    SymmetricOperator,
};
use crate::data::Dataset;
use crate::float::Float;
use crate::grad::{hvp, Workspace};
use crate::model::{Network, Shape};

/// Copies a vector on the trainable parameters into the full flat layout (`b` = 0 when off).
fn expand<F: Float>(shape: &Shape, compact: &[f64], full: &mut [F]) {
    if shape.bias {
        for (f, c) in full.iter_mut().zip(compact) {
            *f = F::of(*c);
        }
    } else {
        let (bo, vo) = (shape.b_offset(), shape.v_offset());
        for t in 0..bo {
            full[t] = F::of(compact[t]);
        }
        for f in &mut full[bo..vo] {
            *f = F::zero();
        }
        for t in vo..full.len() {
            full[t] = F::of(compact[t - (vo - bo)]);
        }
    }
}

/// Copies the trainable entries of a full flat vector into a compact one.
fn compress<F: Float>(shape: &Shape, full: &[F], compact: &mut [f64]) {
    if shape.bias {
        for (c, f) in compact.iter_mut().zip(full) {
            *c = f.to64();
        }
    } else {
        let (bo, vo) = (shape.b_offset(), shape.v_offset());
        for t in 0..bo {
            compact[t] = full[t].to64();
        }
        for t in vo..full.len() {
            compact[t - (vo - bo)] = full[t].to64();
        }
    }
}

/// Expands a compact eigenvector into the full layout (in `f64`), for saving or inspection.
pub fn expand_vector(shape: &Shape, compact: &[f64]) -> Vec<f64> {
    let mut full = vec![0.0; shape.len()];
    expand(shape, compact, &mut full);
    full
}

/// `H` at the network of the last forward in `ws`, on the trainable parameters.
pub struct HessianOperator<'a, F> {
    net: &'a Network<F>,
    data: &'a Dataset<F>,
    ws: &'a mut Workspace<F>,
    input: &'a mut [F],
    output: &'a mut [F],
    /// Number of products applied so far.
    pub products: usize,
}

impl<'a, F: Float> HessianOperator<'a, F> {
    /// Wraps the kernels; `ws` must hold a forward pass at `net` on `data`. `input` and `output`
    /// are scratch of length `net.shape.len()`.
    pub fn new(
        net: &'a Network<F>,
        data: &'a Dataset<F>,
        ws: &'a mut Workspace<F>,
        input: &'a mut [F],
        output: &'a mut [F],
    ) -> Self {
        HessianOperator {
            net,
            data,
            ws,
            input,
            output,
            products: 0,
        }
    }
}

impl<F: Float> SymmetricOperator for HessianOperator<'_, F> {
    fn dim(&self) -> usize {
        self.net.shape.trainable()
    }

    fn apply(&mut self, x: &[f64], y: &mut [f64]) {
        let shape = self.net.shape;
        expand(&shape, x, self.input);
        hvp(self.net, self.data, self.ws, self.input, self.output);
        compress(&shape, self.output, y);
        self.products += 1;
    }
}

/// One sharpness estimate: the Lanczos result plus the number of Hessian-vector products.
#[derive(Clone, Debug)]
pub struct SharpnessEstimate {
    /// Top eigenvalue `lambda_max(H)`.
    pub sharpness: f64,
    /// Certified bound on its error (Ritz residual).
    pub error_bound: f64,
    /// The whole Lanczos result (top-k, smallest, iterations, converged).
    pub spectrum: Spectrum,
    /// Hessian-vector products used.
    pub products: usize,
}

impl SharpnessEstimate {
    /// The estimate a Lanczos result gives (its top Ritz value), with the products it took.
    pub fn from_spectrum(spectrum: Spectrum, products: usize) -> SharpnessEstimate {
        let top = spectrum.top.first().copied();
        SharpnessEstimate {
            sharpness: top.map_or(0.0, |r| r.value),
            error_bound: top.map_or(0.0, |r| r.error_bound),
            spectrum,
            products,
        }
    }
}

/// Measures sharpness repeatedly along a run, warm-starting each Lanczos from the previous top
/// eigenvector. Owns all its scratch: measuring allocates only the returned result.
pub struct SharpnessTracker<F> {
    options: LanczosOptions,
    lanczos: LanczosWorkspace,
    input: Vec<F>,
    output: Vec<F>,
    previous: Option<Vec<f64>>,
}

impl<F: Float> SharpnessTracker<F> {
    /// A tracker for networks of `shape`.
    pub fn new(shape: Shape, options: LanczosOptions) -> Self {
        let dim = shape.trainable();
        SharpnessTracker {
            lanczos: LanczosWorkspace::new(dim, options.max_iter.min(dim)),
            options,
            input: vec![F::zero(); shape.len()],
            output: vec![F::zero(); shape.len()],
            previous: None,
        }
    }

    /// Estimates the top (and smallest) Hessian eigenvalues at `net`; `ws` must hold a forward
    /// pass at `net` on `data` (as it does right after a training step's gradient).
    ///
    /// # Errors
    /// When Lanczos fails, which happens only for non-finite Hessian-vector products.
    pub fn measure(
        &mut self,
        net: &Network<F>,
        data: &Dataset<F>,
        ws: &mut Workspace<F>,
    ) -> Result<SharpnessEstimate, LanczosError> {
        let options = self.options.clone();
        self.measure_with(net, data, ws, &options)
    }

    /// As [`SharpnessTracker::measure`], with other Lanczos options for this one estimate (for
    /// example without the smallest eigenvalue, which converges slowly, during training).
    pub fn measure_with(
        &mut self,
        net: &Network<F>,
        data: &Dataset<F>,
        ws: &mut Workspace<F>,
        options: &LanczosOptions,
    ) -> Result<SharpnessEstimate, LanczosError> {
        let mut op = HessianOperator::new(net, data, ws, &mut self.input, &mut self.output);
        let spectrum = extreme_eigenvalues(
            &mut op,
            options,
            self.previous.as_deref(),
            &mut self.lanczos,
        )?;
        let products = op.products;
        Ok(self.keep(spectrum, products))
    }

    fn keep(&mut self, spectrum: Spectrum, products: usize) -> SharpnessEstimate {
        if let Some(v) = spectrum.warm_start() {
            self.previous = Some(v.to_vec());
        }
        SharpnessEstimate::from_spectrum(spectrum, products)
    }

    /// Forgets the last top eigenvector, so the next estimate starts cold.
    pub fn forget(&mut self) {
        self.previous = None;
    }

    /// The top eigenvector of the last estimate, on the trainable parameters.
    pub fn top_vector(&self) -> Option<&[f64]> {
        self.previous.as_deref()
    }
}
