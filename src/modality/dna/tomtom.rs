//! Motif-to-database comparison after Tomtom (Gupta et al. 2007; methods.md §5.3): Pearson
//! correlation of columns, each query column's null made of its scores against every column
//! of every target (and their complements), scores binned into 100 steps, the null of a
//! summed alignment score by convolution. Every offset with at least `min_overlap` columns is
//! tried on both strands; the best alignment's p-value is corrected for the number of
//! alignments tried (Šidák), E = p × number of targets, q by Benjamini–Hochberg.
//! Only the overlapping columns are scored, against the null of those same query columns
//! (Tomtom's "complete" scoring, which adds a constant for the overhang, is not done: it
//! shifts the score but not the p-value).

use crate::modality::dna::motif_db::Motif;

const BINS: usize = 100;

#[derive(Debug, Clone, PartialEq)]
pub struct Match {
    /// Index of the target in the database.
    pub target: usize,
    /// Target column aligned with the query's first column (may be negative).
    pub offset: i32,
    /// The query matched the target's reverse complement.
    pub reverse: bool,
    pub overlap: usize,
    pub pvalue: f64,
    pub evalue: f64,
    pub qvalue: f64,
}

fn pearson(a: &[f64; 4], b: &[f64; 4]) -> f64 {
    let ma = a.iter().sum::<f64>() / 4.0;
    let mb = b.iter().sum::<f64>() / 4.0;
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for k in 0..4 {
        sab += (a[k] - ma) * (b[k] - mb);
        saa += (a[k] - ma).powi(2);
        sbb += (b[k] - mb).powi(2);
    }
    if saa <= 1e-12 || sbb <= 1e-12 {
        0.0
    } else {
        sab / (saa * sbb).sqrt()
    }
}

fn bin(s: f64) -> usize {
    (((s + 1.0) / 2.0 * BINS as f64).round() as usize).min(BINS)
}

/// Compares `query` with every database motif; returns matches sorted by p-value.
pub fn compare(query: &Motif, db: &[Motif], min_overlap: usize) -> Vec<Match> {
    let w = query.width();
    if w == 0 || db.is_empty() {
        return Vec::new();
    }
    // Null of each query column: its binned scores against all target columns and their
    // complements (the reverse-strand alignments use complemented columns).
    let mut null = vec![vec![0f64; BINS + 1]; w];
    let mut total = 0usize;
    for t in db {
        for c in &t.probs {
            let rc = [c[3], c[2], c[1], c[0]];
            for (i, q) in query.probs.iter().enumerate() {
                null[i][bin(pearson(q, c))] += 1.0;
                null[i][bin(pearson(q, &rc))] += 1.0;
            }
            total += 2;
        }
    }
    for h in &mut null {
        for v in h.iter_mut() {
            *v /= total as f64;
        }
    }
    // tail[a][b - a - 1][s] = P(sum of columns a..b ≥ s) under the null.
    let mut tail: Vec<Vec<Vec<f64>>> = Vec::with_capacity(w);
    for a in 0..w {
        let mut dist = vec![1.0f64];
        let mut per_b = Vec::with_capacity(w - a);
        for h in &null[a..w] {
            let mut next = vec![0.0; dist.len() + BINS];
            for (x, &p) in dist.iter().enumerate() {
                if p == 0.0 {
                    continue;
                }
                for (y, &q) in h.iter().enumerate() {
                    next[x + y] += p * q;
                }
            }
            dist = next;
            let mut t = vec![0.0; dist.len() + 1];
            for s in (0..dist.len()).rev() {
                t[s] = t[s + 1] + dist[s];
            }
            per_b.push(t);
        }
        tail.push(per_b);
    }

    let n_targets = db.len();
    let mut out: Vec<Match> = Vec::with_capacity(n_targets);
    for (ti, t) in db.iter().enumerate() {
        let tw = t.width() as i32;
        let mut best: Option<(f64, i32, bool, usize)> = None;
        let mut n_alignments = 0usize;
        for reverse in [false, true] {
            let cols: Vec<[f64; 4]> = if reverse {
                t.reverse_complement().probs
            } else {
                t.probs.clone()
            };
            for off in -(w as i32 - 1)..tw {
                // Query column i aligns with target column i + off.
                let lo = (-off).max(0) as usize;
                let hi = ((tw - off).min(w as i32)) as usize;
                if hi <= lo || hi - lo < min_overlap.max(1) {
                    continue;
                }
                n_alignments += 1;
                let s: usize = (lo..hi)
                    .map(|i| bin(pearson(&query.probs[i], &cols[(i as i32 + off) as usize])))
                    .sum();
                let p = tail[lo][hi - lo - 1][s].min(1.0);
                if best.is_none_or(|b| p < b.0) {
                    best = Some((p, off, reverse, hi - lo));
                }
            }
        }
        if let Some((p, offset, reverse, overlap)) = best {
            // Šidák: the chance that at least one of the alignments tried scores this well.
            let p = -(n_alignments as f64 * (-p).ln_1p()).exp_m1();
            out.push(Match {
                target: ti,
                offset,
                reverse,
                overlap,
                pvalue: p,
                evalue: p * n_targets as f64,
                qvalue: 1.0,
            });
        }
    }
    let p: Vec<f64> = out.iter().map(|m| m.pvalue).collect();
    for (m, q) in out.iter_mut().zip(crate::analysis::stats::bh(&p)) {
        m.qvalue = q;
    }
    out.sort_by(|a, b| a.pvalue.total_cmp(&b.pvalue).then(a.target.cmp(&b.target)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modality::dna::motif_db::read_motifs;

    #[test]
    fn a_database_motif_matches_itself_first_on_either_strand() {
        let db = read_motifs(std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/assets/dna/JASPAR2024_CORE_insects_nonredundant.meme"
        )))
        .unwrap();
        for pick in [0usize, 40, 120] {
            let q = db[pick].clone();
            let m = compare(&q, &db, 1);
            assert_eq!(m[0].target, pick, "{}", q.id);
            assert!(m[0].evalue < 1e-3, "E {}", m[0].evalue);
            let rc = q.reverse_complement();
            let m = compare(&rc, &db, 1);
            assert_eq!(m[0].target, pick);
            assert!(m[0].reverse);
        }
    }
}
