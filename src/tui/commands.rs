//! The `:` command line: parsing, completion and the effects commands ask for.

use super::action::{Effect, ExportKind};
use super::state::{Message, Mode, State};
use super::update::{error, info};
use crate::analysis::kmeans::KMeansParams;
use crate::analysis::leiden::LeidenParams;
use crate::pipeline::ClusterMethod;
use std::path::PathBuf;

/// Command words, for completion.
const COMMAND_WORDS: [&str; 10] = [
    "color ",
    "color gene ",
    "color genes ",
    "compare ",
    "recluster leiden ",
    "recluster kmeans ",
    "export clusters ",
    "export markers ",
    "export anomalies ",
    "quit",
];

/// Completes `prefix`, the word after `head`, from `candidates` (ignoring case): one match
/// completes it, several extend it to their common prefix and are returned as a listing.
fn complete_word<'a>(
    q: &mut String,
    head: &str,
    prefix: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    let lower = prefix.to_lowercase();
    let hits: Vec<&str> = candidates
        .into_iter()
        .filter(|c| c.to_lowercase().starts_with(&lower))
        .collect();
    match hits.as_slice() {
        [] => None,
        [one] => {
            *q = format!("{head}{one}");
            None
        }
        _ => {
            let first: Vec<char> = hits[0].chars().collect();
            let common = hits.iter().fold(first.len(), |n, h| {
                first
                    .iter()
                    .zip(h.chars())
                    .take(n)
                    .take_while(|(a, b)| a.to_lowercase().eq(b.to_lowercase()))
                    .count()
            });
            if common > prefix.chars().count() {
                *q = format!("{head}{}", first[..common].iter().collect::<String>());
            }
            let more = if hits.len() > 12 {
                format!(" … ({} in all)", hits.len())
            } else {
                String::new()
            };
            Some(format!("{}{more}", hits[..hits.len().min(12)].join(" ")))
        }
    }
}

pub(super) fn complete(s: &mut State) {
    let tab = s.tab();
    let mut columns: Vec<String> = tab
        .map(|t| {
            t.color_choices()
                .iter()
                .map(|c| c.name().to_string())
                .collect()
        })
        .unwrap_or_default();
    // An Arc to the expression, not a copy of every gene name per Tab press.
    let expr = tab
        .and_then(|t| t.dataset.as_ref())
        .and_then(|d| d.expression().cloned());
    if expr.is_some() {
        columns.extend(["gene ".to_string(), "genes ".to_string()]);
    }
    let genes: &[String] = expr.as_ref().map_or(&[], |e| e.genes.as_slice());
    let Mode::Command(q) = &mut s.mode else {
        return;
    };
    let listing = if let Some(p) = q.strip_prefix("color gene ") {
        let p = p.to_string();
        complete_word(q, "color gene ", &p, genes.iter().map(String::as_str))
    } else if let Some(p) = q.strip_prefix("color genes ") {
        // Complete the last name of a comma-separated list.
        let (done, last) = p.rsplit_once(',').map_or(("", p), |(a, b)| (a, b));
        let head = if done.is_empty() {
            "color genes ".to_string()
        } else {
            format!("color genes {done},")
        };
        let last = last.to_string();
        complete_word(q, &head, &last, genes.iter().map(String::as_str))
    } else if let Some(p) = q.strip_prefix("color ") {
        let p = p.to_string();
        complete_word(q, "color ", &p, columns.iter().map(String::as_str))
    } else {
        let p = q.clone();
        complete_word(q, "", &p, COMMAND_WORDS)
    };
    if let Some(text) = listing {
        s.message = Some(Message { text, error: false });
    }
}

