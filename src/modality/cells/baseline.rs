//! The count-matrix baseline, as scanpy's standard workflow does it: CP10k normalisation,
//! log1p, highly variable genes (scanpy's default "seurat" flavour: dispersion of the
//! normalised counts, z-scored within 20 bins of mean expression), scaling to unit variance
//! clipped at 10, then PCA by block subspace iteration on the sparse values (never a dense
//! cells × genes matrix).

use crate::analysis::pca::{BaselineError, SparseRows, sparse_pca};
use crate::core::matrix::Matrix;
use crate::modality::cells::expression::Expression;
use crate::modality::cells::h5ad::ValueKind;
use crate::modality::cells::mtx::SparseCounts;
use rayon::prelude::*;

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

/// Seed of the sparse PCA's start block: fixed, so a baseline never depends on a run's seed.
const PCA_SEED: u64 = 0;

/// Indices of the top highly variable genes (seurat flavour), in gene order.
pub fn highly_variable_genes(e: &Expression, n_top: usize, target_sum: f64) -> Vec<usize> {
    let g = e.n_genes();
    if g <= n_top {
        return (0..g).collect();
    }
    // scanpy computes mean/variance on expm1 of the log data, i.e. the CP10k values.
    let (sum, sq): (Vec<f64>, Vec<f64>) = (0..g)
        .into_par_iter()
        .map(|j| {
            let (cells, values) = e.gene(j);
            let (mut s, mut q) = (0f64, 0f64);
            for (&i, &c) in cells.iter().zip(values) {
                let total = e.totals[i as usize];
                if total > 0.0 {
                    let y = c as f64 * target_sum / total;
                    s += y;
                    q += y * y;
                }
            }
            (s, q)
        })
        .unzip();
    let n = e.n_cells() as f64;
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
    let (lo, hi) = mean
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

/// The whole baseline from counts: CP10k, log1p, highly variable genes, scale, PCA — on the
/// sparse values of the selected genes, never a dense cells × genes matrix.
pub fn baseline_embedding(e: &Expression, p: &BaselineParams) -> Result<Matrix, BaselineError> {
    let nz = e.detected.iter().filter(|&&d| d > 0).count();
    if nz < 3 {
        return Err(BaselineError::TooFew { n: nz });
    }
    let genes = highly_variable_genes(e, p.n_top_genes, p.target_sum);
    let ts = p.target_sum;
    let x = e.rows_of(&genes, |i, c| {
        ((c as f64 * ts / e.totals[i].max(f64::MIN_POSITIVE)).ln_1p()) as f32
    });
    sparse_pca(&rows(&x), Some(p.scale_clip), p.n_components, PCA_SEED)
}

fn rows(x: &SparseCounts) -> SparseRows<'_> {
    SparseRows {
        n_cols: x.n_genes,
        indptr: &x.indptr,
        cols: &x.genes,
        values: &x.values,
    }
}

/// The baseline for whatever the expression holds: counts get the full workflow; log-normalised
/// values skip normalisation; linear (unlogged) values are logged first; scaled values
/// (negative entries) go straight to PCA.
pub fn baseline_for(e: &Expression, p: &BaselineParams) -> Result<Matrix, BaselineError> {
    match e.kind {
        ValueKind::Counts => baseline_embedding(e, p),
        // Normalised but not logged (TPM, FPKM): log1p first, as scanpy users do, so the
        // few most abundant genes do not set every component.
        ValueKind::Linear => transformed_baseline(e, |v| v.ln_1p(), true, p),
        ValueKind::Normalised => transformed_baseline(e, |v| v, true, p),
        ValueKind::Scaled => transformed_baseline(e, |v| v, false, p),
    }
}

