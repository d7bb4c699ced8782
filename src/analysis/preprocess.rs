//! The count-matrix baseline, as scanpy's standard workflow does it: CP10k normalisation,
//! log1p, highly variable genes (scanpy's default "seurat" flavour: dispersion of the
//! normalised counts, z-scored within 20 bins of mean expression), scaling to unit variance
//! clipped at 10, then PCA through linfa-reduction.

use crate::data::mtx::SparseCounts;
use crate::matrix::Matrix;
use linfa::prelude::*;
use linfa_reduction::Pca;

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BaselineParams {
    pub target_sum: f64,
    pub n_top_genes: usize,
    pub n_components: usize,
    pub scale_clip: f64,
}

impl Default for BaselineParams {
    fn default() -> Self {
        Self {
            target_sum: 1e4,
            n_top_genes: 2000,
            n_components: 50,
            scale_clip: 10.0,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BaselineError {
    #[error("{n_cells} cells with non-zero counts: the baseline needs at least 3")]
    TooFewCells { n_cells: usize },
    #[error("PCA failed: {0}")]
    Pca(String),
}

/// Log-normalised values of the selected genes, dense cells × genes.
pub fn lognorm_dense(x: &SparseCounts, genes: &[usize], target_sum: f64) -> Matrix {
    let mut col_of = vec![usize::MAX; x.n_genes];
    for (c, &g) in genes.iter().enumerate() {
        col_of[g] = c;
    }
    let mut m = Matrix::zeros(x.n_cells, genes.len());
    for i in 0..x.n_cells {
        let (g, v) = x.row(i);
        let total: f64 = v.iter().map(|&c| c as f64).sum();
        if total <= 0.0 {
            continue;
        }
        let row = m.row_mut(i);
        for (&gi, &c) in g.iter().zip(v) {
            let col = col_of[gi as usize];
            if col != usize::MAX {
                row[col] = ((c as f64 * target_sum / total).ln_1p()) as f32;
            }
        }
    }
    m
}

/// Indices of the top highly variable genes (seurat flavour), in gene order.
pub fn highly_variable_genes(x: &SparseCounts, n_top: usize, target_sum: f64) -> Vec<usize> {
    let g = x.n_genes;
    if g <= n_top {
        return (0..g).collect();
    }
    // scanpy computes mean/variance on expm1 of the log data, i.e. the CP10k values.
    let mut sum = vec![0.0f64; g];
    let mut sq = vec![0.0f64; g];
    for i in 0..x.n_cells {
        let (gi, v) = x.row(i);
        let total: f64 = v.iter().map(|&c| c as f64).sum();
        if total <= 0.0 {
            continue;
        }
        for (&j, &c) in gi.iter().zip(v) {
            let y = c as f64 * target_sum / total;
            sum[j as usize] += y;
            sq[j as usize] += y * y;
        }
    }
    let n = x.n_cells as f64;
    let mut mean = vec![0.0; g];
    let mut disp = vec![f64::NAN; g];
    for j in 0..g {
        let m = sum[j] / n;
        let var = ((sq[j] - n * m * m) / (n - 1.0)).max(0.0);
        mean[j] = m;
        if m > 0.0 {
            let d = var / m;
            disp[j] = if d > 0.0 { d.ln() } else { f64::NAN };
        }
        mean[j] = mean[j].ln_1p();
    }
    let finite_means: Vec<f64> = mean.clone();
    let (lo, hi) = finite_means
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &m| {
            (a.min(m), b.max(m))
        });
    let nbins = 20usize;
    let width = ((hi - lo) / nbins as f64).max(1e-12);
    let bin: Vec<usize> = mean
        .iter()
        .map(|&m| (((m - lo) / width) as usize).min(nbins - 1))
        .collect();
    let mut norm = vec![f64::NEG_INFINITY; g];
    for b in 0..nbins {
        let members: Vec<usize> = (0..g)
            .filter(|&j| bin[j] == b && disp[j].is_finite())
            .collect();
        if members.is_empty() {
            continue;
        }
        let mu = members.iter().map(|&j| disp[j]).sum::<f64>() / members.len() as f64;
        let sd = if members.len() > 1 {
            (members.iter().map(|&j| (disp[j] - mu).powi(2)).sum::<f64>()
                / (members.len() - 1) as f64)
                .sqrt()
        } else {
            f64::NAN
        };
        for &j in &members {
            // scanpy: a single-gene bin (sd undefined) gets normalised dispersion 1.
            norm[j] = if sd.is_finite() && sd > 0.0 {
                (disp[j] - mu) / sd
            } else {
                1.0
            };
        }
    }
    let mut order: Vec<usize> = (0..g).collect();
    order.sort_by(|&a, &b| norm[b].total_cmp(&norm[a]).then(a.cmp(&b)));
    let mut top: Vec<usize> = order.into_iter().take(n_top).collect();
    top.sort_unstable();
    top
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

/// The whole baseline: counts → PCA embedding.
pub fn baseline_embedding(x: &SparseCounts, p: &BaselineParams) -> Result<Matrix, BaselineError> {
    let nz = (0..x.n_cells).filter(|&i| !x.row(i).0.is_empty()).count();
    if nz < 3 {
        return Err(BaselineError::TooFewCells { n_cells: nz });
    }
    let genes = highly_variable_genes(x, p.n_top_genes, p.target_sum);
    let mut m = lognorm_dense(x, &genes, p.target_sum);
    scale(&mut m, p.scale_clip);
    pca(&m, p.n_components)
}