pub(super) fn run_command(s: &mut State, line: &str) -> Vec<Effect> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let tab = s.active;
    match words.as_slice() {
        [] => vec![],
        ["q"] | ["quit"] | ["q!"] => {
            s.quit = true;
            vec![Effect::Quit]
        }
        ["color", kind @ ("gene" | "genes"), rest @ ..] if !rest.is_empty() => {
            let names: Vec<String> = rest
                .join(",")
                .split(',')
                .map(|g| g.trim().to_string())
                .filter(|g| !g.is_empty())
                .collect();
            let Some(t) = s.tab_mut() else { return vec![] };
            let Some(e) = t.dataset.as_ref().and_then(|d| d.expression().cloned()) else {
                error(s, "gene colouring needs expression values (cells datasets)");
                return vec![];
            };
            let mut idx = Vec::new();
            for n in &names {
                match e.gene_index(n) {
                    Some(g) => idx.push(g),
                    None => {
                        error(s, format!("no gene '{n}' (Tab completes gene names)"));
                        return vec![];
                    }
                }
            }
            let label = if *kind == "gene" && idx.len() == 1 {
                format!("gene {}", e.genes[idx[0]])
            } else {
                format!(
                    "genes {}",
                    idx.iter()
                        .map(|&g| e.genes[g].as_str())
                        .collect::<Vec<_>>()
                        .join(",")
                )
            };
            t.color = super::state::ColorBy::Genes(label.clone(), idx);
            t.color_version += 1;
            info(s, format!("colour: {label} (log1p CP10k; mean over genes)"));
            vec![]
        }
        ["compare", a, b] => {
            let parse = |w: &str| -> Option<Vec<u32>> {
                if w == "rest" {
                    return Some(Vec::new());
                }
                w.split(',').map(|x| x.trim().parse::<u32>().ok()).collect()
            };
            let Some(t) = s.tab() else { return vec![] };
            let k = t
                .clusters
                .as_ref()
                .map_or(0, |c| c.iter().max().map_or(0, |m| m + 1));
            match (parse(a), parse(b)) {
                (Some(x), Some(y))
                    if x.iter().chain(&y).all(|&c| c < k) && !(x.is_empty() && y.is_empty()) =>
                {
                    if t.dataset.as_ref().is_some_and(|d| d.expression().is_none()) {
                        error(s, "marker genes need expression values (cells datasets)");
                        return vec![];
                    }
                    info(s, format!("comparing {a} vs {b} …"));
                    vec![Effect::Compare {
                        tab,
                        a: x,
                        b: y,
                        label: format!("{a} vs {b}"),
                    }]
                }
                _ => {
                    error(
                        s,
                        format!(
                            "usage: :compare A B with cluster ids (0–{}), comma lists, or 'rest'",
                            k.saturating_sub(1)
                        ),
                    );
                    vec![]
                }
            }
        }
        ["color", rest @ ..] if !rest.is_empty() => {
            let name = rest.join(" ");
            let Some(t) = s.tab_mut() else { return vec![] };
            match t.color_choices().into_iter().find(|c| c.name() == name) {
                Some(c) => {
                    t.color = c;
                    t.color_version += 1;
                    info(s, format!("colour: {name}"));
                }
                None => {
                    let avail = t
                        .color_choices()
                        .iter()
                        .map(|c| c.name().to_string())
                        .collect::<Vec<_>>()
                        .join(", ");
                    error(s, format!("no column '{name}'; available: {avail}"));
                }
            }
            vec![]
        }
        ["recluster", "leiden", res] => match res.parse::<f64>() {
            Ok(r) if r.is_finite() && r > 0.0 => {
                let p = LeidenParams {
                    resolution: r,
                    seed: s.params.seed,
                    ..Default::default()
                };
                recluster(s, tab, ClusterMethod::Leiden(p))
            }
            _ => {
                error(
                    s,
                    format!("resolution must be a positive number, got '{res}'"),
                );
                vec![]
            }
        },
        ["recluster", "kmeans", k] => {
            let n = s.tab().map_or(0, |t| t.n());
            match k.parse::<usize>() {
                Ok(k) if k >= 1 && k <= n => {
                    let p = KMeansParams {
                        k,
                        seed: s.params.seed,
                        ..Default::default()
                    };
                    recluster(s, tab, ClusterMethod::Kmeans(p))
                }
                _ => {
                    error(
                        s,
                        format!("k must be a whole number from 1 to {n}, got '{k}'"),
                    );
                    vec![]
                }
            }
        }
        ["export", "motifs", "meme", path] => {
            export(s, tab, ExportKind::Motifs { meme: true }, path)
        }
        ["export", what, path] => {
            let kind = match *what {
                "motifs" => ExportKind::Motifs { meme: false },
                "sites" => ExportKind::Sites,
                "clusters" => ExportKind::Clusters,
                "markers" => ExportKind::Markers,
                "anomalies" => ExportKind::Anomalies,
                other => {
                    error(
                        s,
                        format!(
                            "cannot export '{other}': use clusters, markers, motifs, sites or anomalies"
                        ),
                    );
                    return vec![];
                }
            };
            export(s, tab, kind, path)
        }
        _ => {
            error(
                s,
                format!(
                    "unknown command ':{line}' (try :color COLUMN, :color gene NAME, :compare A B, :recluster leiden RES, :recluster kmeans K, :export clusters|markers|motifs|sites|anomalies PATH, :export motifs meme PATH, :q)"
                ),
            );
            vec![]
        }
    }
}

fn recluster(s: &mut State, tab: usize, method: ClusterMethod) -> Vec<Effect> {
    let Some(t) = s.tabs.get(tab) else {
        return vec![];
    };
    if t.knn.is_none() {
        error(
            s,
            "the neighbour graph is still being computed; try again when it lands",
        );
        return vec![];
    }
    // The loop cancels a recluster still running when it starts this one.
    info(s, format!("reclustering: {}", method.describe()));
    vec![Effect::Recluster { tab, method }]
}

fn export(s: &mut State, tab: usize, kind: ExportKind, path: &str) -> Vec<Effect> {
    if s.tab().and_then(|t| t.clusters.as_ref()).is_none() {
        error(
            s,
            "nothing to export yet: clusters are still being computed",
        );
        return vec![];
    }
    vec![Effect::Export {
        tab,
        kind,
        path: PathBuf::from(path),
    }]
}
