//! From a seed to a motif: an initial matrix from the seed's sites, refined by
//! expectation–maximisation over zero-or-one-occurrence-per-sequence sites on both strands
//! (MEME's ZOOPS model), uninformative flanks trimmed, and the site threshold that makes the
//! foreground most enriched over the background (STREME's discriminative step).

use super::pwm::{best_sites, counts_to_motif, log_odds, normalise, oriented};
use super::stats::fisher_greater;
use crate::modality::dna::kmer::{for_each_kmer, revcomp};
use crate::modality::dna::motif_db::Motif;
use rayon::prelude::*;

/// Columns added on each side of the seed before refinement; flanks that stay uninformative
/// are trimmed afterwards. Four covers a 13–16 bp site from an 8-mer core.
pub const FLANK: usize = 4;

/// The initial matrix: the best ≤ 1-mismatch copy of the seed in each foreground sequence,
/// with flanks; None with fewer than three copies.
pub fn initial(seed: u32, k: usize, fg: &[Vec<u8>]) -> Option<Motif> {
    let seed_rc = revcomp(seed, k);
    let w = k + 2 * FLANK;
    let mut counts = vec![[0f64; 4]; w];
    let mut n_sites = 0;
    for s in fg {
        let mut best: Option<(u32, usize, bool)> = None;
        for_each_kmer(s, k, |pos, x| {
            for (target, rev) in [(seed, false), (seed_rc, true)] {
                let d = mismatches(x ^ target, k);
                if d <= 1 && best.is_none_or(|b| d < b.0) {
                    best = Some((d, pos, rev));
                }
            }
        });
        if let Some((_, pos, rev)) = best
            && pos >= FLANK
            && let Some(v) = oriented(s, pos - FLANK, w, rev)
        {
            for (j, &b) in v.iter().enumerate() {
                counts[j][b] += 1.0;
            }
            n_sites += 1;
        }
    }
    (n_sites >= 3).then(|| counts_to_motif(&counts, 0.25, n_sites as f64))
}

/// Mismatches between two k-mers given their XOR.
fn mismatches(x: u32, k: usize) -> u32 {
    (0..k).filter(|i| (x >> (2 * i)) & 3 != 0).count() as u32
}

/// ZOOPS expectation–maximisation over sequences given as base codes (`pwm::codes`, coded
/// once by the caller for every seed): each sequence has a site with probability γ, at any
/// of its windows on either strand with equal probability. Returns the refined matrix with
/// `nsites` = the expected number of sites (Σ posteriors, MEME's nsites).
pub fn em_zoops(start: &Motif, coded: &[Vec<u8>], bg: &[f64; 4], iterations: usize) -> Motif {
    let w = start.width();
    let mut probs = start.probs.clone();
    let mut gamma = 0.5f64;
    let mut expected = 0.0;
    for _ in 0..iterations {
        let ln_lr: Vec<[f64; 4]> = probs
            .iter()
            .map(|c| std::array::from_fn(|b| (c[b].max(1e-9) / bg[b]).ln()))
            .collect();
        let (counts, z_sum) = coded
            .par_iter()
            .map(|c| posterior_counts(c, &ln_lr, gamma))
            .reduce(
                || (vec![[0f64; 4]; w], 0.0),
                |(mut a, za), (b, zb)| {
                    for (x, y) in a.iter_mut().zip(&b) {
                        for k in 0..4 {
                            x[k] += y[k];
                        }
                    }
                    (a, za + zb)
                },
            );
        expected = z_sum;
        if z_sum <= 0.0 {
            break;
        }
        // A background-shaped prior of one pseudo-site per column.
        probs = counts
            .iter()
            .map(|c| {
                let mut c = *c;
                for k in 0..4 {
                    c[k] += bg[k];
                }
                normalise(&c, 0.0)
            })
            .collect();
        gamma = (z_sum / coded.len().max(1) as f64).clamp(0.01, 0.99);
    }
    Motif {
        id: String::new(),
        name: String::new(),
        probs,
        nsites: expected,
    }
}

