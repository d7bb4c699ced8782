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
    let mut out = Matrix::from_ndarray_f64(&y);
    fix_signs(&mut out);
    Ok(out)
}

/// A sparse n × d matrix by row (CSR): row `i` has columns `cols[indptr[i]..indptr[i+1]]`.
pub struct SparseRows<'a> {
    pub n_cols: usize,
    pub indptr: &'a [usize],
    pub cols: &'a [u32],
    pub values: &'a [f32],
}

/// Rounds of block subspace iteration in [`sparse_pca`], and vectors beyond the k kept.
/// Each round shrinks the error in component j by (σ_{b+1}/σ_j)², so extra vectors buy
/// more than rounds: on pbmc68k, 12 rounds with 40 extra vectors agree with linfa's PCA to
/// 0.02° on the top 10 components and 1.9° on the top 30, and capture 0.99989 of its
/// variance in 50 (12 with 20: 0.1°, 11°, 0.99929), at 0.75 s a round for 100k cells
/// (tests/cells.rs `sparse_pca_matches_dense_pca_on_pbmc68k`).
const SUBSPACE_ROUNDS: usize = 12;
const EXTRA_VECTORS: usize = 40;

/// PCA of a sparse matrix, scaled as scanpy's `pp.scale(max_value=clip)` would (each column
/// centred, divided by its standard deviation, clipped at ±clip; `clip: None` only
/// centres), without ever forming the dense scaled matrix.
///
/// After scaling, every zero of column j becomes the same value z0_j, so the centred matrix
/// is C = A + 1·cᵀ with A sparse (each stored value's scaled value minus z0_j) and c the
/// column vector z0 − mean. Block subspace iteration on CᵀC (Halko, Martinsson & Tropp
/// 2011, §4.5) needs only products with A and Aᵀ, each O(nnz · b): the cost follows the
/// stored values, not n × d. Deterministic: a fixed seed for the start block and row blocks
/// summed in a fixed order, whatever the thread count.
pub fn sparse_pca(
    x: &SparseRows,
    clip: Option<f64>,
    k: usize,
    seed: u64,
) -> Result<Matrix, BaselineError> {
    use rayon::prelude::*;
    let n = x.indptr.len() - 1;
    let d = x.n_cols;
    if n < 3 {
        return Err(BaselineError::TooFew { n });
    }
    let k = k.min(d).min(n - 1).max(1);
    let b = (k + EXTRA_VECTORS).min(d);
    // Column moments of the unscaled values (zeros included).
    let mut sum = vec![0f64; d];
    let mut sq = vec![0f64; d];
    for (&j, &v) in x.cols.iter().zip(x.values) {
        sum[j as usize] += v as f64;
        sq[j as usize] += v as f64 * v as f64;
    }
    let nf = n as f64;
    let (mut shift, mut scale_by) = (vec![0f64; d], vec![1f64; d]);
    for j in 0..d {
        let mean = sum[j] / nf;
        let var = ((sq[j] - nf * mean * mean) / (nf - 1.0)).max(0.0);
        shift[j] = mean;
        if clip.is_some() && var > 0.0 {
            scale_by[j] = var.sqrt();
        }
    }
    let z = |j: usize, v: f64| -> f64 {
        let t = (v - shift[j]) / scale_by[j];
        match clip {
            Some(c) => t.clamp(-c, c),
            None => t,
        }
    };
    let z0: Vec<f64> = (0..d).map(|j| z(j, 0.0)).collect();
    // A's values, and the mean of each scaled column (clipping moves it off zero).
    let a: Vec<f32> = x
        .cols
        .iter()
        .zip(x.values)
        .map(|(&j, &v)| (z(j as usize, v as f64) - z0[j as usize]) as f32)
        .collect();
    let mut zsum: Vec<f64> = z0.iter().map(|&v| v * nf).collect();
    for (&j, &av) in x.cols.iter().zip(&a) {
        zsum[j as usize] += av as f64;
    }
    let c: Vec<f64> = (0..d).map(|j| z0[j] - zsum[j] / nf).collect();

    // Q: d × b, row-major (gene j's b coordinates together).
    let mut state = seed ^ 0x9e37_79b9_7f4a_7c15;
    let mut q: Vec<f64> = (0..d * b)
        .map(|_| {
            state = crate::analysis::knn::mix64(state.wrapping_add(0x9e37_79b9_7f4a_7c15));
            (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5
        })
        .collect();
    orthonormalise_columns(&mut q, d, b);
    const ROWS: usize = 4096;
    let blocks = n.div_ceil(ROWS);
    // y_i = a_i Q + cᵀQ: row i of C Q.
    let row_times = |q: &[f64], ctq: &[f64], i: usize, y: &mut [f64]| {
        y.copy_from_slice(ctq);
        let (lo, hi) = (x.indptr[i], x.indptr[i + 1]);
        for (&j, &av) in x.cols[lo..hi].iter().zip(&a[lo..hi]) {
            let (j, av) = (j as usize, av as f64);
            for (t, qv) in y.iter_mut().zip(&q[j * b..(j + 1) * b]) {
                *t += av * qv;
            }
        }
    };
    let ct_times = |q: &[f64]| -> Vec<f64> {
        let mut out = vec![0f64; b];
        for j in 0..d {
            for (o, qv) in out.iter_mut().zip(&q[j * b..(j + 1) * b]) {
                *o += c[j] * qv;
            }
        }
        out
    };
    for _ in 0..SUBSPACE_ROUNDS {
        // Z = Cᵀ(C Q) = Aᵀ Y + c (1ᵀ Y), summed by row block in a fixed order.
        let ctq = ct_times(&q);
        let parts: Vec<(Vec<f64>, Vec<f64>)> = (0..blocks)
            .into_par_iter()
            .map(|blk| {
                let mut zp = vec![0f64; d * b];
                let mut ysum = vec![0f64; b];
                let mut y = vec![0f64; b];
                for i in blk * ROWS..((blk + 1) * ROWS).min(n) {
                    row_times(&q, &ctq, i, &mut y);
                    for (s, v) in ysum.iter_mut().zip(&y) {
                        *s += v;
                    }
                    let (lo, hi) = (x.indptr[i], x.indptr[i + 1]);
                    for (&j, &av) in x.cols[lo..hi].iter().zip(&a[lo..hi]) {
                        let (j, av) = (j as usize, av as f64);
                        for (t, yv) in zp[j * b..(j + 1) * b].iter_mut().zip(&y) {
                            *t += av * yv;
                        }
                    }
                }
                (zp, ysum)
            })
            .collect();
        let mut zq = vec![0f64; d * b];
        let mut ysum = vec![0f64; b];
        for (zp, ys) in parts {
            for (t, v) in zq.iter_mut().zip(zp) {
                *t += v;
            }
            for (t, v) in ysum.iter_mut().zip(ys) {
                *t += v;
            }
        }
        for j in 0..d {
            for (t, s) in zq[j * b..(j + 1) * b].iter_mut().zip(&ysum) {
                *t += c[j] * s;
            }
        }
        q = zq;
        orthonormalise_columns(&mut q, d, b);
    }
    // Rayleigh–Ritz: Y = C Q, eigenvectors of YᵀY; the scores are Y times them.
    let ctq = ct_times(&q);
    let mut y = vec![0f64; n * b];
    y.par_chunks_mut(b)
        .enumerate()
        .for_each(|(i, row)| row_times(&q, &ctq, i, row));
    let parts: Vec<Vec<f64>> = y
        .par_chunks(ROWS * b)
        .map(|rows| {
            let mut g = vec![0f64; b * b];
            for r in rows.chunks(b) {
                for p in 0..b {
                    for (t, v) in g[p * b..(p + 1) * b].iter_mut().zip(r) {
                        *t += r[p] * v;
                    }
                }
            }
            g
        })
        .collect();
    let mut g = vec![0f64; b * b];
    for part in parts {
        for (t, v) in g.iter_mut().zip(part) {
            *t += v;
        }
    }
    let (_, vecs) = crate::core::matrix::sym_eigen(&g, b);
    let mut out = Matrix::zeros(n, k);
    out.data
        .par_chunks_mut(k)
        .zip(y.par_chunks(b))
        .for_each(|(o, yr)| {
            for (cc, ov) in o.iter_mut().enumerate() {
                *ov = (0..b).map(|t| yr[t] * vecs[t * b + cc]).sum::<f64>() as f32;
            }
        });
    fix_signs(&mut out);
    Ok(out)
}

/// Orthonormalises the b columns of a d × b row-major matrix (modified Gram–Schmidt); a
/// column that vanishes is left at zero.
fn orthonormalise_columns(q: &mut [f64], d: usize, b: usize) {
    for c in 0..b {
        for p in 0..c {
            let dot: f64 = (0..d).map(|j| q[j * b + p] * q[j * b + c]).sum();
            for j in 0..d {
                q[j * b + c] -= dot * q[j * b + p];
            }
        }
        let norm = (0..d).map(|j| q[j * b + c].powi(2)).sum::<f64>().sqrt();
        for j in 0..d {
            q[j * b + c] = if norm > 1e-300 {
                q[j * b + c] / norm
            } else {
                0.0
            };
        }
    }
}

/// Makes each component's largest entry positive, so results do not depend on the solver.
fn fix_signs(out: &mut Matrix) {
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
}
