//! Position weight matrices: log-odds scoring of windows on both strands, sites, and the
//! count matrices motifs are built from.

use crate::modality::dna::kmer::code;
use crate::modality::dna::motif_db::Motif;
use rayon::prelude::*;

/// Log-odds (base 2) of each column of `probs` against base frequencies `bg`.
pub fn log_odds(probs: &[[f64; 4]], bg: &[f64; 4]) -> Vec<[f32; 4]> {
    probs
        .iter()
        .map(|c| {
            let mut r = [0f32; 4];
            for k in 0..4 {
                r[k] = (c[k].max(1e-6) / bg[k]).log2() as f32;
            }
            r
        })
        .collect()
}

/// 2-bit codes of `seq`, 4 for anything but A/C/G/T.
pub fn codes(seq: &[u8]) -> Vec<u8> {
    seq.iter()
        .map(|&b| code(b).map_or(4, |c| c as u8))
        .collect()
}

/// Calls `f(position, forward score, reverse-strand score)` for every window of `seq` made
/// only of A/C/G/T.
pub fn scan(lo: &[[f32; 4]], seq: &[u8], mut f: impl FnMut(usize, f32, f32)) {
    let w = lo.len();
    if seq.len() < w || w == 0 {
        return;
    }
    let c = codes(seq);
    // The next invalid base at or after each position, so windows across one are skipped.
    let mut next_bad = vec![c.len(); c.len() + 1];
    for i in (0..c.len()).rev() {
        next_bad[i] = if c[i] == 4 { i } else { next_bad[i + 1] };
    }
    for p in 0..=seq.len() - w {
        if next_bad[p] < p + w {
            continue;
        }
        let (mut fw, mut rv) = (0f32, 0f32);
        for j in 0..w {
            let b = c[p + j] as usize;
            fw += lo[j][b];
            rv += lo[w - 1 - j][3 - b];
        }
        f(p, fw, rv);
    }
}

/// Best site score of `seq` on either strand: (score, position, reverse).
pub fn best_site(lo: &[[f32; 4]], seq: &[u8]) -> Option<(f32, usize, bool)> {
    let mut best: Option<(f32, usize, bool)> = None;
    scan(lo, seq, |p, f, r| {
        if best.is_none_or(|b| f > b.0) {
            best = Some((f, p, false));
        }
        if best.is_none_or(|b| r > b.0) {
            best = Some((r, p, true));
        }
    });
    best
}

/// Best site of every sequence, in parallel.
pub fn best_sites(lo: &[[f32; 4]], seqs: &[Vec<u8>]) -> Vec<Option<(f32, usize, bool)>> {
    seqs.par_iter().map(|s| best_site(lo, s)).collect()
}

/// How many of `seqs` have a site scoring at least `t`.
pub fn hits(lo: &[[f32; 4]], seqs: &[Vec<u8>], t: f64) -> usize {
    seqs.par_iter()
        .filter(|s| best_site(lo, s).is_some_and(|b| b.0 as f64 >= t))
        .count()
}

/// Every site scoring at least `t` (the better strand of each position).
pub fn sites_above(lo: &[[f32; 4]], seq: &[u8], t: f32) -> Vec<(usize, bool, f32)> {
    let mut out = Vec::new();
    scan(lo, seq, |p, f, r| {
        if f >= t || r >= t {
            out.push((p, r > f, f.max(r)));
        }
    });
    out
}

/// The oriented window `[p, p + w)` as base codes (reverse-complemented when `rev`).
pub fn oriented(seq: &[u8], p: usize, w: usize, rev: bool) -> Option<Vec<usize>> {
    let v: Option<Vec<usize>> = seq
        .get(p..p + w)?
        .iter()
        .map(|&b| code(b).map(|c| c as usize))
        .collect();
    let mut v = v?;
    if rev {
        v.reverse();
        for c in &mut v {
            *c = 3 - *c;
        }
    }
    Some(v)
}

/// A motif from column counts with `pseudo` added to every cell.
pub fn counts_to_motif(counts: &[[f64; 4]], pseudo: f64, nsites: f64) -> Motif {
    Motif {
        id: String::new(),
        name: String::new(),
        probs: counts.iter().map(|c| normalise(c, pseudo)).collect(),
        nsites,
    }
}

pub fn normalise(c: &[f64; 4], pseudo: f64) -> [f64; 4] {
    let s: f64 = c.iter().sum::<f64>() + 4.0 * pseudo;
    [
        (c[0] + pseudo) / s,
        (c[1] + pseudo) / s,
        (c[2] + pseudo) / s,
        (c[3] + pseudo) / s,
    ]
}

/// Base frequencies of `seqs` over both strands, with one pseudo-count per base.
pub fn base_frequencies<'a>(seqs: impl IntoIterator<Item = &'a Vec<u8>>) -> [f64; 4] {
    let mut base = [1f64; 4];
    for s in seqs {
        for &b in s {
            if let Some(c) = code(b) {
                base[c as usize] += 1.0;
                base[3 - c as usize] += 1.0;
            }
        }
    }
    let tot: f64 = base.iter().sum();
    base.map(|b| b / tot)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_skips_windows_across_n_and_scores_both_strands() {
        // A one-hot "ACG" matrix: log2(1/0.25) = 2 per matching column.
        let probs = [
            [1.0, 0.0, 0.0, 0.0],
            [0.0, 1.0, 0.0, 0.0],
            [0.0, 0.0, 1.0, 0.0],
        ];
        let lo = log_odds(&probs, &[0.25; 4]);
        let mut seen = Vec::new();
        scan(&lo, b"ACGNCGT", |p, f, r| seen.push((p, f, r)));
        // Windows 0 (ACG) and 4 (CGT, whose reverse complement is ACG); none across N.
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[0].0, 0);
        assert!((seen[0].1 - 6.0).abs() < 1e-4);
        assert_eq!(seen[1].0, 4);
        assert!((seen[1].2 - 6.0).abs() < 1e-4);
        assert_eq!(
            best_site(&lo, b"TTCGT").map(|b| (b.1, b.2)),
            Some((2, true))
        );
    }
}
