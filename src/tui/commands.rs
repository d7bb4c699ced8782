//! The `:` command line. One table (`COMMANDS`) holds every command: its usage, what it does,
//! what Tab completes it to and what it runs. The parser, Tab completion, the help overlay and
//! the usage line of an unknown command are all generated from it.

use super::action::{Effect, ExportKind};
use super::select_commands::{self as sel, expand_home};
use super::state::{ColorBy, Focus, Mode, State};
use crate::analysis::kmeans::KMeansParams;
use crate::analysis::leiden::LeidenParams;
use crate::modality::Dataset;
use crate::modality::dna::motifs::Groups;
use crate::pipeline::ClusterMethod;
use std::sync::Arc;

/// One `:` command.
pub struct Command {
    /// The words that name it, then its arguments, as the help shows them.
    pub usage: &'static str,
    pub about: &'static str,
    /// The naming words with a trailing space (or the bare word), for matching and completion.
    pub complete: &'static str,
    /// Other names of a one-word command (`q` for `quit`).
    pub aliases: &'static [&'static str],
    /// Runs with the words after the naming words.
    run: fn(&mut State, &[&str]) -> Vec<Effect>,
}

impl Command {
    fn words(&self) -> impl Iterator<Item = &'static str> {
        self.complete.split_whitespace()
    }
}

