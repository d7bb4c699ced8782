//! The app loop: owns the state, turns terminal and job events into actions, carries out
//! effects. The same `App` runs headless in tests (keys in, jobs awaited, screen on a
//! TestBackend).

use super::action::{Action, Effect, ExportKind, JobKind};
use super::keymap::{input_action, normal_action, parse_keys};
use super::state::{Mode, State, Tab, TabSource};
use super::update::update;
use crate::pipeline;
use crate::pipeline::CancelToken;
use crate::pipeline::ClusterMethod;
use crate::pipeline::PipelineEvent;
use crate::pipeline::PipelineParams;
use crate::pipeline::RunOptions;
use crate::pipeline::jobs::{JobError, JobId, JobMsg, JobOutput, JobRunner};
use crossterm::event::{Event as TermEvent, KeyEvent, KeyEventKind, MouseButton, MouseEventKind};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

pub enum Event {
    Term(TermEvent),
    Job(JobMsg),
}

pub struct App {
    pub state: State,
    runner: JobRunner,
    cancels: HashMap<JobId, CancelToken>,
    rx: UnboundedReceiver<Event>,
    /// Whether a real terminal is attached, so a yank can be written to it as OSC 52.
    terminal: bool,
    /// The runtime the interface's loop, its live runs and its jobs' blocking work run on.
    /// Taken out while `run` drives the loop on it; shut down without waiting on jobs.
    runtime: Option<tokio::runtime::Runtime>,
}

/// Jobs of the interface that may compute at once (pipelines, reclusters, scans, a live run's
/// version); more wait for a free one.
const BLOCKING_JOBS: usize = 8;

