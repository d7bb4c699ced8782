//! Seeds of motif discovery: canonical k-mers whose presence (ZOOPS: counted once per
//! sequence) is most enriched in the foreground, counted two ways. Exact counts find nearly
//! invariant sites (a DRE, BEAF-32); counts of the k-mer's one-mismatch neighbourhood (any
//! k-mer within Hamming distance 1 of it or of its reverse complement, HOMER-style degenerate
//! oligos) find variable sites whose exact k-mers rarely repeat, such as nuclear-receptor
//! half-sites.

use super::stats::fisher_greater;
use crate::modality::dna::kmer::{canonical_classes, for_each_kmer, revcomp};
use rayon::prelude::*;

/// How a seed's sequences were counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeedKind {
    Exact,
    OneMismatch,
}

#[derive(Debug, Clone, Copy)]
pub struct Seed {
    /// The k-mer (its lexicographically smaller orientation).
    pub kmer: u32,
    pub k: usize,
    pub kind: SeedKind,
    pub pvalue: f64,
}

/// Canonical classes of k-mers, computed once per search.
pub struct Classes {
    pub k: usize,
    map: Vec<u32>,
    pub n: usize,
    /// A k-mer of each class.
    member: Vec<u32>,
}

impl Classes {
    pub fn new(k: usize) -> Self {
        let (map, n) = canonical_classes(k);
        let mut member = vec![u32::MAX; n];
        for (x, &c) in map.iter().enumerate() {
            if member[c as usize] == u32::MAX {
                member[c as usize] = x as u32;
            }
        }
        Self { k, map, n, member }
    }
}

/// ZOOPS counts per class; with `neighbourhood`, a sequence counts for every class within
/// one mismatch of one of its k-mers.
fn zoops(seqs: &[Vec<u8>], cl: &Classes, neighbourhood: bool) -> Vec<u32> {
    let k = cl.k;
    // A few large chunks, not one accumulator per rayon split: at k = 10 each accumulator
    // is two 2 MB arrays, and allocating and summing them dominated the search.
    let chunk = seqs
        .len()
        .div_ceil(2 * rayon::current_num_threads())
        .max(16);
    seqs.par_chunks(chunk)
        .map(|part| {
            let mut counts = vec![0u32; cl.n];
            let mut stamp = vec![u32::MAX; cl.n];
            let mut kmers = Vec::<u32>::new();
            for (j, s) in part.iter().enumerate() {
                let j = j as u32;
                kmers.clear();
                for_each_kmer(s, k, |_, x| kmers.push(x));
                kmers.sort_unstable();
                kmers.dedup();
                let mut mark = |c: u32| {
                    let c = c as usize;
                    if stamp[c] != j {
                        stamp[c] = j;
                        counts[c] += 1;
                    }
                };
                for &x in &kmers {
                    mark(cl.map[x as usize]);
                    if neighbourhood {
                        for i in 0..k {
                            let shift = 2 * i;
                            let own = (x >> shift) & 3;
                            for b in 0..4u32 {
                                if b != own {
                                    mark(cl.map[((x & !(3 << shift)) | (b << shift)) as usize]);
                                }
                            }
                        }
                    }
                }
            }
            counts
        })
        .reduce(
            || vec![0u32; cl.n],
            |mut a, b| {
                for (x, y) in a.iter_mut().zip(b) {
                    *x += y;
                }
                a
            },
        )
}

/// Seed lengths searched around the configured `k`: `k − 2` exactly (short sites such as
/// GATA), `k` and `k + 2` exactly and within one mismatch (longer, variable sites).
pub fn seed_lengths(k: usize) -> Vec<(usize, bool)> {
    let mut v = Vec::new();
    if k >= 6 {
        v.push((k - 2, false));
    }
    v.push((k, k <= 10));
    if k + 2 <= 10 {
        v.push((k + 2, true));
    }
    v
}

/// The classes of every seed length, built once per discovery run.
pub struct SeedSpace {
    lengths: Vec<(Classes, bool)>,
}

impl SeedSpace {
    pub fn new(k: usize) -> Self {
        Self {
            lengths: seed_lengths(k)
                .into_iter()
                .map(|(k, near)| (Classes::new(k), near))
                .collect(),
        }
    }
}

