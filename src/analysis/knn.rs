//! k-nearest-neighbour graph: exact for small inputs, NN-descent (Dong et al. 2011, as
//! pynndescent does it: random-projection-tree initialisation, then local joins) above a size
//! threshold. Row `i` holds `k` neighbours including `i` itself at position 0 (the
//! scanpy/umap-learn convention), sorted by distance.
//!
//! Determinism: every random choice comes from a hash of (seed, iteration, node), and each
//! node's neighbour list keeps the `k` smallest (distance, index) pairs, a set that does not
//! depend on the order updates arrive in. The graph is therefore identical for any thread count.

use crate::core::matrix::Matrix;
use crate::core::matrix::sq_dist;
use rayon::prelude::*;

/// Parameters of the neighbour search.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct KnnParams {
    /// Neighbours per item, the item itself included (umap-learn's `n_neighbors`).
    pub k: usize,
    /// Inputs with at most this many items are searched exactly.
    pub exact_threshold: usize,
    /// NN-descent iterations at most.
    pub max_iters: usize,
    /// Random projection trees for initialisation (0 = chosen from n).
    pub n_trees: usize,
    /// Candidates per item and iteration in the local join.
    pub max_candidates: usize,
    /// Neighbours kept per item while NN-descent runs (0 = 1.4 × (k − 1)); the result keeps
    /// the k − 1 nearest.
    #[serde(default)]
    pub search_k: usize,
    pub seed: u64,
}

