//! Motifs enriched per cluster of DNA sequences, STREME/HOMER-like (methods.md §5.2).
//!
//! For each cluster: foreground = its sequences; background = the other clusters' sequences
//! (or dinucleotide-shuffled copies of the foreground). 10 % of both is held out. Canonical
//! k-mers are counted once per sequence (ZOOPS) and tested with the one-sided Fisher exact
//! test; the best seed must pass a Bonferroni bound over all k-mer classes (p × classes ≤
//! `seed_q`); it grows into a PWM from its
//! ≤ 1-mismatch sites with flanks, the log-odds threshold is chosen to maximise enrichment,
//! the PWM is rebuilt from the sites above it and its flanks trimmed. Its p-value is the Fisher
//! test on the held-out sequences only (motifs with held-out p > 0.05 are not reported);
//! E = p × motifs reported. The motif's sites are then erased (set to N) and the next seed is
//! sought.

use crate::modality::dna::kmer::canonical_classes;
use crate::modality::dna::kmer::code;
use crate::modality::dna::kmer::for_each_kmer;
use crate::modality::dna::kmer::revcomp;
use crate::modality::dna::motif_db::Motif;
use rand::{Rng, SeedableRng, seq::SliceRandom};
use rayon::prelude::*;

/// Background for the enrichment tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Background {
    /// The sequences of every other cluster.
    Clusters,
    /// Each foreground sequence shuffled preserving its dinucleotide counts. The default:
    /// clusters of a composition-driven embedding differ mostly in composition, which the
    /// other-clusters background reports as motifs.
    #[default]
    Shuffled,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MotifParams {
    /// Seed k-mer length.
    pub k: usize,
    pub max_per_cluster: usize,
    /// Share of sequences held out for the reported p-value.
    pub holdout: f64,
    pub background: Background,
    /// At most this many background sequences are used (a seeded sample), for speed.
    pub max_background: usize,
    /// Seeds with a BH q-value above this end a cluster's search.
    pub seed_q: f64,
    pub seed: u64,
}

impl Default for MotifParams {
    fn default() -> Self {
        Self {
            k: 8,
            max_per_cluster: 3,
            holdout: 0.1,
            background: Background::Shuffled,
            max_background: 6000,
            seed_q: 0.01,
            seed: 0,
        }
    }
}

/// One occurrence of a motif.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Site {
    pub item: u32,
    pub pos: u32,
    pub reverse: bool,
    pub score: f32,
}

#[derive(Debug, Clone)]
pub struct FoundMotif {
    pub cluster: u32,
    /// 1-based rank within the cluster (order of discovery).
    pub rank: usize,
    pub motif: Motif,
    pub seed: String,
    /// Log2-odds site threshold.
    pub threshold: f64,
    /// Held-out foreground sequences with a site / held-out foreground size.
    pub test_fg: (usize, usize),
    pub test_bg: (usize, usize),
    /// Held-out Fisher p-value; E = p × motifs reported.
    pub pvalue: f64,
    pub evalue: f64,
    /// Discovery-set Fisher p-value of the final PWM (optimistic; for reference).
    pub train_pvalue: f64,
    /// Sites in the cluster's sequences (best per strand-position above the threshold).
    pub sites: Vec<Site>,
    /// Best database matches (empty without a motif file).
    pub matches: Vec<crate::modality::dna::tomtom::Match>,
}

#[derive(Debug, Clone, Default)]
pub struct MotifResults {
    pub motifs: Vec<FoundMotif>,
    /// The database the matches refer to.
    pub database: std::sync::Arc<Vec<Motif>>,
    pub database_name: Option<String>,
}

impl MotifResults {
    pub fn of_cluster(&self, c: u32) -> impl Iterator<Item = &FoundMotif> {
        self.motifs.iter().filter(move |m| m.cluster == c)
    }
}

/// ln C(n, k).
fn ln_choose(n: f64, k: f64) -> f64 {
    libm::lgamma(n + 1.0) - libm::lgamma(k + 1.0) - libm::lgamma(n - k + 1.0)
}

/// One-sided Fisher exact test: P(X ≥ a) for X ~ Hypergeometric(N = nf + nb, K = a + b,
/// draws nf), i.e. enrichment of the foreground.
pub fn fisher_greater(a: usize, nf: usize, b: usize, nb: usize) -> f64 {
    let (n, k, d) = ((nf + nb) as f64, (a + b) as f64, nf as f64);
    let hi = (a + b).min(nf);
    let ln_total = ln_choose(n, d);
    let mut max_ln = f64::NEG_INFINITY;
    let terms: Vec<f64> = (a..=hi)
        .map(|x| {
            let x = x as f64;
            let t = ln_choose(k, x) + ln_choose(n - k, d - x) - ln_total;
            max_ln = max_ln.max(t);
            t
        })
        .collect();
    if terms.is_empty() {
        return 1.0;
    }
    let s: f64 = terms.iter().map(|t| (t - max_ln).exp()).sum();
    (max_ln + s.ln()).exp().min(1.0)
}

