//! Motif discovery, STREME/MEME-like (methods.md §5.2), per cluster or on the whole input.
//!
//! Each group's sequences (the foreground) are compared with a background: copies of the
//! foreground shuffled preserving 3-mers (the default, as STREME), the other clusters, or a FASTA file the
//! user gives. A search ranks canonical k-mers by the one-sided Fisher test on how many
//! sequences contain them (ZOOPS), counted exactly and within one mismatch; the best seeds
//! of both kinds are refined by ZOOPS expectation–maximisation into matrices, flanks trimmed,
//! and the site threshold chosen that separates foreground from background best. The
//! search ends when no seed passes a Bonferroni bound over every seed tested.
//!
//! How a motif's p-value is obtained depends on the group's size, and each row says which:
//! with at least `min_holdout` foreground sequences held out (STREME's rule), discovery
//! runs on the rest and the p-value is the Fisher test on the held-out sequences; with
//! fewer, the search is repeated in `folds`-fold cross-validation and the p-value is the
//! Fisher test on the pooled held-out counts, each sequence scored by a motif fitted
//! without it. E = p × motifs tested. The sites of each motif are erased (set to N) before
//! the next search, and a motif the test does not confirm is erased but not reported.

mod params;
mod pwm;
mod refine;
mod search;
mod seeds;
mod shuffle;
mod stats;

pub use params::{Background, Groups, MotifParams, UserBackground};
pub use pwm::{base_frequencies, best_site, log_odds, scan as scan_windows, sites_above};
use shuffle::klet_shuffle;
pub use stats::fisher_greater;

use crate::modality::dna::motif_db::Motif;
use rand::{Rng, SeedableRng, seq::SliceRandom};
use rayon::prelude::*;
use search::{Candidate, search};
use seeds::SeedSpace;

/// One occurrence of a motif.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Site {
    pub item: u32,
    pub pos: u32,
    pub reverse: bool,
    pub score: f32,
}

/// How a motif's p-value was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Test {
    /// Fisher test on sequences held out of discovery.
    HeldOut,
    /// Fisher test on the pooled held-out counts of a cross-validation with this many folds.
    CrossValidated(usize),
}