impl Default for KnnParams {
    fn default() -> Self {
        Self {
            k: 15,
            exact_threshold: 4096,
            max_iters: 20,
            n_trees: 0,
            max_candidates: 60,
            search_k: 0,
            seed: 0,
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum KnnError {
    #[error("k must be at least 2 (the item and one neighbour), got {0}")]
    KTooSmall(usize),
    #[error("k = {k} neighbours need at least k + 1 = {} items, got {n}", k + 1)]
    TooFewItems { k: usize, n: usize },
    #[error("cancelled")]
    Cancelled,
}

impl KnnParams {
    /// Neighbours kept per item during NN-descent.
    pub fn search_width(&self) -> usize {
        let m = self.k.saturating_sub(1);
        if self.search_k > 0 {
            self.search_k.max(m)
        } else {
            (m * 7).div_ceil(5)
        }
    }

    pub fn check(&self, n: usize) -> Result<(), KnnError> {
        if self.k < 2 {
            return Err(KnnError::KTooSmall(self.k));
        }
        if n <= self.k {
            return Err(KnnError::TooFewItems { k: self.k, n });
        }
        Ok(())
    }
}

/// The neighbour graph: `n × k` indices and Euclidean distances, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct KnnGraph {
    pub n: usize,
    pub k: usize,
    pub indices: Vec<u32>,
    pub distances: Vec<f32>,
}

impl KnnGraph {
    pub fn neighbors(&self, i: usize) -> &[u32] {
        &self.indices[i * self.k..(i + 1) * self.k]
    }
    pub fn dists(&self, i: usize) -> &[f32] {
        &self.distances[i * self.k..(i + 1) * self.k]
    }
}

/// A bounded sorted list of the `cap` best (distance², index) pairs with a "new" flag per entry.
#[derive(Clone)]
struct NeighborList {
    d: Vec<f32>,
    idx: Vec<u32>,
    new: Vec<bool>,
    cap: usize,
}

impl NeighborList {
    fn new(cap: usize) -> Self {
        Self {
            d: Vec::with_capacity(cap),
            idx: Vec::with_capacity(cap),
            new: Vec::with_capacity(cap),
            cap,
        }
    }

    #[inline]
    fn worst(&self) -> f32 {
        if self.d.len() < self.cap {
            f32::INFINITY
        } else {
            self.d[self.cap - 1]
        }
    }

    /// Inserts if better than the worst kept; returns whether the list changed.
    #[inline]
    fn push(&mut self, d: f32, j: u32) -> bool {
        if self.d.len() == self.cap {
            let (wd, wj) = (self.d[self.cap - 1], self.idx[self.cap - 1]);
            if (d, j) >= (wd, wj) {
                return false;
            }
        }
        if self.idx.contains(&j) {
            return false;
        }
        let pos = self
            .d
            .iter()
            .zip(&self.idx)
            .position(|(&dd, &jj)| (d, j) < (dd, jj))
            .unwrap_or(self.d.len());
        if self.d.len() == self.cap {
            self.d.pop();
            self.idx.pop();
            self.new.pop();
        }
        self.d.insert(pos, d);
        self.idx.insert(pos, j);
        self.new.insert(pos, true);
        true
    }
}

/// SplitMix64: the hash behind every random choice here.
#[inline]
pub fn mix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[inline]
fn hash3(a: u64, b: u64, c: u64) -> u64 {
    mix64(mix64(mix64(a) ^ b) ^ c)
}

/// Builds the kNN graph. `progress(done, total)` is called between phases; `cancelled()` is
/// polled between iterations.
pub fn knn_graph(
    data: &Matrix,
    params: &KnnParams,
    progress: &(dyn Fn(f64) + Sync),
    cancelled: &(dyn Fn() -> bool + Sync),
) -> Result<KnnGraph, KnnError> {
    params.check(data.rows)?;
    let lists = if data.rows <= params.exact_threshold {
        exact_lists(data, params.k - 1, progress, cancelled)?
    } else {
        nn_descent(data, params, progress, cancelled)?
    };
    Ok(finish(lists, params.k))
}

/// Exact search (used for small inputs and as the reference for recall tests).
pub fn knn_exact(data: &Matrix, k: usize) -> Result<KnnGraph, KnnError> {
    KnnParams {
        k,
        ..KnnParams::default()
    }
    .check(data.rows)?;
    let lists = exact_lists(data, k - 1, &|_| {}, &|| false)?;
    Ok(finish(lists, k))
}

fn finish(lists: Vec<NeighborList>, k: usize) -> KnnGraph {
    let n = lists.len();
    let mut indices = Vec::with_capacity(n * k);
    let mut distances = Vec::with_capacity(n * k);
    for (i, l) in lists.into_iter().enumerate() {
        indices.push(i as u32);
        distances.push(0.0);
        for (t, (&d, &j)) in l.d.iter().zip(&l.idx).enumerate() {
            if t + 1 >= k {
                break;
            }
            indices.push(j);
            distances.push(d.sqrt());
        }
        // Only possible if NN-descent failed to fill a list (isolated duplicates); pad with self.
        while indices.len() < (i + 1) * k {
            indices.push(i as u32);
            distances.push(f32::INFINITY);
        }
    }
    KnnGraph {
        n,
        k,
        indices,
        distances,
    }
}

fn exact_lists(
    data: &Matrix,
    m: usize,
    progress: &(dyn Fn(f64) + Sync),
    cancelled: &(dyn Fn() -> bool + Sync),
) -> Result<Vec<NeighborList>, KnnError> {
    let n = data.rows;
    let block = 256;
    let mut out = Vec::with_capacity(n);
    for start in (0..n).step_by(block * 16) {
        if cancelled() {
            return Err(KnnError::Cancelled);
        }
        let end = (start + block * 16).min(n);
        let part: Vec<NeighborList> = (start..end)
            .into_par_iter()
            .map(|i| {
                let mut l = NeighborList::new(m);
                let xi = data.row(i);
                for j in 0..n {
                    if j != i {
                        let d = sq_dist(xi, data.row(j));
                        if d < l.worst() || l.d.len() < m {
                            l.push(d, j as u32);
                        }
                    }
                }
                l
            })
            .collect();
        out.extend(part);
        progress(end as f64 / n as f64);
    }
    Ok(out)
}

/// Random projection tree leaves (pynndescent's initialisation): items that share a leaf are
/// likely neighbours.
fn rp_tree_leaves(data: &Matrix, seed: u64, leaf_size: usize) -> Vec<Vec<u32>> {
    let mut leaves = Vec::new();
    let mut stack: Vec<(Vec<u32>, u64)> = vec![((0..data.rows as u32).collect(), 1)];
    while let Some((items, node)) = stack.pop() {
        if items.len() <= leaf_size {
            leaves.push(items);
            continue;
        }
        let h = hash3(seed, node, 0x5eed);
        let a = items[(h % items.len() as u64) as usize] as usize;
        let mut b = items[(mix64(h) % items.len() as u64) as usize] as usize;
        if a == b {
            b = items[(items.iter().position(|&x| x as usize == a).unwrap_or(0) + 1) % items.len()]
                as usize;
        }
        let (xa, xb) = (data.row(a), data.row(b));
        let normal: Vec<f32> = xa.iter().zip(xb).map(|(p, q)| p - q).collect();
        let offset: f32 = normal
            .iter()
            .zip(xa.iter().zip(xb))
            .map(|(nv, (p, q))| nv * (p + q) * 0.5)
            .sum();
        let mut left = Vec::with_capacity(items.len() / 2);
        let mut right = Vec::with_capacity(items.len() / 2);
        for (t, &i) in items.iter().enumerate() {
            let side: f32 = data
                .row(i as usize)
                .iter()
                .zip(&normal)
                .map(|(x, nv)| x * nv)
                .sum::<f32>()
                - offset;
            let go_left = if side.abs() < 1e-12 {
                hash3(seed, node, t as u64) & 1 == 0
            } else {
                side < 0.0
            };
            if go_left {
                left.push(i);
            } else {
                right.push(i);
            }
        }
        if left.is_empty() || right.is_empty() {
            // Degenerate split (duplicates): halve at random instead.
            let mut all = items;
            all.sort_by_key(|&i| hash3(seed, node, i as u64));
            let r = all.split_off(all.len() / 2);
            left = all;
            right = r;
        }
        stack.push((left, node * 2));
        stack.push((right, node * 2 + 1));
    }
    leaves
}

/// Candidate lists for one NN-descent iteration: each item's forward and reverse neighbours
/// (new or old ones), at most `cap` per item, chosen by a hashed priority so the choice is
/// reproducible. Stored flat, sized exactly: at a million items, a vector per item cost ~1 GB.
struct Candidates {
    off: Vec<usize>,
    len: Vec<u32>,
    items: Vec<(u32, u32)>,
}

impl Candidates {
    fn build(lists: &[NeighborList], want_new: bool, key: u64, cap: usize) -> Self {
        let n = lists.len();
        let mut off = vec![0usize; n + 1];
        for (i, l) in lists.iter().enumerate() {
            for (t, &j) in l.idx.iter().enumerate() {
                if l.new[t] == want_new {
                    off[i + 1] += 1;
                    off[j as usize + 1] += 1;
                }
            }
        }
        for i in 0..n {
            off[i + 1] += off[i];
        }
        let mut items = vec![(0u32, 0u32); off[n]];
        let mut fill = off.clone();
        for (i, l) in lists.iter().enumerate() {
            for (t, &j) in l.idx.iter().enumerate() {
                if l.new[t] == want_new {
                    // 32-bit priorities, ties broken by index.
                    let pr = (hash3(key, i as u64, j as u64) >> 32) as u32;
                    items[fill[i]] = (pr, j);
                    fill[i] += 1;
                    items[fill[j as usize]] = (pr, i as u32);
                    fill[j as usize] += 1;
                }
            }
        }
        let mut segs: Vec<&mut [(u32, u32)]> = Vec::with_capacity(n);
        let mut rest: &mut [(u32, u32)] = &mut items;
        for i in 0..n {
            let (a, b) = rest.split_at_mut(off[i + 1] - off[i]);
            segs.push(a);
            rest = b;
        }
        let len: Vec<u32> = segs
            .into_par_iter()
            .map(|c| {
                // One entry per neighbour (its lowest priority), then the lowest priorities.
                c.sort_unstable_by_key(|e| (e.1, e.0));
                let mut w = 0;
                for r in 0..c.len() {
                    if w == 0 || c[r].1 != c[w - 1].1 {
                        c[w] = c[r];
                        w += 1;
                    }
                }
                c[..w].sort_unstable();
                w.min(cap) as u32
            })
            .collect();
        Self { off, len, items }
    }

    fn get(&self, i: usize) -> &[(u32, u32)] {
        &self.items[self.off[i]..self.off[i] + self.len[i] as usize]
    }
}

/// Applies candidate pairs to both ends' lists. Items are split into one range per thread and
/// each thread scans all updates for its own range: every list sees its updates in the same
/// order whatever the thread count, and a list's final content does not depend on that order.
fn apply_updates(lists: &mut [NeighborList], updates: &[(u32, u32, f32)]) -> usize {
    let parts = rayon::current_num_threads().max(1);
    let chunk = lists.len().div_ceil(parts).max(1);
    lists
        .par_chunks_mut(chunk)
        .enumerate()
        .map(|(c, part)| {
            let (lo, hi) = ((c * chunk) as u32, (c * chunk + part.len()) as u32);
            let mut changed = 0;
            for &(a, b, d) in updates {
                if a >= lo && a < hi && part[(a - lo) as usize].push(d, b) {
                    changed += 1;
                }
                if b >= lo && b < hi && part[(b - lo) as usize].push(d, a) {
                    changed += 1;
                }
            }
            changed
        })
        .sum()
}

fn nn_descent(
    data: &Matrix,
    params: &KnnParams,
    progress: &(dyn Fn(f64) + Sync),
    cancelled: &(dyn Fn() -> bool + Sync),
) -> Result<Vec<NeighborList>, KnnError> {
    let n = data.rows;
    // Lists wider than k − 1 while searching: the extra entries feed the local joins with
    // better candidates. At 1M × 50 (scaled_1000000), recall@15 0.892 → 0.959 for 47 → 60 s;
    // at 100k 0.960 → 0.988 for 2.7 → 3.6 s (docs/benchmarks.md). `finish` keeps the k − 1
    // nearest.
    let m = params.search_width();
    let mut lists = vec![NeighborList::new(m); n];
    let n_trees = if params.n_trees > 0 {
        params.n_trees
    } else {
        (5 + ((n as f64).sqrt() / 20.0).round() as usize).min(10)
    };
    let leaf_size = (params.k * 2).max(10);
    let trees: Vec<Vec<Vec<u32>>> = (0..n_trees)
        .into_par_iter()
        .map(|t| rp_tree_leaves(data, hash3(params.seed, t as u64, 0x7EE5), leaf_size))
        .collect();
    for leaves in &trees {
        if cancelled() {
            return Err(KnnError::Cancelled);
        }
        let updates: Vec<(u32, u32, f32)> = leaves
            .par_iter()
            .flat_map_iter(|leaf| {
                let mut u = Vec::with_capacity(leaf.len() * leaf.len() / 2);
                for (p, &a) in leaf.iter().enumerate() {
                    for &b in &leaf[p + 1..] {
                        u.push((a, b, sq_dist(data.row(a as usize), data.row(b as usize))));
                    }
                }
                u.into_iter()
            })
            .collect();
        apply_updates(&mut lists, &updates);
    }
    progress(0.2);
    tracing::debug!(
        trees = n_trees,
        "nn-descent initialised from random projection trees"
    );
    let t0 = std::time::Instant::now();

    let max_candidates = params.max_candidates.max(m);
    for iter in 0..params.max_iters {
        if cancelled() {
            return Err(KnnError::Cancelled);
        }
        let key = params.seed ^ iter as u64;
        let new_c = Candidates::build(&lists, true, key, max_candidates);
        let old_c = Candidates::build(&lists, false, key, max_candidates);
        // Sampled "new" entries become old.
        lists.par_iter_mut().enumerate().for_each(|(i, l)| {
            for t in 0..l.idx.len() {
                if l.new[t] && new_c.get(i).iter().any(|e| e.1 == l.idx[t]) {
                    l.new[t] = false;
                }
            }
        });
        let worst: Vec<f32> = lists.iter().map(|l| l.worst()).collect();
        // Joins run in blocks of items whose updates are applied before the next block, so
        // the update buffer stays small at a million items. Thresholds come from the start of
        // the iteration, so the result does not depend on the block size or thread count.
        let mut changed = 0;
        let mut n_updates = 0;
        for block in (0..n).collect::<Vec<_>>().chunks(1 << 16) {
            let updates: Vec<(u32, u32, f32)> = block
                .par_iter()
                .flat_map_iter(|&i| {
                    let nc = new_c.get(i);
                    let oc = old_c.get(i);
                    let mut u = Vec::new();
                    for (p, &(_, a)) in nc.iter().enumerate() {
                        let xa = data.row(a as usize);
                        for &(_, b) in nc[p + 1..].iter().chain(oc.iter()) {
                            if a == b {
                                continue;
                            }
                            let d = sq_dist(xa, data.row(b as usize));
                            if d < worst[a as usize] || d < worst[b as usize] {
                                u.push((a.min(b), a.max(b), d));
                            }
                        }
                    }
                    u.into_iter()
                })
                .collect();
            n_updates += updates.len();
            changed += apply_updates(&mut lists, &updates);
        }
        tracing::debug!(
            iter,
            updates = n_updates,
            changed,
            secs = t0.elapsed().as_secs_f64(),
            "nn-descent"
        );
        progress(0.2 + 0.8 * (iter + 1) as f64 / params.max_iters as f64);
        if (changed as f64) <= 0.001 * (m * n) as f64 {
            break;
        }
    }
    progress(1.0);
    Ok(lists)
}

/// Share of true `k` nearest neighbours (self excluded) that `approx` found, over `queries`.
pub fn recall(data: &Matrix, approx: &KnnGraph, queries: &[usize]) -> f64 {
    let m = approx.k - 1;
    let hits: usize = queries
        .par_iter()
        .map(|&i| {
            let mut l = NeighborList::new(m);
            for j in 0..data.rows {
                if j != i {
                    l.push(sq_dist(data.row(i), data.row(j)), j as u32);
                }
            }
            let found = &approx.neighbors(i)[1..];
            l.idx.iter().filter(|j| found.contains(j)).count()
        })
        .sum();
    hits as f64 / (queries.len() * m) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    pub(crate) fn blobs(n: usize, d: usize, centres: usize, seed: u64) -> (Matrix, Vec<usize>) {
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(seed);
        let c: Vec<f32> = (0..centres * d).map(|_| rng.gen_range(-8.0..8.0)).collect();
        let mut data = Vec::with_capacity(n * d);
        let mut labels = Vec::with_capacity(n);
        for i in 0..n {
            let l = i % centres;
            labels.push(l);
            for t in 0..d {
                // Low intrinsic dimension: noise mostly along the first 3 axes.
                let s = if t < 3 { 1.0 } else { 0.1 };
                data.push(c[l * d + t] + s * (rng.r#gen::<f32>() - 0.5) * 2.0);
            }
        }
        (Matrix::from_vec(n, d, data), labels)
    }

    #[test]
    fn exact_puts_self_first_and_sorts() {
        let (m, _) = blobs(200, 5, 3, 1);
        let g = knn_exact(&m, 15).unwrap();
        for i in 0..200 {
            assert_eq!(g.neighbors(i)[0] as usize, i);
            let d = g.dists(i);
            assert!(d.windows(2).all(|w| w[0] <= w[1]));
        }
    }

    #[test]
    fn nn_descent_recall_is_at_least_095() {
        let (m, _) = blobs(6000, 20, 12, 7);
        let p = KnnParams {
            exact_threshold: 100,
            ..KnnParams::default()
        };
        let g = knn_graph(&m, &p, &|_| {}, &|| false).unwrap();
        let queries: Vec<usize> = (0..6000).step_by(20).collect();
        let r = recall(&m, &g, &queries);
        println!("NN-descent recall@15 on 6000 x 20 blobs: {r:.4}");
        assert!(r >= 0.95, "recall {r}");
    }

    #[test]
    fn nn_descent_is_identical_across_thread_counts() {
        let (m, _) = blobs(3000, 10, 5, 3);
        let p = KnnParams {
            exact_threshold: 10,
            ..KnnParams::default()
        };
        let run = |t| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(t)
                .build()
                .unwrap()
                .install(|| knn_graph(&m, &p, &|_| {}, &|| false).unwrap())
        };
        assert_eq!(run(1), run(2));
    }

    #[test]
    fn rejects_k_not_below_n() {
        let (m, _) = blobs(10, 3, 2, 1);
        let e = knn_graph(&m, &KnnParams::default(), &|_| {}, &|| false).unwrap_err();
        assert_eq!(e, KnnError::TooFewItems { k: 15, n: 10 });
    }
}