/// Every command, in the order the help lists them.
pub const COMMANDS: &[Command] = &[
    Command {
        usage: "color COLUMN",
        about: "colour by cluster, anomaly score or metadata",
        complete: "color ",
        aliases: &[],
        run: color_column,
    },
    Command {
        usage: "color gene G",
        about: "colour by a gene's expression",
        complete: "color gene ",
        aliases: &[],
        run: |s, a| color_genes(s, a, true),
    },
    Command {
        usage: "color genes G1,G2",
        about: "colour by their mean expression",
        complete: "color genes ",
        aliases: &[],
        run: |s, a| color_genes(s, a, false),
    },
    Command {
        usage: sel::SELECT_USAGE,
        about: "where PRED · cluster 3,5 · ids FILE · = A and not B",
        complete: "select ",
        aliases: &[],
        run: sel::select,
    },
    Command {
        usage: "unselect NAME",
        about: "remove a selection",
        complete: "unselect ",
        aliases: &[],
        run: sel::unselect,
    },
    Command {
        usage: "compare A B",
        about: "A vs B: clusters, selections or rest",
        complete: "compare ",
        aliases: &[],
        run: sel::compare,
    },
    Command {
        usage: "crosstab COLUMN",
        about: "cluster × column counts and shares",
        complete: "crosstab ",
        aliases: &[],
        run: sel::crosstab,
    },
    Command {
        usage: "recluster leiden RES",
        about: "Leiden at resolution RES",
        complete: "recluster leiden ",
        aliases: &[],
        run: recluster_leiden,
    },
    Command {
        usage: "recluster kmeans K",
        about: "k-means with K clusters",
        complete: "recluster kmeans ",
        aliases: &[],
        run: recluster_kmeans,
    },
    Command {
        usage: "map tissue [X Y]|projection",
        about: "items where they lie (obsm spatial, tiles), or the projection",
        complete: "map ",
        aliases: &[],
        run: map_view,
    },
    Command {
        usage: "watch PATH… [--metrics FILE]",
        about: "follow a training run in a new tab (files, a folder, emb_*.npy)",
        complete: "watch ",
        aliases: &[],
        run: watch,
    },
    Command {
        usage: "history",
        about: "a live run's versions (biolens watch); Enter shows one",
        complete: "history",
        aliases: &[],
        run: |s, a| bottom_view(s, a, crate::tui::panes::bottom::BottomView::History),
    },
    Command {
        usage: "metrics",
        about: "a live run's loss curves (watch --metrics)",
        complete: "metrics",
        aliases: &[],
        run: |s, a| bottom_view(s, a, crate::tui::panes::bottom::BottomView::Metrics),
    },
    Command {
        usage: "slide N|NAME|all",
        about: "one slide alone in the tissue view, or all side by side",
        complete: "slide ",
        aliases: &[],
        run: slide,
    },
    Command {
        usage: "moran",
        about: "Moran's I of the colour on the tissue",
        complete: "moran",
        aliases: &[],
        run: moran,
    },
    Command {
        usage: "nhood [COLUMN]",
        about: "which clusters (or COLUMN's groups) touch which on the tissue",
        complete: "nhood ",
        aliases: &[],
        run: nhood,
    },
    Command {
        usage: "sort COLUMN [asc|desc]",
        about: "order the focused table by a column",
        complete: "sort ",
        aliases: &[],
        run: sort,
    },
    Command {
        usage: "save-clusters NAME",
        about: "keep the clusters as column NAME",
        complete: "save-clusters ",
        aliases: &[],
        run: save_clusters,
    },
    Command {
        usage: "motifs all|clusters",
        about: "motifs of the whole input or per cluster (DNA)",
        complete: "motifs ",
        aliases: &[],
        run: motifs,
    },
    Command {
        usage: "scan MOTIF",
        about: "a known motif's best site per sequence (DNA)",
        complete: "scan ",
        aliases: &[],
        run: scan,
    },
    Command {
        usage: "export clusters PATH",
        about: "each item's cluster (.csv/.parquet)",
        complete: "export clusters ",
        aliases: &[],
        run: |s, a| export(s, ExportKind::Clusters, a),
    },
    Command {
        usage: "export anomalies PATH",
        about: "items ranked by anomaly score",
        complete: "export anomalies ",
        aliases: &[],
        run: |s, a| export(s, ExportKind::Anomalies, a),
    },
    Command {
        usage: "export markers PATH",
        about: "every cluster's markers (cells)",
        complete: "export markers ",
        aliases: &[],
        run: |s, a| export(s, ExportKind::Markers, a),
    },
    Command {
        usage: "export nhood PATH",
        about: "the last :nhood, a row per pair (.csv .parquet)",
        complete: "export nhood ",
        aliases: &[],
        run: |s, a| export(s, ExportKind::Nhood, a),
    },
    Command {
        usage: "export compare PATH",
        about: "the last :compare result (cells)",
        complete: "export compare ",
        aliases: &[],
        run: |s, a| export(s, ExportKind::Compare, a),
    },
    Command {
        usage: "export selection NAME PATH",
        about: "ids (.txt) or rows (.csv .parquet .arrow)",
        complete: "export selection ",
        aliases: &[],
        run: export_selection,
    },
    Command {
        usage: "export motifs PATH",
        about: "motifs per cluster (DNA)",
        complete: "export motifs ",
        aliases: &[],
        run: |s, a| export(s, ExportKind::Motifs { meme: false }, a),
    },
    Command {
        usage: "export motifs meme PATH",
        about: "motifs in MEME format",
        complete: "export motifs meme ",
        aliases: &[],
        run: |s, a| export(s, ExportKind::Motifs { meme: true }, a),
    },
    Command {
        usage: "export sites PATH",
        about: "every motif site (DNA)",
        complete: "export sites ",
        aliases: &[],
        run: |s, a| export(s, ExportKind::Sites, a),
    },
    Command {
        usage: "export anndata PATH [into FILE]",
        about: ".h5ad for scanpy, or a copy of FILE with ours added",
        complete: "export anndata ",
        aliases: &[],
        run: export_anndata,
    },
    Command {
        usage: "q",
        about: "quit",
        complete: "quit",
        aliases: &["q", "q!"],
        run: |s, _| {
            s.quit = true;
            vec![Effect::Quit]
        },
    },
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

/// Tab in the command line: completes command words, colour columns and gene names.
pub fn complete(s: &mut State) {
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
        complete_word(q, "", &p, COMMANDS.iter().map(|c| c.complete))
    };
    if let Some(text) = listing {
        s.info(text);
    }
}