/// Dinucleotide-preserving shuffle (Altschul & Erickson 1985, via a random Eulerian walk with
/// a random last-exit arborescence). Letters other than A/C/G/T stay where they are and split
/// the sequence into independently shuffled runs.
pub fn dinucleotide_shuffle(seq: &[u8], rng: &mut impl Rng) -> Vec<u8> {
    let mut out = seq.to_vec();
    let mut start = 0;
    while start < seq.len() {
        if code(seq[start]).is_none() {
            start += 1;
            continue;
        }
        let mut end = start;
        while end < seq.len() && code(seq[end]).is_some() {
            end += 1;
        }
        let run: Vec<usize> = seq[start..end]
            .iter()
            .map(|&b| code(b).unwrap_or(0) as usize)
            .collect();
        let shuffled = shuffle_run(&run, rng);
        for (o, c) in out[start..end].iter_mut().zip(shuffled) {
            *o = b"ACGT"[c];
        }
        start = end;
    }
    out
}

fn shuffle_run(s: &[usize], rng: &mut impl Rng) -> Vec<usize> {
    if s.len() < 3 {
        return s.to_vec();
    }
    let last = s[s.len() - 1];
    let mut edges: [Vec<usize>; 4] = Default::default();
    for w in s.windows(2) {
        edges[w[0]].push(w[1]);
    }
    // Choose each vertex's last exit so that the exits form a tree towards `last`.
    let exits = loop {
        let mut exit = [usize::MAX; 4];
        for v in 0..4 {
            if v != last && !edges[v].is_empty() {
                exit[v] = rng.gen_range(0..edges[v].len());
            }
        }
        let reaches = (0..4).all(|v| {
            if v == last || edges[v].is_empty() {
                return true;
            }
            let mut u = v;
            for _ in 0..4 {
                u = edges[u][exit[u]];
                if u == last {
                    return true;
                }
            }
            false
        });
        if reaches {
            break exit;
        }
    };
    for v in 0..4 {
        if edges[v].is_empty() {
            continue;
        }
        if exits[v] != usize::MAX {
            let n = edges[v].len();
            edges[v].swap(exits[v], n - 1);
            edges[v][..n - 1].shuffle(rng);
        } else {
            edges[v].shuffle(rng);
        }
    }
    let mut next = [0usize; 4];
    let mut out = Vec::with_capacity(s.len());
    let mut u = s[0];
    out.push(u);
    while out.len() < s.len() {
        let v = edges[u][next[u]];
        next[u] += 1;
        out.push(v);
        u = v;
    }
    out
}

/// Log2-odds matrix of a motif against base frequencies `bg`.
fn log_odds(m: &Motif, bg: &[f64; 4]) -> Vec<[f32; 4]> {
    m.probs
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

/// Calls `f(position, forward score, reverse-strand score)` for every window of `seq` made
/// only of A/C/G/T.
fn scan(lo: &[[f32; 4]], seq: &[u8], mut f: impl FnMut(usize, f32, f32)) {
    let w = lo.len();
    if seq.len() < w {
        return;
    }
    'pos: for p in 0..=seq.len() - w {
        let (mut fw, mut rv) = (0f32, 0f32);
        for j in 0..w {
            let Some(c) = code(seq[p + j]) else {
                continue 'pos;
            };
            fw += lo[j][c as usize];
            rv += lo[w - 1 - j][3 - c as usize];
        }
        f(p, fw, rv);
    }
}

