//! biolens command line: parse, set up logging and the panic hook, dispatch.

use anyhow::{Context, Result, bail};
use biolens::cli::{Cli, Command, CommonOpts, ExportFormat, ExportWhat};
use biolens::data::{self, LoadOptions, MetaValues};
use biolens::pipeline::{self, CancelToken, PipelineEvent};
use biolens::session::{self, SessionDataset};
use biolens::tui::state::{Tab, TabSource};
use clap::Parser;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

fn log_path(opts: &CommonOpts) -> PathBuf {
    if let Some(p) = &opts.log {
        return p.clone();
    }
    let base = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("biolens").join("biolens.log")
}

fn init_logging(opts: &CommonOpts) {
    let path = log_path(opts);
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    if let Ok(file) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
    {
        let _ = tracing_subscriber::fmt()
            .with_writer(std::sync::Mutex::new(file))
            .with_ansi(false)
            .try_init();
    }
}

fn main() {
    let cli = Cli::parse();
    init_logging(&cli.opts);
    biolens::tui::terminal::install_panic_hook();
    let result = match cli.command {
        Some(Command::Run { paths, out }) => run(&paths, &out, &cli.opts),
        Some(Command::Open { paths }) => open(&paths, &cli.opts),
        Some(Command::Export {
            session,
            what,
            format,
            out,
        }) => export(&session, what, format, &out),
        None => open(&cli.paths, &cli.opts),
    };
    if let Err(e) = result {
        biolens::tui::terminal::restore();
        eprintln!("error: {e:#}");
        std::process::exit(2);
    }
}

/// Progress on stderr: a redrawn bar on a terminal, one line per stage otherwise.
struct Progress {
    tty: bool,
    start: std::time::Instant,
    last: std::sync::Mutex<(String, std::time::Instant, std::time::Instant)>,
}

impl Progress {
    fn new() -> Self {
        let now = std::time::Instant::now();
        Self {
            tty: std::io::stderr().is_terminal(),
            start: now,
            last: std::sync::Mutex::new((String::new(), now, now)),
        }
    }

    fn report(&self, dataset: &str, stage: &str, f: f64) {
        let Ok(mut last) = self.last.lock() else {
            return;
        };
        let now = std::time::Instant::now();
        let new_stage = last.0 != stage;
        if new_stage {
            if self.tty && !last.0.is_empty() {
                eprintln!();
            }
            *last = (stage.to_string(), now, now);
            if !self.tty {
                eprintln!(
                    "[{:>6.1}s] {dataset}: {stage}",
                    self.start.elapsed().as_secs_f64()
                );
            }
        }
        if self.tty && (new_stage || now.duration_since(last.2).as_millis() >= 100 || f >= 1.0) {
            last.2 = now;
            let in_stage = now.duration_since(last.1).as_secs_f64();
            let eta = if f > 0.02 && f < 1.0 {
                format!(" ETA {:.0}s", in_stage * (1.0 - f) / f)
            } else {
                String::new()
            };
            let w = 24;
            let filled = ((f.clamp(0.0, 1.0)) * w as f64) as usize;
            eprint!(
                "\r{dataset}: {stage:<15} [{}{}] {:>3.0}%{eta}    ",
                "#".repeat(filled),
                "-".repeat(w - filled),
                f * 100.0
            );
            let _ = std::io::stderr().flush();
        }
    }
}

fn load_all(paths: &[PathBuf], opts: &CommonOpts) -> Result<Vec<data::Dataset>> {
    if opts.meta.is_some() && paths.len() > 1 {
        bail!("--meta applies to one input; got {} inputs", paths.len());
    }
    let lo: LoadOptions = opts.cells_options().load_options(opts.meta.clone());
    let mut out = Vec::new();
    for p in paths {
        if session::is_session(p) {
            bail!(
                "{}: is a session; use `biolens open {}` to view it",
                p.display(),
                p.display()
            );
        }
        out.push(data::load(p, &lo)?);
    }
    let mut seen = std::collections::HashSet::new();
    for d in &mut out {
        while !seen.insert(d.name.clone()) {
            d.name.push('\'');
        }
    }
    Ok(out)
}

