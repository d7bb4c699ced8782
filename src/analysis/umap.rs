//! UMAP-like 2-D projection of the fuzzy graph (umap-learn defaults, methods.md §4.2).
//!
//! One documented departure from umap-learn: each epoch updates every item from the positions
//! at the start of the epoch (a Jacobi sweep) instead of one edge after another. Each directed
//! edge therefore moves only its head (its mirror edge moves the other end). In exchange the
//! epoch runs on all cores and the layout is identical for any thread count.

use super::graph::CsrGraph;
use super::knn::mix64;
use crate::core::matrix::Matrix;
use crate::core::matrix::sym_eigen;
use rayon::prelude::*;

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct UmapParams {
    pub min_dist: f32,
    pub spread: f32,
    /// 0 = umap-learn's rule (500 up to 10,000 items, 200 above), but 150 above 50,000.
    pub n_epochs: usize,
    pub negative_sample_rate: usize,
    pub learning_rate: f32,
    pub repulsion_strength: f32,
    /// "spectral" (PCA fallback on disconnected graphs) or "pca".
    pub init: String,
    pub seed: u64,
}

impl Default for UmapParams {
    fn default() -> Self {
        Self {
            min_dist: 0.1,
            spread: 1.0,
            n_epochs: 0,
            negative_sample_rate: 5,
            learning_rate: 1.0,
            repulsion_strength: 1.0,
            init: "spectral".into(),
            seed: 0,
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum UmapError {
    #[error("min_dist must be in [0, spread), got {min_dist} with spread {spread}")]
    BadMinDist { min_dist: f32, spread: f32 },
    #[error("init must be 'spectral' or 'pca', got '{0}'")]
    BadInit(String),
    #[error("the projection needs at least 3 items, got {0}")]
    TooFew(usize),
    #[error("cancelled")]
    Cancelled,
}

impl UmapParams {
    pub fn check(&self, n: usize) -> Result<(), UmapError> {
        if !(self.min_dist >= 0.0 && self.min_dist < self.spread) {
            return Err(UmapError::BadMinDist {
                min_dist: self.min_dist,
                spread: self.spread,
            });
        }
        if self.init != "spectral" && self.init != "pca" {
            return Err(UmapError::BadInit(self.init.clone()));
        }
        if n < 3 {
            return Err(UmapError::TooFew(n));
        }
        Ok(())
    }

    /// umap-learn's rule (500 up to 10,000 items, 200 above) with one departure: 150 above
    /// 50,000, where the sweep dominates the run. Measured on the scaled pbmc68k sets
    /// (docs/benchmarks.md): trustworthiness(15) 0.9309 → 0.9297 at 100k and
    /// 0.9299 → 0.9286 at 1M for 200 → 150 epochs, 25–30 % less time; 120 epochs lost more
    /// (0.9290 at 100k).
    pub fn epochs_for(&self, n: usize) -> usize {
        if self.n_epochs > 0 {
            self.n_epochs
        } else if n <= 10_000 {
            500
        } else if n <= 50_000 {
            200
        } else {
            150
        }
    }
}

/// Least-squares fit of 1/(1 + a d^{2b}) to the min_dist/spread target curve (Levenberg–Marquardt).
pub fn fit_ab(min_dist: f32, spread: f32) -> (f32, f32) {
    let (min_dist, spread) = (min_dist as f64, spread as f64);
    let xs: Vec<f64> = (0..300).map(|i| 3.0 * spread * i as f64 / 299.0).collect();
    let ys: Vec<f64> = xs
        .iter()
        .map(|&x| {
            if x < min_dist {
                1.0
            } else {
                (-(x - min_dist) / spread).exp()
            }
        })
        .collect();
    let sse = |a: f64, b: f64| -> f64 {
        xs.iter()
            .zip(&ys)
            .map(|(&x, &y)| {
                let f = 1.0 / (1.0 + a * x.powf(2.0 * b));
                (f - y) * (f - y)
            })
            .sum()
    };
    let (mut a, mut b, mut lambda) = (1.0f64, 1.0f64, 1e-3f64);
    let mut cur = sse(a, b);
    for _ in 0..500 {
        // Gauss–Newton normal equations with Marquardt damping.
        let (mut jtj, mut jtr) = ([0.0f64; 3], [0.0f64; 2]);
        for (&x, &y) in xs.iter().zip(&ys) {
            if x == 0.0 {
                continue;
            }
            let p = x.powf(2.0 * b);
            let den = 1.0 + a * p;
            let f = 1.0 / den;
            let da = -p / (den * den);
            let db = -a * p * 2.0 * x.ln() / (den * den);
            let r = f - y;
            jtj[0] += da * da;
            jtj[1] += da * db;
            jtj[2] += db * db;
            jtr[0] += da * r;
            jtr[1] += db * r;
        }
        let (m00, m01, m11) = (jtj[0] * (1.0 + lambda), jtj[1], jtj[2] * (1.0 + lambda));
        let det = m00 * m11 - m01 * m01;
        if det.abs() < 1e-300 {
            break;
        }
        let sa = -(m11 * jtr[0] - m01 * jtr[1]) / det;
        let sb = -(-m01 * jtr[0] + m00 * jtr[1]) / det;
        let next = sse(a + sa, b + sb);
        if next < cur {
            a += sa;
            b += sb;
            lambda *= 0.3;
            if (cur - next).abs() < 1e-15 {
                break;
            }
            cur = next;
        } else {
            lambda *= 10.0;
            if lambda > 1e12 {
                break;
            }
        }
    }
    (a as f32, b as f32)
}

/// Widest embedding whose d × d covariance is formed and diagonalised exactly (cyclic Jacobi
/// costs O(d³) a sweep); wider ones (384- or 768-d encoder output) use block power iteration.
const EXACT_PCA_MAX_DIM: usize = 64;

/// Top-2 principal components of `data`, used as init fallback and for disconnected graphs.
pub fn pca_2d(data: &Matrix) -> Vec<[f32; 2]> {
    let (n, d) = (data.rows, data.cols);
    let mut mean = vec![0.0f64; d];
    for i in 0..n {
        for (m, &x) in mean.iter_mut().zip(data.row(i)) {
            *m += x as f64;
        }
    }
    mean.iter_mut().for_each(|m| *m /= n.max(1) as f64);
    // Principal directions as d × k, column-major per direction: dirs[c][t].
    let dirs: Vec<Vec<f64>> = if d <= EXACT_PCA_MAX_DIM {
        exact_directions(data, &mean)
    } else {
        power_directions(data, &mean, 2)
    };
    (0..n)
        .map(|i| {
            let r = data.row(i);
            let mut out = [0.0f32; 2];
            // A one-dimensional embedding has one component; the second coordinate stays 0.
            for (o, dir) in out.iter_mut().zip(&dirs) {
                *o = (0..d)
                    .map(|t| (r[t] as f64 - mean[t]) * dir[t])
                    .sum::<f64>() as f32;
            }
            out
        })
        .collect()
}

/// The top two eigenvectors of the full covariance (at most `d`).
fn exact_directions(data: &Matrix, mean: &[f64]) -> Vec<Vec<f64>> {
    let (n, d) = (data.rows, data.cols);
    let cov: Vec<f64> = (0..d * d)
        .into_par_iter()
        .map(|pq| {
            let (p, q) = (pq / d, pq % d);
            if q < p {
                return 0.0;
            }
            (0..n)
                .map(|i| (data.row(i)[p] as f64 - mean[p]) * (data.row(i)[q] as f64 - mean[q]))
                .sum::<f64>()
        })
        .collect();
    let mut cov = cov;
    for p in 0..d {
        for q in 0..p {
            cov[p * d + q] = cov[q * d + p];
        }
    }
    let (_, vecs) = sym_eigen(&cov, d);
    (0..d.min(2))
        .map(|c| (0..d).map(|t| vecs[t * d + c]).collect())
        .collect()
}

/// The top `k` principal directions by block power (subspace) iteration on the centred n × d
/// matrix, never forming the covariance: each round costs two passes over the data, O(n·d·b)
/// with a block of b = k + 4 vectors, then a Rayleigh–Ritz step on the b × b projection.
/// Seeded, so the same data gives the same directions.
fn power_directions(data: &Matrix, mean: &[f64], k: usize) -> Vec<Vec<f64>> {
    const ROUNDS: usize = 16;
    let (n, d) = (data.rows, data.cols);
    let b = (k + 4).min(d);
    let mut state = 0x5ca1_ab1e_u64;
    let mut q: Vec<Vec<f64>> = (0..b)
        .map(|_| {
            (0..d)
                .map(|_| {
                    state = mix64(state.wrapping_add(0x9e37_79b9_7f4a_7c15));
                    (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5
                })
                .collect()
        })
        .collect();
    orthonormalise(&mut q);
    // Y = Xc Q (n × b), one row of projections per item.
    let project = |q: &[Vec<f64>]| -> Vec<Vec<f64>> {
        (0..n)
            .into_par_iter()
            .map_init(
                || vec![0.0f64; d],
                |xc, i| {
                    for ((x, &r), m) in xc.iter_mut().zip(data.row(i)).zip(mean) {
                        *x = r as f64 - m;
                    }
                    q.iter()
                        .map(|v| xc.iter().zip(v).map(|(a, b)| a * b).sum())
                        .collect()
                },
            )
            .collect()
    };
    for _ in 0..ROUNDS {
        let y = project(&q);
        // Z = Xc^T Y (d × b), summed over items in fixed chunks so the result does not depend
        // on the thread count.
        let chunk = 4096;
        let parts: Vec<Vec<Vec<f64>>> = (0..n.div_ceil(chunk))
            .into_par_iter()
            .map(|c| {
                let mut z = vec![vec![0.0f64; d]; b];
                let mut xc = vec![0.0f64; d];
                let lo = c * chunk;
                for (i, yi) in (lo..).zip(&y[lo..(lo + chunk).min(n)]) {
                    for ((x, &r), m) in xc.iter_mut().zip(data.row(i)).zip(mean) {
                        *x = r as f64 - m;
                    }
                    for (zj, yj) in z.iter_mut().zip(yi) {
                        for (a, x) in zj.iter_mut().zip(&xc) {
                            *a += x * yj;
                        }
                    }
                }
                z
            })
            .collect();
        let mut z = vec![vec![0.0f64; d]; b];
        for part in parts {
            for (zj, pj) in z.iter_mut().zip(part) {
                for (a, p) in zj.iter_mut().zip(pj) {
                    *a += p;
                }
            }
        }
        q = z;
        orthonormalise(&mut q);
    }
    // Rayleigh–Ritz: eigenvectors of Q^T C Q = (Xc Q)^T (Xc Q), rotated back.
    let y = project(&q);
    let mut small = vec![0.0f64; b * b];
    for row in &y {
        for p in 0..b {
            for r in 0..b {
                small[p * b + r] += row[p] * row[r];
            }
        }
    }
    let (_, vecs) = sym_eigen(&small, b);
    (0..k.min(b))
        .map(|c| {
            (0..d)
                .map(|t| (0..b).map(|j| q[j][t] * vecs[j * b + c]).sum())
                .collect()
        })
        .collect()
}

/// Modified Gram–Schmidt; a vector that vanishes (rank-deficient data) is left at zero.
fn orthonormalise(q: &mut [Vec<f64>]) {
    for j in 0..q.len() {
        let (done, rest) = q.split_at_mut(j);
        let v = &mut rest[0];
        for u in done.iter() {
            let dot: f64 = u.iter().zip(v.iter()).map(|(a, b)| a * b).sum();
            for (x, y) in v.iter_mut().zip(u) {
                *x -= dot * y;
            }
        }
        let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        if norm > 1e-300 {
            v.iter_mut().for_each(|x| *x /= norm);
        } else {
            v.iter_mut().for_each(|x| *x = 0.0);
        }
    }
}

/// Eigenvectors 2–3 of the normalised Laplacian by block subspace iteration on
/// (I + D^-½ W D^-½)/2 with the trivial eigenvector projected out.
pub fn spectral_2d(g: &CsrGraph, seed: u64) -> Vec<[f32; 2]> {
    let n = g.n;
    let deg: Vec<f64> = (0..n)
        .map(|i| g.row(i).1.iter().map(|&w| w as f64).sum::<f64>())
        .collect();
    let dinv: Vec<f64> = deg
        .iter()
        .map(|&d| if d > 0.0 { 1.0 / d.sqrt() } else { 0.0 })
        .collect();
    let mut v0: Vec<f64> = deg.iter().map(|d| d.sqrt()).collect();
    let norm0 = v0.iter().map(|x| x * x).sum::<f64>().sqrt();
    v0.iter_mut().for_each(|x| *x /= norm0);
    let b = 4;
    let mut q: Vec<Vec<f64>> = (0..b)
        .map(|c| {
            (0..n)
                .map(|i| {
                    (mix64(seed ^ ((c as u64) << 40) ^ i as u64) as f64 / u64::MAX as f64) - 0.5
                })
                .collect()
        })
        .collect();
    let apply = |x: &[f64]| -> Vec<f64> {
        (0..n)
            .into_par_iter()
            .map(|i| {
                let (nb, w) = g.row(i);
                let s: f64 = nb
                    .iter()
                    .zip(w)
                    .map(|(&j, &wij)| wij as f64 * dinv[j as usize] * x[j as usize])
                    .sum();
                0.5 * (x[i] + dinv[i] * s)
            })
            .collect()
    };
    let orthonormalise = |q: &mut Vec<Vec<f64>>| {
        for c in 0..q.len() {
            let p0: f64 = q[c].iter().zip(&v0).map(|(a, b)| a * b).sum();
            q[c].iter_mut().zip(&v0).for_each(|(a, b)| *a -= p0 * b);
            for prev in 0..c {
                let (lo, hi) = q.split_at_mut(c);
                let p: f64 = hi[0].iter().zip(&lo[prev]).map(|(a, b)| a * b).sum();
                hi[0]
                    .iter_mut()
                    .zip(&lo[prev])
                    .for_each(|(a, b)| *a -= p * b);
            }
            let nrm = q[c].iter().map(|x| x * x).sum::<f64>().sqrt().max(1e-300);
            q[c].iter_mut().for_each(|x| *x /= nrm);
        }
    };
    orthonormalise(&mut q);
    // A few dozen sweeps give the cluster-level structure the initialisation is for; more
    // cost O(nnz) each (on 100k scaled PBMCs, 30 sweeps gave trustworthiness 0.930, 316 gave
    // 0.929, and the sweeps were a quarter of the layout time).
    let iters = 50;
    for _ in 0..iters {
        q = q.iter().map(|x| apply(x)).collect();
        orthonormalise(&mut q);
    }
    // Rayleigh–Ritz so the two kept vectors are the leading ones of the block.
    let aq: Vec<Vec<f64>> = q.iter().map(|x| apply(x)).collect();
    let mut h = vec![0.0; b * b];
    for r in 0..b {
        for c in 0..b {
            h[r * b + c] = q[r].iter().zip(&aq[c]).map(|(a, bb)| a * bb).sum();
        }
    }
    let (_, vecs) = sym_eigen(&h, b);
    (0..n)
        .map(|i| {
            let mut out = [0.0f32; 2];
            for (c, o) in out.iter_mut().enumerate() {
                *o = (0..b).map(|r| q[r][i] * vecs[r * b + c]).sum::<f64>() as f32;
            }
            out
        })
        .collect()
}

/// Scales so the largest |coordinate| is 10 and adds tiny seeded noise, then maps each axis
/// to [0, 10], as umap-learn does before optimising.
fn normalise_init(mut y: Vec<[f32; 2]>, seed: u64) -> Vec<[f32; 2]> {
    let maxabs = y
        .iter()
        .flat_map(|p| p.iter())
        .fold(0.0f32, |m, &v| m.max(v.abs()))
        .max(1e-12);
    for (i, p) in y.iter_mut().enumerate() {
        for (c, v) in p.iter_mut().enumerate() {
            let u = mix64(seed ^ 0xA0A0 ^ ((i as u64) << 1) ^ c as u64) as f64 / u64::MAX as f64;
            *v = *v * 10.0 / maxabs + ((u - 0.5) * 2e-4) as f32;
        }
    }
    for c in 0..2 {
        let lo = y.iter().map(|p| p[c]).fold(f32::INFINITY, f32::min);
        let hi = y.iter().map(|p| p[c]).fold(f32::NEG_INFINITY, f32::max);
        let span = (hi - lo).max(1e-12);
        y.iter_mut().for_each(|p| p[c] = 10.0 * (p[c] - lo) / span);
    }
    y
}

/// Given positions with tiny seeded noise (a thousandth of their spread), so items started
/// at one place (new items put at their nearest old neighbour's) do not stay stacked.
fn jittered(start: &[[f32; 2]], seed: u64) -> Vec<[f32; 2]> {
    let span = [0, 1].map(|c| {
        let lo = start.iter().map(|p| p[c]).fold(f32::INFINITY, f32::min);
        let hi = start.iter().map(|p| p[c]).fold(f32::NEG_INFINITY, f32::max);
        (hi - lo).max(1e-6)
    });
    start
        .iter()
        .enumerate()
        .map(|(i, p)| {
            [0, 1].map(|c| {
                let u =
                    mix64(seed ^ 0xB1B1 ^ ((i as u64) << 1) ^ c as u64) as f64 / u64::MAX as f64;
                p[c] + ((u - 0.5) * 1e-3) as f32 * span[c]
            })
        })
        .collect()
}

/// One item's slice of the per-edge schedules and its output position, for one epoch.
type RowState<'a> = (usize, &'a mut [f32], &'a mut [f32], &'a mut [f32; 2]);

/// log2 for x > 0: exponent bits plus the atanh series of the mantissa (|error| < 1e-5).
#[inline(always)]
fn fast_log2(x: f32) -> f32 {
    let bits = x.to_bits();
    let e = ((bits >> 23) & 0xff) as i32 - 127;
    let m = f32::from_bits((bits & 0x007f_ffff) | 0x3f80_0000);
    let t = (m - 1.0) / (m + 1.0);
    let t2 = t * t;
    e as f32 + 2.885_39 * t * (1.0 + t2 * (1.0 / 3.0 + t2 * (0.2 + t2 * (1.0 / 7.0 + t2 / 9.0))))
}

/// 2^x: integer part into the exponent bits, Taylor polynomial for the fraction (rel. error
/// < 2e-6).
#[inline(always)]
fn fast_exp2(x: f32) -> f32 {
    // Clamped so that a NaN lands on -126 too: the conversion below must never see one.
    let x = if x > -126.0 { x } else { -126.0 };
    let x = if x < 126.0 { x } else { 126.0 };
    // floor without a libm call (baseline x86-64 has no rounding instruction).
    // SAFETY: x is within ±126 after the two selections above (a NaN fails the first and
    // becomes -126), so the conversion cannot overflow; the unchecked form (and the integer
    // floor kept for the exponent) lets a batch of samples vectorise.
    let t: i32 = unsafe { x.to_int_unchecked() };
    let fl = if (t as f32) > x { t - 1 } else { t };
    let i = fl as f32;
    let f = x - i;
    let p = 1.0
        + f * (std::f32::consts::LN_2
            + f * (0.240_226_5
                + f * (0.055_504_1
                    + f * (0.009_618_13
                        + f * (0.001_333_36 + f * (0.000_154_04 + f * 0.000_015_25))))));
    f32::from_bits(((fl + 127) as u32) << 23) * p
}

/// d^b for d > 0. The SGD evaluates this ~10⁸–10⁹ times; `powf` dominated the epoch.
#[inline(always)]
fn pow_b(d: f32, b: f32) -> f32 {
    fast_exp2(b * fast_log2(d))
}

#[inline]
fn prefetch<T>(p: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint; it never faults, and `p` is a valid reference anyway.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
            (p as *const T).cast(),
        );
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

#[inline]
fn clip(v: f32) -> f32 {
    v.clamp(-4.0, 4.0)
}

/// The summed move of a row's samples: attraction for an edge, repulsion for a negative
/// sample, each clipped to ±4 and scaled by the learning rate; coincident points do not move
/// it (umap-learn skips those). The sums run in eight lanes, then across them: a fixed order,
/// so the layout is the same on every run and thread count. With AVX2 (checked once at run
/// time) the same IEEE operations run eight lanes wide instead of four; no operation is
/// fused, so the results are identical either way.
fn row_move(samples: &RowSamples, k: &Kernel) -> [f32; 2] {
    #[cfg(target_arch = "x86_64")]
    {
        static AVX2: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        if *AVX2.get_or_init(|| std::arch::is_x86_feature_detected!("avx2")) {
            // SAFETY: the CPU was just checked to have AVX2.
            return unsafe { row_move_avx2(samples, k) };
        }
    }
    row_move_body(samples, k)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn row_move_avx2(samples: &RowSamples, k: &Kernel) -> [f32; 2] {
    row_move_body(samples, k)
}

/// The SGD's constants for one epoch.
struct Kernel {
    a: f32,
    b: f32,
    gamma: f32,
    /// The attractive step's weight (see `att` in `umap_layout_from`).
    att: f32,
    alpha: f32,
}

const LANES: usize = 8;

#[inline(always)]
fn row_move_body(samples: &RowSamples, k: &Kernel) -> [f32; 2] {
    #[inline(always)]
    fn step(dx: f32, dy: f32, edge: f32, k: &Kernel) -> (f32, f32) {
        let dist2 = dx * dx + dy * dy;
        let pb = pow_b(dist2, k.b);
        let q = k.a * pb + 1.0;
        let pull = -2.0 * k.a * k.b * (pb / dist2) / q;
        let push = 2.0 * k.gamma * k.b / ((0.001 + dist2) * q);
        let is_edge = edge > 0.5;
        let c = if is_edge { pull } else { push };
        let c = if dist2 > 0.0 { c } else { 0.0 };
        let w = if is_edge { k.att * k.alpha } else { k.alpha };
        (w * clip(c * dx), w * clip(c * dy))
    }
    let (mut sx, mut sy) = ([0f32; LANES], [0f32; LANES]);
    let (xs, rx) = samples.dx.as_chunks::<LANES>();
    let (ys, ry) = samples.dy.as_chunks::<LANES>();
    let (es, re) = samples.edge.as_chunks::<LANES>();
    for ((x, y), e) in xs.iter().zip(ys).zip(es) {
        for l in 0..LANES {
            let (mx, my) = step(x[l], y[l], e[l], k);
            sx[l] += mx;
            sy[l] += my;
        }
    }
    // The three columns are pushed together, so their remainders are equally long.
    for ((l, &x), (&y, &e)) in rx.iter().enumerate().zip(ry.iter().zip(re)) {
        let (mx, my) = step(x, y, e, k);
        sx[l] += mx;
        sy[l] += my;
    }
    [sx.iter().sum(), sy.iter().sum()]
}

/// One row's samples in an epoch, in the order they were drawn: the offset to the other point
/// and whether it is an edge (attraction) or a negative sample (repulsion).
#[derive(Default)]
struct RowSamples {
    dx: Vec<f32>,
    dy: Vec<f32>,
    /// 1.0 for an edge, 0.0 for a negative sample (a float, so the selection vectorises).
    edge: Vec<f32>,
}

impl RowSamples {
    fn clear(&mut self) {
        self.dx.clear();
        self.dy.clear();
        self.edge.clear();
    }

    #[inline]
    fn push(&mut self, yi: [f32; 2], yk: [f32; 2], edge: f32) {
        self.dx.push(yi[0] - yk[0]);
        self.dy.push(yi[1] - yk[1]);
        self.edge.push(edge);
    }
}

/// Optimises the layout. `progress(fraction)` is called every few epochs; `cancelled()` polled.
pub fn umap_layout(
    data: &Matrix,
    g: &CsrGraph,
    params: &UmapParams,
    progress: &(dyn Fn(f64) + Sync),
    cancelled: &(dyn Fn() -> bool + Sync),
) -> Result<Vec<[f32; 2]>, UmapError> {
    umap_layout_from(data, g, params, None, progress, cancelled)
}

/// `umap_layout`, starting from the positions `start` when given (a live run's previous
/// version, so the picture moves only as much as the data did). umap-learn maps an array
/// `init` to [0, 10] first; these positions came out of this optimisation, so they are at its
/// own scale already and are taken as they are: the result stays in their frame (mapping
/// them into [0, 10] and back grew a live run's map 2.5× a version).
pub fn umap_layout_from(
    data: &Matrix,
    g: &CsrGraph,
    params: &UmapParams,
    start: Option<&[[f32; 2]]>,
    progress: &(dyn Fn(f64) + Sync),
    cancelled: &(dyn Fn() -> bool + Sync),
) -> Result<Vec<[f32; 2]>, UmapError> {
    params.check(g.n)?;
    let n = g.n;
    let n_epochs = params.epochs_for(n);
    let (a, b) = fit_ab(params.min_dist, params.spread);
    let mut y = match start.filter(|s| s.len() == n) {
        Some(s) => jittered(s, params.seed),
        None => {
            let (_, n_comp) = g.components();
            let init = if params.init == "spectral" && n_comp == 1 {
                spectral_2d(g, params.seed)
            } else {
                if n_comp > 1 {
                    tracing::info!(
                        components = n_comp,
                        "graph disconnected: PCA initialisation"
                    );
                }
                pca_2d(data)
            };
            normalise_init(init, params.seed)
        }
    };

    let wmax = g.weights.iter().copied().fold(0.0f32, f32::max);
    let cutoff = wmax / n_epochs as f32;
    // Per edge: how often it is due; edges under the cutoff never are (umap-learn drops them).
    let eps: Vec<f32> = g
        .weights
        .iter()
        .map(|&w| {
            if w >= cutoff && w > 0.0 {
                wmax / w
            } else {
                -1.0
            }
        })
        .collect();
    let mut next_sample: Vec<f32> = eps.clone();
    let nsr = params.negative_sample_rate as f32;
    let mut next_neg: Vec<f32> = eps.iter().map(|&e| e / nsr).collect();
    let gamma = params.repulsion_strength;
    // Attractive step per directed edge. umap-learn moves both ends of every directed edge
    // (so each end twice per undirected pair); with simultaneous updates the same doubling
    // over-contracts clusters: on pbmc68k_reduced a factor of 2 gave trustworthiness 0.936 and
    // a median 15-NN distance of 1.1 % of the layout diagonal (umap-learn's reference layout:
    // 2.3 %), a factor of 1 gave 0.938 and 1.4 %. We use 1.
    let att: f32 = 1.0;

    let mut next_y = y.clone();
    for epoch in 0..n_epochs {
        if epoch % 10 == 0 {
            if cancelled() {
                return Err(UmapError::Cancelled);
            }
            progress(epoch as f64 / n_epochs as f64);
        }
        let alpha = params.learning_rate * (1.0 - epoch as f32 / n_epochs as f32);
        let ep = epoch as f32;
        let kernel = Kernel {
            a,
            b,
            gamma,
            att,
            alpha,
        };
        let y_old = &y;
        // The per-edge schedules are mutated per row; split them by row with the CSR offsets.
        let rows: Vec<RowState> = {
            let mut out = Vec::with_capacity(n);
            let mut ns_rest: &mut [f32] = &mut next_sample;
            let mut nn_rest: &mut [f32] = &mut next_neg;
            for (i, yi) in next_y.iter_mut().enumerate() {
                let len = g.indptr[i + 1] - g.indptr[i];
                let (ns, r1) = ns_rest.split_at_mut(len);
                let (nn, r2) = nn_rest.split_at_mut(len);
                ns_rest = r1;
                nn_rest = r2;
                out.push((i, ns, nn, yi));
            }
            out
        };
        rows.into_par_iter().with_min_len(256).for_each_init(
            RowSamples::default,
            |buf, (i, ns, nn, yi_out)| {
                let (nb, _) = g.row(i);
                let e0 = g.indptr[i];
                let yi = y_old[i];
                let mut rng = mix64(params.seed ^ mix64(((epoch as u64) << 32) | i as u64));
                // Every update of a row moves the same point from the same start (a Jacobi
                // sweep), so the row's samples are gathered first, their coefficients (a
                // power and divisions each, the costly part) computed in SIMD lanes, and the
                // moves summed last in the order they were drawn.
                buf.clear();
                for (t, &j) in nb.iter().enumerate() {
                    if let Some(&ahead) = nb.get(t + 4) {
                        prefetch(&y_old[ahead as usize]);
                    }
                    let e = eps[e0 + t];
                    if e <= 0.0 || ns[t] > ep {
                        continue;
                    }
                    buf.push(yi, y_old[j as usize], 1.0);
                    ns[t] += e;
                    // Truncation is floor here: negative values are clamped to 0 first.
                    let n_neg = ((ep - nn[t]) / (e / nsr)).max(0.0) as usize;
                    // Draw the negative samples first and prefetch their positions: at a million
                    // items the positions no longer fit in L2 and these loads dominate.
                    let mut ks = [0u32; 16];
                    let mut done = 0;
                    while done < n_neg {
                        let m = (n_neg - done).min(16);
                        for slot in ks.iter_mut().take(m) {
                            rng = mix64(rng);
                            // Lemire's multiply-shift instead of a 64-bit modulo.
                            *slot = (((rng >> 32) * n as u64) >> 32) as u32;
                            prefetch(&y_old[*slot as usize]);
                        }
                        for &k in &ks[..m] {
                            let k = k as usize;
                            if k != i {
                                buf.push(yi, y_old[k], 0.0);
                            }
                        }
                        done += m;
                    }
                    nn[t] += n_neg as f32 * (e / nsr);
                }
                let m = row_move(buf, &kernel);
                *yi_out = [yi[0] + m[0], yi[1] + m[1]];
            },
        );
        std::mem::swap(&mut y, &mut next_y);
    }
    progress(1.0);
    Ok(y)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pca_of_a_one_dimensional_embedding_has_one_component() {
        let m = Matrix::from_vec(5, 1, vec![1.0, 2.0, 3.0, 4.0, 10.0]);
        let p = pca_2d(&m);
        assert_eq!(p.len(), 5);
        assert!(p.iter().all(|x| x[0].is_finite() && x[1] == 0.0));
        assert!((p[4][0] - p[0][0]).abs() > 1.0);
    }

    #[test]
    fn wide_embeddings_get_the_same_components_without_a_covariance() {
        // 3,000 items in 384 dimensions: two strong directions and noise. Power iteration on
        // the n × d matrix must find the plane the exact covariance eigenvectors span.
        let (n, d) = (3000, 384);
        let mut state = 7u64;
        let mut rnd = || {
            state = mix64(state.wrapping_add(1));
            (state >> 11) as f32 / (1u64 << 53) as f32 - 0.5
        };
        let u: Vec<f32> = (0..d).map(|_| rnd()).collect();
        let w: Vec<f32> = (0..d).map(|_| rnd()).collect();
        let mut data = Vec::with_capacity(n * d);
        for _ in 0..n {
            let (a, c) = (rnd() * 8.0, rnd() * 4.0);
            for t in 0..d {
                data.push(a * u[t] + c * w[t] + 0.3 * rnd());
            }
        }
        let m = Matrix::from_vec(n, d, data);
        let mean: Vec<f64> = (0..d)
            .map(|t| (0..n).map(|i| m.row(i)[t] as f64).sum::<f64>() / n as f64)
            .collect();
        let exact = exact_directions(&m, &mean);
        let fast = power_directions(&m, &mean, 2);
        for c in 0..2 {
            let cos: f64 = exact[c].iter().zip(&fast[c]).map(|(a, b)| a * b).sum();
            println!("component {c}: |cos| = {:.6}", cos.abs());
            assert!(cos.abs() > 0.999, "component {c}: cos {cos}");
        }
        let y = pca_2d(&m);
        assert!(y.iter().all(|p| p[0].is_finite() && p[1].is_finite()));
    }

    #[test]
    fn fast_pow_is_accurate() {
        for &d in &[1e-6f32, 0.01, 0.5, 1.0, 3.7, 150.0, 1e5] {
            for &b in &[0.79f32, 0.895, 1.0, 1.3] {
                let (exact, fast) = (d.powf(b), pow_b(d, b));
                assert!(
                    ((fast - exact) / exact).abs() < 2e-5,
                    "{d}^{b}: {fast} vs {exact}"
                );
            }
        }
    }

    #[test]
    fn the_epoch_rule_follows_umap_learn_up_to_50k_items() {
        let p = UmapParams::default();
        let rule: Vec<usize> = [700, 10_000, 10_001, 50_000, 50_001, 1_000_000]
            .map(|n| p.epochs_for(n))
            .to_vec();
        assert_eq!(rule, [500, 500, 200, 200, 150, 150]);
        let fixed = UmapParams {
            n_epochs: 300,
            ..Default::default()
        };
        assert_eq!(fixed.epochs_for(1_000_000), 300);
    }

    #[test]
    fn fast_exp2_stays_finite_for_any_input() {
        for x in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 1e30, -1e30] {
            let v = fast_exp2(x);
            assert!(v.is_finite() && v > 0.0, "2^{x} gave {v}");
        }
        assert!((fast_exp2(3.5) - 3.5f32.exp2()).abs() < 1e-4);
    }

    #[test]
    fn a_rows_summed_move_matches_the_samples_one_by_one() {
        let (a, b) = fit_ab(0.1, 1.0);
        let k = Kernel {
            a,
            b,
            gamma: 1.0,
            att: 1.0,
            alpha: 0.7,
        };
        let mut rows = RowSamples::default();
        let mut r = 7u64;
        // 8-lane blocks and a remainder; a coincident pair of each kind moves nothing.
        for s in 0..29 {
            r = mix64(r);
            let (ox, oy) = (
                (r % 1000) as f32 / 100.0 - 5.0,
                ((r >> 20) % 1000) as f32 / 90.0 - 5.0,
            );
            let other = if s % 13 == 0 {
                [1.0, 2.0]
            } else {
                [1.0 + ox, 2.0 + oy]
            };
            rows.push([1.0, 2.0], other, if s % 4 == 0 { 1.0 } else { 0.0 });
        }
        let mut want = [0f64; 2];
        for s in 0..rows.dx.len() {
            let (dx, dy) = (rows.dx[s], rows.dy[s]);
            let d2 = dx * dx + dy * dy;
            if d2 <= 0.0 {
                continue;
            }
            let c = if rows.edge[s] > 0.5 {
                -2.0 * a * b * d2.powf(b - 1.0) / (a * d2.powf(b) + 1.0)
            } else {
                2.0 * b / ((0.001 + d2) * (a * d2.powf(b) + 1.0))
            };
            want[0] += (clip(c * dx) * k.alpha) as f64;
            want[1] += (clip(c * dy) * k.alpha) as f64;
        }
        let got = row_move(&rows, &k);
        for d in 0..2 {
            assert!(
                (got[d] as f64 - want[d]).abs() < 1e-4,
                "{got:?} vs {want:?}"
            );
        }
        // The wide and the narrow paths give the same bits.
        assert_eq!(got, row_move_body(&rows, &k));
    }

    #[test]
    fn ab_fit_matches_umap_learn() {
        let (a, b) = fit_ab(0.1, 1.0);
        println!("a = {a}, b = {b}");
        assert!((a - 1.577).abs() < 0.01, "a = {a}");
        assert!((b - 0.895).abs() < 0.01, "b = {b}");
    }
}
