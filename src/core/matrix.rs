//! A dense row-major `f32` matrix: the one array type the analysis code passes around.
//! ndarray is used only at the linfa boundary (PCA, k-means), crossed through slices.

/// Dense row-major matrix of `f32`.
#[derive(Debug, Clone, PartialEq)]
pub struct Matrix {
    pub rows: usize,
    pub cols: usize,
    pub data: Vec<f32>,
}

impl Matrix {
    pub fn zeros(rows: usize, cols: usize) -> Self {
        Self {
            rows,
            cols,
            data: vec![0.0; rows * cols],
        }
    }

    /// Wraps `data` (length `rows * cols`, row-major).
    pub fn from_vec(rows: usize, cols: usize, data: Vec<f32>) -> Self {
        assert_eq!(data.len(), rows * cols, "matrix data length");
        Self { rows, cols, data }
    }

    #[inline]
    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.cols..(i + 1) * self.cols]
    }

    #[inline]
    pub fn row_mut(&mut self, i: usize) -> &mut [f32] {
        &mut self.data[i * self.cols..(i + 1) * self.cols]
    }

    /// Rows selected by index, in the given order.
    pub fn select_rows(&self, idx: &[usize]) -> Matrix {
        let mut data = Vec::with_capacity(idx.len() * self.cols);
        for &i in idx {
            data.extend_from_slice(self.row(i));
        }
        Matrix::from_vec(idx.len(), self.cols, data)
    }

    pub fn to_ndarray_f64(&self) -> ndarray::Array2<f64> {
        ndarray::Array2::from_shape_fn((self.rows, self.cols), |(i, j)| {
            self.data[i * self.cols + j] as f64
        })
    }

    pub fn from_ndarray_f64(a: &ndarray::Array2<f64>) -> Matrix {
        let (rows, cols) = a.dim();
        let data = a.iter().map(|&v| v as f32).collect();
        Matrix::from_vec(rows, cols, data)
    }
}

/// Transposes a compressed sparse matrix whose rows hold minor indices `0..n_minor`: returns
/// the offsets, row indices and values by minor index (row indices ascending in each).
pub fn sparse_transpose(
    indptr: &[usize],
    minor: &[u32],
    values: &[f32],
    n_minor: usize,
) -> (Vec<usize>, Vec<u32>, Vec<f32>) {
    let mut ptr = vec![0usize; n_minor + 1];
    for &j in minor {
        ptr[j as usize + 1] += 1;
    }
    for j in 0..n_minor {
        ptr[j + 1] += ptr[j];
    }
    let mut fill = ptr.clone();
    let mut rows = vec![0u32; minor.len()];
    let mut out = vec![0f32; minor.len()];
    for r in 0..indptr.len().saturating_sub(1) {
        for k in indptr[r]..indptr[r + 1] {
            let slot = &mut fill[minor[k] as usize];
            rows[*slot] = r as u32;
            out[*slot] = values[k];
            *slot += 1;
        }
    }
    (ptr, rows, out)
}

/// Squared Euclidean distance, written so the compiler vectorises it (8 independent lanes).
#[inline]
pub fn sq_dist(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let chunks = a.len() / 8;
    for c in 0..chunks {
        let (x, y) = (&a[c * 8..c * 8 + 8], &b[c * 8..c * 8 + 8]);
        for l in 0..8 {
            let d = x[l] - y[l];
            acc[l] += d * d;
        }
    }
    let mut s: f32 = acc.iter().sum();
    for i in chunks * 8..a.len() {
        let d = a[i] - b[i];
        s += d * d;
    }
    s
}

/// Eigen-decomposition of a small symmetric matrix (cyclic Jacobi), eigenvalues descending.
/// Used for Rayleigh–Ritz steps and 2-component PCA where the matrix is at most ~64 × 64.
pub fn sym_eigen(a: &[f64], n: usize) -> (Vec<f64>, Vec<f64>) {
    let mut m = a.to_vec();
    let mut v = vec![0.0f64; n * n];
    for i in 0..n {
        v[i * n + i] = 1.0;
    }
    for _sweep in 0..100 {
        let mut off = 0.0;
        for p in 0..n {
            for q in p + 1..n {
                off += m[p * n + q] * m[p * n + q];
            }
        }
        if off < 1e-22 {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                let apq = m[p * n + q];
                if apq.abs() < 1e-300 {
                    continue;
                }
                let theta = (m[q * n + q] - m[p * n + p]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..n {
                    let mkp = m[k * n + p];
                    let mkq = m[k * n + q];
                    m[k * n + p] = c * mkp - s * mkq;
                    m[k * n + q] = s * mkp + c * mkq;
                }
                for k in 0..n {
                    let mpk = m[p * n + k];
                    let mqk = m[q * n + k];
                    m[p * n + k] = c * mpk - s * mqk;
                    m[q * n + k] = s * mpk + c * mqk;
                }
                for k in 0..n {
                    let vkp = v[k * n + p];
                    let vkq = v[k * n + q];
                    v[k * n + p] = c * vkp - s * vkq;
                    v[k * n + q] = s * vkp + c * vkq;
                }
            }
        }
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&i, &j| m[j * n + j].total_cmp(&m[i * n + i]));
    let vals = order.iter().map(|&i| m[i * n + i]).collect();
    // Columns of the result are eigenvectors, in the sorted order.
    let mut vecs = vec![0.0; n * n];
    for (new, &old) in order.iter().enumerate() {
        for k in 0..n {
            vecs[k * n + new] = v[k * n + old];
        }
    }
    (vals, vecs)
}

/// Checks every value of an embedding is finite; names the record and column otherwise.
pub fn check_finite(
    path: &std::path::Path,
    m: &Matrix,
    ids: &[String],
) -> Result<(), crate::core::DataError> {
    for i in 0..m.rows {
        if let Some(c) = m.row(i).iter().position(|v| !v.is_finite()) {
            return Err(crate::core::DataError::file(
                path,
                format!(
                    "record {} (id '{}'), column {}: value {} is not a finite number",
                    i + 1,
                    ids.get(i).map(String::as_str).unwrap_or("?"),
                    c + 1,
                    m.row(i)[c]
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jacobi_recovers_known_eigenpairs() {
        let a = [2.0, 1.0, 0.0, 1.0, 2.0, 0.0, 0.0, 0.0, 5.0];
        let (vals, vecs) = sym_eigen(&a, 3);
        assert!((vals[0] - 5.0).abs() < 1e-9);
        assert!((vals[1] - 3.0).abs() < 1e-9);
        assert!((vals[2] - 1.0).abs() < 1e-9);
        // second eigenvector ∝ (1, 1, 0)
        assert!((vecs[1].abs() - vecs[3 + 1].abs()).abs() < 1e-9);
    }

    #[test]
    fn sq_dist_matches_naive() {
        let a: Vec<f32> = (0..19).map(|i| i as f32 * 0.5).collect();
        let b: Vec<f32> = (0..19).map(|i| (i * i) as f32 * 0.1).collect();
        let naive: f32 = a.iter().zip(&b).map(|(x, y)| (x - y) * (x - y)).sum();
        assert!((sq_dist(&a, &b) - naive).abs() / naive < 1e-5);
    }
}
