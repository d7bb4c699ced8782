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
///
/// Windows are scored twice: in log-odds for the score shown, and with the integer matrix the
/// distribution was built from for the p-value, as FIMO does. Mapping a real score onto the
/// integer scale instead put consensus sites a rounding step above the distribution's top
/// (the sum of rounded columns is not the rounded sum), where the tail is empty.
struct Null {
    /// Each column's scores in steps above its lowest.
    ints: Vec<[u32; 4]>,
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
        let mut columns = Vec::with_capacity(lo.len());
        for (c, m) in lo.iter().zip(&mins) {
            let ints: [u32; 4] = std::array::from_fn(|b| ((c[b] - m) * scale).round() as u32);
            let top = ints.iter().copied().max().unwrap_or(0) as usize;
            let mut next = vec![0.0; dist.len() + top];
            for (s, &p) in dist.iter().enumerate() {
                if p == 0.0 {
                    continue;
                }
                for b in 0..4 {
                    next[s + ints[b] as usize] += p * bg[b];
                }
            }
            dist = next;
            columns.push(ints);
        }
        let mut tail = vec![0.0; dist.len() + 1];
        for s in (0..dist.len()).rev() {
            tail[s] = tail[s + 1] + dist[s];
        }
        Self {
            ints: columns,
            tail,
        }
    }

    /// The integer matrix as f32, to score windows in steps: sums of at most ~1,000 plus a
    /// step per column are exact in f32.
    fn step_matrix(&self) -> Vec<[f32; 4]> {
        self.ints.iter().map(|c| c.map(|x| x as f32)).collect()
    }

    /// P(S ≥ s) for a window scoring `steps` with [`Self::step_matrix`].
    fn pvalue_of_steps(&self, steps: f32) -> f64 {
        let s = steps.round().max(0.0) as usize;
        self.tail[s.min(self.tail.len() - 1)].clamp(f64::MIN_POSITIVE, 1.0)
    }
}

