//! Statistics of positions on the tissue: each item's k nearest neighbours in 2-D (exact, by a
//! uniform grid searched ring by ring) and Moran's I of a value over them, as libpysal's
//! `KNN` weights and esda's `Moran` define it (binary kNN weights without the item itself;
//! with k fixed, row-standardising changes neither I nor its z-score).

/// Each point's `k` nearest other points, nearest first (ties by index). Exact.
pub fn knn_2d(points: &[[f32; 2]], k: usize) -> Vec<Vec<u32>> {
    let n = points.len();
    let k = k.min(n.saturating_sub(1));
    if n == 0 || k == 0 {
        return vec![Vec::new(); n];
    }
    let (mut x0, mut x1, mut y0, mut y1) = (f32::MAX, f32::MIN, f32::MAX, f32::MIN);
    for p in points {
        x0 = x0.min(p[0]);
        x1 = x1.max(p[0]);
        y0 = y0.min(p[1]);
        y1 = y1.max(p[1]);
    }
    // About two points per cell.
    let g = ((n as f64 / 2.0).sqrt().ceil() as usize).max(1);
    let cw = ((x1 - x0) / g as f32).max(f32::MIN_POSITIVE);
    let ch = ((y1 - y0) / g as f32).max(f32::MIN_POSITIVE);
    let cell = |p: &[f32; 2]| {
        let cx = (((p[0] - x0) / cw) as usize).min(g - 1);
        let cy = (((p[1] - y0) / ch) as usize).min(g - 1);
        (cx, cy)
    };
    let mut start = vec![0usize; g * g + 1];
    for p in points {
        let (cx, cy) = cell(p);
        start[cy * g + cx + 1] += 1;
    }
    for c in 0..g * g {
        start[c + 1] += start[c];
    }
    let mut fill = start.clone();
    let mut members = vec![0u32; n];
    for (i, p) in points.iter().enumerate() {
        let (cx, cy) = cell(p);
        members[fill[cy * g + cx]] = i as u32;
        fill[cy * g + cx] += 1;
    }
    let d2 = |a: &[f32; 2], b: &[f32; 2]| {
        let (dx, dy) = ((a[0] - b[0]) as f64, (a[1] - b[1]) as f64);
        dx * dx + dy * dy
    };
    use rayon::prelude::*;
    (0..n)
        .into_par_iter()
        .map(|i| {
            let p = &points[i];
            let (cx, cy) = cell(p);
            let mut best: Vec<(f64, u32)> = Vec::with_capacity(k + 1);
            for r in 0..g {
                // Cells on the ring at Chebyshev distance r.
                let (lo_x, hi_x) = (cx.saturating_sub(r), (cx + r).min(g - 1));
                let (lo_y, hi_y) = (cy.saturating_sub(r), (cy + r).min(g - 1));
                for yy in lo_y..=hi_y {
                    for xx in lo_x..=hi_x {
                        if xx.abs_diff(cx) != r && yy.abs_diff(cy) != r {
                            continue;
                        }
                        let c = yy * g + xx;
                        for &j in &members[start[c]..start[c + 1]] {
                            if j as usize == i {
                                continue;
                            }
                            let d = d2(p, &points[j as usize]);
                            let at = best.partition_point(|&(bd, bj)| (bd, bj) < (d, j));
                            if at < k {
                                best.insert(at, (d, j));
                                best.truncate(k);
                            }
                        }
                    }
                }
                // Every point beyond this ring is at least r cells away.
                if best.len() == k {
                    let reach = r as f64 * cw.min(ch) as f64;
                    if reach * reach >= best[k - 1].0 {
                        break;
                    }
                }
            }
            best.into_iter().map(|(_, j)| j).collect()
        })
        .collect()
}

/// Moran's I of `values` over the binary weights of `neighbours` (row i's neighbours weigh 1),
/// with its expectation and z-score under the normality assumption (esda's `z_norm`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Moran {
    pub i: f64,
    pub expected: f64,
    pub z: f64,
}

