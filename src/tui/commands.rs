//! The `:` command line: parsing, completion and the effects commands ask for.

use super::action::{Effect, ExportKind};
use super::state::{Message, Mode, State};
use super::update::{error, info};
use crate::analysis::{kmeans::KMeansParams, leiden::LeidenParams};
use crate::pipeline::ClusterMethod;
use std::path::PathBuf;

pub(super) fn complete(s: &mut State) {
    let choices: Vec<String> = s
        .tab()
        .map(|t| {
            t.color_choices()
                .iter()
                .map(|c| c.name().to_string())
                .collect()
        })
        .unwrap_or_default();
    if let Mode::Command(q) = &mut s.mode {
        if let Some(prefix) = q.strip_prefix("color ") {
            let hits: Vec<&String> = choices.iter().filter(|c| c.starts_with(prefix)).collect();
            if hits.len() == 1 {
                *q = format!("color {}", hits[0]);
            } else if !hits.is_empty() {
                let list = hits
                    .iter()
                    .map(|h| h.as_str())
                    .collect::<Vec<_>>()
                    .join(" ");
                s.message = Some(Message {
                    text: list,
                    error: false,
                });
            }
        } else {
            let cmds = [
                "color ",
                "recluster leiden ",
                "recluster kmeans ",
                "export clusters ",
                "export anomalies ",
                "quit",
            ];
            let hits: Vec<&&str> = cmds.iter().filter(|c| c.starts_with(q.as_str())).collect();
            if hits.len() == 1 {
                *q = hits[0].to_string();
            }
        }
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
        ["export", what, path] => {
            let kind = match *what {
                "clusters" => ExportKind::Clusters,
                "anomalies" => ExportKind::Anomalies,
                other => {
                    error(
                        s,
                        format!("cannot export '{other}': use clusters or anomalies"),
                    );
                    return vec![];
                }
            };
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
        _ => {
            error(
                s,
                format!(
                    "unknown command ':{line}' (try :color COLUMN, :recluster leiden RES, :recluster kmeans K, :export clusters|anomalies PATH, :q)"
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
    let mut fx = Vec::new();
    if let Some(old) = t.recluster_job {
        fx.push(Effect::Cancel(old));
    }
    info(s, format!("reclustering: {}", method.describe()));
    fx.push(Effect::Recluster { tab, method });
    fx
}
