//! Scanning a known motif across sequences, FIMO-like (Grant et al. 2011): log-odds scores
//! against the input's base frequencies, a site's p-value from the exact distribution of
//! window scores under that background (scores binned into integers, the distribution built
//! column by column), and a sequence's p-value from its best site corrected for the windows
//! it has on both strands (Šidák).

use crate::modality::dna::motif_db::Motif;
use crate::modality::dna::motifs::{base_frequencies, scan_windows};
use rayon::prelude::*;

/// Integer score steps over a motif's score range.
const STEPS: f64 = 1000.0;

/// One scored window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScanSite {
    pub item: u32,
    /// 0-based start.
    pub pos: u32,
    pub reverse: bool,
    /// Log2-odds score.
    pub score: f32,
    /// P(a background window scores at least this).
    pub pvalue: f64,
}

#[derive(Debug, Clone)]
pub struct ScanResult {
    /// The motif scanned (from the database).
    pub motif: Motif,
    /// Each sequence's best site (None for a sequence shorter than the motif).
    pub best: Vec<Option<ScanSite>>,
    /// Each sequence's p-value: its best site's, corrected for its windows on both strands.
    pub seq_pvalue: Vec<f64>,
    /// Every site at or below the site threshold, by sequence then position.
    pub sites: Vec<ScanSite>,
    pub site_threshold: f64,
    /// Windows scored (both strands), the number of tests behind the sites' q-values.
    pub windows: usize,
}

impl ScanResult {
    /// Benjamini–Hochberg q-values of the listed sites over every window scored (the
    /// unlisted windows all have larger p-values, so the listed sites' ranks are exact).
    pub fn site_qvalues(&self) -> Vec<f64> {
        let mut order: Vec<usize> = (0..self.sites.len()).collect();
        order.sort_by(|&a, &b| self.sites[a].pvalue.total_cmp(&self.sites[b].pvalue));
        let m = self.windows.max(1) as f64;
        let mut q = vec![1.0; self.sites.len()];
        let mut running = 1.0f64;
        for (rank, &i) in order.iter().enumerate().rev() {
            running = running.min(self.sites[i].pvalue * m / (rank + 1) as f64);
            q[i] = running.min(1.0);
        }
        q
    }
}

/// Log2-odds with a pseudo-count of 0.1 sites spread by the background (FIMO's default),
/// so a base never seen in the matrix scores low but finite.
fn log_odds(m: &Motif, bg: &[f64; 4]) -> Vec<[f64; 4]> {
    let n = if m.nsites > 0.0 { m.nsites } else { 20.0 };
    m.probs
        .iter()
        .map(|c| std::array::from_fn(|b| ((c[b] * n + 0.1 * bg[b]) / (n + 0.1) / bg[b]).log2()))
        .collect()
}

/// The exact null distribution of window scores: scores mapped to integers, and the upper
/// tail P(S ≥ s) for each integer s.
struct Null {
    offset: f64,
    scale: f64,
    tail: Vec<f64>,
}

impl Null {
    fn new(lo: &[[f64; 4]], bg: &[f64; 4]) -> Self {
        let mins: Vec<f64> = lo
            .iter()
            .map(|c| c.iter().copied().fold(f64::INFINITY, f64::min))
            .collect();
        let range: f64 = lo
            .iter()
            .zip(&mins)
            .map(|(c, m)| c.iter().copied().fold(f64::NEG_INFINITY, f64::max) - m)
            .sum();
        let scale = if range > 0.0 { STEPS / range } else { 1.0 };
        let mut dist = vec![1.0f64];
        for (c, m) in lo.iter().zip(&mins) {
            let ints: [usize; 4] = std::array::from_fn(|b| ((c[b] - m) * scale).round() as usize);
            let top = ints.iter().copied().max().unwrap_or(0);
            let mut next = vec![0.0; dist.len() + top];
            for (s, &p) in dist.iter().enumerate() {
                if p == 0.0 {
                    continue;
                }
                for b in 0..4 {
                    next[s + ints[b]] += p * bg[b];
                }
            }
            dist = next;
        }
        let mut tail = vec![0.0; dist.len() + 1];
        for s in (0..dist.len()).rev() {
            tail[s] = tail[s + 1] + dist[s];
        }
        Self {
            offset: mins.iter().sum(),
            scale,
            tail,
        }
    }

    fn pvalue(&self, score: f64) -> f64 {
        // Rounded down, so a score between two steps gets the larger (conservative) p.
        let s = ((score - self.offset) * self.scale - 1e-9).floor().max(0.0) as usize;
        self.tail[s.min(self.tail.len() - 1)].clamp(f64::MIN_POSITIVE, 1.0)
    }
}