/// The `n` most enriched seeds over every length and kind, best first, skipping seeds that
/// repeat one already chosen (a long shared substring on either strand).
pub fn best_seeds(fg: &[Vec<u8>], bg: &[Vec<u8>], space: &SeedSpace, n: usize) -> Vec<Seed> {
    let (nf, nb) = (fg.len(), bg.len());
    let min_sites = 5u32.max((nf as f64 * 0.02) as u32);
    let mut all = Vec::new();
    for (cl, near) in &space.lengths {
        let kinds: &[SeedKind] = if *near {
            &[SeedKind::Exact, SeedKind::OneMismatch]
        } else {
            &[SeedKind::Exact]
        };
        for &kind in kinds {
            let f = zoops(fg, cl, kind == SeedKind::OneMismatch);
            let b = zoops(bg, cl, kind == SeedKind::OneMismatch);
            // Ranked by the two-proportion z-score first (cheap), and the exact Fisher test
            // computed for the best few hundred only: at k = 10 within one mismatch, tens of
            // thousands of classes pass the filter.
            let mut ranked: Vec<(usize, f64)> = (0..cl.n)
                .into_par_iter()
                .filter(|&c| {
                    f[c] >= min_sites && f[c] as f64 / nf as f64 > b[c] as f64 / nb.max(1) as f64
                })
                .map(|c| (c, z_score(f[c] as f64, nf as f64, b[c] as f64, nb as f64)))
                .collect();
            ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            ranked.truncate(40 * n);
            let mut tested: Vec<(usize, f64)> = ranked
                .par_iter()
                .map(|&(c, _)| (c, fisher_greater(f[c] as usize, nf, b[c] as usize, nb)))
                .collect();
            tested.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
            // Enough per list that repeats of one site cannot crowd out the rest.
            for &(c, pvalue) in tested.iter().take(8 * n) {
                let x = cl.member[c];
                all.push(Seed {
                    kmer: x.min(revcomp(x, cl.k)),
                    k: cl.k,
                    kind,
                    pvalue,
                });
            }
        }
    }
    all.sort_by(|a, b| {
        a.pvalue
            .total_cmp(&b.pvalue)
            .then(a.k.cmp(&b.k))
            .then(a.kmer.cmp(&b.kmer))
    });
    let mut chosen: Vec<Seed> = Vec::new();
    for s in all {
        if chosen.len() >= n {
            break;
        }
        if !chosen.iter().any(|c| overlapping(c, &s)) {
            chosen.push(s);
        }
    }
    chosen
}

/// Two-proportion z-score of `a` of `na` against `b` of `nb`.
fn z_score(a: f64, na: f64, b: f64, nb: f64) -> f64 {
    let p = (a + b) / (na + nb);
    let se = (p * (1.0 - p) * (1.0 / na + 1.0 / nb)).sqrt();
    if se > 0.0 {
        (a / na - b / nb) / se
    } else {
        0.0
    }
}

/// Two seeds share a substring of all but two bases of the shorter one, on either strand.
fn overlapping(a: &Seed, b: &Seed) -> bool {
    let (sa, sb) = (kmer_string(a.kmer, a.k), kmer_string(b.kmer, b.k));
    let rb = kmer_string(revcomp(b.kmer, b.k), b.k);
    let len = a.k.min(b.k).saturating_sub(2).max(3);
    (0..=sb.len() - len).any(|i| sa.contains(&sb[i..i + len]) || sa.contains(&rb[i..i + len]))
}

/// A k-mer code as letters.
pub fn kmer_string(x: u32, k: usize) -> String {
    (0..k)
        .rev()
        .map(|i| b"ACGT"[((x >> (2 * i)) & 3) as usize] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neighbourhood_counts_a_sequence_once_per_class_within_one_mismatch() {
        let cl = Classes::new(3);
        // "ACGT" has ACG and CGT (reverse complements: one class) → exact count 1 for it.
        let seqs = vec![b"ACGT".to_vec(), b"AAGT".to_vec()];
        let exact = zoops(&seqs, &cl, false);
        let acg = cl.map[0b00_01_10] as usize;
        assert_eq!(exact[acg], 1);
        // AAG is one mismatch from ACG: the second sequence counts in the neighbourhood.
        let near = zoops(&seqs, &cl, true);
        assert_eq!(near[acg], 2);
        // CCC (and GGG) is at least two mismatches from every k-mer of both: neither counts.
        assert_eq!(near[cl.map[0b01_01_01] as usize], 0);
    }
}