/// Scans `motif` across `seqs`; sites with p ≤ `site_threshold` are listed.
pub fn scan(seqs: &[Vec<u8>], motif: &Motif, site_threshold: f64) -> ScanResult {
    let bg = base_frequencies(seqs);
    let lo = log_odds(motif, &bg);
    let null = Null::new(&lo, &bg);
    let lo32: Vec<[f32; 4]> = lo.iter().map(|c| c.map(|x| x as f32)).collect();
    let steps = null.step_matrix();
    let per_seq: Vec<(Option<ScanSite>, f64, Vec<ScanSite>, usize)> = seqs
        .par_iter()
        .enumerate()
        .map(|(i, s)| {
            let mut best: Option<ScanSite> = None;
            let mut sites = Vec::new();
            let mut windows = 0usize;
            // Both passes visit the same windows in the same order.
            let mut real = Vec::new();
            scan_windows(&lo32, s, |_, fw, rv| real.push((fw, rv)));
            let mut k = 0;
            scan_windows(&steps, s, |p, fs, rs| {
                let (fw, rv) = real[k];
                k += 1;
                windows += 2;
                let (score, reverse, at) = if rv > fw {
                    (rv, true, rs)
                } else {
                    (fw, false, fs)
                };
                let site = ScanSite {
                    item: i as u32,
                    pos: p as u32,
                    reverse,
                    score,
                    pvalue: null.pvalue_of_steps(at),
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

/// A scan as columns of the dataset, named after the motif: `scan_NAME`, each sequence's
/// best-site strength as −log10 of its Šidák-corrected p (what the map colours and a
/// predicate tests), and `scan_NAME_at`, that site's 1-based start (negative on the reverse
/// strand); with a line saying what was found.
pub fn scan_columns(
    seqs: &[Vec<u8>],
    motif: &Motif,
    site_threshold: f64,
) -> (Vec<crate::core::MetaColumn>, String) {
    use crate::core::{MetaColumn, MetaValues};
    let r = scan(seqs, motif, site_threshold);
    let label = if motif.name.is_empty() || motif.name == motif.id {
        motif.id.clone()
    } else {
        motif.name.clone()
    };
    let slug: String = label
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let name = format!("scan_{slug}");
    let strength: Vec<f64> = r
        .seq_pvalue
        .iter()
        .map(|&p| {
            if p.is_finite() && p > 0.0 {
                -p.log10()
            } else {
                f64::NAN
            }
        })
        .collect();
    let at: Vec<f64> = r
        .best
        .iter()
        .map(|b| {
            b.map_or(f64::NAN, |s| {
                let start = s.pos as f64 + 1.0;
                if s.reverse { -start } else { start }
            })
        })
        .collect();
    let with_site = r
        .sites
        .iter()
        .map(|s| s.item)
        .collect::<std::collections::HashSet<_>>()
        .len();
    let note = format!(
        "{} {label}: {} sites at p ≤ {site_threshold:.0e} in {with_site} of {} sequences \
         ({} windows scored); colour: {name}, −log10 of each sequence's best-site p corrected \
         for its windows",
        motif.id,
        r.sites.len(),
        seqs.len(),
        r.windows,
    );
    (
        vec![
            MetaColumn {
                name: name.clone(),
                values: MetaValues::Number(strength),
            },
            MetaColumn {
                name: format!("{name}_at"),
                values: MetaValues::Number(at),
            },
        ],
        note,
    )
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
        let top: u32 = null
            .ints
            .iter()
            .map(|c| c.iter().max().copied().unwrap_or(0))
            .sum();
        let p = |steps: u32| null.pvalue_of_steps(steps as f32);
        assert!((p(top) - 1.0 / 256.0).abs() < 1e-12, "{}", p(top));
        assert!((p(0) - 1.0).abs() < 1e-12);
        // Three of four columns matched: 1 + 4·3 = 13 windows of 256 score at least that.
        let three = top - (null.ints[0][0] - null.ints[0][1]);
        assert!((p(three) - 13.0 / 256.0).abs() < 1e-9, "{}", p(three));
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

    /// Random-ish sequences from a linear congruential generator, no external state.
    fn pseudo_random(n: usize, len: usize, mut x: u64) -> Vec<Vec<u8>> {
        (0..n)
            .map(|_| {
                (0..len)
                    .map(|_| {
                        x = x
                            .wrapping_mul(6364136223846793005)
                            .wrapping_add(1442695040888963407);
                        b"ACGT"[(x >> 62) as usize]
                    })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn a_consensus_site_has_the_same_possible_p_on_both_strands() {
        // A non-palindromic matrix with uneven columns, so rounding columns to steps differs
        // from rounding their sum; the consensus planted forward and reverse-complemented.
        let m = Motif {
            id: "M".into(),
            name: "uneven".into(),
            probs: vec![
                [0.71, 0.09, 0.13, 0.07],
                [0.05, 0.83, 0.03, 0.09],
                [0.12, 0.06, 0.61, 0.21],
                [0.33, 0.04, 0.04, 0.59],
                [0.91, 0.03, 0.03, 0.03],
                [0.08, 0.08, 0.77, 0.07],
                [0.02, 0.55, 0.27, 0.16],
                [0.14, 0.10, 0.05, 0.71],
                [0.40, 0.11, 0.46, 0.03],
            ],
            nsites: 37.0,
        };
        let argmax = |c: &[f64; 4]| (0..4).max_by(|&a, &b| c[a].total_cmp(&c[b])).unwrap_or(0);
        let consensus: Vec<u8> = m.probs.iter().map(|c| b"ACGT"[argmax(c)]).collect();
        // The reverse complement's consensus is the consensus read on the other strand.
        let rc: Vec<u8> = m
            .reverse_complement()
            .probs
            .iter()
            .map(|c| b"ACGT"[argmax(c)])
            .collect();
        let mut seqs = pseudo_random(40, 200, 7);
        seqs[3][50..59].copy_from_slice(&consensus);
        seqs[9][120..129].copy_from_slice(&rc);
        let r = scan(&seqs, &m, 1e-4);
        let bg = base_frequencies(&seqs);
        // No window can be rarer than every column taking its least likely base.
        let floor: f64 = (0..m.width())
            .map(|_| bg.iter().copied().fold(1.0, f64::min))
            .product();
        let fw = r.best[3].unwrap();
        let rv = r.best[9].unwrap();
        assert_eq!(
            (fw.pos, fw.reverse, rv.pos, rv.reverse),
            (50, false, 120, true)
        );
        assert_eq!(fw.pvalue, rv.pvalue, "the same site on either strand");
        for s in &r.sites {
            assert!(s.pvalue >= floor, "p {} below the floor {floor}", s.pvalue);
        }
        // The consensus takes every column's top step: P(S ≥ top) is the product over
        // columns of the background share of the bases at that step.
        let lo = log_odds(&m, &bg);
        let null = Null::new(&lo, &bg);
        let top: f64 = null
            .ints
            .iter()
            .zip(&consensus)
            .map(|(c, &b)| {
                let hi = *c.iter().max().unwrap_or(&0);
                assert_eq!(
                    c[code(b).unwrap_or(0) as usize],
                    hi,
                    "the consensus base tops its column"
                );
                (0..4).filter(|&k| c[k] == hi).map(|k| bg[k]).sum::<f64>()
            })
            .product();
        assert!(
            (fw.pvalue / top - 1.0).abs() < 1e-9,
            "{} vs {top}",
            fw.pvalue
        );
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
