//! Agreement and quality measures: ARI, NMI (arithmetic normalisation, scikit-learn's
//! default), trustworthiness (Venna & Kaski; scikit-learn's definition) and kNN recall.

use crate::core::matrix::Matrix;
use crate::core::matrix::sq_dist;
use rayon::prelude::*;
use std::collections::HashMap;

/// Counts per (label a, label b) pair, and the row and column sums.
type Contingency = (HashMap<(usize, usize), f64>, Vec<f64>, Vec<f64>);

fn contingency<A: std::hash::Hash + Eq + Clone, B: std::hash::Hash + Eq + Clone>(
    a: &[A],
    b: &[B],
) -> Contingency {
    let mut ia = HashMap::new();
    let mut ib = HashMap::new();
    let mut cells = HashMap::new();
    for (x, y) in a.iter().zip(b) {
        let na = ia.len();
        let p = *ia.entry(x.clone()).or_insert(na);
        let nb = ib.len();
        let q = *ib.entry(y.clone()).or_insert(nb);
        *cells.entry((p, q)).or_insert(0.0) += 1.0;
    }
    let mut ra = vec![0.0; ia.len()];
    let mut rb = vec![0.0; ib.len()];
    for (&(p, q), &c) in &cells {
        ra[p] += c;
        rb[q] += c;
    }
    (cells, ra, rb)
}

/// Adjusted Rand index between two labelings.
pub fn ari<A: std::hash::Hash + Eq + Clone, B: std::hash::Hash + Eq + Clone>(
    a: &[A],
    b: &[B],
) -> f64 {
    let n = a.len() as f64;
    let c2 = |x: f64| x * (x - 1.0) / 2.0;
    let (cells, ra, rb) = contingency(a, b);
    let index: f64 = cells.values().map(|&c| c2(c)).sum();
    let sa: f64 = ra.iter().map(|&c| c2(c)).sum();
    let sb: f64 = rb.iter().map(|&c| c2(c)).sum();
    let expected = sa * sb / c2(n);
    let max = (sa + sb) / 2.0;
    if (max - expected).abs() < 1e-12 {
        return 1.0;
    }
    (index - expected) / (max - expected)
}

/// Normalised mutual information, arithmetic-mean normalisation.
pub fn nmi<A: std::hash::Hash + Eq + Clone, B: std::hash::Hash + Eq + Clone>(
    a: &[A],
    b: &[B],
) -> f64 {
    let n = a.len() as f64;
    let (cells, ra, rb) = contingency(a, b);
    let h = |v: &[f64]| -> f64 {
        v.iter()
            .filter(|&&c| c > 0.0)
            .map(|&c| -(c / n) * (c / n).ln())
            .sum()
    };
    let (ha, hb) = (h(&ra), h(&rb));
    let mi: f64 = cells
        .iter()
        .map(|(&(p, q), &c)| (c / n) * ((c * n) / (ra[p] * rb[q])).ln())
        .sum();
    if ha + hb == 0.0 {
        return 1.0;
    }
    (mi / ((ha + hb) / 2.0)).clamp(0.0, 1.0)
}

/// Trustworthiness T(k) of `low` as an embedding of `high` (scikit-learn's formula), computed
/// on at most `max_points` evenly spaced items (neighbours taken within that subset, as the
/// peer script does).
pub fn trustworthiness(high: &Matrix, low: &[[f32; 2]], k: usize, max_points: usize) -> f64 {
    let idx: Vec<usize> = if high.rows > max_points {
        (0..max_points)
            .map(|i| i * high.rows / max_points)
            .collect()
    } else {
        (0..high.rows).collect()
    };
    let n = idx.len();
    let k = k.min((n - 1) / 2).max(1);
    let penalty: f64 = (0..n)
        .into_par_iter()
        .map(|a| {
            let xa = high.row(idx[a]);
            // Rank of every other item by input-space distance (1 = nearest).
            let mut order: Vec<(f32, usize)> = (0..n)
                .filter(|&b| b != a)
                .map(|b| (sq_dist(xa, high.row(idx[b])), b))
                .collect();
            order.sort_by(|p, q| p.0.total_cmp(&q.0).then(p.1.cmp(&q.1)));
            let mut rank = vec![0usize; n];
            for (r, &(_, b)) in order.iter().enumerate() {
                rank[b] = r + 1;
            }
            let ya = low[idx[a]];
            let mut lo: Vec<(f32, usize)> = (0..n)
                .filter(|&b| b != a)
                .map(|b| {
                    let yb = low[idx[b]];
                    ((ya[0] - yb[0]).powi(2) + (ya[1] - yb[1]).powi(2), b)
                })
                .collect();
            lo.select_nth_unstable_by(k - 1, |p, q| p.0.total_cmp(&q.0).then(p.1.cmp(&q.1)));
            lo[..k]
                .iter()
                .map(|&(_, b)| (rank[b] as f64 - k as f64).max(0.0))
                .sum::<f64>()
        })
        .sum();
    let (nf, kf) = (n as f64, k as f64);
    1.0 - 2.0 / (nf * kf * (2.0 * nf - 3.0 * kf - 1.0)) * penalty
}

/// Neighbour label agreement: the share of all (item, neighbour) pairs of the k-NN graph whose
/// two items carry the same label. Not a k-NN classifier's accuracy (no majority vote).
pub fn neighbour_label_agreement(knn: &super::knn::KnnGraph, labels: &[String]) -> f64 {
    let mut hit = 0usize;
    let mut tot = 0usize;
    for i in 0..knn.n {
        for &j in &knn.neighbors(i)[1..] {
            tot += 1;
            if labels[j as usize] == labels[i] {
                hit += 1;
            }
        }
    }
    hit as f64 / tot.max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ari_and_nmi_reference_values() {
        let a = [0, 0, 0, 1, 1, 1];
        let b = [0, 0, 1, 1, 2, 2];
        // scikit-learn: adjusted_rand_score = 0.24242424, normalized_mutual_info_score = 0.5158037 (by hand: MI = (2/3) ln 2)
        assert!((ari(&a, &b) - 0.242_424_24).abs() < 1e-6);
        assert!((nmi(&a, &b) - 0.515_803_7).abs() < 1e-6);
        assert!((ari(&a, &[5, 5, 5, 7, 7, 7]) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn trustworthiness_of_identity_is_one() {
        let pts: Vec<[f32; 2]> = (0..50).map(|i| [i as f32, (i * i % 7) as f32]).collect();
        let high = Matrix::from_vec(50, 2, pts.iter().flat_map(|p| p.iter().copied()).collect());
        assert!((trustworthiness(&high, &pts, 5, 1000) - 1.0).abs() < 1e-12);
    }
}
