//! Slow, obvious implementations of the loss, gradient and Hessian-vector product, sample by
//! sample and neuron by neuron in `f64`, straight from the formulas of SCIENCE.md section 3.
//! They exist to test the fused kernels of `grad`; nothing else should call them.

use crate::data::Dataset;
use crate::float::Float;
use crate::loss::Loss;
use crate::model::Network;

/// `L` at `net`.
pub fn loss<F: Float>(net: &Network<F>, data: &Dataset<F>, loss: Loss) -> f64 {
    let total: f64 = (0..data.n)
        .map(|i| loss.value(net.predict(data.row(i)), data.y[i].to64()))
        .sum();
    total / data.n as f64
}

/// The gradient of `L` at `net`, in the flat layout of [`Network`].
pub fn gradient<F: Float>(net: &Network<F>, data: &Dataset<F>, loss: Loss) -> Vec<f64> {
    let s = net.shape;
    let n = data.n as f64;
    let mut g = vec![0.0; s.len()];
    for i in 0..data.n {
        let x = data.row(i);
        let e = loss.d1(net.predict(x), data.y[i].to64()) / n;
        for k in 0..s.width {
            let z = preactivation(net, x, k);
            let v = net.v()[k].to64();
            let slope = s.activation.slope(z);
            for (j, xj) in x.iter().enumerate() {
                g[j * s.width + k] += e * v * slope * xj.to64();
            }
            g[s.b_offset() + k] += e * v * slope;
            g[s.v_offset() + k] += e * s.activation.value(z);
        }
        g[s.beta_offset()] += e;
    }
    s.project(&mut g);
    g
}

/// `H dir` at `net`, assembling per sample `l'' (J_i . dir) J_i + l' Hess f(x_i) dir`.
pub fn hvp<F: Float>(net: &Network<F>, data: &Dataset<F>, loss: Loss, dir: &[f64]) -> Vec<f64> {
    let s = net.shape;
    let n = data.n as f64;
    let mut dir = dir.to_vec();
    s.project(&mut dir);
    let mut out = vec![0.0; s.len()];
    for i in 0..data.n {
        let x = data.row(i);
        let f = net.predict(x);
        let y = data.y[i].to64();
        let jac = jacobian_row(net, x);
        let jv: f64 = jac.iter().zip(&dir).map(|(a, b)| a * b).sum();
        let (d1, d2) = (loss.d1(f, y) / n, loss.d2(f, y) / n);
        for (o, j) in out.iter_mut().zip(&jac) {
            *o += d2 * jv * j;
        }
        // Second derivatives of f(x_i): cross terms v_k with (w_k, b_k), and for curved
        // activations the (w_k, b_k) block v_k s''(z) (x, 1)(x, 1)^T.
        for k in 0..s.width {
            let z = preactivation(net, x, k);
            let slope = s.activation.slope(z);
            let curv = s.activation.curvature(z);
            let v = net.v()[k].to64();
            let dvk = dir[s.v_offset() + k];
            let mut u = dir[s.b_offset() + k];
            for (j, xj) in x.iter().enumerate() {
                u += dir[j * s.width + k] * xj.to64();
            }
            out[s.v_offset() + k] += d1 * slope * u;
            let coef = d1 * (slope * dvk + v * curv * u);
            for (j, xj) in x.iter().enumerate() {
                out[j * s.width + k] += coef * xj.to64();
            }
            out[s.b_offset() + k] += coef;
        }
    }
    s.project(&mut out);
    out
}

/// The row of the Jacobian of `f(x)` with respect to the flat parameters.
pub fn jacobian_row<F: Float>(net: &Network<F>, x: &[F]) -> Vec<f64> {
    let s = net.shape;
    let mut row = vec![0.0; s.len()];
    for k in 0..s.width {
        let z = preactivation(net, x, k);
        let v = net.v()[k].to64();
        let slope = s.activation.slope(z);
        for (j, xj) in x.iter().enumerate() {
            row[j * s.width + k] = v * slope * xj.to64();
        }
        row[s.b_offset() + k] = v * slope;
        row[s.v_offset() + k] = s.activation.value(z);
    }
    row[s.beta_offset()] = 1.0;
    s.project(&mut row);
    row
}

fn preactivation<F: Float>(net: &Network<F>, x: &[F], k: usize) -> f64 {
    let mut z = net.b()[k].to64();
    for (j, xj) in x.iter().enumerate() {
        z += net.weight(k, j).to64() * xj.to64();
    }
    z
}