/// One sequence's posterior-weighted site counts and its posterior of having a site.
fn posterior_counts(c: &[u8], ln_lr: &[[f64; 4]], gamma: f64) -> (Vec<[f64; 4]>, f64) {
    let w = ln_lr.len();
    let mut counts = vec![[0f64; 4]; w];
    if c.len() < w {
        return (counts, 0.0);
    }
    let mut scores: Vec<(usize, bool, f64)> = Vec::with_capacity(2 * (c.len() - w + 1));
    'pos: for p in 0..=c.len() - w {
        let (mut fw, mut rv) = (0f64, 0f64);
        for j in 0..w {
            let b = c[p + j];
            if b == 4 {
                continue 'pos;
            }
            fw += ln_lr[j][b as usize];
            rv += ln_lr[w - 1 - j][3 - b as usize];
        }
        scores.push((p, false, fw));
        scores.push((p, true, rv));
    }
    if scores.is_empty() {
        return (counts, 0.0);
    }
    let m = scores.iter().map(|s| s.2).fold(f64::NEG_INFINITY, f64::max);
    // Windows more than e^30 below the best add nothing measurable; skipping their exp
    // halves the time of an iteration once the matrix is sharp.
    let floor = m - 30.0;
    let sum: f64 = scores
        .iter()
        .filter(|s| s.2 > floor)
        .map(|s| (s.2 - m).exp())
        .sum();
    // z_i = λ·LR_i / ((1 − γ) + λ·Σ LR), λ = γ / windows; in logs, relative to the maximum.
    let ln_lambda = (gamma / scores.len() as f64).ln();
    let ln_site = ln_lambda + m + sum.ln();
    let ln_none = (1.0 - gamma).ln();
    let hi = ln_site.max(ln_none);
    let ln_den = hi + ((ln_site - hi).exp() + (ln_none - hi).exp()).ln();
    let mut z_total = 0.0;
    for &(p, rev, s) in &scores {
        if s <= floor {
            continue;
        }
        let z = (ln_lambda + s - ln_den).exp();
        if z < 1e-6 {
            continue;
        }
        z_total += z;
        for j in 0..w {
            let b = c[p + j] as usize;
            if rev {
                counts[w - 1 - j][3 - b] += z;
            } else {
                counts[j][b] += z;
            }
        }
    }
    (counts, z_total)
}

/// Drops flank columns below 0.3 bits, keeping at least `min_width` columns.
pub fn trim(m: &mut Motif, min_width: usize) {
    let ic = m.information();
    let (mut a, mut b) = (0, ic.len());
    while b - a > min_width && ic[a] < 0.3 {
        a += 1;
    }
    while b - a > min_width && ic[b - 1] < 0.3 {
        b -= 1;
    }
    m.probs = m.probs[a..b].to_vec();
}

/// The site-score threshold that makes the foreground most enriched (Fisher), among up to
/// 100 quantiles of the foreground's best scores: (threshold, p, fg hits, bg hits).
pub fn best_threshold(
    m: &Motif,
    base: &[f64; 4],
    fg: &[Vec<u8>],
    bg: &[Vec<u8>],
) -> (f64, f64, usize, usize) {
    let lo = log_odds(&m.probs, base);
    let mut f: Vec<f32> = best_sites(&lo, fg)
        .into_iter()
        .flatten()
        .map(|b| b.0)
        .collect();
    let mut b: Vec<f32> = best_sites(&lo, bg)
        .into_iter()
        .flatten()
        .map(|b| b.0)
        .collect();
    f.sort_by(|x, y| y.total_cmp(x));
    b.sort_by(|x, y| y.total_cmp(x));
    if f.is_empty() {
        return (f64::INFINITY, 1.0, 0, 0);
    }
    let step = (f.len() / 100).max(1);
    let mut best = (f[0] as f64, 1.0f64, 0, 0);
    let mut j = 0;
    for i in (0..f.len()).step_by(step) {
        let t = f[i];
        // Count foreground scores ≥ t (ties included).
        let mut a = i + 1;
        while a < f.len() && f[a] >= t {
            a += 1;
        }
        while j < b.len() && b[j] >= t {
            j += 1;
        }
        let pv = fisher_greater(a, fg.len(), j, bg.len());
        if pv < best.1 {
            best = (t as f64, pv, a, j);
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn em_recovers_a_degenerate_site_from_a_one_mismatch_start() {
        // 200 random sequences, half carrying TGACCTTTGACCT with one random substitution
        // each; EM started from the planted site with its middle column wrong.
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(5);
        let site = b"TGACCTTTGACCT";
        let fg: Vec<Vec<u8>> = (0..200)
            .map(|i| {
                let mut s: Vec<u8> = (0..120).map(|_| b"ACGT"[rng.gen_range(0..4)]).collect();
                if i % 2 == 0 {
                    let mut x = site.to_vec();
                    let m = rng.gen_range(0..x.len());
                    x[m] = b"ACGT"[rng.gen_range(0..4)];
                    let p = rng.gen_range(0..s.len() - x.len());
                    s[p..p + x.len()].copy_from_slice(&x);
                }
                s
            })
            .collect();
        let start: Vec<[f64; 4]> = b"TGACCTATGACCT"
            .iter()
            .map(|&b| {
                let mut c = [0.1; 4];
                c[crate::modality::dna::kmer::code(b).unwrap_or(0) as usize] = 0.7;
                c
            })
            .collect();
        let start = Motif {
            id: String::new(),
            name: String::new(),
            probs: start,
            nsites: 0.0,
        };
        let coded: Vec<Vec<u8>> = fg.iter().map(|s| super::super::pwm::codes(s)).collect();
        let m = em_zoops(&start, &coded, &[0.25; 4], 10);
        assert_eq!(m.consensus(), "TGACCTTTGACCT");
        // About 100 planted sites; EM's expected count lands near it.
        assert!((80.0..=120.0).contains(&m.nsites), "{}", m.nsites);
    }
}
