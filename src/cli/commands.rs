//! The commands: `run` (headless, writes a session), `open` (the interface) and `export`.
//! `run` and the interface's pipeline job call the same `pipeline::run`.

use super::demo::demo_paths;
use super::progress::Progress;
use super::{CommonOpts, ExportFormat};
use crate::core::MetaValues;
use crate::modality::Dataset;
use crate::pipeline::{self, Analysis, CancelToken, PipelineEvent, RunOptions};
use crate::session::{self, SessionDataset};
use crate::tui::state::{Tab, TabSource};
use anyhow::{Context, Result, bail};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

/// `biolens run`: every input through the pipeline, then one session folder.
pub fn run(paths: &[PathBuf], out: &Path, opts: &CommonOpts) -> Result<()> {
    // Ctrl-C while the session is written removes the scratch folder before exiting.
    crate::core::scratch::clean_up_on_signal()?;
    if out.exists() && !session::is_session(out) {
        bail!(
            "{}: exists and is not a biolens session; choose another -o",
            out.display()
        );
    }
    if opts.meta.is_some() && paths.len() > 1 {
        bail!("--meta applies to one input; got {} inputs", paths.len());
    }
    opts.input_options()
        .check_inputs(paths)
        .map_err(anyhow::Error::msg)?;
    session::check_writable(out)?;
    for p in paths {
        if session::is_session(p) {
            bail!(
                "{}: is a session; use `biolens open {}` to view it",
                p.display(),
                p.display()
            );
        }
    }
    let params = opts.pipeline_params();
    let run_opts = RunOptions {
        inputs: opts.input_options(),
        preview: false,
    };
    // Before the worker pool exists: `--threads` itself is one of the options checked.
    check_options(&params, &run_opts.inputs)?;
    let threads = opts.thread_count();
    let progress = Progress::new();
    let names = std::sync::Mutex::new(Vec::<String>::new());
    let cancel = CancelToken::default();
    let labels_missing = std::sync::Mutex::new(None::<String>);
    let emit = |i: usize, ev: PipelineEvent| {
        let name = || {
            names
                .lock()
                .ok()
                .and_then(|n| n.get(i).cloned())
                .filter(|n| !n.is_empty())
                // Before the dataset is read (its own progress), the file's name.
                .or_else(|| {
                    paths
                        .get(i)
                        .and_then(|p| p.file_name())
                        .map(|f| f.to_string_lossy().into_owned())
                })
                .unwrap_or_default()
        };
        match ev {
            PipelineEvent::Loaded(ds) => {
                for note in &ds.notes {
                    eprintln!("note: {note}");
                }
                // A missing --labels column stops the run here, not after minutes of work.
                if let Some(col) = &opts.labels
                    && ds.meta_column(col).is_none()
                {
                    let avail: Vec<&str> = ds.meta.iter().map(|c| c.name.as_str()).collect();
                    if let Ok(mut e) = labels_missing.lock() {
                        *e = Some(format!(
                            "--labels {col}: no such metadata column in {} (available: {}); \
                             it names a metadata column, not a file (give a table with --meta)",
                            ds.name,
                            if avail.is_empty() {
                                "none".to_string()
                            } else {
                                avail.join(", ")
                            }
                        ));
                    }
                    cancel.cancel();
                }
                if let Ok(mut n) = names.lock() {
                    n.resize(i + 1, String::new());
                    n[i] = ds.name.clone();
                }
            }
            PipelineEvent::Stage {
                name: stage,
                fraction,
            } => progress.report(&name(), stage, fraction),
            PipelineEvent::Note(text) => {
                if progress.tty {
                    eprintln!();
                }
                eprintln!("{}: {text}", name());
            }
            _ => {}
        }
    };
    let done = pipeline::with_threads(threads, || {
        pipeline::run(paths, &params, &run_opts, &emit, &cancel)
    });
    if let Some(msg) = labels_missing.lock().ok().and_then(|mut e| e.take()) {
        bail!(msg);
    }
    let done = done?;
    let mut items = Vec::with_capacity(done.len());
    for a in done {
        progress.report(&a.dataset.name, "done", 1.0);
        if progress.tty {
            eprintln!();
        }
        if let Some(col) = &opts.labels {
            report_metrics(&a.dataset, &a.embedding.matrix, &a.analysis, col)?;
        }
        for line in a
            .analysis
            .findings
            .iter()
            .flat_map(|f| f.report(&a.dataset.name))
        {
            eprintln!("{line}");
        }
        items.push(SessionDataset {
            dataset: std::sync::Arc::unwrap_or_clone(a.dataset),
            embedding: std::sync::Arc::unwrap_or_clone(a.embedding),
            analysis: a.analysis,
        });
    }
    let selections = replay_selections(opts, &items)?;
    session::write(out, &params, threads, opts.device, &items, &selections)?;
    let n: usize = items.iter().map(|i| i.dataset.len()).sum();
    eprintln!(
        "wrote {} ({} items, {:.1}s); open it with: biolens open {}",
        out.display(),
        n,
        progress.start.elapsed().as_secs_f64(),
        out.display()
    );
    Ok(())
}

