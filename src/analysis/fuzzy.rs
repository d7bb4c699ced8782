//! UMAP's fuzzy simplicial set (McInnes et al. 2018; umap-learn `fuzzy_simplicial_set`):
//! per-item ρ (distance to the nearest non-identical neighbour) and σ (binary search so the
//! memberships sum to log2 k), directed memberships, then the fuzzy union P + Pᵀ − P∘Pᵀ.

use super::graph::CsrGraph;
use super::knn::KnnGraph;
use rayon::prelude::*;

const SMOOTH_K_TOLERANCE: f64 = 1e-5;
const MIN_K_DIST_SCALE: f64 = 1e-3;

/// ρ and σ for every item (umap-learn `smooth_knn_dist`, local_connectivity = 1).
pub fn smooth_knn_dist(knn: &KnnGraph) -> (Vec<f32>, Vec<f32>) {
    let target = (knn.k as f64).log2();
    let res: Vec<(f32, f32)> = (0..knn.n)
        .into_par_iter()
        .map(|i| {
            let d = knn.dists(i);
            let rho = d
                .iter()
                .copied()
                .find(|&x| x > 0.0 && x.is_finite())
                .unwrap_or(0.0) as f64;
            let (mut lo, mut hi, mut mid) = (0.0f64, f64::INFINITY, 1.0f64);
            for _ in 0..64 {
                let mut psum = 0.0;
                for &dj in &d[1..] {
                    if !dj.is_finite() {
                        continue;
                    }
                    let x = dj as f64 - rho;
                    psum += if x > 0.0 { (-x / mid).exp() } else { 1.0 };
                }
                if (psum - target).abs() < SMOOTH_K_TOLERANCE {
                    break;
                }
                if psum > target {
                    hi = mid;
                    mid = (lo + hi) / 2.0;
                } else {
                    lo = mid;
                    mid = if hi.is_infinite() {
                        mid * 2.0
                    } else {
                        (lo + hi) / 2.0
                    };
                }
            }
            let finite: Vec<f64> = d
                .iter()
                .filter(|x| x.is_finite())
                .map(|&x| x as f64)
                .collect();
            let mean = finite.iter().sum::<f64>() / finite.len().max(1) as f64;
            if rho > 0.0 {
                mid = mid.max(MIN_K_DIST_SCALE * mean);
            }
            (rho as f32, mid as f32)
        })
        .collect();
    res.into_iter().unzip()
}

/// The symmetric fuzzy graph used by both the projection and Leiden.
pub fn fuzzy_simplicial_set(knn: &KnnGraph) -> CsrGraph {
    let (rho, sigma) = smooth_knn_dist(knn);
    // P: directed memberships, rows sorted by column.
    let n = knn.n;
    let mut p_ptr = vec![0usize; n + 1];
    let mut p_idx: Vec<u32> = Vec::with_capacity(n * (knn.k - 1));
    let mut p_w: Vec<f32> = Vec::with_capacity(n * (knn.k - 1));
    let mut row: Vec<(u32, f32)> = Vec::with_capacity(knn.k);
    for i in 0..n {
        row.clear();
        for (&j, &dj) in knn.neighbors(i).iter().zip(knn.dists(i)) {
            if j as usize == i || !dj.is_finite() {
                continue;
            }
            let x = dj - rho[i];
            let w = if x <= 0.0 || sigma[i] == 0.0 {
                1.0
            } else {
                (-(x / sigma[i])).exp()
            };
            if w > 0.0 {
                row.push((j, w));
            }
        }
        row.sort_unstable_by_key(|e| e.0);
        row.dedup_by_key(|e| e.0);
        for &(j, w) in &row {
            p_idx.push(j);
            p_w.push(w);
        }
        p_ptr[i + 1] = p_idx.len();
    }
    // Pᵀ; its rows come out sorted by column.
    let (t_ptr, t_idx, t_w) = crate::core::matrix::sparse_transpose(&p_ptr, &p_idx, &p_w, n);
    // Fuzzy union row by row: merge row i of P and of Pᵀ.
    let mut indptr = vec![0usize; n + 1];
    let mut indices = Vec::with_capacity(p_idx.len() * 3 / 2);
    let mut weights = Vec::with_capacity(p_idx.len() * 3 / 2);
    for i in 0..n {
        let (mut a, ae) = (p_ptr[i], p_ptr[i + 1]);
        let (mut b, be) = (t_ptr[i], t_ptr[i + 1]);
        while a < ae || b < be {
            let ja = if a < ae { p_idx[a] } else { u32::MAX };
            let jb = if b < be { t_idx[b] } else { u32::MAX };
            let (j, fwd, bwd) = if ja == jb {
                a += 1;
                b += 1;
                (ja, p_w[a - 1], t_w[b - 1])
            } else if ja < jb {
                a += 1;
                (ja, p_w[a - 1], 0.0)
            } else {
                b += 1;
                (jb, 0.0, t_w[b - 1])
            };
            indices.push(j);
            weights.push(fwd + bwd - fwd * bwd);
        }
        indptr[i + 1] = indices.len();
    }
    CsrGraph {
        n,
        indptr,
        indices,
        weights,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::knn::knn_exact;
    use crate::core::matrix::Matrix;

    #[test]
    fn memberships_sum_to_log2k_and_graph_is_symmetric() {
        let data: Vec<f32> = (0..300).map(|i| ((i * 7919) % 101) as f32 / 10.0).collect();
        let m = Matrix::from_vec(100, 3, data);
        let knn = knn_exact(&m, 15).unwrap();
        let (rho, sigma) = smooth_knn_dist(&knn);
        for i in 0..100 {
            let s: f64 = knn.dists(i)[1..]
                .iter()
                .map(|&d| {
                    let x = (d - rho[i]) as f64;
                    if x > 0.0 {
                        (-x / sigma[i] as f64).exp()
                    } else {
                        1.0
                    }
                })
                .sum();
            assert!((s - 15f64.log2()).abs() < 1e-3, "row {i}: {s}");
        }
        let g = fuzzy_simplicial_set(&knn);
        for i in 0..100 {
            let (nb, w) = g.row(i);
            for (&j, &wij) in nb.iter().zip(w) {
                let (nb2, w2) = g.row(j as usize);
                let p = nb2
                    .iter()
                    .position(|&x| x as usize == i)
                    .expect("symmetric");
                assert_eq!(wij, w2[p]);
                assert!(wij > 0.0 && wij <= 1.0);
            }
        }
    }
}