fn run(paths: &[PathBuf], out: &Path, opts: &CommonOpts) -> Result<()> {
    if out.exists() && !session::is_session(out) {
        bail!(
            "{}: exists and is not a biolens session; choose another -o",
            out.display()
        );
    }
    let datasets = load_all(paths, opts)?;
    let params = opts.pipeline_params();
    let threads = if opts.threads == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        opts.threads
    };
    let progress = Progress::new();
    let mut items = Vec::new();
    for mut ds in datasets {
        for note in &ds.notes {
            eprintln!("note: {note}");
        }
        let mut model_nll = None;
        let cells = opts.cells_options();
        if cells.trains(&ds).with_context(|| ds.name.clone())? {
            let name = ds.name.clone();
            let cp = cells.params.clone();
            let out = pipeline::with_threads(threads, || {
                biolens::cells::train(&ds, &cp, &mut |r| {
                    progress.report(&name, "training vae", r.epoch as f64 / r.max_epochs as f64);
                    true
                })
            })
            .with_context(|| format!("{name}: training the count model"))?;
            if progress.tty {
                eprintln!();
            }
            let s = &out.model.summary;
            eprintln!(
                "{name}: scVI-style VAE, {} genes, {} epochs{} ({:.3} s/epoch), held-out ELBO {:.1} per cell (reconstruction {:.1})",
                s.n_genes_used,
                s.epochs_run,
                if s.stopped_early {
                    format!(", stopped early, best epoch {}", s.best_epoch)
                } else {
                    String::new()
                },
                s.seconds_per_epoch,
                s.heldout_elbo,
                s.heldout_reconstruction
            );
            biolens::cells::apply(&mut ds, &out);
            model_nll = Some(std::sync::Arc::new(out.nll));
        }
        if cells.dna.runs(&ds) {
            let name = ds.name.clone();
            let out = pipeline::with_threads(threads, || {
                biolens::dna::run(&ds, &cells.dna, &mut |stage, f, r| {
                    if let Some(r) = r
                        && r.validation_loss.is_finite()
                    {
                        if progress.tty {
                            eprintln!();
                        }
                        eprintln!(
                            "{name}: epoch {}: held-out masked-token loss {:.3}, accuracy {:.3} ({:.0} training tokens/s)",
                            r.epoch, r.validation_loss, r.validation_accuracy, r.tokens_per_second
                        );
                    }
                    progress.report(&name, stage, f);
                    true
                })
            })
            .with_context(|| format!("{name}: the DNA encoder"))?
            .context("cancelled")?;
            if progress.tty {
                eprintln!();
            }
            let s = &out.model.summary;
            eprintln!(
                "{name}: {}{}, {:.1}s{}",
                biolens::dna::describe(s),
                if s.unigram_loss.is_finite() {
                    format!(", unigram baseline loss {:.3}", s.unigram_loss)
                } else {
                    String::new()
                },
                s.seconds,
                if s.truncated_sequences > 0 {
                    format!(
                        "; {} sequences truncated to {} tokens",
                        s.truncated_sequences, s.config.max_tokens
                    )
                } else {
                    String::new()
                }
            );
            biolens::dna::apply(&mut ds, &out);
            model_nll = Some(std::sync::Arc::new(out.perplexity));
        }
        if let (Some(dir), Some(_)) = (&cells.vit, &ds.tiles) {
            let name = ds.name.clone();
            let t0 = std::time::Instant::now();
            let out = pipeline::with_threads(threads, || {
                biolens::tiles::embed(&ds, dir, cells.vit_size, cells.params.device, &mut |f| {
                    progress.report(&name, "vit embedding", f);
                    true
                })
            })
            .with_context(|| format!("{name}: the image encoder"))?
            .context("cancelled")?;
            if progress.tty {
                eprintln!();
            }
            eprintln!(
                "{name}: {} tiles embedded in {:.1}s",
                out.len(),
                t0.elapsed().as_secs_f64()
            );
            ds = out;
        }
        if let (Some(p), None, Some(_)) = (&cells.ssl, &cells.vit, &ds.tiles) {
            let name = ds.name.clone();
            let t0 = std::time::Instant::now();
            let out = pipeline::with_threads(threads, || {
                biolens::tiles::train_cnn(&ds, p, cells.params.device, &mut |f| {
                    progress.report(&name, "training cnn", f);
                    true
                })
            })
            .map_err(|e| anyhow::anyhow!("{name}: the SimCLR CNN: {e}"))?
            .context("cancelled")?;
            if progress.tty {
                eprintln!();
            }
            eprintln!(
                "{name}: {} in {:.1}s",
                biolens::session::describe_embedding(&out.embedding_source),
                t0.elapsed().as_secs_f64()
            );
            ds = out;
        }
        if cells.ae_epochs > 0 && ds.tiles.is_some() {
            let name = ds.name.clone();
            let scores = pipeline::with_threads(threads, || {
                biolens::tiles::anomaly_scores(
                    &ds,
                    cells.ae_epochs,
                    opts.seed,
                    cells.params.device,
                    &mut |f| {
                        progress.report(&name, "autoencoder", f);
                        true
                    },
                )
            })
            .map_err(|e| anyhow::anyhow!("{name}: the autoencoder: {e}"))?;
            if progress.tty {
                eprintln!();
            }
            model_nll = scores.map(std::sync::Arc::new);
        }
        params.check(ds.len()).with_context(|| {
            ds.inputs
                .first()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
                .to_string()
        })?;
        let name = ds.name.clone();
        let emit = |ev: PipelineEvent| {
            if let PipelineEvent::Stage {
                name: stage,
                fraction,
            } = ev
            {
                progress.report(&name, stage, fraction);
            }
        };
        let mut analysis = pipeline::with_threads(threads, || {
            pipeline::run(&ds, &params, &emit, &CancelToken::default())
        })?;
        analysis.anomaly_model = model_nll;
        progress.report(&name, "done", 1.0);
        if progress.tty {
            eprintln!();
        }
        if let Some(col) = &opts.labels {
            report_metrics(&ds, &analysis, col)?;
        }
        if let Some(m) = &analysis.motifs {
            report_motifs(&name, m);
        }
        items.push(SessionDataset {
            dataset: ds,
            analysis,
        });
    }
    session::write(out, &params, threads, &items)?;
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

