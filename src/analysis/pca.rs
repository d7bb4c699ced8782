//! Standardisation and PCA (linfa-reduction), shared by every modality's baseline.

use crate::core::matrix::Matrix;
use linfa::prelude::*;
use linfa_reduction::Pca;

#[derive(Debug, thiserror::Error)]
pub enum BaselineError {
    #[error("{n} items: the baseline needs at least 3")]
    TooFew { n: usize },
    #[error("PCA failed: {0}")]
    Pca(String),
}

/// Centre each column, divide by its standard deviation, clip at ±clip (scanpy `pp.scale`).
pub fn scale(m: &mut Matrix, clip: f64) {
    let (n, d) = (m.rows, m.cols);
    for c in 0..d {
        let mean = (0..n).map(|i| m.data[i * d + c] as f64).sum::<f64>() / n as f64;
        let var = (0..n)
            .map(|i| (m.data[i * d + c] as f64 - mean).powi(2))
            .sum::<f64>()
            / (n as f64 - 1.0).max(1.0);
        let sd = if var > 0.0 { var.sqrt() } else { 1.0 };
        for i in 0..n {
            let v = (m.data[i * d + c] as f64 - mean) / sd;
            m.data[i * d + c] = v.clamp(-clip, clip) as f32;
        }
    }
}

/// PCA to `k` components (linfa-reduction, seeded truncated SVD).
pub fn pca(m: &Matrix, k: usize) -> Result<Matrix, BaselineError> {
    let k = k.min(m.cols).min(m.rows.saturating_sub(1)).max(1);
    let x = m.to_ndarray_f64();
    let ds = DatasetBase::from(x.clone());
    let model = Pca::params(k)
        .fit(&ds)
        .map_err(|e| BaselineError::Pca(e.to_string()))?;
    let y = model.predict(&x);
    // Fix each component's sign so the result does not depend on the solver's start vector.
    let mut out = Matrix::from_ndarray_f64(&y);
    for c in 0..out.cols {
        let (mut best, mut arg) = (0.0f32, 0usize);
        for i in 0..out.rows {
            if out.data[i * out.cols + c].abs() > best {
                best = out.data[i * out.cols + c].abs();
                arg = i;
            }
        }
        if out.data[arg * out.cols + c] < 0.0 {
            for i in 0..out.rows {
                out.data[i * out.cols + c] = -out.data[i * out.cols + c];
            }
        }
    }
    Ok(out)
}