impl Test {
    /// How the test is written in tables and panes: `held-out`, `5-fold CV`.
    pub fn label(&self) -> String {
        match self {
            Test::HeldOut => "held-out".into(),
            Test::CrossValidated(k) => format!("{k}-fold CV"),
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        if s == "held-out" {
            return Some(Test::HeldOut);
        }
        s.strip_suffix("-fold CV")?
            .parse()
            .ok()
            .map(Test::CrossValidated)
    }
}

#[derive(Debug, Clone)]
pub struct FoundMotif {
    /// The cluster searched; None when the whole input was one group.
    pub cluster: Option<u32>,
    /// 1-based rank within the group (order of discovery).
    pub rank: usize,
    pub motif: Motif,
    pub seed: String,
    /// Log2-odds site threshold.
    pub threshold: f64,
    pub test: Test,
    /// Tested foreground sequences with a site / tested foreground sequences.
    pub test_fg: (usize, usize),
    pub test_bg: (usize, usize),
    /// The test's Fisher p-value; E = p × motifs tested.
    pub pvalue: f64,
    pub evalue: f64,
    /// Fisher p-value of the final matrix on the sequences it was fitted on (optimistic; for
    /// reference).
    pub train_pvalue: f64,
    /// Sites in the group's sequences (the better strand of each position above the
    /// threshold).
    pub sites: Vec<Site>,
    /// Best database matches (empty without a motif file).
    pub matches: Vec<crate::modality::dna::tomtom::Match>,
    /// Where the sites fall along their sequences: counts of site centres in `SPREAD_BINS`
    /// equal parts of each sequence, 5′ to 3′ (CentriMo's question: centred, or anywhere?).
    pub spread: Vec<u32>,
}

/// Bins of [`FoundMotif::spread`].
pub const SPREAD_BINS: usize = 20;

/// Counts of site centres in `SPREAD_BINS` equal parts of their sequences.
pub fn site_spread(sites: &[Site], width: usize, seqs: &[Vec<u8>]) -> Vec<u32> {
    let mut bins = vec![0u32; SPREAD_BINS];
    for s in sites {
        let Some(len) = seqs.get(s.item as usize).map(Vec::len).filter(|&l| l > 0) else {
            continue;
        };
        let centre = s.pos as f64 + width as f64 / 2.0;
        let b = ((centre / len as f64) * SPREAD_BINS as f64) as usize;
        bins[b.min(SPREAD_BINS - 1)] += 1;
    }
    bins
}

#[derive(Debug, Clone, Default)]
pub struct MotifResults {
    pub motifs: Vec<FoundMotif>,
    /// The database the matches refer to.
    pub database: std::sync::Arc<Vec<Motif>>,
    pub database_name: Option<String>,
    pub groups: Groups,
    /// What the foreground was compared with, in words.
    pub background: String,
    /// What the search did that a reader should know (groups searched in a sample).
    pub notes: Vec<String>,
    /// The other grouping's motifs (per cluster while these are the whole input's, or the
    /// reverse), kept so that `:motifs all` and `:motifs clusters` switch without a search.
    pub kept: Option<std::sync::Arc<MotifResults>>,
}

impl MotifResults {
    /// What a batch run prints: a summary line, then one line per motif (group, consensus,
    /// how it was tested, best match).
    pub fn report(&self, name: &str) -> Vec<String> {
        let r = self;
        let mut out = Vec::new();
        let groups = match r.groups {
            Groups::All => "the whole input".to_string(),
            Groups::Clusters => format!(
                "{} clusters",
                r.motifs
                    .iter()
                    .filter_map(|m| m.cluster)
                    .collect::<std::collections::BTreeSet<_>>()
                    .len()
            ),
        };
        out.push(format!(
            "{name}: {} motifs in {groups} against {}{}",
            r.motifs.len(),
            r.background,
            r.database_name
                .as_ref()
                .map(|d| format!(", matched against {d}"))
                .unwrap_or_default()
        ));
        for n in &r.notes {
            out.push(format!("  ({n})"));
        }
        for m in &r.motifs {
            let best = m.matches.first().map(|x| {
                let t = &r.database[x.target];
                format!("{} {} (E {:.2e})", t.id, t.name, x.evalue)
            });
            let group = match m.cluster {
                None => "all".to_string(),
                Some(c) => format!("cluster {c:>2}"),
            };
            out.push(format!(
                "  {group} #{} {:<16} {} {}/{} vs {}/{}  p {:.2e}  E {:.2e}  {}",
                m.rank,
                m.motif.consensus(),
                m.test.label(),
                m.test_fg.0,
                m.test_fg.1,
                m.test_bg.0,
                m.test_bg.1,
                m.pvalue,
                m.evalue,
                best.unwrap_or_default()
            ));
        }
        out
    }

    /// The motifs found in cluster `c` alone (none when the whole input was one group).
    pub fn of_cluster(&self, c: u32) -> impl Iterator<Item = &FoundMotif> {
        self.motifs.iter().filter(move |m| m.cluster == Some(c))
    }

    /// The motifs searched in sequences that include cluster `c`'s: its own, or every motif
    /// when the whole input was one group.
    pub fn covering(&self, c: u32) -> impl Iterator<Item = &FoundMotif> {
        self.motifs
            .iter()
            .filter(move |m| m.cluster.is_none_or(|x| x == c))
    }

    /// Fills each motif's [`FoundMotif::spread`] from its sites (a session keeps the sites,
    /// not the spread).
    pub fn fill_spread(&mut self, seqs: &[Vec<u8>]) {
        for m in &mut self.motifs {
            m.spread = site_spread(&m.sites, m.motif.width(), seqs);
        }
        if let Some(k) = self.kept.as_mut() {
            std::sync::Arc::make_mut(k).fill_spread(seqs);
        }
    }

    /// These results and the other grouping's kept beside them, shown ones first.
    pub fn runs(&self) -> impl Iterator<Item = &MotifResults> {
        std::iter::once(self).chain(self.kept.as_deref())
    }

    /// These results with the other grouping's motifs of `previous` kept beside them (the
    /// whole input's motifs do not change when the clusters do; a new search of the same
    /// grouping replaces the old one).
    pub fn keeping(mut self, previous: Option<&MotifResults>) -> MotifResults {
        self.kept = previous
            .into_iter()
            .flat_map(|p| p.runs())
            .find(|r| r.groups != self.groups)
            .map(|r| {
                std::sync::Arc::new(MotifResults {
                    kept: None,
                    ..r.clone()
                })
            });
        self
    }