/// One line per discovered motif: cluster, consensus, held-out enrichment, best match.
fn report_motifs(name: &str, r: &biolens::analysis::motifs::MotifResults) {
    eprintln!(
        "{name}: {} motifs in {} clusters{}",
        r.motifs.len(),
        r.motifs
            .iter()
            .map(|m| m.cluster)
            .collect::<std::collections::BTreeSet<_>>()
            .len(),
        r.database_name
            .as_ref()
            .map(|d| format!(", matched against {d}"))
            .unwrap_or_default()
    );
    for m in &r.motifs {
        let best = m.matches.first().map(|x| {
            let t = &r.database[x.target];
            format!("{} {} (E {:.2e})", t.id, t.name, x.evalue)
        });
        eprintln!(
            "  cluster {:>2} #{} {:<16} held-out {}/{} vs {}/{}  p {:.2e}  E {:.2e}  {}",
            m.cluster,
            m.rank,
            m.motif.consensus(),
            m.test_fg.0,
            m.test_fg.1,
            m.test_bg.0,
            m.test_bg.1,
            m.pvalue,
            m.evalue,
            best.unwrap_or_default()
        );
    }
}

fn report_metrics(ds: &data::Dataset, a: &pipeline::Analysis, col: &str) -> Result<()> {
    use biolens::analysis::metrics::{ari, knn_label_accuracy, nmi, trustworthiness};
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
    let t = trustworthiness(&ds.embedding, &a.layout, 15, 5000);
    let sample: Vec<usize> = (0..ds.len()).step_by((ds.len() / 500).max(1)).collect();
    let recall = biolens::analysis::knn::recall(&ds.embedding, &a.knn, &sample);
    println!(
        "{}: ARI {:.4}  NMI {:.4}  trustworthiness(15) {:.4}  kNN recall@{} {:.4}  15-NN label accuracy {:.4}  clusters {}",
        ds.name,
        ari(&labels, &a.clusters),
        nmi(&labels, &a.clusters),
        t,
        a.knn.k - 1,
        recall,
        knn_label_accuracy(&a.knn, &labels),
        a.clusters.iter().max().map_or(0, |m| m + 1)
    );
    Ok(())
}