/// None when fewer than 3 items, or the values do not vary.
pub fn morans_i(neighbours: &[Vec<u32>], values: &[f64]) -> Option<Moran> {
    let n = values.len();
    if n < 3 || neighbours.len() != n {
        return None;
    }
    let mean = values.iter().sum::<f64>() / n as f64;
    let z: Vec<f64> = values.iter().map(|v| v - mean).collect();
    let m2: f64 = z.iter().map(|x| x * x).sum();
    if m2 <= 0.0 || !m2.is_finite() {
        return None;
    }
    let s0: f64 = neighbours.iter().map(|r| r.len() as f64).sum();
    if s0 == 0.0 {
        return None;
    }
    let cross: f64 = neighbours
        .iter()
        .enumerate()
        .map(|(i, r)| z[i] * r.iter().map(|&j| z[j as usize]).sum::<f64>())
        .sum();
    let nf = n as f64;
    let i = nf / s0 * cross / m2;
    // S1 = ½ Σ (w_ij + w_ji)², S2 = Σ_i (row sum + column sum)², for 0/1 weights.
    let mut pairs: std::collections::HashMap<(u32, u32), f64> = Default::default();
    let mut col = vec![0f64; n];
    for (a, r) in neighbours.iter().enumerate() {
        for &b in r {
            let key = if (a as u32) < b {
                (a as u32, b)
            } else {
                (b, a as u32)
            };
            *pairs.entry(key).or_default() += 1.0;
            col[b as usize] += 1.0;
        }
    }
    let s1: f64 = pairs.values().map(|w| 0.5 * 2.0 * w * w).sum();
    let s2: f64 = neighbours
        .iter()
        .zip(&col)
        .map(|(r, c)| (r.len() as f64 + c).powi(2))
        .sum();
    let expected = -1.0 / (nf - 1.0);
    let var = (nf * nf * s1 - nf * s2 + 3.0 * s0 * s0) / ((nf * nf - 1.0) * s0 * s0)
        - expected * expected;
    Some(Moran {
        i,
        expected,
        z: (i - expected) / var.sqrt(),
    })
}