/// Runs a command line: the command with the most naming words that it starts with (so
/// `export motifs meme` wins over `export motifs`).
pub fn run_command(s: &mut State, line: &str) -> Vec<Effect> {
    s.command_line = line.to_string();
    let words: Vec<&str> = line.split_whitespace().collect();
    if words.is_empty() {
        return vec![];
    }
    let mut by_specificity: Vec<&Command> = COMMANDS.iter().collect();
    by_specificity.sort_by_key(|c| std::cmp::Reverse(c.words().count()));
    for c in by_specificity {
        let names: Vec<&str> = c.words().collect();
        let named = words.len() >= names.len() && words[..names.len()] == names[..];
        if named || (words.len() == 1 && c.aliases.contains(&words[0])) {
            let rest = if named {
                &words[names.len()..]
            } else {
                &[][..]
            };
            return (c.run)(s, rest);
        }
    }
    let names = COMMANDS
        .iter()
        .flat_map(|c| c.words().take(1).chain(c.aliases.iter().copied()));
    if let Some(near) = crate::core::text::closest(words[0], names) {
        s.error(format!(
            "unknown command ':{line}': did you mean ':{near}'? (? lists every command)"
        ));
        return vec![];
    }
    let usages: Vec<String> = COMMANDS.iter().map(|c| format!(":{}", c.usage)).collect();
    s.error(format!(
        "unknown command ':{line}' (try {})",
        usages.join(", ")
    ));
    vec![]
}

/// The usage line of the command named by `complete`.
fn usage(s: &mut State, complete: &str) -> Vec<Effect> {
    let u = COMMANDS
        .iter()
        .find(|c| c.complete == complete)
        .map_or("", |c| c.usage);
    s.error(format!("usage: :{u}"));
    vec![]
}

