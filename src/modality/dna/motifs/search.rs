//! One motif search on a foreground and a background: the most enriched exact and
//! one-mismatch seeds, each refined into a matrix (EM, trim, threshold), the one whose sites
//! separate foreground from background best kept.

use super::pwm::codes;
use super::refine::{FLANK, best_threshold, em_zoops, initial, trim};
use super::seeds::{SeedKind, SeedSpace, best_seeds, kmer_string};
use crate::modality::dna::motif_db::Motif;
use rayon::prelude::*;

/// Seeds refined per search.
const SEEDS: usize = 5;
const EM_ITERATIONS: usize = 5;
/// EM sees at most this many foreground sequences (an evenly spaced subset): the matrix is
/// as good from 600 sites' worth as from 6,000, and EM is most of a search's time.
const EM_SEQUENCES: usize = 600;

/// The best motif of one search, fitted on the sequences it was given.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub motif: Motif,
    /// Log2-odds site threshold.
    pub threshold: f64,
    /// The seed k-mer, with `~1` when it was counted with one mismatch.
    pub seed: String,
    /// Fisher p of those counts (optimistic: fitted on the same sequences).
    pub pvalue: f64,
}

/// Searches `fg` against `bg`; None when no seed is enriched at all.
pub fn search(
    fg: &[Vec<u8>],
    bg: &[Vec<u8>],
    base: &[f64; 4],
    space: &SeedSpace,
) -> Option<Candidate> {
    if fg.len() < 5 || bg.is_empty() {
        return None;
    }
    let seeds = best_seeds(fg, bg, space, SEEDS);
    let step = fg.len().div_ceil(EM_SEQUENCES).max(1);
    let em_fg: Vec<Vec<u8>> = fg.par_iter().step_by(step).map(|s| codes(s)).collect();
    let mut best: Option<Candidate> = None;
    for s in &seeds {
        let k = s.k;
        let min_width = k.saturating_sub(2).max(5);
        let Some(start) = initial(s.kmer, k, fg) else {
            continue;
        };
        let mut m = em_zoops(&start, &em_fg, base, EM_ITERATIONS);
        trim(&mut m, min_width);
        if m.width() < k + 2 * FLANK {
            m = em_zoops(&m, &em_fg, base, 2);
        }
        let (threshold, pvalue, _, _) = best_threshold(&m, base, fg, bg);
        if best.as_ref().is_none_or(|b| pvalue < b.pvalue) {
            let mut seed = kmer_string(s.kmer, k);
            if s.kind == SeedKind::OneMismatch {
                seed.push_str("~1");
            }
            best = Some(Candidate {
                motif: m,
                threshold,
                seed,
                pvalue,
            });
        }
    }
    best
}