impl App {
    pub fn new(tabs: Vec<Tab>, params: PipelineParams, size: (u16, u16)) -> Self {
        let (tx, rx): (UnboundedSender<Event>, _) = unbounded_channel();
        let sink: crate::pipeline::jobs::Sink = Arc::new(move |m| {
            let _ = tx.send(Event::Job(m));
        });
        // One worker: the interface's loop is `block_on`'s own thread; the worker carries the
        // live runs' file loops, which only wait. The computing is on the blocking pool.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .max_blocking_threads(BLOCKING_JOBS)
            .thread_name("biolens-job")
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("cannot start the interface's runtime: {e}"));
        let runner = JobRunner::new(sink, params.threads, runtime.handle().clone());
        Self {
            state: State::new(tabs, params, size),
            runner,
            cancels: HashMap::new(),
            rx,
            terminal: false,
            runtime: Some(runtime),
        }
    }

    /// Starts the pipeline of every tab that has nothing computed yet.
    pub fn start(&mut self) {
        let todo: Vec<usize> = (0..self.state.tabs.len())
            .filter(|&i| self.state.tabs[i].result.layout.is_none())
            .collect();
        for tab in todo {
            self.execute(Effect::StartPipeline { tab });
        }
    }

    pub fn dispatch(&mut self, action: Action) {
        let fx = update(&mut self.state, action);
        for e in fx {
            self.execute(e);
        }
    }

    pub fn key(&mut self, key: KeyEvent) {
        let action = match self.state.mode {
            Mode::Search(_) | Mode::Command(_) => input_action(&key),
            Mode::Help => normal_action(&key).filter(|a| {
                matches!(
                    a,
                    Action::ToggleHelp
                        | Action::Escape
                        | Action::Quit
                        | Action::Move(_)
                        | Action::PageDown
                        | Action::PageUp
                        | Action::ScrollDetail(_)
                )
            }),
            Mode::Normal => normal_action(&key),
        };
        if let Some(a) = action {
            self.dispatch(a);
        }
    }

    pub fn term_event(&mut self, ev: TermEvent) {
        match ev {
            TermEvent::Key(k) if k.kind != KeyEventKind::Release => self.key(k),
            TermEvent::Resize(w, h) => self.dispatch(Action::Resize(w, h)),
            TermEvent::Mouse(m) => match m.kind {
                MouseEventKind::Down(MouseButton::Left) => self.dispatch(Action::Click {
                    col: m.column,
                    row: m.row,
                }),
                MouseEventKind::ScrollUp => self.dispatch(Action::Scroll {
                    up: true,
                    col: m.column,
                    row: m.row,
                }),
                MouseEventKind::ScrollDown => self.dispatch(Action::Scroll {
                    up: false,
                    col: m.column,
                    row: m.row,
                }),
                _ => {}
            },
            _ => {}
        }
    }

    /// Types a key string such as `"jj<Tab><Enter>"` (tests and scripted scenarios).
    pub fn press(&mut self, keys: &str) {
        for k in parse_keys(keys) {
            self.key(k);
            self.drain();
        }
    }

    /// Handles every event already queued, without waiting.
    pub fn drain(&mut self) {
        while let Ok(ev) = self.rx.try_recv() {
            self.handle(ev);
        }
    }

    fn handle(&mut self, ev: Event) {
        match ev {
            Event::Term(t) => self.term_event(t),
            Event::Job(m) => {
                if let JobMsg::Finished { id, .. } = &m {
                    self.cancels.remove(id);
                }
                self.dispatch(Action::Job(m));
            }
        }
    }

    /// Waits until no job is running (or `timeout` passes); returns whether all finished.
    pub fn wait_for_jobs(&mut self, timeout: Duration) -> bool {
        let end = std::time::Instant::now() + timeout;
        loop {
            self.drain();
            if self.state.running_jobs().next().is_none() {
                return true;
            }
            let left = end.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return false;
            }
            let Some(rt) = &self.runtime else {
                return false;
            };
            let wait = left.min(Duration::from_millis(200));
            // The timer is made inside the runtime (made outside, it finds no clock).
            let rx = &mut self.rx;
            match rt.block_on(async { tokio::time::timeout(wait, rx.recv()).await }) {
                Ok(Some(ev)) => self.handle(ev),
                Ok(None) => return false,
                Err(_elapsed) => {}
            }
        }
    }

    fn execute(&mut self, effect: Effect) {
        match effect {
            Effect::Quit => {}
            Effect::Yank(text) => {
                if self.terminal {
                    use std::io::Write;
                    // OSC 52: the terminal (and tmux with set-clipboard) puts it on the
                    // clipboard, also over SSH.
                    let mut out = std::io::stdout();
                    let _ = write!(out, "\x1b]52;c;{}\x07", base64(text.as_bytes()));
                    let _ = out.flush();
                }
            }
            Effect::Cancel(id) => {
                if let Some(c) = self.cancels.get(&id) {
                    c.cancel();
                }
            }
            Effect::StartPipeline { tab } => {
                let Some(t) = self.state.tabs.get(tab) else {
                    return;
                };
                let dataset = t.dataset.clone();
                let source = t.source.clone();
                let name = match (&dataset, &source) {
                    (None, TabSource::Session { .. }) => "reading session",
                    (None, TabSource::Watch(_)) => "watch",
                    _ => "pipeline",
                };
                let params = self.state.params.clone();
                let opts = self.state.options.clone();
                if let (None, TabSource::Watch(w)) = (&dataset, &source) {
                    let w = w.clone();
                    let (id, cancel) = self.runner.spawn_async(move |ctx| async move {
                        let mut on = |ev| watch_event(&ctx, ev);
                        crate::watch::follow(&w, &params, &opts, &ctx.cancel, &mut on)
                            .await
                            .map(drop)
                            .map_err(JobError::Said)
                    });
                    self.started(tab, JobKind::Pipeline, name.into(), id, cancel);
                    return;
                }
                let (id, cancel) = self.runner.spawn(move |ctx| {
                    let emit = |ev: PipelineEvent| match ev {
                        PipelineEvent::Stage { name, fraction } => ctx.progress(name, fraction),
                        other => ctx.output(JobOutput::Pipeline(other)),
                    };
                    match (dataset, source) {
                        (Some(ds), _) => {
                            pipeline::run_dataset(ds, &params, &opts, &emit, &ctx.cancel)?;
                        }
                        (None, TabSource::Input { path }) => {
                            ctx.progress("loading", 0.0);
                            pipeline::run(&[path], &params, &opts, &|_, ev| emit(ev), &ctx.cancel)?;
                        }
                        // Started as a task below.
                        (None, TabSource::Watch(_)) => {}
                        (None, TabSource::Session { path, index }) => {
                            // A saved session is read here, off the render loop, so the
                            // interface shows at once even for a 100k-cell session.
                            ctx.progress("reading", 0.0);
                            let sd = crate::session::read_one_for_view(&path, index)?;
                            emit(PipelineEvent::Loaded(Arc::new(sd.dataset)));
                            emit(PipelineEvent::Embedded(Arc::new(sd.embedding)));
                            emit(PipelineEvent::Layout(sd.analysis.layout.clone()));
                            emit(PipelineEvent::Analysed(Box::new(sd.analysis)));
                        }
                    }
                    Ok(())
                });
                self.started(tab, JobKind::Pipeline, name.into(), id, cancel);
            }
            Effect::Recluster { tab, method } => {
                let Some(t) = self.state.tabs.get(tab) else {
                    return;
                };
                let (Some(ds), Some(knn), Some(emb)) =
                    (t.dataset.clone(), t.result.knn.clone(), t.embedding.clone())
                else {
                    return;
                };
                let graph = t.result.graph.clone();
                let previous = t.result.clusters.clone();
                let source = t.source.clone();
                let motif_params = self.state.params.motifs.clone();
                let name = match &method {
                    ClusterMethod::Leiden(_) => "leiden",
                    ClusterMethod::Kmeans(_) => "k-means",
                };
                let (id, cancel) = self.runner.spawn(move |ctx| {
                    let mut matrix = emb.matrix.clone();
                    // A session opened for viewing keeps its vectors on disk until k-means
                    // needs them.
                    if let (ClusterMethod::Kmeans(_), 0, TabSource::Session { path, index }) =
                        (&method, matrix.cols, &source)
                    {
                        ctx.progress("loading embedding", 0.2);
                        matrix = Arc::new(crate::session::read_embedding(path, *index)?);
                    }
                    let emit = |ev: PipelineEvent| match ev {
                        PipelineEvent::Stage { name, fraction } => ctx.progress(name, fraction),
                        other => ctx.output(JobOutput::Pipeline(other)),
                    };
                    let r = pipeline::recluster::recluster(
                        &ds,
                        &matrix,
                        &knn,
                        graph,
                        &method,
                        previous.as_ref().map(|p| p.as_slice()),
                        &motif_params,
                        &emit,
                        &ctx.cancel,
                    )?;
                    ctx.output(JobOutput::Reclustered(Box::new(r)));
                    Ok(())
                });
                self.started(tab, JobKind::Recluster, name.into(), id, cancel);
            }
            Effect::Motifs { tab, groups } => {
                let Some(t) = self.state.tabs.get(tab) else {
                    return;
                };
                let (Some(ds), Some(clusters)) = (t.dataset.clone(), t.result.clusters.clone())
                else {
                    return;
                };
                let mut params = self.state.params.motifs.clone();
                params.groups = groups;
                let (id, cancel) = self.runner.spawn(move |ctx| {
                    let progress = |name: &'static str, f: f64| ctx.progress(name, f);
                    let c =
                        crate::modality::characterise(&ds, &clusters, &params, &progress, &|| {
                            ctx.cancel.is_cancelled()
                        })
                        .map_err(|_| pipeline::PipelineError::Cancelled)?;
                    if let Some(f) = c {
                        ctx.output(JobOutput::Pipeline(PipelineEvent::Findings(f)));
                    }
                    Ok(())
                });
                self.started(tab, JobKind::Motifs, "motifs".into(), id, cancel);
            }
            Effect::Moran {
                tab,
                what,
                values,
                at,
            } => {
                let seed = self.state.params.seed;
                let (id, cancel) = self.runner.spawn(move |ctx| {
                    ctx.progress("Moran's I on the tissue", 0.0);
                    let text = pipeline::spatial::moran_line(&at, &values, &what, seed);
                    if ctx.cancel.is_cancelled() {
                        return Err(pipeline::PipelineError::Cancelled.into());
                    }
                    ctx.output(JobOutput::Pipeline(PipelineEvent::Note(text)));
                    Ok(())
                });
                self.started(tab, JobKind::Spatial, "moran".into(), id, cancel);
            }
            Effect::SlidePictures { tab, placed } => {
                let Some(ds) = self
                    .state
                    .tabs
                    .get(tab)
                    .and_then(|t| t.data.dataset.clone())
                else {
                    return;
                };
                let (id, cancel) = self.runner.spawn(move |ctx| {
                    ctx.progress("reading the slides' pictures", 0.0);
                    let pictures = crate::modality::slide_pictures(&ds, &placed, &|| {
                        ctx.cancel.is_cancelled()
                    });
                    if ctx.cancel.is_cancelled() {
                        return Err(pipeline::PipelineError::Cancelled.into());
                    }
                    match pictures {
                        Some(Ok(p)) => {
                            ctx.output(JobOutput::SlidePictures(Arc::new(p)));
                            Ok(())
                        }
                        Some(Err(e)) => Err(JobError::Said(e)),
                        None => Err(JobError::Said("no tiles behind these positions".into())),
                    }
                });
                self.started(tab, JobKind::Picture, "slide pictures".into(), id, cancel);
            }
            Effect::Nhood {
                tab,
                by,
                labels,
                names,
                at,
            } => {
                let seed = self.state.params.seed;
                let (id, cancel) = self.runner.spawn(move |ctx| {
                    ctx.progress("neighbourhood enrichment", 0.0);
                    let n = pipeline::spatial::neighbourhood(&at, &labels, &names, &by, seed);
                    if ctx.cancel.is_cancelled() {
                        return Err(pipeline::PipelineError::Cancelled.into());
                    }
                    ctx.output(JobOutput::Neighbourhood(Arc::new(n)));
                    Ok(())
                });
                self.started(tab, JobKind::Spatial, "nhood".into(), id, cancel);
            }
            Effect::Scan { tab, key } => {
                let Some(t) = self.state.tabs.get(tab) else {
                    return;
                };
                let Some(ds) = t.dataset.clone() else {
                    return;
                };
                let findings = t.result.findings.clone();
                let (id, cancel) = self.runner.spawn(move |ctx| {
                    ctx.progress("scan", 0.0);
                    let (columns, note) = crate::modality::scan(&ds, findings.as_ref(), &key)
                        .map_err(|e| pipeline::PipelineError::Stage("scan", e))?;
                    if ctx.cancel.is_cancelled() {
                        return Err(pipeline::PipelineError::Cancelled.into());
                    }
                    ctx.output(JobOutput::Columns { columns, note });
                    Ok(())
                });
                self.started(tab, JobKind::Scan, "scan".into(), id, cancel);
            }
            Effect::Compare { tab, a, b, label } => {
                let Some(t) = self.state.tabs.get(tab) else {
                    return;
                };
                let Some(ds) = t.dataset.clone() else {
                    return;
                };
                let params = self.state.params.motifs.clone();
                let (id, cancel) = self.runner.spawn(move |ctx| {
                    let progress = |name: &'static str, f: f64| ctx.progress(name, f);
                    let c = pipeline::recluster::compare(
                        &ds,
                        &a,
                        &b,
                        &label,
                        &params,
                        &progress,
                        &|| ctx.cancel.is_cancelled(),
                    )?;
                    ctx.output(JobOutput::Compared(Arc::new(c)));
                    Ok(())
                });
                self.started(tab, JobKind::Compare, "compare".into(), id, cancel);
            }
            Effect::SaveSelections { tab } => {
                if let Err(e) = self.save_selections(tab) {
                    self.dispatch(Action::Notify {
                        text: format!("selections not saved: {e}"),
                        error: true,
                    });
                }
            }
            Effect::SaveClustering { tab, name } => {
                let action = match self.save_clustering(tab, &name) {
                    Ok(Some(dir)) => Action::Notify {
                        text: format!(
                            "clusters kept as column '{name}', also in {} (reopening it \
                             brings the column back)",
                            dir.display()
                        ),
                        error: false,
                    },
                    Ok(None) => return,
                    Err(e) => Action::Notify {
                        text: format!("clustering '{name}' kept in this tab but not saved: {e}"),
                        error: true,
                    },
                };
                self.dispatch(action);
            }
            Effect::Export { tab, kind, path } => {
                let unit = match kind {
                    ExportKind::Motifs { meme: true } => "motifs (MEME format)",
                    _ => "rows",
                };
                let action = match self.export(tab, &kind, &path) {
                    Ok(n) => Action::Notify {
                        text: format!("wrote {n} {unit} to {}", path.display()),
                        error: false,
                    },
                    Err(e) => Action::Notify {
                        text: e.to_string(),
                        error: true,
                    },
                };
                self.dispatch(action);
            }
        }
    }

    /// Records a spawned job: it replaces (and cancels) the tab's previous job of its kind.
    fn started(&mut self, tab: usize, kind: JobKind, name: String, id: JobId, cancel: CancelToken) {
        if let Some(old) = self.state.tabs.get_mut(tab).and_then(|t| *t.job_mut(kind))
            && let Some(c) = self.cancels.get(&old)
        {
            c.cancel();
        }
        self.cancels.insert(id, cancel);
        self.dispatch(Action::JobStarted {
            id,
            name,
            tab,
            kind,
        });
    }

    /// Writes tab `tab`'s selections into its session's `selections.toml`, keeping the
    /// other datasets' entries.
    fn save_selections(&self, tab: usize) -> Result<(), crate::session::SessionError> {
        let Some(t) = self.state.tabs.get(tab) else {
            return Ok(());
        };
        let TabSource::Session { path, .. } = &t.source else {
            return Ok(());
        };
        let name = t
            .dataset
            .as_ref()
            .map_or(t.title.clone(), |d| d.name.clone());
        let mut file = crate::session::read_selections(path)?;
        file.selections
            .retain(|s| s.dataset.as_deref().is_some_and(|d| d != name));
        file.selections.extend(t.selections.defs.iter().map(|s| {
            crate::core::selection::Selection {
                dataset: Some(name.clone()),
                ..s.clone()
            }
        }));
        crate::session::save_selections(path, &file)
    }

    /// Writes tab `tab`'s clusters into its session folder as column `name`; the folder, or
    /// None when the tab is not a session's.
    fn save_clustering(
        &self,
        tab: usize,
        name: &str,
    ) -> Result<Option<std::path::PathBuf>, crate::session::SessionError> {
        let Some(t) = self.state.tabs.get(tab) else {
            return Ok(None);
        };
        let (TabSource::Session { path, .. }, Some(d), Some(c)) =
            (&t.source, t.dataset.as_ref(), t.result.clusters.as_ref())
        else {
            return Ok(None);
        };
        crate::session::save_clustering(path, &d.name, name, &d.ids, c)?;
        Ok(Some(path.clone()))
    }

    /// Carries out an `:export` through the one export function the command line uses too.
    fn export(
        &self,
        tab: usize,
        kind: &ExportKind,
        path: &std::path::Path,
    ) -> Result<usize, crate::export::ExportError> {
        use crate::export::{ExportError, Source, What};
        let none = |what: &str| ExportError::NotApplicable(what.into());
        let t = self
            .state
            .tabs
            .get(tab)
            .ok_or_else(|| none("no such tab"))?;
        let ds = t.dataset.as_ref().ok_or_else(|| none("no data yet"))?;
        if let ExportKind::Selection(name) = kind {
            let m = t
                .selections
                .of(name)
                .ok_or_else(|| none(&format!("no selection named '{name}' with members")))?;
            return crate::export::write_rows(path, ds, &t.result, m);
        }
        if let ExportKind::Nhood = kind {
            let n = t
                .nhood
                .as_deref()
                .ok_or_else(|| none("no neighbourhood enrichment yet: run :nhood first"))?;
            let t = crate::export::nhood_table(n);
            crate::export::write_table(path, &t)?;
            return Ok(t.n_rows());
        }
        if let ExportKind::Anndata { into } = kind {
            return self.export_anndata(t, ds, into.as_deref(), path);
        }
        let clusters = t
            .result
            .clusters
            .as_ref()
            .ok_or_else(|| none("no clusters yet"))?;
        // Which findings is said by the command, never by what happens to be on screen.
        let comparison = match kind {
            ExportKind::Compare => Some(
                t.comparison
                    .as_deref()
                    .and_then(|c| c.findings.as_ref())
                    .ok_or_else(|| {
                        none("no comparison with markers or motifs yet: run :compare A B first")
                    })?,
            ),
            _ => None,
        };
        let (what, meme) = match kind {
            ExportKind::ClusterIds(c) => return crate::export::write_ids(path, ds, clusters, *c),
            ExportKind::Clusters => (What::Clusters, false),
            ExportKind::Markers => (What::Markers, false),
            // The comparison's main table: marker genes (cells), motifs (DNA).
            ExportKind::Compare => (
                comparison
                    .and_then(|f| What::from_key(f.tables()[0]))
                    .unwrap_or(What::Markers),
                false,
            ),
            ExportKind::Motifs { meme } => (What::Motifs, *meme),
            ExportKind::Sites => (What::Sites, false),
            ExportKind::Anomalies => (What::Anomalies, false),
            ExportKind::Selection(_) | ExportKind::Anndata { .. } | ExportKind::Nhood => {
                return Err(none("written above"));
            }
        };
        let analysis = t.result.analysis().ok_or_else(|| none("no analysis yet"))?;
        let source = Source {
            dataset: ds,
            analysis: &analysis,
            comparison,
        };
        crate::export::export(path, what, meme, &[source])
    }

    /// `:export anndata PATH [into INPUT]`: the same writer as `biolens export … anndata`.
    fn export_anndata(
        &self,
        t: &Tab,
        ds: &crate::modality::Dataset,
        into: Option<&std::path::Path>,
        path: &std::path::Path,
    ) -> Result<usize, crate::export::ExportError> {
        use crate::export::ExportError;
        let fail = |e: &dyn std::fmt::Display| ExportError::NotApplicable(e.to_string());
        let analysis = t
            .result
            .analysis()
            .ok_or_else(|| fail(&"no analysis yet"))?;
        let mut embedding = (**t
            .embedding
            .as_ref()
            .ok_or_else(|| fail(&"no embedding yet"))?)
        .clone();
        // A session opened for viewing keeps its vectors on disk until they are needed.
        if let (0, TabSource::Session { path: dir, index }) = (embedding.matrix.cols, &t.source) {
            embedding.matrix =
                Arc::new(crate::session::read_embedding(dir, *index).map_err(|e| fail(&e))?);
        }
        let selections: Vec<(String, Vec<u32>)> = t
            .selections
            .defs
            .iter()
            .filter_map(|d| Some((d.name.clone(), t.selections.of(&d.name)?.to_vec())))
            .collect();
        let sd = crate::session::SessionDataset {
            dataset: ds.clone(),
            embedding,
            analysis,
        };
        let extras = crate::session::anndata::Extras {
            selections: &selections,
            params_toml: toml::to_string(&self.state.params).unwrap_or_default(),
            embedding: String::new(),
        };
        match into {
            Some(input) => crate::session::anndata::write_into(input, path, &sd, &extras)
                .map(|_| ds.len())
                .map_err(|e| fail(&e)),
            None => {
                crate::session::anndata::write_anndata(path, &sd, &extras).map_err(|e| fail(&e))
            }
        }
    }
}