/// Permutation `p`'s own random stream: results do not depend on which thread runs it.
fn permutation_rng(seed: u64, p: usize) -> rand_xoshiro::Xoshiro256PlusPlus {
    use rand::SeedableRng;
    rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(
        seed ^ (p as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
    )
}

/// The pseudo p-value of Moran's I by `permutations` seeded shuffles of the values, as esda's
/// `p_sim`: the share of shuffles at least as extreme on the observed side,
/// (larger + 1) / (permutations + 1), folded to the smaller tail.
pub fn moran_p_sim(neighbours: &[Vec<u32>], values: &[f64], permutations: usize, seed: u64) -> f64 {
    use rand::seq::SliceRandom;
    use rayon::prelude::*;
    let n = values.len();
    let mean = values.iter().sum::<f64>() / n.max(1) as f64;
    let z: Vec<f64> = values.iter().map(|v| v - mean).collect();
    // I is a fixed multiple of the cross-product when only the order of the values changes.
    let cross = |z: &[f64]| -> f64 {
        neighbours
            .iter()
            .enumerate()
            .map(|(i, r)| z[i] * r.iter().map(|&j| z[j as usize]).sum::<f64>())
            .sum()
    };
    let observed = cross(&z);
    let above = (0..permutations)
        .into_par_iter()
        .filter(|&p| {
            let mut s = z.clone();
            s.shuffle(&mut permutation_rng(seed, p));
            cross(&s) >= observed
        })
        .count();
    let larger = above.min(permutations - above);
    (larger + 1) as f64 / (permutations + 1) as f64
}

/// Which groups touch which on the tissue: kNN edges between groups counted, against the same
/// counts with the labels permuted (squidpy's `nhood_enrichment`: z = (observed − mean of the
/// permutations) / their standard deviation, ddof 0).
#[derive(Debug, Clone, PartialEq)]
pub struct Enrichment {
    /// Group ids, ascending.
    pub groups: Vec<u32>,
    /// `counts[a][b]`: neighbour edges from an item of group a to one of group b.
    pub counts: Vec<Vec<u64>>,
    /// `z[a][b]`; NaN where every permutation gave the same count.
    pub z: Vec<Vec<f64>>,
    pub permutations: usize,
}

fn edge_counts(neighbours: &[Vec<u32>], g: &[usize], k: usize) -> Vec<u64> {
    let mut c = vec![0u64; k * k];
    for (i, r) in neighbours.iter().enumerate() {
        let row = g[i] * k;
        for &j in r {
            c[row + g[j as usize]] += 1;
        }
    }
    c
}

/// Neighbourhood enrichment of `labels` over `neighbours`, `permutations` label shuffles
/// seeded from `seed` (each permutation from its own stream, so the result does not depend
/// on the thread count).
pub fn nhood_enrichment(
    neighbours: &[Vec<u32>],
    labels: &[u32],
    permutations: usize,
    seed: u64,
) -> Enrichment {
    use rand::seq::SliceRandom;
    use rayon::prelude::*;
    let mut groups: Vec<u32> = labels.to_vec();
    groups.sort_unstable();
    groups.dedup();
    let k = groups.len();
    let g: Vec<usize> = labels
        .iter()
        .map(|l| groups.binary_search(l).unwrap_or(0))
        .collect();
    let observed = edge_counts(neighbours, &g, k);
    let (sum, sumsq) = (0..permutations)
        .into_par_iter()
        .map(|p| {
            let mut shuffled = g.clone();
            shuffled.shuffle(&mut permutation_rng(seed, p));
            let c = edge_counts(neighbours, &shuffled, k);
            let s: Vec<f64> = c.iter().map(|&x| x as f64).collect();
            let q: Vec<f64> = c.iter().map(|&x| (x as f64) * (x as f64)).collect();
            (s, q)
        })
        .reduce(
            || (vec![0.0; k * k], vec![0.0; k * k]),
            |(mut a, mut b), (c, d)| {
                for i in 0..a.len() {
                    a[i] += c[i];
                    b[i] += d[i];
                }
                (a, b)
            },
        );
    let n = permutations.max(1) as f64;
    let z = (0..k)
        .map(|a| {
            (0..k)
                .map(|b| {
                    let i = a * k + b;
                    let mean = sum[i] / n;
                    let sd = (sumsq[i] / n - mean * mean).max(0.0).sqrt();
                    if sd > 1e-12 {
                        (observed[i] as f64 - mean) / sd
                    } else {
                        f64::NAN
                    }
                })
                .collect()
        })
        .collect();
    Enrichment {
        groups,
        counts: observed.chunks(k.max(1)).map(|r| r.to_vec()).collect(),
        z,
        permutations,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_neighbours_equal_brute_force() {
        let mut s = 7u64;
        let mut next = || {
            s = crate::analysis::knn::mix64(s);
            (s % 10_000) as f32 / 7.0
        };
        let pts: Vec<[f32; 2]> = (0..500).map(|_| [next(), next() * 0.3]).collect();
        let got = knn_2d(&pts, 6);
        for i in (0..500).step_by(37) {
            let mut all: Vec<(f64, u32)> = (0..500u32)
                .filter(|&j| j as usize != i)
                .map(|j| {
                    let (dx, dy) = (
                        (pts[i][0] - pts[j as usize][0]) as f64,
                        (pts[i][1] - pts[j as usize][1]) as f64,
                    );
                    (dx * dx + dy * dy, j)
                })
                .collect();
            all.sort_by(|a, b| a.partial_cmp(b).unwrap());
            let want: Vec<u32> = all.iter().take(6).map(|x| x.1).collect();
            assert_eq!(got[i], want, "point {i}");
        }
    }

    #[test]
    fn a_pattern_in_space_has_a_high_i_and_a_shuffled_one_none() {
        // A line of 200 points; a smooth value, then the same values in a scrambled order.
        let pts: Vec<[f32; 2]> = (0..200).map(|i| [i as f32, 0.0]).collect();
        let nb = knn_2d(&pts, 4);
        let smooth: Vec<f64> = (0..200).map(|i| (i as f64 / 20.0).sin()).collect();
        let m = morans_i(&nb, &smooth).unwrap();
        assert!(m.i > 0.9 && m.z > 10.0, "{m:?}");
        // A seeded shuffle: a stride permutation would keep a pattern of its own.
        let mut order: Vec<usize> = (0..200).collect();
        order.sort_by_key(|&i| crate::analysis::knn::mix64(i as u64 + 11));
        let scrambled: Vec<f64> = order.iter().map(|&i| smooth[i]).collect();
        let m = morans_i(&nb, &scrambled).unwrap();
        assert!(m.i.abs() < 0.2, "{m:?}");
        assert!(morans_i(&nb, &vec![1.0; 200]).is_none());
        // 999 shuffles: none reaches the smooth pattern's I; the scrambled one is ordinary.
        assert_eq!(moran_p_sim(&nb, &smooth, 999, 1), 0.001);
        let p = moran_p_sim(&nb, &scrambled, 999, 1);
        assert!(p > 0.05, "{p}");
    }

    #[test]
    fn groups_in_halves_are_enriched_with_themselves_and_apart_from_each_other() {
        // 200 points on a line: the left half group 0, the right half group 1, a third group
        // scattered through both.
        let pts: Vec<[f32; 2]> = (0..200).map(|i| [i as f32, 0.0]).collect();
        let labels: Vec<u32> = (0..200)
            .map(|i| if i % 10 == 0 { 2 } else { u32::from(i >= 100) })
            .collect();
        let nb = knn_2d(&pts, 4);
        let e = nhood_enrichment(&nb, &labels, 200, 3);
        assert_eq!(e.groups, vec![0, 1, 2]);
        let edges: u64 = e.counts.iter().flatten().sum();
        assert_eq!(edges, 200 * 4);
        assert!(e.z[0][0] > 5.0 && e.z[1][1] > 5.0, "{:?}", e.z);
        assert!(e.z[0][1] < -5.0 && e.z[1][0] < -5.0, "{:?}", e.z);
        // The scattered group is neither: it touches both halves as chance would.
        assert!(e.z[2][0].abs() < 3.0 && e.z[2][1].abs() < 3.0, "{:?}", e.z);
        // The same seed gives the same z whatever the thread count.
        let one = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap()
            .install(|| nhood_enrichment(&nb, &labels, 200, 3));
        assert_eq!(one, e);
    }
}
