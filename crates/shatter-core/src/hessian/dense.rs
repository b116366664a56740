//! The operator as a dense matrix, and its exact eigenvalues: the slow, obvious reference that
//! Lanczos, Hutchinson and SLQ are tested against. Nothing in a training run calls this; the
//! matrix costs `dim` operator products and `dim^2` f64.

use nalgebra::{DMatrix, SymmetricEigen};

use super::lanczos::SymmetricOperator;

/// What can go wrong in the dense reference.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum DenseError {
    /// The matrix is not square.
    #[error("eigenvalues need a square matrix, got {rows} x {cols}")]
    NotSquare {
        /// Rows of the matrix.
        rows: usize,
        /// Columns of the matrix.
        cols: usize,
    },
    /// The matrix has a NaN or infinite entry.
    #[error("matrix entry ({row}, {col}) is {value}; entries must be finite")]
    NonFinite {
        /// Row of the first bad entry.
        row: usize,
        /// Its column.
        col: usize,
        /// Its value.
        value: f64,
    },
    /// The symmetric eigensolver did not converge.
    #[error("symmetric eigensolver did not converge on a {size} x {size} matrix")]
    NotConverged {
        /// Size of the matrix.
        size: usize,
    },
}

/// The operator's matrix as applied, column `j` being `A e_j`, without symmetrising.
///
/// `dim` operator products; allocates the `dim x dim` matrix and one unit vector.
pub fn raw_matrix<O: SymmetricOperator + ?Sized>(op: &mut O) -> DMatrix<f64> {
    let dim = op.dim();
    let mut matrix = DMatrix::zeros(dim, dim);
    let mut unit = vec![0.0; dim];
    let mut column = vec![0.0; dim];
    for j in 0..dim {
        unit[j] = 1.0;
        op.apply(&unit, &mut column);
        unit[j] = 0.0;
        matrix.column_mut(j).copy_from_slice(&column);
    }
    matrix
}

/// The largest entry of `|M - M^T|`: zero for an exactly symmetric matrix, about machine
/// epsilon times the entries for a symmetric operator computed in floating point. For a
/// non-square matrix only the leading square block is compared. `O(dim^2)`, allocates nothing.
pub fn asymmetry(matrix: &DMatrix<f64>) -> f64 {
    let n = matrix.nrows().min(matrix.ncols());
    let mut worst = 0.0_f64;
    for j in 0..n {
        for i in (j + 1)..n {
            worst = worst.max((matrix[(i, j)] - matrix[(j, i)]).abs());
        }
    }
    worst
}

/// The operator's matrix, symmetrised: `(A + A^T) / 2` with `A` from [`raw_matrix`].
///
/// Symmetrising removes the rounding-level asymmetry of an operator computed in floating point,
/// so that a symmetric eigensolver sees exactly what it assumes; measure that asymmetry first
/// with [`asymmetry`] on [`raw_matrix`] when it matters. `dim` operator products; allocates the
/// `dim x dim` matrix.
pub fn dense_matrix<O: SymmetricOperator + ?Sized>(op: &mut O) -> DMatrix<f64> {
    let raw = raw_matrix(op);
    (&raw + raw.transpose()) * 0.5
}

/// Eigenvalues of a symmetric matrix, ascending (nalgebra's `SymmetricEigen`, which reads the
/// lower triangle). `O(n^3)`; allocates a copy of the matrix.
///
/// # Errors
/// A non-square matrix, a non-finite entry, or no convergence ([`DenseError`]).
pub fn symmetric_eigenvalues(matrix: &DMatrix<f64>) -> Result<Vec<f64>, DenseError> {
    let (rows, cols) = matrix.shape();
    if rows != cols {
        return Err(DenseError::NotSquare { rows, cols });
    }
    for col in 0..cols {
        for row in 0..rows {
            let value = matrix[(row, col)];
            if !value.is_finite() {
                return Err(DenseError::NonFinite { row, col, value });
            }
        }
    }
    if rows == 0 {
        return Ok(Vec::new());
    }
    let eigen = SymmetricEigen::try_new(matrix.clone(), f64::EPSILON, 1000 * rows)
        .ok_or(DenseError::NotConverged { size: rows })?;
    let mut values: Vec<f64> = eigen.eigenvalues.iter().copied().collect();
    values.sort_by(f64::total_cmp);
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hessian::lanczos::DenseOperator;

    #[test]
    fn dense_matrix_recovers_the_matrix_and_its_eigenvalues() {
        let m = DMatrix::from_row_slice(3, 3, &[2.0, 1.0, 0.0, 1.0, 2.0, 0.0, 0.0, 0.0, -1.0]);
        let mut op = DenseOperator::new(m.clone()).expect("square");
        let raw = raw_matrix(&mut op);
        assert_eq!(raw, m);
        assert_eq!(asymmetry(&raw), 0.0);
        assert_eq!(dense_matrix(&mut op), m);
        let values = symmetric_eigenvalues(&m).expect("finite symmetric matrix");
        let expected = [-1.0, 1.0, 3.0];
        for (v, e) in values.iter().zip(expected) {
            assert!(
                (v - e).abs() < 1e-12,
                "eigenvalues {values:?}, expected {expected:?}"
            );
        }
    }

    #[test]
    fn asymmetry_is_measured_and_symmetrising_removes_it() {
        let m = DMatrix::from_row_slice(2, 2, &[1.0, 2.0, 2.5, 1.0]);
        assert_eq!(asymmetry(&m), 0.5);
        let mut op = DenseOperator::new(m).expect("square");
        let sym = dense_matrix(&mut op);
        assert_eq!(asymmetry(&sym), 0.0);
        assert_eq!(sym[(0, 1)], 2.25);
    }

    #[test]
    fn bad_matrices_are_errors() {
        let wide = DMatrix::<f64>::zeros(2, 3);
        assert_eq!(
            symmetric_eigenvalues(&wide),
            Err(DenseError::NotSquare { rows: 2, cols: 3 })
        );
        let mut nan = DMatrix::<f64>::zeros(2, 2);
        nan[(1, 0)] = f64::NAN;
        assert!(matches!(
            symmetric_eigenvalues(&nan),
            Err(DenseError::NonFinite { row: 1, col: 0, .. })
        ));
        assert_eq!(symmetric_eigenvalues(&DMatrix::zeros(0, 0)), Ok(Vec::new()));
    }
}
