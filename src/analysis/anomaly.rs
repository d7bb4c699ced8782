//! Anomaly scores (methods.md §5.4): mean distance to the nearest neighbours as a robust
//! z-score, and an isolation forest (Liu et al. 2008, scikit-learn defaults). Higher = more
//! anomalous.

use super::knn::{KnnGraph, mix64};
use crate::core::matrix::Matrix;
use rayon::prelude::*;

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AnomalyParams {
    /// Neighbours averaged for the kNN distance score (self excluded).
    pub knn_k: usize,
    pub n_trees: usize,
    pub sample_size: usize,
    pub seed: u64,
}

impl Default for AnomalyParams {
    fn default() -> Self {
        Self {
            knn_k: 10,
            n_trees: 100,
            sample_size: 256,
            seed: 0,
        }
    }
}

/// Mean distance to the `k` nearest other items, as a robust z-score (median, 1.4826·MAD).
pub fn knn_distance_score(knn: &KnnGraph, k: usize) -> Vec<f32> {
    let k = k.min(knn.k - 1).max(1);
    let raw: Vec<f64> = (0..knn.n)
        .map(|i| {
            let d = &knn.dists(i)[1..=k];
            d.iter()
                .filter(|x| x.is_finite())
                .map(|&x| x as f64)
                .sum::<f64>()
                / k as f64
        })
        .collect();
    robust_z(&raw)
}

/// `score` with what `covariate` explains of it taken out: the residual of a least-squares
/// line of score on covariate, as a robust z-score. None with fewer than 3 finite pairs or a
/// covariate that does not vary. Items with a non-finite value get NaN.
pub fn adjusted_for(score: &[f32], covariate: &[f64]) -> Option<Vec<f32>> {
    let pairs: Vec<(f64, f64)> = covariate
        .iter()
        .zip(score)
        .map(|(&x, &y)| (x, y as f64))
        .filter(|(x, y)| x.is_finite() && y.is_finite())
        .collect();
    if pairs.len() < 3 {
        return None;
    }
    let n = pairs.len() as f64;
    let mx = pairs.iter().map(|p| p.0).sum::<f64>() / n;
    let my = pairs.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = pairs.iter().map(|p| (p.0 - mx).powi(2)).sum();
    if sxx <= 1e-12 * n {
        return None;
    }
    let b = pairs.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum::<f64>() / sxx;
    let resid: Vec<f64> = covariate
        .iter()
        .zip(score)
        .map(|(&x, &y)| y as f64 - my - b * (x - mx))
        .collect();
    let finite: Vec<f64> = resid.iter().copied().filter(|r| r.is_finite()).collect();
    let z = robust_z(&finite);
    let mut k = 0;
    Some(
        resid
            .iter()
            .map(|r| {
                if r.is_finite() {
                    k += 1;
                    z[k - 1]
                } else {
                    f32::NAN
                }
            })
            .collect(),
    )
}

/// Robust z-scores of `x` within the groups `groups` (ids 0..k): (x − group median) /
/// (1.4826 · group MAD), NaN where a group has no spread or the value is not finite; so an
/// item stands out from its own kind (a low-depth cell in its cluster), not from all items.
pub fn robust_z_within(x: &[f64], groups: &[u32]) -> Vec<f64> {
    let k = groups.iter().max().map_or(0, |m| *m as usize + 1);
    let mut members: Vec<Vec<f64>> = vec![Vec::new(); k];
    for (&v, &g) in x.iter().zip(groups) {
        if v.is_finite() {
            members[g as usize].push(v);
        }
    }
    let stats: Vec<(f64, f64)> = members
        .iter()
        .map(|g| {
            let m = median(g);
            let dev: Vec<f64> = g.iter().map(|v| (v - m).abs()).collect();
            (m, 1.4826 * median(&dev))
        })
        .collect();
    x.iter()
        .zip(groups)
        .map(|(&v, &g)| {
            let (m, s) = stats[g as usize];
            if s > 0.0 { (v - m) / s } else { f64::NAN }
        })
        .collect()
}