/// `--selections FILE`: each selection evaluated on the new data, its size reported; the
/// definitions are stored in the session whether or not they match anything here.
fn replay_selections(
    opts: &CommonOpts,
    items: &[SessionDataset],
) -> Result<crate::core::selection::SelectionFile> {
    let Some(path) = &opts.selections else {
        return Ok(Default::default());
    };
    let file = read_selection_file(path)?;
    for sd in items {
        let defs = file.for_dataset(&sd.dataset.name);
        let r = pipeline::Partial::from(sd.analysis.clone());
        for s in &defs {
            match pipeline::select::members(&defs, &s.name, &sd.dataset, &r) {
                Ok(m) => eprintln!(
                    "{}: selection {} ({}): {} items",
                    sd.dataset.name,
                    s.name,
                    s.def,
                    m.len()
                ),
                Err(e) => eprintln!("{}: selection {}: {e}", sd.dataset.name, s.name),
            }
        }
    }
    Ok(file)
}

fn read_selection_file(path: &Path) -> Result<crate::core::selection::SelectionFile> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("{}: cannot read the selections", path.display()))?;
    crate::core::selection::SelectionFile::from_toml(&text).map_err(|e| {
        anyhow::anyhow!(
            "{}: not a selections file ([[selection]] tables with name and kind): {e}",
            path.display()
        )
    })
}

fn export_selection(dir: &Path, items: &[SessionDataset], name: &str, out: &Path) -> Result<()> {
    let file = session::read_selections(dir)?;
    for sd in items {
        let defs = file.for_dataset(&sd.dataset.name);
        if !defs.iter().any(|s| s.name == name) {
            continue;
        }
        let r = pipeline::Partial::from(sd.analysis.clone());
        let m = pipeline::select::members(&defs, name, &sd.dataset, &r)
            .map_err(|e| anyhow::anyhow!("{}: selection {name}: {e}", dir.display()))?;
        let n = crate::export::write_rows(out, &sd.dataset, &r, &m)?;
        eprintln!("wrote {n} items of selection {name} to {}", out.display());
        return Ok(());
    }
    let names: Vec<String> = file.selections.iter().map(|s| s.name.clone()).collect();
    bail!(
        "{}: no selection named '{name}' (saved: {})",
        dir.display(),
        if names.is_empty() {
            "none".to_string()
        } else {
            names.join(", ")
        }
    );
}