/// Best site score of `seq` on either strand: (score, position, reverse).
fn best_site(lo: &[[f32; 4]], seq: &[u8]) -> Option<(f32, usize, bool)> {
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

/// Every site scoring at least `t`.
fn sites_above(lo: &[[f32; 4]], seq: &[u8], t: f32) -> Vec<(usize, bool, f32)> {
    let mut out = Vec::new();
    scan(lo, seq, |p, f, r| {
        if f >= t || r >= t {
            out.push((p, r > f, f.max(r)));
        }
    });
    out
}

/// The oriented window `[p, p + w)` as base codes (reverse-complemented when `rev`).
fn oriented(seq: &[u8], p: usize, w: usize, rev: bool) -> Option<Vec<usize>> {
    let v: Option<Vec<usize>> = seq[p..p + w]
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

fn counts_to_motif(counts: &[[f64; 4]], pseudo: f64, nsites: usize) -> Motif {
    Motif {
        id: String::new(),
        name: String::new(),
        probs: counts
            .iter()
            .map(|c| {
                let s: f64 = c.iter().sum::<f64>() + 4.0 * pseudo;
                [
                    (c[0] + pseudo) / s,
                    (c[1] + pseudo) / s,
                    (c[2] + pseudo) / s,
                    (c[3] + pseudo) / s,
                ]
            })
            .collect(),
        nsites: nsites as f64,
    }
}

fn kmer_string(x: u32, k: usize) -> String {
    (0..k)
        .rev()
        .map(|i| b"ACGT"[((x >> (2 * i)) & 3) as usize] as char)
        .collect()
}

struct Sets {
    fg: Vec<Vec<u8>>,
    bg: Vec<Vec<u8>>,
}

/// Finds motifs for every cluster with at least 10 sequences; matches them against `db`.
pub fn discover(
    seqs: &[Vec<u8>],
    clusters: &[u32],
    db: std::sync::Arc<Vec<Motif>>,
    database_name: Option<String>,
    p: &MotifParams,
    progress: &(dyn Fn(f64) + Sync),
    cancelled: &(dyn Fn() -> bool + Sync),
) -> Option<MotifResults> {
    let n_clusters = clusters.iter().max().map_or(0, |&m| m as usize + 1);
    // Base frequencies over all sequences, both strands (the log-odds background).
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
    for b in &mut base {
        *b /= tot;
    }
    let (classes, n_classes) = canonical_classes(p.k);
    let mut found = Vec::new();
    for c in 0..n_clusters as u32 {
        if cancelled() {
            return None;
        }
        progress(c as f64 / n_clusters as f64);
        let members: Vec<usize> = (0..seqs.len()).filter(|&i| clusters[i] == c).collect();
        if members.len() < 10 {
            continue;
        }
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(p.seed ^ (c as u64 + 1));
        let mut others: Vec<usize> = (0..seqs.len()).filter(|&i| clusters[i] != c).collect();
        if others.len() > p.max_background {
            others.shuffle(&mut rng);
            others.truncate(p.max_background);
            others.sort_unstable();
        }
        let holdout = p.holdout.clamp(0.0, 0.5);
        let (mut train, mut test) = (
            Sets {
                fg: vec![],
                bg: vec![],
            },
            Sets {
                fg: vec![],
                bg: vec![],
            },
        );
        for &i in &members {
            let s = seqs[i].to_ascii_uppercase();
            let held = rng.gen_bool(holdout);
            let set = if held { &mut test } else { &mut train };
            if p.background == Background::Shuffled {
                set.bg.push(dinucleotide_shuffle(&s, &mut rng));
            }
            set.fg.push(s);
        }
        if p.background == Background::Clusters {
            for &i in &others {
                let s = seqs[i].to_ascii_uppercase();
                if rng.gen_bool(holdout) {
                    test.bg.push(s);
                } else {
                    train.bg.push(s);
                }
            }
        }
        if train.fg.len() < 8 || train.bg.len() < 8 || test.fg.is_empty() || test.bg.is_empty() {
            continue;
        }
        for _ in 0..p.max_per_cluster {
            let Some(m) = one_motif(&train, &test, &base, p, &classes, n_classes) else {
                break;
            };
            // Erase its sites everywhere before the next search.
            let lo = log_odds(&m.0, &base);
            let t = m.1 as f32;
            for s in train
                .fg
                .iter_mut()
                .chain(train.bg.iter_mut())
                .chain(test.fg.iter_mut())
                .chain(test.bg.iter_mut())
            {
                for (pos, _, _) in sites_above(&lo, s, t) {
                    for b in &mut s[pos..pos + lo.len()] {
                        *b = b'N';
                    }
                }
            }
            // The held-out check: a motif the held-out sequences do not confirm is erased
            // but not reported (STREME likewise keeps searching past such motifs).
            if m.5 > 0.05 {
                continue;
            }
            let sites: Vec<Site> = members
                .par_iter()
                .flat_map_iter(|&i| {
                    sites_above(&lo, &seqs[i], t)
                        .into_iter()
                        .map(move |(pos, reverse, score)| Site {
                            item: i as u32,
                            pos: pos as u32,
                            reverse,
                            score,
                        })
                })
                .collect();
            let rank = found
                .iter()
                .filter(|f: &&FoundMotif| f.cluster == c)
                .count()
                + 1;
            let mut motif = m.0;
            motif.id = format!("c{c}-m{rank}");
            motif.name = motif.consensus();
            let matches: Vec<_> = crate::modality::dna::tomtom::compare(&motif, &db, 1)
                .into_iter()
                .take(5)
                .collect();
            found.push(FoundMotif {
                cluster: c,
                rank,
                motif,
                seed: m.2,
                threshold: m.1,
                test_fg: m.3,
                test_bg: m.4,
                pvalue: m.5,
                evalue: f64::NAN,
                train_pvalue: m.6,
                sites,
                matches,
            });
        }
    }
    let n = found.len() as f64;
    for f in &mut found {
        f.evalue = f.pvalue * n;
    }
    progress(1.0);
    Some(MotifResults {
        motifs: found,
        database: db,
        database_name,
    })
}

type OneMotif = (Motif, f64, String, (usize, usize), (usize, usize), f64, f64);

/// ZOOPS counts of canonical classes: how many sequences contain each.
fn zoops_counts(seqs: &[Vec<u8>], k: usize, classes: &[u32], n_classes: usize) -> Vec<u32> {
    seqs.par_chunks(256)
        .map(|chunk| {
            let mut counts = vec![0u32; n_classes];
            let mut stamp = vec![u32::MAX; n_classes];
            for (j, s) in chunk.iter().enumerate() {
                for_each_kmer(s, k, |_, x| {
                    let c = classes[x as usize] as usize;
                    if stamp[c] != j as u32 {
                        stamp[c] = j as u32;
                        counts[c] += 1;
                    }
                });
            }
            counts
        })
        .reduce(
            || vec![0u32; n_classes],
            |mut a, b| {
                for (x, y) in a.iter_mut().zip(b) {
                    *x += y;
                }
                a
            },
        )
}

fn one_motif(
    train: &Sets,
    test: &Sets,
    base: &[f64; 4],
    p: &MotifParams,
    classes: &[u32],
    n_classes: usize,
) -> Option<OneMotif> {
    let k = p.k;
    let (nf, nb) = (train.fg.len(), train.bg.len());
    let fg = zoops_counts(&train.fg, k, classes, n_classes);
    let bg = zoops_counts(&train.bg, k, classes, n_classes);
    let min_sites = 5u32.max((nf as f64 * 0.02) as u32);
    let tested: Vec<(usize, f64)> = (0..n_classes)
        .into_par_iter()
        .filter(|&c| {
            fg[c] >= min_sites && fg[c] as f64 / nf as f64 > bg[c] as f64 / nb.max(1) as f64
        })
        .map(|c| (c, fisher_greater(fg[c] as usize, nf, bg[c] as usize, nb)))
        .collect();
    let (best_class, best_p) = tested
        .iter()
        .copied()
        .min_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)))?;
    // BH over every class (untested classes count as p = 1): q of the best is p × m.
    if best_p * n_classes as f64 > p.seed_q {
        return None;
    }
    // The seed's lexicographically smaller orientation.
    let code_of = (0..1u32 << (2 * k))
        .find(|&x| classes[x as usize] as usize == best_class)
        .unwrap_or(0);
    let seed = code_of.min(revcomp(code_of, k));
    let seed_rc = revcomp(seed, k);
    let flank = 2usize;
    let w = k + 2 * flank;

    // Initial PWM: the best ≤ 1-mismatch seed site per foreground sequence, with flanks.
    let mut counts = vec![[0f64; 4]; w];
    let mut n_sites = 0;
    for s in &train.fg {
        let mut best: Option<(u32, usize, bool)> = None;
        for_each_kmer(s, k, |pos, x| {
            for (target, rev) in [(seed, false), (seed_rc, true)] {
                let d = hamming2(x ^ target, k);
                if d <= 1 && best.is_none_or(|b| d < b.0) {
                    best = Some((d, pos, rev));
                }
            }
        });
        if let Some((_, pos, rev)) = best
            && pos >= flank
            && pos + k + flank <= s.len()
            && let Some(v) = oriented(s, pos - flank, w, rev)
        {
            for (j, &b) in v.iter().enumerate() {
                counts[j][b] += 1.0;
            }
            n_sites += 1;
        }
    }
    if n_sites < 3 {
        return None;
    }
    let mut motif = counts_to_motif(&counts, 0.25, n_sites);
    let mut threshold = 0.0;
    let mut train_p = 1.0;
    for _round in 0..3 {
        let lo = log_odds(&motif, base);
        let score = |sets: &[Vec<u8>]| -> Vec<Option<(f32, usize, bool)>> {
            sets.par_iter().map(|s| best_site(&lo, s)).collect()
        };
        let sf = score(&train.fg);
        let sb = score(&train.bg);
        let (t, pv) = best_threshold(&sf, &sb);
        threshold = t;
        train_p = pv;
        // Rebuild from the best site of each foreground sequence above the threshold.
        let mut counts = vec![[0f64; 4]; lo.len()];
        let mut n = 0;
        for (s, best) in train.fg.iter().zip(&sf) {
            if let Some((sc, pos, rev)) = *best
                && sc as f64 >= t
                && let Some(v) = oriented(s, pos, lo.len(), rev)
            {
                for (j, &b) in v.iter().enumerate() {
                    counts[j][b] += 1.0;
                }
                n += 1;
            }
        }
        if n < 3 {
            break;
        }
        motif = counts_to_motif(&counts, 0.25, n);
    }
    // Trim uninformative flanks (below 0.3 bits), keeping at least k - 2 columns.
    let ic = motif.information();
    let (mut a, mut b) = (0, ic.len());
    while b - a > k.saturating_sub(2).max(4) && ic[a] < 0.3 {
        a += 1;
    }
    while b - a > k.saturating_sub(2).max(4) && ic[b - 1] < 0.3 {
        b -= 1;
    }
    if a > 0 || b < ic.len() {
        motif.probs = motif.probs[a..b].to_vec();
        let lo = log_odds(&motif, base);
        let sf: Vec<_> = train.fg.par_iter().map(|s| best_site(&lo, s)).collect();
        let sb: Vec<_> = train.bg.par_iter().map(|s| best_site(&lo, s)).collect();
        let (t, pv) = best_threshold(&sf, &sb);
        threshold = t;
        train_p = pv;
    }
    // The reported p-value: held-out sequences only.
    let lo = log_odds(&motif, base);
    let hits = |sets: &[Vec<u8>]| {
        sets.par_iter()
            .filter(|s| best_site(&lo, s).is_some_and(|b| b.0 as f64 >= threshold))
            .count()
    };
    let (hf, hb) = (hits(&test.fg), hits(&test.bg));
    let pv = fisher_greater(hf, test.fg.len(), hb, test.bg.len());
    Some((
        motif,
        threshold,
        kmer_string(seed, k),
        (hf, test.fg.len()),
        (hb, test.bg.len()),
        pv,
        train_p,
    ))
}