    /// The kept grouping `groups` shown instead, these kept beside it; None when it is not
    /// kept.
    pub fn switched_to(&self, groups: Groups) -> Option<MotifResults> {
        let k = self.kept.as_deref().filter(|k| k.groups == groups)?;
        Some(MotifResults {
            kept: Some(std::sync::Arc::new(MotifResults {
                kept: None,
                ..self.clone()
            })),
            ..k.clone()
        })
    }
}

/// Foreground and background of one group, as searched.
struct Sets {
    fg: Vec<Vec<u8>>,
    bg: Vec<Vec<u8>>,
}

impl Sets {
    fn all_mut(&mut self) -> impl Iterator<Item = &mut Vec<u8>> {
        self.fg.iter_mut().chain(self.bg.iter_mut())
    }
}

/// Sets every site of `c` in `seqs` to N so the next search finds something else.
fn erase<'a>(c: &Candidate, base: &[f64; 4], seqs: impl Iterator<Item = &'a mut Vec<u8>>) {
    let lo = log_odds(&c.motif.probs, base);
    for s in seqs {
        for (pos, _, _) in sites_above(&lo, s, c.threshold as f32) {
            for b in &mut s[pos..pos + lo.len()] {
                *b = b'N';
            }
        }
    }
}

/// Unconfirmed motifs in a row that end a group's search.
const PATIENCE: usize = 2;
/// A motif is confirmed, and reported, when its test's p is at most this.
const ALPHA: f64 = 0.05;

/// A motif as searched and tested, before numbering.
struct Tested {
    found: Candidate,
    test: Test,
    fg: (usize, usize),
    bg: (usize, usize),
    pvalue: f64,
}

/// Finds motifs for every group with at least 10 sequences; matches them against `db`.
/// `user_bg`, when given, is the background of every group.
#[allow(clippy::too_many_arguments)]
pub fn discover(
    seqs: &[Vec<u8>],
    clusters: &[u32],
    db: std::sync::Arc<Vec<Motif>>,
    database_name: Option<String>,
    user_bg: Option<&UserBackground>,
    p: &MotifParams,
    progress: &(dyn Fn(f64) + Sync),
    cancelled: &(dyn Fn() -> bool + Sync),
) -> Option<MotifResults> {
    let base = pwm::base_frequencies(seqs);
    let cl = SeedSpace::new(p.k);
    let groups: Vec<(Option<u32>, Vec<usize>)> = match p.groups {
        Groups::All => vec![(None, (0..seqs.len()).collect())],
        Groups::Clusters => {
            let n = clusters.iter().max().map_or(0, |&m| m as usize + 1);
            let mut g: Vec<(Option<u32>, Vec<usize>)> =
                (0..n as u32).map(|c| (Some(c), Vec::new())).collect();
            for (i, &c) in clusters.iter().enumerate() {
                g[c as usize].1.push(i);
            }
            g
        }
    };
    let background = p.describe_background(user_bg);
    let mut tested = 0usize;
    let mut found: Vec<FoundMotif> = Vec::new();
    let mut notes: Vec<String> = Vec::new();
    for (gi, (c, members)) in groups.iter().enumerate() {
        if cancelled() {
            return None;
        }
        progress(gi as f64 / groups.len() as f64);
        if members.len() < 10 {
            continue;
        }
        // The whole input is seeded as cluster 0 was, so earlier sessions' searches repeat.
        let mut rng =
            rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(p.seed ^ (c.unwrap_or(0) as u64 + 1));
        // A large group is searched in a seeded sample; its sites are found in all of it.
        let searched: Vec<usize> = if members.len() > p.max_foreground.max(10) {
            let mut m = members.clone();
            m.shuffle(&mut rng);
            m.truncate(p.max_foreground.max(10));
            m.sort_unstable();
            notes.push(format!(
                "{}: motifs searched in a sample of {} of its {} sequences",
                match c {
                    None => "the whole input".to_string(),
                    Some(c) => format!("cluster {c}"),
                },
                m.len(),
                members.len()
            ));
            m
        } else {
            members.clone()
        };
        let Some(mut sets) = group_sets(seqs, clusters, &searched, *c, user_bg, p, &mut rng) else {
            continue;
        };
        let held_out = (sets.fg.len() as f64 * p.holdout.clamp(0.0, 0.5)).floor() as usize;
        let results = if held_out >= p.min_holdout {
            held_out_search(&sets, &base, &cl, p, &mut rng, cancelled)
        } else {
            cross_validated_search(&mut sets, &base, &cl, p, &mut rng, cancelled)
        }?;
        for r in results {
            tested += 1;
            if r.pvalue > ALPHA {
                continue;
            }
            let lo = log_odds(&r.found.motif.probs, &base);
            let t = r.found.threshold as f32;
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
            let rank = found.iter().filter(|f| f.cluster == *c).count() + 1;
            let mut motif = r.found.motif;
            let motif_width = motif.width();
            motif.id = match c {
                None => format!("all-m{rank}"),
                Some(c) => format!("c{c}-m{rank}"),
            };
            motif.name = motif.consensus();
            let matches: Vec<_> = crate::modality::dna::tomtom::compare(&motif, &db, 1)
                .into_iter()
                .take(5)
                .collect();
            found.push(FoundMotif {
                cluster: *c,
                rank,
                motif,
                seed: r.found.seed,
                threshold: r.found.threshold,
                test: r.test,
                test_fg: r.fg,
                test_bg: r.bg,
                pvalue: r.pvalue,
                evalue: f64::NAN,
                train_pvalue: r.found.pvalue,
                spread: site_spread(&sites, motif_width, seqs),
                sites,
                matches,
            });
        }
    }
    for f in &mut found {
        f.evalue = (f.pvalue * tested as f64).min(tested as f64);
    }
    progress(1.0);
    Some(MotifResults {
        motifs: found,
        database: db,
        database_name,
        groups: p.groups,
        background,
        notes,
        kept: None,
    })
}