/// Top-variance genes of already transformed values, scaled unless they already are, PCA.
fn transformed_baseline(
    e: &Expression,
    f: impl Fn(f32) -> f32 + Sync,
    scale_first: bool,
    p: &BaselineParams,
) -> Result<Matrix, BaselineError> {
    if e.n_cells() < 3 {
        return Err(BaselineError::TooFew { n: e.n_cells() });
    }
    // Highly variable by plain variance of the given values (no counts to model).
    let (_, var) = gene_moments(e, &f);
    let genes = top_genes_by(&var, p.n_top_genes, |_| true);
    let x = e.rows_of(&genes, |_, v| f(v));
    let clip = scale_first.then_some(p.scale_clip);
    sparse_pca(&rows(&x), clip, p.n_components, PCA_SEED)
}

/// Per gene mean and variance of `f(value)` over every cell (zeros included).
fn gene_moments(e: &Expression, f: &(impl Fn(f32) -> f32 + Sync)) -> (Vec<f64>, Vec<f64>) {
    let n = e.n_cells() as f64;
    (0..e.n_genes())
        .into_par_iter()
        .map(|j| {
            let (mut s, mut q) = (0f64, 0f64);
            for &v in e.gene(j).1 {
                let v = f(v) as f64;
                s += v;
                q += v * v;
            }
            let mean = s / n;
            (mean, ((q - n * mean * mean) / (n - 1.0).max(1.0)).max(0.0))
        })
        .unzip()
}

/// The `n_top` genes with the highest score among those `usable`, in gene order.
fn top_genes_by(score: &[f64], n_top: usize, usable: impl Fn(usize) -> bool) -> Vec<usize> {
    let mut order: Vec<usize> = (0..score.len()).filter(|&j| usable(j)).collect();
    if order.len() > n_top {
        order.sort_by(|&a, &b| score[b].total_cmp(&score[a]).then(a.cmp(&b)));
        order.truncate(n_top);
    }
    order.sort_unstable();
    order
}

/// Local quadratic regression (loess, tricube weights) of `y` on `x`, evaluated at every x.
fn loess(x: &[f64], y: &[f64], span: f64) -> Vec<f64> {
    let n = x.len();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| x[a].total_cmp(&x[b]));
    let xs: Vec<f64> = order.iter().map(|&i| x[i]).collect();
    let ys: Vec<f64> = order.iter().map(|&i| y[i]).collect();
    let q = ((span * n as f64).ceil() as usize).clamp(3.min(n), n);
    let mut fit_sorted = vec![0.0; n];
    let mut lo = 0usize;
    for i in 0..n {
        let x0 = xs[i];
        // Slide the window of the q nearest points.
        while lo + q < n && (x0 - xs[lo]) > (xs[lo + q] - x0) {
            lo += 1;
        }
        let hi = lo + q;
        let dmax = (x0 - xs[lo]).abs().max((xs[hi - 1] - x0).abs()).max(1e-12) * 1.000_001;
        // Weighted least squares for a + b·d + c·d² in d = x − x0.
        let mut s = [0.0f64; 5];
        let mut t = [0.0f64; 3];
        for k in lo..hi {
            let d = xs[k] - x0;
            let u = (d.abs() / dmax).min(1.0);
            let w = (1.0 - u * u * u).powi(3);
            let (d2, yk) = (d * d, ys[k]);
            s[0] += w;
            s[1] += w * d;
            s[2] += w * d2;
            s[3] += w * d2 * d;
            s[4] += w * d2 * d2;
            t[0] += w * yk;
            t[1] += w * d * yk;
            t[2] += w * d2 * yk;
        }
        let a = [[s[0], s[1], s[2]], [s[1], s[2], s[3]], [s[2], s[3], s[4]]];
        fit_sorted[i] = solve3(a, t).unwrap_or(t[0] / s[0].max(1e-300));
    }
    let mut fit = vec![0.0; n];
    for (k, &i) in order.iter().enumerate() {
        fit[i] = fit_sorted[k];
    }
    fit
}

/// The intercept of a 3×3 linear system (Cramer's rule); None when singular.
fn solve3(a: [[f64; 3]; 3], b: [f64; 3]) -> Option<f64> {
    let det = |m: [[f64; 3]; 3]| {
        m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
            - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
            + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0])
    };
    let d = det(a);
    if d.abs() < 1e-12 * (a[0][0] * a[1][1] * a[2][2]).abs().max(1e-300) {
        return None;
    }
    let mut m = a;
    for r in 0..3 {
        m[r][0] = b[r];
    }
    Some(det(m) / d)
}