fn export_anndata(
    dir: &Path,
    manifest: &session::Manifest,
    items: &[SessionDataset],
    target: AnndataTarget,
    out: &Path,
) -> Result<()> {
    let sd = match target.dataset {
        Some(d) => items.iter().find(|s| s.dataset.name == d).ok_or_else(|| {
            let names: Vec<&str> = items.iter().map(|s| s.dataset.name.as_str()).collect();
            anyhow::anyhow!(
                "{}: no dataset '{d}' (datasets: {})",
                dir.display(),
                names.join(", ")
            )
        })?,
        None => items
            .iter()
            .find(|s| s.dataset.expression().is_some())
            .or(items.first())
            .ok_or_else(|| anyhow::anyhow!("{}: the session holds no dataset", dir.display()))?,
    };
    let file = session::read_selections(dir)?;
    let defs = file.for_dataset(&sd.dataset.name);
    let r = pipeline::Partial::from(sd.analysis.clone());
    let mut selections = Vec::new();
    for s in &defs {
        match pipeline::select::members(&defs, &s.name, &sd.dataset, &r) {
            Ok(m) => selections.push((s.name.clone(), m)),
            Err(e) => eprintln!("selection {} left out: {e}", s.name),
        }
    }
    let extras = session::anndata::Extras {
        selections: &selections,
        params_toml: toml::to_string(&manifest.params).unwrap_or_default(),
        embedding: manifest
            .datasets
            .iter()
            .find(|d| d.name == sd.dataset.name)
            .map(|d| d.embedding.clone())
            .unwrap_or_default(),
    };
    if let Some(input) = target.into {
        let added = session::anndata::write_into(input, out, sd, &extras)?;
        let list: Vec<String> = added.iter().map(|(g, k)| format!("{g}/{k}")).collect();
        eprintln!(
            "wrote a copy of {} with {} added ({}) to {}",
            input.display(),
            sd.dataset.name,
            list.join(", "),
            out.display()
        );
        return Ok(());
    }
    let n = session::anndata::write_anndata(out, sd, &extras)?;
    eprintln!(
        "wrote {} ({n} observations{}) to {}",
        sd.dataset.name,
        if sd.dataset.expression().is_some() {
            ""
        } else {
            "; no expression values, so no X"
        },
        out.display()
    );
    Ok(())
}

fn report_metrics(
    ds: &Dataset,
    embedding: &crate::core::matrix::Matrix,
    a: &Analysis,
    col: &str,
) -> Result<()> {
    use crate::analysis::metrics::{ari, neighbour_label_agreement, nmi, trustworthiness};
    let Some(c) = ds.meta_column(col) else {
        let avail: Vec<&str> = ds.meta.iter().map(|c| c.name.as_str()).collect();
        bail!(
            "--labels {col}: no such metadata column in {} (available: {})",
            ds.name,
            avail.join(", ")
        );
    };
    let labels: Vec<String> = match &c.values {
        MetaValues::Text(v) => v.clone(),
        MetaValues::Number(_) => (0..c.len()).map(|i| c.display(i)).collect(),
    };
    let t = trustworthiness(embedding, &a.layout, 15, 5000);
    let sample: Vec<usize> = (0..ds.len()).step_by((ds.len() / 500).max(1)).collect();
    let recall = crate::analysis::knn::recall(embedding, &a.knn, &sample);
    println!(
        "{}: ARI {:.4}  NMI {:.4}  trustworthiness(15) {:.4}  kNN recall@{} {:.4}  neighbour label agreement({}) {:.4}  clusters {}",
        ds.name,
        ari(&labels, &a.clusters),
        nmi(&labels, &a.clusters),
        t,
        a.knn.k - 1,
        recall,
        a.knn.k - 1,
        neighbour_label_agreement(&a.knn, &labels),
        a.clusters.iter().max().map_or(0, |m| m + 1)
    );
    Ok(())
}

fn install_keys(opts: &CommonOpts) -> Result<()> {
    let default = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
        .map(|d| d.join("biolens").join("keys.toml"));
    let path = match (&opts.keys, default) {
        (Some(p), _) => Some(p.clone()),
        (None, Some(d)) if d.exists() => Some(d),
        _ => None,
    };
    if let Some(p) = path {
        crate::tui::keymap::install_key_file(&p)?;
    }
    Ok(())
}

/// Every option checked before any work (the pipeline checks them again for other callers).
fn check_options(
    params: &crate::pipeline::PipelineParams,
    inputs: &crate::modality::Options,
) -> Result<()> {
    params.check_options()?;
    inputs.check().map_err(anyhow::Error::msg)?;
    Ok(())
}