/// Mismatches between two k-mers given their XOR.
fn hamming2(x: u32, k: usize) -> u32 {
    (0..k).filter(|i| (x >> (2 * i)) & 3 != 0).count() as u32
}

/// The site-score threshold that makes the foreground most enriched (Fisher), among up to 100
/// quantiles of the foreground's best scores.
fn best_threshold(
    sf: &[Option<(f32, usize, bool)>],
    sb: &[Option<(f32, usize, bool)>],
) -> (f64, f64) {
    let mut f: Vec<f32> = sf.iter().flatten().map(|b| b.0).collect();
    let mut b: Vec<f32> = sb.iter().flatten().map(|b| b.0).collect();
    f.sort_by(|x, y| y.total_cmp(x));
    b.sort_by(|x, y| y.total_cmp(x));
    if f.is_empty() {
        return (f64::INFINITY, 1.0);
    }
    let step = (f.len() / 100).max(1);
    let mut best = (f[0] as f64, 1.0f64);
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
        let pv = fisher_greater(a, sf.len(), j, sb.len());
        if pv < best.1 {
            best = (t as f64, pv);
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fisher_matches_exact_sums() {
        // Exact sums of hypergeometric terms with Python's math.comb:
        // [[8, 2], [1, 5]] → 196/8008; [[50, 50], [20, 80]] → 6.94458534516504e-06.
        let p = fisher_greater(8, 10, 1, 6);
        assert!((p - 0.024475524475524476).abs() < 1e-12, "{p}");
        let p = fisher_greater(50, 100, 20, 100);
        assert!((p / 6.94458534516504e-06 - 1.0).abs() < 1e-9, "{p}");
    }

    #[test]
    fn shuffle_keeps_dinucleotides() {
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(3);
        let s = b"ACGTTGCAAGGCTTACGATCGATNNACGTAGCTAGCTTTAGGCA".to_vec();
        let t = dinucleotide_shuffle(&s, &mut rng);
        assert_ne!(s, t);
        let di = |x: &[u8]| {
            let mut v: Vec<&[u8]> = x.windows(2).collect();
            v.sort();
            v.into_iter().map(|w| w.to_vec()).collect::<Vec<_>>()
        };
        assert_eq!(di(&s), di(&t));
        assert_eq!(t[23..25].to_vec(), b"NN".to_vec());
        assert_eq!(t[0], s[0]);
    }
}