/// Highly variable genes by the seurat_v3 flavour on raw counts (Stuart et al. 2019, as
/// scanpy's `flavor="seurat_v3"`): loess of log10 variance on log10 mean (span 0.3), counts
/// standardised by the fitted standard deviation and clipped at √n, genes ranked by the
/// variance of the standardised values. Genes with zero variance are never chosen.
pub fn highly_variable_genes_seurat_v3(e: &Expression, n_top: usize) -> Vec<usize> {
    let g = e.n_genes();
    let (mean, var) = gene_moments(e, &|v| v);
    let usable: Vec<usize> = (0..g).filter(|&j| var[j] > 0.0).collect();
    if usable.len() <= n_top {
        return usable;
    }
    let lx: Vec<f64> = usable.iter().map(|&j| mean[j].log10()).collect();
    let ly: Vec<f64> = usable.iter().map(|&j| var[j].log10()).collect();
    let fit = loess(&lx, &ly, 0.3);
    let n = e.n_cells() as f64;
    let clip = n.sqrt();
    let mut sd = vec![0.0f64; g];
    for (k, &j) in usable.iter().enumerate() {
        sd[j] = 10f64.powf(fit[k]).sqrt();
    }
    // Variance of the standardised values; zeros contribute (−mean/sd) each.
    let score: Vec<f64> = (0..g)
        .into_par_iter()
        .map(|j| {
            if sd[j] <= 0.0 {
                return f64::NEG_INFINITY;
            }
            let values = e.gene(j).1;
            let (mut s1, mut s2) = (0f64, 0f64);
            for &v in values {
                let z = ((v as f64 - mean[j]) / sd[j]).min(clip);
                s1 += z;
                s2 += z * z;
            }
            let z0 = ((0.0 - mean[j]) / sd[j]).min(clip);
            let zeros = n - values.len() as f64;
            let t1 = s1 + zeros * z0;
            let t2 = s2 + zeros * z0 * z0;
            (t2 - t1 * t1 / n) / (n - 1.0)
        })
        .collect();
    top_genes_by(&score, n_top, |j| var[j] > 0.0)
}

#[cfg(test)]
mod hvg_tests {
    use super::*;

    #[test]
    fn loess_reproduces_a_quadratic() {
        let x: Vec<f64> = (0..200).map(|i| i as f64 / 20.0).collect();
        let y: Vec<f64> = x.iter().map(|v| 1.0 + 0.5 * v - 0.1 * v * v).collect();
        for (f, w) in loess(&x, &y, 0.3).iter().zip(&y) {
            assert!((f - w).abs() < 1e-8);
        }
    }

    #[test]
    fn seurat_v3_prefers_overdispersed_genes() {
        // Gene 0: on in half the cells at high level (overdispersed); genes 1..: constant-ish.
        let n = 100;
        let mut indptr = vec![0];
        let (mut genes, mut values) = (Vec::new(), Vec::new());
        for i in 0..n {
            for j in 0..30u32 {
                let v = match j {
                    0 => {
                        if i % 2 == 0 {
                            20.0
                        } else {
                            0.0
                        }
                    }
                    _ => 1.0 + ((i + j as usize) % 3) as f32,
                };
                if v > 0.0 {
                    genes.push(j);
                    values.push(v);
                }
            }
            indptr.push(genes.len());
        }
        let x = SparseCounts {
            n_cells: n,
            n_genes: 30,
            indptr,
            genes,
            values,
        };
        let e = Expression::new(
            x,
            (0..30).map(|j| j.to_string()).collect(),
            ValueKind::Counts,
            String::new(),
        );
        let top = highly_variable_genes_seurat_v3(&e, 3);
        assert!(top.contains(&0), "{top:?}");
    }
}