/// The built-in demo: the bundled data written to a cache folder once per version. Returns
/// the inputs and the motif file the DNA tab is matched against.
fn demo_paths() -> Result<(Vec<PathBuf>, PathBuf)> {
    type Files = [(&'static str, &'static [u8])];
    const CELLS: &Files = &[
        (
            "matrix.mtx.gz",
            include_bytes!("../assets/pbmc68k_reduced/matrix.mtx.gz"),
        ),
        (
            "barcodes.tsv.gz",
            include_bytes!("../assets/pbmc68k_reduced/barcodes.tsv.gz"),
        ),
        (
            "features.tsv.gz",
            include_bytes!("../assets/pbmc68k_reduced/features.tsv.gz"),
        ),
        (
            "labels.csv",
            include_bytes!("../assets/pbmc68k_reduced/labels.csv"),
        ),
    ];
    const DNA: &Files = &[
        (
            "fly_promoters_3k.fa.gz",
            include_bytes!("../assets/dna/fly_promoters_3k.fa.gz"),
        ),
        (
            "JASPAR2024_CORE_insects_nonredundant.meme",
            include_bytes!("../assets/dna/JASPAR2024_CORE_insects_nonredundant.meme"),
        ),
    ];
    const IMAGES: &Files = &[
        (
            "he_region_1024.jpg",
            include_bytes!("../assets/images/he_region_1024.jpg"),
        ),
        (
            "nuclei_dsb2018.png",
            include_bytes!("../assets/images/nuclei_dsb2018.png"),
        ),
    ];
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir)
        .join("biolens")
        .join(format!("demo-{}", biolens::VERSION));
    let write = |dir: &Path, files: &Files| -> Result<()> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("{}: cannot create the demo folder", dir.display()))?;
        for (name, bytes) in files {
            let p = dir.join(name);
            if std::fs::metadata(&p).map(|m| m.len() as usize).ok() != Some(bytes.len()) {
                let tmp = dir.join(format!(".{name}.tmp"));
                std::fs::write(&tmp, bytes)
                    .with_context(|| format!("{}: cannot write", tmp.display()))?;
                std::fs::rename(&tmp, &p)?;
            }
        }
        Ok(())
    };
    let cells = base.join("pbmc68k_reduced");
    write(&cells, CELLS)?;
    let dna = base.join("dna");
    write(&dna, DNA)?;
    let images = base.join("images");
    write(&images, IMAGES)?;
    Ok((
        vec![cells, dna.join("fly_promoters_3k.fa.gz"), images],
        dna.join("JASPAR2024_CORE_insects_nonredundant.meme"),
    ))
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
        biolens::tui::keymap::install_key_file(&p)?;
    }
    Ok(())
}