pub fn robust_z(v: &[f64]) -> Vec<f32> {
    let med = median(v);
    let dev: Vec<f64> = v.iter().map(|x| (x - med).abs()).collect();
    let mad = median(&dev) * 1.4826;
    let scale = if mad > 1e-12 { mad } else { 1.0 };
    v.iter().map(|x| ((x - med) / scale) as f32).collect()
}

fn median(v: &[f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    let m = s.len() / 2;
    if s.len() % 2 == 1 {
        s[m]
    } else {
        (s[m - 1] + s[m]) / 2.0
    }
}

/// Average path length of an unsuccessful BST search among `n` items.
fn c_factor(n: usize) -> f64 {
    if n <= 1 {
        return 0.0;
    }
    if n == 2 {
        return 1.0;
    }
    let h = ((n - 1) as f64).ln() + 0.577_215_664_9;
    2.0 * h - 2.0 * (n - 1) as f64 / n as f64
}

enum Node {
    Leaf {
        size: usize,
    },
    Split {
        feat: usize,
        thr: f32,
        left: usize,
        right: usize,
    },
}

struct Tree {
    nodes: Vec<Node>,
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = mix64(self.0);
        self.0
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn build(
    data: &Matrix,
    items: &mut [usize],
    depth: usize,
    limit: usize,
    rng: &mut Rng,
    nodes: &mut Vec<Node>,
) -> usize {
    let id = nodes.len();
    nodes.push(Node::Leaf { size: items.len() });
    if depth >= limit || items.len() <= 1 {
        return id;
    }
    // Random feature among those that vary in this node (sklearn draws until one varies).
    let d = data.cols;
    for _ in 0..d.max(1) {
        let feat = (rng.next() % d as u64) as usize;
        let (mut lo, mut hi) = (f32::INFINITY, f32::NEG_INFINITY);
        for &i in items.iter() {
            let v = data.row(i)[feat];
            lo = lo.min(v);
            hi = hi.max(v);
        }
        if hi <= lo {
            continue;
        }
        let thr = lo + (hi - lo) * rng.unit() as f32;
        let mut p = 0;
        for q in 0..items.len() {
            if data.row(items[q])[feat] < thr {
                items.swap(p, q);
                p += 1;
            }
        }
        if p == 0 || p == items.len() {
            continue;
        }
        let (l, r) = items.split_at_mut(p);
        let left = build(data, l, depth + 1, limit, rng, nodes);
        let right = build(data, r, depth + 1, limit, rng, nodes);
        nodes[id] = Node::Split {
            feat,
            thr,
            left,
            right,
        };
        return id;
    }
    id
}

impl Tree {
    fn path_length(&self, x: &[f32]) -> f64 {
        let mut id = 0;
        let mut depth = 0.0;
        loop {
            match &self.nodes[id] {
                Node::Leaf { size } => return depth + c_factor(*size),
                Node::Split {
                    feat,
                    thr,
                    left,
                    right,
                } => {
                    id = if x[*feat] < *thr { *left } else { *right };
                    depth += 1.0;
                }
            }
        }
    }
}

/// Isolation forest score s = 2^(−E[h(x)]/c(ψ)) in (0, 1].
pub fn isolation_forest(data: &Matrix, p: &AnomalyParams) -> Vec<f32> {
    let n = data.rows;
    if n == 0 {
        return Vec::new();
    }
    let psi = p.sample_size.min(n).max(2.min(n));
    let limit = (psi as f64).log2().ceil() as usize;
    let trees: Vec<Tree> = (0..p.n_trees)
        .into_par_iter()
        .map(|t| {
            let mut rng = Rng(mix64(p.seed ^ 0x1F0 ^ ((t as u64) << 20)));
            // Sample ψ distinct items (partial Fisher–Yates over an index map).
            let mut picked: Vec<usize> = Vec::with_capacity(psi);
            let mut swaps = std::collections::HashMap::new();
            for s in 0..psi {
                let r = s + (rng.next() % (n - s) as u64) as usize;
                let vr = *swaps.get(&r).unwrap_or(&r);
                let vs = *swaps.get(&s).unwrap_or(&s);
                swaps.insert(r, vs);
                picked.push(vr);
            }
            let mut nodes = Vec::new();
            build(data, &mut picked, 0, limit, &mut rng, &mut nodes);
            Tree { nodes }
        })
        .collect();
    let c = c_factor(psi);
    (0..n)
        .into_par_iter()
        .map(|i| {
            let x = data.row(i);
            let mean = trees.iter().map(|t| t.path_length(x)).sum::<f64>() / trees.len() as f64;
            2f64.powf(-mean / c) as f32
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qc_z_is_robust_and_within_each_group() {
        let x = [
            10.0, 11.0, 12.0, 13.0, 100.0, 1000.0, 1010.0, 990.0, 1000.0, 1020.0,
        ];
        let c = [0, 0, 0, 0, 0, 1, 1, 1, 1, 1];
        let z = robust_z_within(&x, &c);
        // 100 is far from its own group (median 12, MAD 1) though small next to group 1.
        assert!((z[4] - 88.0 / 1.4826).abs() < 1e-9, "{z:?}");
        assert!(
            z[5].abs() < 1e-9 && (z[9] - 20.0 / 14.826).abs() < 1e-9,
            "{z:?}"
        );
        // No spread: no z.
        assert!(robust_z_within(&[1.0, 1.0, 1.0], &[0, 0, 0])[0].is_nan());
    }

    #[test]
    fn a_score_explained_by_depth_is_flat_after_adjustment() {
        // A score that is 2·log-depth plus one real outlier (item 7).
        let depth: Vec<f64> = (0..20).map(|i| (100.0 + 50.0 * i as f64).ln_1p()).collect();
        let mut score: Vec<f32> = depth.iter().map(|d| (2.0 * d) as f32).collect();
        score[7] += 5.0;
        let adj = adjusted_for(&score, &depth).unwrap();
        let top = (0..20).max_by(|&a, &b| adj[a].total_cmp(&adj[b])).unwrap();
        assert_eq!(top, 7, "{adj:?}");
        // Everything else is explained by depth: far below the outlier (the outlier tilts the
        // least-squares line a little, so the rest are not exactly flat).
        assert!(adj[7] > 50.0, "{adj:?}");
        assert!(
            adj.iter().enumerate().all(|(i, z)| i == 7 || z.abs() < 3.0),
            "{adj:?}"
        );
        assert!(adjusted_for(&score, &[1.0; 20]).is_none());
        let mut holes = depth.clone();
        holes[3] = f64::NAN;
        assert!(adjusted_for(&score, &holes).unwrap()[3].is_nan());
    }

    #[test]
    fn outlier_scores_highest() {
        let mut data: Vec<f32> = (0..400).map(|i| ((i * 37) % 100) as f32 / 100.0).collect();
        data.extend([25.0, -30.0]);
        let m = Matrix::from_vec(201, 2, data);
        let s = isolation_forest(&m, &AnomalyParams::default());
        let top = (0..201).max_by(|&a, &b| s[a].total_cmp(&s[b])).unwrap();
        assert_eq!(top, 200);
        assert!(s[200] > 0.6, "{}", s[200]);
        let knn = crate::analysis::knn::knn_exact(&m, 15).unwrap();
        let z = knn_distance_score(&knn, 10);
        let top = (0..201).max_by(|&a, &b| z[a].total_cmp(&z[b])).unwrap();
        assert_eq!(top, 200);
    }

    #[test]
    fn c_factor_matches_reference() {
        // c(256) from Liu et al.: 2H(255) − 2·255/256 ≈ 10.2448
        assert!((c_factor(256) - 10.2448).abs() < 1e-3);
    }
}