/// How tiles are drawn. The terminal is asked for kitty/sixel/iTerm2 support only where the
/// environment names a terminal that has one (the query reads stdin and some terminals and
/// multiplexers never answer it); everything else, plain SSH included, gets half blocks.
/// `BIOLENS_GRAPHICS=halfblocks` or `=query` overrides the guess.
fn graphics_picker() -> ratatui_image::picker::Picker {
    use ratatui_image::picker::Picker;
    let var = |k: &str| std::env::var(k).unwrap_or_default();
    let capable = !var("KITTY_WINDOW_ID").is_empty()
        || var("TERM").contains("kitty")
        || var("TERM").contains("foot")
        || matches!(
            var("TERM_PROGRAM").as_str(),
            "WezTerm" | "iTerm.app" | "ghostty" | "mlterm" | "contour"
        );
    let query = match var("BIOLENS_GRAPHICS").as_str() {
        "halfblocks" => false,
        "query" => true,
        _ => capable,
    };
    if query {
        match Picker::from_query_stdio() {
            Ok(p) => {
                tracing::info!("terminal graphics: {:?}", p.protocol_type());
                return p;
            }
            Err(e) => tracing::info!("terminal graphics query failed ({e}); half blocks"),
        }
    }
    Picker::halfblocks()
}