fn color_genes(s: &mut State, args: &[&str], single: bool) -> Vec<Effect> {
    let names: Vec<String> = args
        .join(",")
        .split(',')
        .map(|g| g.trim().to_string())
        .filter(|g| !g.is_empty())
        .collect();
    if names.is_empty() {
        return usage(
            s,
            if single {
                "color gene "
            } else {
                "color genes "
            },
        );
    }
    let Some(t) = s.tab() else { return vec![] };
    let Some(e) = t.dataset.as_ref().and_then(|d| d.expression().cloned()) else {
        s.error("gene colouring needs expression values (cells datasets)");
        return vec![];
    };
    let mut idx = Vec::new();
    for n in &names {
        match e.gene_index(n) {
            Some(g) => idx.push(g),
            None => {
                let near = crate::core::text::closest(n, e.genes.iter().map(String::as_str))
                    .map_or(String::new(), |g| format!("did you mean {g}? "));
                s.error(format!("no gene '{n}' ({near}Tab completes gene names)"));
                return vec![];
            }
        }
    }
    let label = if single && idx.len() == 1 {
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
    let mean = if idx.len() > 1 {
        "; mean over genes"
    } else {
        ""
    };
    if let Some(t) = s.tab_mut() {
        t.color = ColorBy::Genes(label.clone(), idx);
        t.color_version += 1;
    }
    s.info(format!("colour: {label} ({}{mean})", e.value_label()));
    vec![]
}

fn color_column(s: &mut State, args: &[&str]) -> Vec<Effect> {
    if args.is_empty() {
        return usage(s, "color ");
    }
    let name = args.join(" ");
    let Some(t) = s.tab_mut() else { return vec![] };
    match t.color_choices().into_iter().find(|c| c.name() == name) {
        Some(c) => {
            t.color = c;
            t.color_version += 1;
            s.info(format!("colour: {name}"));
        }
        None => {
            let names: Vec<String> = t
                .color_choices()
                .iter()
                .map(|c| c.name().to_string())
                .collect();
            let text = match crate::core::text::closest(&name, names.iter().map(String::as_str)) {
                Some(near) => format!("no column '{name}': did you mean '{near}'?"),
                None => format!("no column '{name}'; available: {}", names.join(", ")),
            };
            s.error(text);
        }
    }
    vec![]
}

/// `:map tissue [X Y]`: the map draws each item at its position on the tissue (an `.h5ad`'s
/// obsm['spatial'], a tile's corner, or columns X and Y); the cursor stays on its item.
/// `:map projection`: the 2-D projection again.
fn map_view(s: &mut State, args: &[&str]) -> Vec<Effect> {
    let names = match args {
        ["tissue"] => None,
        ["tissue", x, y] => Some((*x, *y)),
        ["projection"] => return map_projection(s),
        _ => return usage(s, "map "),
    };
    let Some(t) = s.tab_mut() else { return vec![] };
    let Some(ds) = t.data.dataset.clone() else {
        s.error("no data yet");
        return vec![];
    };
    match crate::tui::tissue::Tissue::from_columns(&ds, names) {
        Ok(tissue) => {
            let n = tissue.sources.len();
            let said = format!(
                "tissue: {} items at their positions ({} × {}{}); w or :map projection goes back",
                tissue.layout.len(),
                tissue.x,
                tissue.y,
                if n > 1 {
                    format!("; {n} slides side by side, left to right as read (] one at a time)")
                } else {
                    String::new()
                }
            );
            // The tiles' slides (or images) are read again, small, to lie behind them.
            let placed: Vec<(usize, f32)> = match ds.tiles() {
                Some(tiles) => tissue
                    .sources
                    .iter()
                    .filter_map(|src| {
                        // The column may hold the path made absolute, the tiles the path
                        // as given.
                        let k = tiles.sources.iter().position(|p| {
                            *p == src.path || p.canonicalize().ok() == src.path.canonicalize().ok()
                        })?;
                        Some((k, src.offset))
                    })
                    .collect(),
                None => vec![],
            };
            t.map.reset_view(&tissue.layout);
            t.data.tissue = Some(tissue);
            t.version += 1;
            let tab = s.active;
            s.info(said);
            if !placed.is_empty() && s.palette.pictures() {
                return vec![Effect::SlidePictures { tab, placed }];
            }
        }
        Err(e) => s.error(e),
    }
    vec![]
}

/// `:history`, `:metrics`: the bottom pane shows a live run's versions or its loss curves.
fn bottom_view(
    s: &mut State,
    args: &[&str],
    view: crate::tui::panes::bottom::BottomView,
) -> Vec<Effect> {
    if !args.is_empty() {
        return usage(s, view.name());
    }
    let Some(t) = s.tab_mut() else {
        return usage(s, view.name());
    };
    t.bottom.view = view;
    s.focus = crate::tui::state::Focus::Bottom;
    vec![]
}

/// `:watch PATH… [--metrics FILE]`: a new tab that follows a training run, as `biolens
/// watch` does, with the session's own pipeline settings.
fn watch(s: &mut State, args: &[&str]) -> Vec<Effect> {
    let mut targets = Vec::new();
    let mut metrics = None;
    let mut words = args.iter();
    while let Some(w) = words.next() {
        if *w == "--metrics" {
            let Some(m) = words.next() else {
                return usage(s, "watch ");
            };
            metrics = Some(expand_home(m));
        } else {
            targets.push(expand_home(w));
        }
    }
    if targets.is_empty() {
        return usage(s, "watch ");
    }
    let w = crate::watch::WatchOptions {
        targets,
        metrics,
        settle: std::time::Duration::from_millis(1000),
        idle_exit: None,
        threads: s.params.threads,
    };
    if let Err(e) = w.check() {
        s.error(e);
        return vec![];
    }
    s.tabs.push(crate::tui::state::Tab::new(
        format!("watch {}", w.name()),
        crate::tui::state::TabSource::Watch(w),
    ));
    s.active = s.tabs.len() - 1;
    s.focus = Focus::Map;
    s.refresh();
    vec![Effect::StartPipeline { tab: s.active }]
}

/// `:slide N|NAME|all`: one slide (or image) alone in the tissue view, by its number from 1
/// or its file name, or all of them side by side.
fn slide(s: &mut State, args: &[&str]) -> Vec<Effect> {
    let [which] = args else {
        return usage(s, "slide ");
    };
    let Some(ts) = s.tab_mut().and_then(|t| t.data.tissue.as_mut()) else {
        s.error("no tissue view: w or :map tissue first");
        return vec![];
    };
    let n = ts.sources.len();
    if n < 2 {
        s.error("one slide only: :slide steps through several");
        return vec![];
    }
    let shown = if *which == "all" {
        None
    } else if let Ok(k) = which.parse::<usize>() {
        if k == 0 || k > n {
            s.error(format!("slides are numbered 1 to {n}"));
            return vec![];
        }
        Some(k - 1)
    } else {
        match ts
            .sources
            .iter()
            .position(|src| src.name == *which || src.name.split('.').next() == Some(which))
        {
            Some(k) => Some(k),
            None => {
                let names: Vec<&str> = ts.sources.iter().map(|src| src.name.as_str()).collect();
                let text = match crate::core::text::closest(which, names.iter().copied()) {
                    Some(near) => format!("no slide '{which}': did you mean '{near}'?"),
                    None => format!("no slide '{which}'; slides are {}", names.join(", ")),
                };
                s.error(text);
                return vec![];
            }
        }
    };
    ts.shown = shown;
    show_slide(s);
    vec![]
}

/// Shows `:slide`'s choice: fits the view to it, puts the cursor on it, and says which.
pub(crate) fn show_slide(s: &mut State) {
    let Some(t) = s.tab_mut() else { return };
    let Some(ts) = t.data.tissue.as_ref() else {
        return;
    };
    let said = match ts.shown {
        Some(k) => {
            let src = &ts.sources[k];
            let pts = ts.source_layout(k);
            t.map.reset_view(&pts);
            if t.map
                .cursor
                .is_none_or(|c| ts.source_of.get(c).is_none_or(|&o| o as usize != k))
                && let Some(first) = ts.source_of.iter().position(|&o| o as usize == k)
            {
                t.map.go_to(&ts.layout.clone(), first, false);
            }
            format!(
                "slide {} of {}: {} ({} tiles; ] next, [ previous, past the last all of them)",
                k + 1,
                ts.sources.len(),
                src.name,
                src.items
            )
        }
        None => {
            let l = ts.layout.clone();
            t.map.reset_view(&l);
            format!("all {} slides side by side", ts.sources.len())
        }
    };
    s.info(said);
}

/// Each item's (x, y) on the tissue.
type Positions = Arc<Vec<[f32; 2]>>;

/// The tab's data and its items' positions on the tissue (the tissue view's, else found in
/// the columns), for the statistics of space.
fn tissue_positions(t: &crate::tui::state::Tab) -> Result<(Arc<Dataset>, Positions), String> {
    let ds = t.data.dataset.clone().ok_or("no data yet")?;
    let at = match &t.data.tissue {
        Some(ts) => ts.layout.clone(),
        None => crate::tui::tissue::Tissue::from_columns(&ds, None)?.layout,
    };
    Ok((ds, at))
}

/// `:moran`: Moran's I of the values colouring the map (a gene, a score, a numeric column),
/// over each item's 6 nearest neighbours on the tissue, as a job.
fn moran(s: &mut State, args: &[&str]) -> Vec<Effect> {
    if !args.is_empty() {
        return usage(s, "moran");
    }
    let tab = s.active;
    let Some(t) = s.tab() else {
        return usage(s, "moran");
    };
    let (_, at) = match tissue_positions(t) {
        Ok(x) => x,
        Err(e) => {
            s.error(e);
            return vec![];
        }
    };
    // The values the map shows for the colour, so the statistic is of what is seen.
    let Some(crate::tui::panes::map::ColorValues::Value { v, .. }) =
        t.map.colors.as_ref().map(|c| &c.1)
    else {
        s.error(
            "Moran's I needs a numeric colour: a gene, a score or a numeric column (c, :color)",
        );
        return vec![];
    };
    if v.len() != at.len() {
        s.error("the colour is not computed yet; try again");
        return vec![];
    }
    let what = t.data.color.name().to_string();
    let values = v.iter().map(|&x| x as f64).collect();
    s.info(format!("Moran's I of {what}: computing"));
    vec![Effect::Moran {
        tab,
        what,
        values,
        at,
    }]
}

/// `:nhood [COLUMN]`: the neighbourhood enrichment of the clusters (or of COLUMN's groups)
/// on the tissue, as a job; the table lands in the bottom pane.
fn nhood(s: &mut State, args: &[&str]) -> Vec<Effect> {
    let tab = s.active;
    let Some(t) = s.tab() else {
        return usage(s, "nhood ");
    };
    let (ds, at) = match tissue_positions(t) {
        Ok(x) => x,
        Err(e) => {
            s.error(e);
            return vec![];
        }
    };
    let column = (!args.is_empty()).then(|| args.join(" "));
    let clusters = t.data.result.clusters.clone();
    let (by, labels, names) = match crate::pipeline::spatial::groups_of(
        &ds,
        clusters.as_deref().map(|c| c.as_slice()),
        column.as_deref(),
    ) {
        Ok(x) => x,
        Err(e) => {
            s.error(e);
            return vec![];
        }
    };
    s.info(format!(
        "neighbourhood enrichment by {by}: computing ({} permutations)",
        crate::pipeline::spatial::NHOOD_PERMUTATIONS
    ));
    vec![Effect::Nhood {
        tab,
        by,
        labels,
        names,
        at,
    }]
}

fn map_projection(s: &mut State) -> Vec<Effect> {
    let Some(t) = s.tab_mut() else { return vec![] };
    if t.data.tissue.take().is_some() {
        if let Some(l) = t.data.result.layout.clone() {
            t.map.reset_view(&l);
        }
        t.version += 1;
        s.info("map: the 2-D projection");
    }
    vec![]
}

/// `:sort COLUMN [asc|desc]`: the focused table (clusters pane, else the bottom pane's) by a
/// column named as its header reads; a column name may hold spaces ("total_counts (z)").
fn sort(s: &mut State, args: &[&str]) -> Vec<Effect> {
    let (name, descending) = match args {
        [] => return usage(s, "sort "),
        [rest @ .., "asc"] if !rest.is_empty() => (rest.join(" "), Some(false)),
        [rest @ .., "desc"] if !rest.is_empty() => (rest.join(" "), Some(true)),
        _ => (args.join(" "), None),
    };
    sort_table(
        s,
        &crate::tui::table_sort::SortRequest::Column(name, descending),
    );
    vec![]
}

/// Orders the focused table: the clusters pane's, else the bottom pane's (also from the map,
/// where the bottom table is the one list in view).
pub fn sort_table(s: &mut State, how: &crate::tui::table_sort::SortRequest) {
    let focus = s.focus;
    let Some(t) = s.tab_mut() else { return };
    // The selected row keeps its cluster or item, so the panes that follow it need no change.
    let said = if focus == Focus::Clusters {
        t.clusters.sort(how)
    } else {
        let v = t.data.view(t.map.cursor, t.clusters.selected(), None);
        t.bottom.sort(&v, how)
    };
    match said {
        Ok(m) => s.info(m),
        Err(e) => s.error(e),
    }
}

fn recluster_leiden(s: &mut State, args: &[&str]) -> Vec<Effect> {
    let [res] = args else {
        return usage(s, "recluster leiden ");
    };
    match res.parse::<f64>() {
        Ok(r) if r.is_finite() && r > 0.0 => {
            let p = LeidenParams {
                resolution: r,
                seed: s.params.seed,
                ..Default::default()
            };
            recluster(s, ClusterMethod::Leiden(p))
        }
        _ => {
            s.error(format!("resolution must be a positive number, got '{res}'"));
            vec![]
        }
    }
}

fn recluster_kmeans(s: &mut State, args: &[&str]) -> Vec<Effect> {
    let [k] = args else {
        return usage(s, "recluster kmeans ");
    };
    let n = s.tab().map_or(0, |t| t.n());
    match k.parse::<usize>() {
        Ok(k) if k >= 1 && k <= n => {
            let p = KMeansParams {
                k,
                seed: s.params.seed,
                ..Default::default()
            };
            recluster(s, ClusterMethod::Kmeans(p))
        }
        _ => {
            s.error(format!("k must be a whole number from 1 to {n}, got '{k}'"));
            vec![]
        }
    }
}

fn motifs(s: &mut State, args: &[&str]) -> Vec<Effect> {
    let groups = match args {
        ["all"] => Groups::All,
        ["clusters"] => Groups::Clusters,
        _ => return usage(s, "motifs "),
    };
    let tab = s.active;
    let Some(t) = s.tab() else { return vec![] };
    if t.dataset.as_ref().is_none_or(|d| d.sequences().is_none()) {
        s.error("motifs need DNA sequences; this tab has none");
        return vec![];
    }
    if t.result.clusters.is_none() {
        s.error("the clusters are still being computed; try again when they land");
        return vec![];
    }
    let what = match groups {
        Groups::All => "motifs of the whole input",
        Groups::Clusters => "motifs per cluster",
    };
    // Both groupings are kept once searched: switching back costs no search.
    let findings = t.result.findings.as_ref();
    if findings
        .and_then(|f| f.motifs())
        .is_some_and(|m| m.groups == groups)
    {
        s.info(format!("{what} are shown (searched before)"));
        return vec![];
    }
    if let Some(f) = findings.and_then(|f| f.switched_to(groups))
        && let Some(t) = s.tab_mut()
    {
        t.result.findings = Some(f);
        t.comparison = None;
        t.bottom.marker_sel = 0;
        t.version += 1;
        s.info(format!("{what} (kept from their search; no new search)"));
        return vec![];
    }
    s.info(match groups {
        Groups::All => "finding motifs in the whole input",
        Groups::Clusters => "finding motifs per cluster",
    });
    vec![Effect::Motifs { tab, groups }]
}

/// `:scan MOTIF`: a database motif (id or name) or a discovered one (`c2-m1`) scanned across
/// the tab's sequences, FIMO-like, as a background job; its columns colour the map.
fn scan(s: &mut State, args: &[&str]) -> Vec<Effect> {
    if args.is_empty() {
        return usage(s, "scan ");
    }
    let key = args.join(" ");
    let tab = s.active;
    let Some(t) = s.tab() else { return vec![] };
    if t.dataset.as_ref().is_none_or(|d| d.sequences().is_none()) {
        s.error("scanning needs DNA sequences; this tab has none");
        return vec![];
    }
    s.info(format!("scanning for {key}"));
    vec![Effect::Scan { tab, key }]
}

/// `:save-clusters NAME`: the current clusters become a text column of the tab's data, so a
/// clustering outlives a recluster: colour, crosstab, select, compare and export by it.
fn save_clusters(s: &mut State, args: &[&str]) -> Vec<Effect> {
    let [name] = args else {
        return usage(s, "save-clusters ");
    };
    let Some(t) = s.tab() else { return vec![] };
    let (Some(ds), Some(c)) = (t.dataset.clone(), t.result.clusters.clone()) else {
        s.error("no clusters yet");
        return vec![];
    };
    let taken = crate::pipeline::select::FIXED.contains(name)
        || ds.meta.iter().any(|m| m.name == *name)
        || ds
            .expression()
            .is_some_and(|e| e.gene_index(name).is_some());
    if taken || name.is_empty() {
        s.error(format!(
            "'{name}' is already a column or gene of this tab; choose another name"
        ));
        return vec![];
    }
    let k = c.iter().max().map_or(0, |m| m + 1);
    let mut d = (*ds).clone();
    d.meta.push(crate::core::MetaColumn {
        name: name.to_string(),
        values: crate::core::MetaValues::Text(c.iter().map(|x| x.to_string()).collect()),
    });
    let tab = s.active;
    let mut in_session = false;
    if let Some(t) = s.tab_mut() {
        t.dataset = Some(Arc::new(d));
        t.version += 1;
        in_session = matches!(t.source, super::state::TabSource::Session { .. });
    }
    if in_session {
        s.info(format!(
            "clusters kept as column '{name}' ({k} values); saving it in the session"
        ));
        return vec![Effect::SaveClustering {
            tab,
            name: name.to_string(),
        }];
    }
    s.info(format!(
        "clusters kept as column '{name}' ({k} values): colour, :crosstab, :select and \
         exports know it; it lives in this tab (biolens run -o makes a session that can keep it)"
    ));
    vec![]
}

fn recluster(s: &mut State, method: ClusterMethod) -> Vec<Effect> {
    let tab = s.active;
    if s.tab().is_none_or(|t| t.result.knn.is_none()) {
        s.error("the neighbour graph is still being computed; try again when it lands");
        return vec![];
    }
    // The loop cancels a recluster still running when it starts this one.
    s.info(format!("reclustering: {}", method.describe()));
    vec![Effect::Recluster { tab, method }]
}

fn export(s: &mut State, kind: ExportKind, args: &[&str]) -> Vec<Effect> {
    let [path] = args else {
        let what = match kind {
            ExportKind::Clusters => "export clusters ",
            ExportKind::Anomalies => "export anomalies ",
            ExportKind::Markers => "export markers ",
            ExportKind::Compare => "export compare ",
            ExportKind::Nhood => "export nhood ",
            ExportKind::Motifs { meme: true } => "export motifs meme ",
            ExportKind::Motifs { meme: false } => "export motifs ",
            ExportKind::Sites | ExportKind::ClusterIds(_) => "export sites ",
            ExportKind::Selection(_) => "export selection ",
            ExportKind::Anndata { .. } => "export anndata ",
        };
        return usage(s, what);
    };
    if s.tab().and_then(|t| t.result.clusters.as_ref()).is_none() {
        s.error("nothing to export yet: clusters are still being computed");
        return vec![];
    }
    vec![Effect::Export {
        tab: s.active,
        kind,
        path: expand_home(path),
    }]
}

fn export_anndata(s: &mut State, args: &[&str]) -> Vec<Effect> {
    let into = match args {
        [_] => None,
        [_, word, input] if word.eq_ignore_ascii_case("into") => Some(expand_home(input)),
        _ => return usage(s, "export anndata "),
    };
    export(s, ExportKind::Anndata { into }, &args[..1])
}

fn export_selection(s: &mut State, args: &[&str]) -> Vec<Effect> {
    let [name, path] = args else {
        return usage(s, "export selection ");
    };
    if s.tab().is_none_or(|t| t.selections.of(name).is_none()) {
        s.error(format!("no selection named '{name}' (with members)"));
        return vec![];
    }
    vec![Effect::Export {
        tab: s.active,
        kind: ExportKind::Selection(name.to_string()),
        path: expand_home(path),
    }]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::PipelineParams;

    #[test]
    fn every_command_in_the_table_is_found_by_its_own_words() {
        for c in COMMANDS {
            let mut s = State::new(Vec::new(), PipelineParams::default(), (80, 24));
            let fx = run_command(&mut s, c.complete);
            if c.aliases.is_empty() {
                // Without its arguments each command answers with its own usage line.
                let m = s.message.expect("a message");
                assert_eq!(m.text, format!("usage: :{}", c.usage), "{}", c.complete);
                assert!(fx.is_empty());
            } else {
                assert_eq!(fx, vec![Effect::Quit]);
                for a in c.aliases {
                    let mut s = State::new(Vec::new(), PipelineParams::default(), (80, 24));
                    assert_eq!(run_command(&mut s, a), vec![Effect::Quit]);
                }
            }
        }
        let mut s = State::new(Vec::new(), PipelineParams::default(), (80, 24));
        run_command(&mut s, "frobnicate");
        let m = s.message.expect("a message");
        for c in COMMANDS {
            assert!(m.text.contains(&format!(":{}", c.usage)), "{}", m.text);
        }
    }
}