/// The group's foreground (upper-cased) and its background; None when either is too small
/// to search.
fn group_sets(
    seqs: &[Vec<u8>],
    clusters: &[u32],
    members: &[usize],
    c: Option<u32>,
    user_bg: Option<&UserBackground>,
    p: &MotifParams,
    rng: &mut impl Rng,
) -> Option<Sets> {
    let fg: Vec<Vec<u8>> = members
        .iter()
        .map(|&i| seqs[i].to_ascii_uppercase())
        .collect();
    let sample = |mut pool: Vec<&Vec<u8>>, rng: &mut _| -> Vec<Vec<u8>> {
        if pool.len() > p.max_background {
            pool.shuffle(rng);
            pool.truncate(p.max_background);
        }
        pool.into_iter().map(|s| s.to_ascii_uppercase()).collect()
    };
    let bg = match (user_bg, p.effective_background()) {
        (Some(u), _) => sample(u.seqs.iter().collect(), rng),
        (None, Background::Clusters) if p.groups == Groups::Clusters => sample(
            (0..seqs.len())
                .filter(|&i| Some(clusters[i]) != c)
                .map(|i| &seqs[i])
                .collect(),
            rng,
        ),
        _ => fg.iter().map(|s| klet_shuffle(s, 3, rng)).collect(),
    };
    (fg.len() >= 10 && bg.len() >= 10).then_some(Sets { fg, bg })
}

/// The sequences of `s` whose index `keep` accepts.
fn split(s: &[Vec<u8>], keep: impl Fn(usize) -> bool) -> Vec<Vec<u8>> {
    s.iter()
        .enumerate()
        .filter(|(i, _)| keep(*i))
        .map(|(_, x)| x.clone())
        .collect()
}

/// What one round of a group's search ended with.
enum Round {
    Tested(Tested),
    /// No seed is enriched any more.
    Exhausted,
    Cancelled,
}

/// Rounds of search, test and erasure until `max_per_cluster` motifs are confirmed or
/// `PATIENCE` in a row are not (STREME's patience); None when cancelled.
fn rounds(p: &MotifParams, mut round: impl FnMut() -> Round) -> Option<Vec<Tested>> {
    let mut out = Vec::new();
    let (mut confirmed, mut failures) = (0, 0);
    while confirmed < p.max_per_cluster && failures < PATIENCE {
        match round() {
            Round::Tested(t) => {
                if t.pvalue > ALPHA {
                    failures += 1;
                } else {
                    (confirmed, failures) = (confirmed + 1, 0);
                }
                out.push(t);
            }
            Round::Exhausted => break,
            Round::Cancelled => return None,
        }
    }
    Some(out)
}