/// Says a live run's event in the jobs pane, or hands its result to the interface.
fn watch_event(ctx: &crate::pipeline::jobs::JobCtx, ev: crate::watch::WatchEvent) {
    use crate::watch::WatchEvent as W;
    let name = |p: &std::path::Path| {
        p.file_name().map_or_else(
            || p.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        )
    };
    let note = |text: String| ctx.output(JobOutput::Pipeline(PipelineEvent::Note(text)));
    match ev {
        W::Waiting(ws) => {
            if let Some(x) = ws.first() {
                ctx.progress(&format!("waiting for {}: {}", name(&x.path), x.why), 0.0);
            }
        }
        W::Landed(s) => ctx.progress(&format!("{} landed", name(&s.path)), 0.0),
        W::Stage(stage, f) => ctx.progress(stage, f),
        W::Computed(v) => {
            ctx.progress("watching", 1.0);
            ctx.output(JobOutput::Version(v));
        }
        W::Metrics(m) => ctx.output(JobOutput::Metrics(Arc::new(m))),
        W::Superseded(s) => note(format!(
            "{} skipped: a newer version landed first",
            name(&s.path)
        )),
        W::MetricsFailed(e) => note(format!("metrics: {e}")),
        W::Failed(s, e) => note(format!("{} failed: {e}", name(&s.path))),
    }
}