/// `biolens open` (and no command): the interface over inputs, sessions or the demo.
pub fn open(paths: &[PathBuf], opts: &CommonOpts) -> Result<()> {
    install_keys(opts)?;
    let mut inputs = opts.input_options();
    check_options(&opts.pipeline_params(), &inputs)?;
    let paths = if paths.is_empty() {
        let (p, motifs) = demo_paths()?;
        inputs.dna.motifs.get_or_insert(motifs);
        p
    } else {
        paths.to_vec()
    };
    let extra = match &opts.selections {
        Some(f) => read_selection_file(f)?,
        None => Default::default(),
    };
    let mut tabs = Vec::new();
    for p in &paths {
        if session::is_session(p) {
            // Only the manifest now: each tab reads its data as a job, so the interface shows
            // at once. The embedding vectors stay on disk until a k-means recluster asks.
            let manifest = session::read_manifest(p)?;
            let saved = session::read_selections(p)?;
            tabs.extend(manifest.datasets.iter().enumerate().map(|(index, d)| {
                let mut t = Tab::new(
                    d.name.clone(),
                    TabSource::Session {
                        path: p.clone(),
                        index,
                    },
                );
                for s in saved
                    .for_dataset(&d.name)
                    .into_iter()
                    .chain(extra.for_dataset(&d.name))
                {
                    t.selections.put(s);
                }
                t
            }));
        } else {
            if !p.exists() {
                // `biolens opne x.h5ad`: a mistyped command reads as a path.
                let word = p.to_string_lossy();
                let near = (p.components().count() == 1)
                    .then(|| crate::core::text::closest(&word, ["run", "open", "export", "scan"]))
                    .flatten();
                match near {
                    Some(c) => bail!(
                        "{}: no such file or directory; did you mean the command '{c}'? \
                         (biolens --help lists them)",
                        p.display()
                    ),
                    None => bail!("{}: no such file or directory", p.display()),
                }
            }
            let title = p
                .file_name()
                .map(|s| s.to_string_lossy().to_string())
                .unwrap_or_default();
            let mut t = Tab::new(title, TabSource::Input { path: p.clone() });
            for s in extra.selections.iter().filter(|s| s.dataset.is_none()) {
                t.selections.put(s.clone());
            }
            tabs.push(t);
        }
    }
    if !std::io::stdout().is_terminal() {
        bail!(
            "the interactive view needs a terminal; use `biolens run … -o OUT.biolens` for batch work"
        );
    }
    let mouse = !opts.no_mouse && crate::tui::keymap::mouse_wanted();
    crate::tui::app::run(
        tabs,
        opts.pipeline_params(),
        RunOptions {
            inputs,
            preview: true,
        },
        mouse,
    )
}

/// `biolens export`: one table (or MEME file, selection, AnnData file) from a saved session.
/// Which dataset an AnnData export writes and, for `--into`, the input file it copies.
#[derive(Debug, Clone, Copy, Default)]
pub struct AnndataTarget<'a> {
    pub dataset: Option<&'a str>,
    pub into: Option<&'a Path>,
}

pub fn export(
    session_dir: &Path,
    what: crate::export::What,
    name: Option<&str>,
    target: AnndataTarget,
    format: ExportFormat,
    out: &Path,
) -> Result<()> {
    use crate::export::What;
    if !session::is_session(session_dir) {
        bail!(
            "{}: not a biolens session (no manifest.toml)",
            session_dir.display()
        );
    }
    if name.is_some() && what != What::Selection {
        bail!("only `export S selection NAME` takes a name after WHAT");
    }
    let (manifest, items) = session::read(session_dir)?;
    match what {
        What::Selection => {
            let Some(name) = name else {
                bail!("name the selection: biolens export S selection NAME -o FILE");
            };
            return export_selection(session_dir, &items, name, out);
        }
        What::Anndata => return export_anndata(session_dir, &manifest, &items, target, out),
        _ => {}
    }
    let out = match (format, out.extension().and_then(|e| e.to_str())) {
        (ExportFormat::Parquet, Some("parquet")) | (ExportFormat::Csv | ExportFormat::Meme, _) => {
            out.to_path_buf()
        }
        (ExportFormat::Parquet, _) => out.with_extension("parquet"),
    };
    let sources: Vec<crate::export::Source> = items
        .iter()
        .map(|sd| crate::export::Source {
            dataset: &sd.dataset,
            analysis: &sd.analysis,
            comparison: None,
        })
        .collect();
    let meme = format == ExportFormat::Meme;
    let n = crate::export::export(&out, what, meme, &sources)
        .with_context(|| session_dir.display().to_string())?;
    if meme {
        eprintln!("wrote {n} motifs to {}", out.display());
    } else {
        eprintln!("wrote {n} rows to {}", out.display());
    }
    Ok(())
}