/// Scans `motif` across `seqs`; sites with p ≤ `site_threshold` are listed.
pub fn scan(seqs: &[Vec<u8>], motif: &Motif, site_threshold: f64) -> ScanResult {
    let bg = base_frequencies(seqs);
    let lo = log_odds(motif, &bg);
    let null = Null::new(&lo, &bg);
    let lo32: Vec<[f32; 4]> = lo.iter().map(|c| c.map(|x| x as f32)).collect();
    let per_seq: Vec<(Option<ScanSite>, f64, Vec<ScanSite>, usize)> = seqs
        .par_iter()
        .enumerate()
        .map(|(i, s)| {
            let mut best: Option<ScanSite> = None;
            let mut sites = Vec::new();
            let mut windows = 0usize;
            scan_windows(&lo32, s, |p, fw, rv| {
                windows += 2;
                let (score, reverse) = if rv > fw { (rv, true) } else { (fw, false) };
                let site = ScanSite {
                    item: i as u32,
                    pos: p as u32,
                    reverse,
                    score,
                    pvalue: null.pvalue(score as f64),
                };
                if best.is_none_or(|b| site.score > b.score) {
                    best = Some(site);
                }
                if site.pvalue <= site_threshold {
                    sites.push(site);
                }
            });
            // 1 − (1 − p)^n without cancellation for small p.
            let seq_p = best.map_or(1.0, |b| -(windows as f64 * (-b.pvalue).ln_1p()).exp_m1());
            (best, seq_p.clamp(0.0, 1.0), sites, windows)
        })
        .collect();
    let mut out = ScanResult {
        motif: motif.clone(),
        best: Vec::with_capacity(seqs.len()),
        seq_pvalue: Vec::with_capacity(seqs.len()),
        sites: Vec::new(),
        site_threshold,
        windows: 0,
    };
    for (b, p, s, n) in per_seq {
        out.windows += n;
        out.best.push(b);
        out.seq_pvalue.push(p);
        out.sites.extend(s);
    }
    out
}

/// The database motif named by `key`: an exact id, else a name (case-insensitive). An
/// ambiguous or unknown key is an error that lists what would match.
pub fn find_motif<'a>(db: &'a [Motif], key: &str) -> Result<&'a Motif, String> {
    if let Some(m) = db.iter().find(|m| m.id == key) {
        return Ok(m);
    }
    let named: Vec<&Motif> = db
        .iter()
        .filter(|m| m.name.eq_ignore_ascii_case(key))
        .collect();
    match named.as_slice() {
        [one] => Ok(one),
        [] => {
            let lower = key.to_ascii_lowercase();
            let near: Vec<String> = db
                .iter()
                .filter(|m| {
                    m.name.to_ascii_lowercase().contains(&lower)
                        || m.id.to_ascii_lowercase().contains(&lower)
                })
                .take(8)
                .map(|m| format!("{} {}", m.id, m.name))
                .collect();
            Err(if near.is_empty() {
                format!(
                    "no motif with id or name '{key}' in the database ({} motifs)",
                    db.len()
                )
            } else {
                format!(
                    "no motif with id or name '{key}'; similar: {}",
                    near.join(", ")
                )
            })
        }
        many => Err(format!(
            "'{key}' names {} motifs; give an id: {}",
            many.len(),
            many.iter()
                .map(|m| m.id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modality::dna::kmer::code;

    fn one_hot(s: &str) -> Motif {
        Motif {
            id: "M".into(),
            name: "m".into(),
            probs: s
                .bytes()
                .map(|b| {
                    let mut c = [0.0; 4];
                    c[code(b).unwrap_or(0) as usize] = 1.0;
                    c
                })
                .collect(),
            nsites: 100.0,
        }
    }

    #[test]
    fn the_null_distribution_is_exact_for_a_one_hot_matrix() {
        // Uniform bases: a 4-column one-hot matrix is matched in full with p = 4^-4; every
        // other window scores at least one column lower.
        let m = one_hot("ACGT");
        let lo = log_odds(&m, &[0.25; 4]);
        let null = Null::new(&lo, &[0.25; 4]);
        let top: f64 = lo
            .iter()
            .map(|c| c.iter().copied().fold(f64::MIN, f64::max))
            .sum();
        assert!(
            (null.pvalue(top) - 1.0 / 256.0).abs() < 1e-12,
            "{}",
            null.pvalue(top)
        );
        assert!((null.pvalue(f64::NEG_INFINITY) - 1.0).abs() < 1e-12);
        // Three of four columns matched: 1 + 4·3 = 13 windows of 256 score at least that.
        let three = top - (lo[0][0] - lo[0][1]);
        assert!(
            (null.pvalue(three) - 13.0 / 256.0).abs() < 1e-9,
            "{}",
            null.pvalue(three)
        );
    }

    #[test]
    fn a_planted_site_is_found_on_either_strand() {
        let seqs = vec![
            b"TTTTTTTTTTGATAAGTTTTTTTT".to_vec(),
            b"TTTTTTTCTTATCTTTTTTTTTTT".to_vec(),
            b"TTTTTTTTTTTTTTTTTTTTTTTT".to_vec(),
        ];
        let r = scan(&seqs, &one_hot("GATAAG"), 1e-3);
        let b0 = r.best[0].unwrap();
        assert_eq!((b0.pos, b0.reverse), (10, false));
        let b1 = r.best[1].unwrap();
        assert_eq!((b1.pos, b1.reverse), (7, true));
        assert!(r.seq_pvalue[0] < r.seq_pvalue[2]);
        assert_eq!(r.sites.len(), 2);
    }

    #[test]
    fn motifs_are_found_by_id_or_name_and_errors_say_what_exists() {
        let mut a = one_hot("GATA");
        a.id = "MA1".into();
        a.name = "pnr".into();
        let mut b = one_hot("GATA");
        b.id = "MA2".into();
        b.name = "GATAe".into();
        let db = vec![a, b];
        assert_eq!(find_motif(&db, "MA2").unwrap().name, "GATAe");
        assert_eq!(find_motif(&db, "PNR").unwrap().id, "MA1");
        let e = find_motif(&db, "gata").unwrap_err();
        assert!(e.contains("MA2 GATAe"), "{e}");
    }
}