/// What woke the interface's loop.
enum Wake {
    Input(Option<std::io::Result<TermEvent>>),
    Event(Option<Event>),
    Tick,
}

/// How often the loop wakes with nothing else to do: progress bars and messages move at this
/// rate, and nothing is redrawn while the interface is idle.
const TICK: Duration = Duration::from_millis(250);

/// Runs the interface in the real terminal until the user quits; `mouse` asks the terminal
/// for mouse events (off: the terminal or tmux keeps the mouse for selecting and copying
/// text).
///
/// One loop on tokio serves `open` and `watch`: it waits on the terminal's input (crossterm's
/// event stream), on the jobs' messages (a live run's file loop is a task on the same
/// runtime) and on a tick, and draws after each wake. Computing is on the blocking pool, so
/// drawing never waits on a job.
pub fn run(
    tabs: Vec<Tab>,
    params: PipelineParams,
    options: RunOptions,
    mouse: bool,
) -> anyhow::Result<()> {
    let mut term = super::terminal::enter(mouse)?;
    let size = term.size()?;
    let picker = graphics_picker();
    let mut app = App::new(tabs, params, (size.width, size.height));
    app.terminal = true;
    app.state.options = options;
    app.state.picker = picker;
    let runtime = app.runtime.take();
    let result = match &runtime {
        Some(rt) => rt.block_on(async {
            app.start();
            interface_loop(&mut app, &mut term).await
        }),
        None => Ok(()),
    };
    super::terminal::restore();
    // Dropping the app cancels its jobs and shuts the runtime down without waiting on them.
    app.runtime = runtime;
    drop(app);
    result
}