fn open(paths: &[PathBuf], opts: &CommonOpts) -> Result<()> {
    install_keys(opts)?;
    let mut inputs = opts.cells_options();
    let paths = if paths.is_empty() {
        let (p, motifs) = demo_paths()?;
        inputs.motifs.get_or_insert(motifs);
        p
    } else {
        paths.to_vec()
    };
    let mut tabs = Vec::new();
    for p in &paths {
        if session::is_session(p) {
            // The embedding vectors stay on disk until a k-means recluster asks for them.
            let (_, items) = session::read_for_view(p)?;
            tabs.extend(
                items
                    .into_iter()
                    .enumerate()
                    .map(|(i, sd)| Tab::from_session(p.clone(), i, sd)),
            );
        } else {
            if !p.exists() {
                bail!("{}: no such file or directory", p.display());
            }
            let title = p
                .file_name()
                .map(|s| s.to_string_lossy().to_string())
                .unwrap_or_default();
            tabs.push(Tab::new(
                title,
                TabSource::Input {
                    path: p.clone(),
                    meta: opts.meta.clone(),
                },
            ));
        }
    }
    if !std::io::stdout().is_terminal() {
        bail!(
            "the interactive view needs a terminal; use `biolens run … -o OUT.biolens` for batch work"
        );
    }
    biolens::tui::app::run(tabs, opts.pipeline_params(), inputs)
}

fn export(session_dir: &Path, what: ExportWhat, format: ExportFormat, out: &Path) -> Result<()> {
    if !session::is_session(session_dir) {
        bail!(
            "{}: not a biolens session (no manifest.toml)",
            session_dir.display()
        );
    }
    let (_, items) = session::read(session_dir)?;
    if format == ExportFormat::Meme && what != ExportWhat::Motifs {
        bail!("--format meme applies to motifs only");
    }
    if format == ExportFormat::Meme {
        let mut all = biolens::analysis::motifs::MotifResults::default();
        for sd in &items {
            if let Some(m) = &sd.analysis.motifs {
                all.motifs.extend(m.motifs.iter().cloned());
            }
        }
        let n = biolens::export::write_meme(out, &all)?;
        eprintln!("wrote {n} motifs to {}", out.display());
        return Ok(());
    }
    let mut table = biolens::table_io::Table::default();
    for sd in &items {
        let t = match what {
            ExportWhat::Clusters => {
                biolens::export::clusters_table(&sd.dataset, &sd.analysis.clusters)
            }
            ExportWhat::Markers => match (&sd.analysis.markers, &sd.dataset.expression) {
                (Some(m), Some(e)) => biolens::export::markers_table(
                    &sd.dataset.name,
                    &e.genes,
                    &m.tables,
                    usize::MAX,
                ),
                _ => continue,
            },
            ExportWhat::Motifs => match &sd.analysis.motifs {
                Some(m) => biolens::export::motifs_table(&sd.dataset.name, m),
                None => continue,
            },
            ExportWhat::Sites => match &sd.analysis.motifs {
                Some(m) => biolens::export::sites_table(&sd.dataset, m),
                None => continue,
            },
            ExportWhat::Anomalies => biolens::export::anomalies_table(
                &sd.dataset,
                &sd.analysis.anomaly_knn,
                &sd.analysis.anomaly_iforest,
                sd.analysis.anomaly_model.as_deref().map(|v| v.as_slice()),
                &sd.analysis.clusters,
            ),
        };
        if table.names.is_empty() {
            table = t;
        } else {
            table
                .append(t)
                .map_err(|e| anyhow::anyhow!("{}: {e}", session_dir.display()))?;
        }
    }
    let out = match (format, out.extension().and_then(|e| e.to_str())) {
        (ExportFormat::Parquet, Some("parquet")) | (ExportFormat::Csv | ExportFormat::Meme, _) => {
            out.to_path_buf()
        }
        (ExportFormat::Parquet, _) => out.with_extension("parquet"),
    };
    biolens::export::write_table(&out, &table)?;
    eprintln!("wrote {} rows to {}", table.n_rows(), out.display());
    Ok(())
}