/// Discovery on all but a held-out share; each motif tested on the held-out sequences.
fn held_out_search(
    sets: &Sets,
    base: &[f64; 4],
    cl: &SeedSpace,
    p: &MotifParams,
    rng: &mut impl Rng,
    cancelled: &(dyn Fn() -> bool + Sync),
) -> Option<Vec<Tested>> {
    let h = p.holdout.clamp(0.0, 0.5);
    let fg_held: Vec<bool> = (0..sets.fg.len()).map(|_| rng.gen_bool(h)).collect();
    let bg_held: Vec<bool> = (0..sets.bg.len()).map(|_| rng.gen_bool(h)).collect();
    let mut train = Sets {
        fg: split(&sets.fg, |i| !fg_held[i]),
        bg: split(&sets.bg, |i| !bg_held[i]),
    };
    let mut test = Sets {
        fg: split(&sets.fg, |i| fg_held[i]),
        bg: split(&sets.bg, |i| bg_held[i]),
    };
    rounds(p, || {
        if cancelled() {
            return Round::Cancelled;
        }
        let Some(found) = search(&train.fg, &train.bg, base, cl) else {
            return Round::Exhausted;
        };
        let lo = log_odds(&found.motif.probs, base);
        let hf = pwm::hits(&lo, &test.fg, found.threshold);
        let hb = pwm::hits(&lo, &test.bg, found.threshold);
        erase(&found, base, train.all_mut().chain(test.all_mut()));
        Round::Tested(Tested {
            found,
            test: Test::HeldOut,
            fg: (hf, test.fg.len()),
            bg: (hb, test.bg.len()),
            pvalue: fisher_greater(hf, test.fg.len(), hb, test.bg.len()),
        })
    })
}

/// Discovery on every sequence; each motif's test repeats the search in cross-validation
/// and pools the held-out counts.
fn cross_validated_search(
    sets: &mut Sets,
    base: &[f64; 4],
    cl: &SeedSpace,
    p: &MotifParams,
    rng: &mut impl Rng,
    cancelled: &(dyn Fn() -> bool + Sync),
) -> Option<Vec<Tested>> {
    let k = p.folds.max(2);
    let fold_of = |n: usize, rng: &mut _| -> Vec<usize> {
        let mut f: Vec<usize> = (0..n).map(|i| i % k).collect();
        f.shuffle(rng);
        f
    };
    let (ff, fb) = (fold_of(sets.fg.len(), rng), fold_of(sets.bg.len(), rng));
    rounds(p, || {
        let Some(found) = search(&sets.fg, &sets.bg, base, cl) else {
            return Round::Exhausted;
        };
        let (mut hf, mut hb) = (0, 0);
        for fold in 0..k {
            if cancelled() {
                return Round::Cancelled;
            }
            let train_fg = split(&sets.fg, |i| ff[i] != fold);
            let train_bg = split(&sets.bg, |i| fb[i] != fold);
            if let Some(m) = search(&train_fg, &train_bg, base, cl) {
                let lo = log_odds(&m.motif.probs, base);
                hf += pwm::hits(&lo, &split(&sets.fg, |i| ff[i] == fold), m.threshold);
                hb += pwm::hits(&lo, &split(&sets.bg, |i| fb[i] == fold), m.threshold);
            }
        }
        let (nf, nb) = (sets.fg.len(), sets.bg.len());
        erase(&found, base, sets.all_mut());
        Round::Tested(Tested {
            found,
            test: Test::CrossValidated(k),
            fg: (hf, nf),
            bg: (hb, nb),
            pvalue: fisher_greater(hf, nf, hb, nb),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spread_counts_site_centres_along_each_sequence() {
        let seqs = vec![vec![b'A'; 100], vec![b'C'; 200], Vec::new()];
        let site = |item: u32, pos: u32| Site {
            item,
            pos,
            reverse: false,
            score: 1.0,
        };
        // Centres at 50 of 100 and 100 of 200 (the middle bin), 5 of 100 (the second), 198
        // of 200 (the last); a site in an empty sequence is not counted.
        let sites = [
            site(0, 45),
            site(1, 95),
            site(0, 0),
            site(1, 193),
            site(2, 0),
        ];
        let b = site_spread(&sites, 10, &seqs);
        assert_eq!(b.len(), SPREAD_BINS);
        assert_eq!(b[SPREAD_BINS / 2], 2);
        assert_eq!(b[1], 1);
        assert_eq!(b[SPREAD_BINS - 1], 1);
        assert_eq!(b.iter().sum::<u32>(), 4);
    }
}