async fn interface_loop(app: &mut App, term: &mut super::terminal::Term) -> anyhow::Result<()> {
    use futures_util::StreamExt;
    let mut input = crossterm::event::EventStream::new();
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    term.draw(|f| super::draw::draw(&app.state, f))?;
    loop {
        // Terminal input first, then job results: the user is never kept waiting.
        let wake = tokio::select! {
            biased;
            ev = input.next() => Wake::Input(ev),
            ev = app.rx.recv() => Wake::Event(ev),
            _ = tick.tick() => Wake::Tick,
        };
        let mut events = Vec::new();
        match wake {
            Wake::Input(Some(Ok(ev))) => events.push(Event::Term(ev)),
            Wake::Input(Some(Err(e))) => return Err(anyhow::anyhow!("reading the terminal: {e}")),
            Wake::Input(None) | Wake::Event(None) => break,
            Wake::Event(Some(ev)) => events.push(ev),
            Wake::Tick => {
                // Idle: wake only while a job runs or a message is up, so bars move and the
                // message fades; otherwise nothing changes and nothing is redrawn.
                let busy = app.state.running_jobs().next().is_some();
                if !busy && app.state.message.is_none() {
                    continue;
                }
                app.dispatch(Action::Tick);
            }
        }
        while let Ok(ev) = app.rx.try_recv() {
            events.push(ev);
        }
        events.sort_by_key(|e| matches!(e, Event::Job(_)));
        for ev in events {
            app.handle(ev);
        }
        if app.state.quit {
            break;
        }
        term.draw(|f| super::draw::draw(&app.state, f))?;
    }
    Ok(())
}

/// Jobs are told to stop; the process does not wait for one deep in a long stage.
impl Drop for App {
    fn drop(&mut self) {
        for c in self.cancels.values() {
            c.cancel();
        }
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// Standard base64 (RFC 4648, padded), for OSC 52.
fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for k in 0..4 {
            if k <= chunk.len() {
                out.push(A[(n >> (18 - 6 * k)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_matches_rfc_4648() {
        for (raw, enc) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("AAAGCCTGGCTAAC-1", "QUFBR0NDVEdHQ1RBQUMtMQ=="),
        ] {
            assert_eq!(super::base64(raw.as_bytes()), enc);
        }
    }
}
