//! The app loop: owns the state, turns terminal and job events into actions, carries out
//! effects. The same `App` runs headless in tests (keys in, jobs awaited, screen on a
//! TestBackend).

use super::action::{Action, Effect, ExportKind, JobKind};
use super::keymap::{input_action, normal_action, parse_keys};
use super::state::{Mode, State, Tab, TabSource};
use super::update::update;
use crate::data;
use crate::jobs::{JobId, JobMsg, JobOutput, JobRunner};
use crate::pipeline::{self, CancelToken, ClusterMethod, PipelineEvent, PipelineParams};
use crossterm::event::{Event as TermEvent, KeyEvent, KeyEventKind, MouseButton, MouseEventKind};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::time::Duration;

pub enum Event {
    Term(TermEvent),
    Job(JobMsg),
}

pub struct App {
    pub state: State,
    runner: JobRunner,
    cancels: HashMap<JobId, CancelToken>,
    rx: Receiver<Event>,
    tx: Sender<Event>,
}

impl App {
    pub fn new(tabs: Vec<Tab>, params: PipelineParams, size: (u16, u16)) -> Self {
        let (tx, rx) = channel();
        let jtx = tx.clone();
        let sink: crate::jobs::Sink = Arc::new(move |m| {
            let _ = jtx.send(Event::Job(m));
        });
        let runner = JobRunner::new(sink, params.threads);
        Self {
            state: State::new(tabs, params, size),
            runner,
            cancels: HashMap::new(),
            rx,
            tx,
        }
    }

    pub fn sender(&self) -> Sender<Event> {
        self.tx.clone()
    }

    /// Starts the pipeline of every tab that has nothing computed yet.
    pub fn start(&mut self) {
        let todo: Vec<usize> = (0..self.state.tabs.len())
            .filter(|&i| self.state.tabs[i].layout.is_none())
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
            Mode::Help => normal_action(&key)
                .filter(|a| matches!(a, Action::ToggleHelp | Action::Escape | Action::Quit)),
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
            match self.rx.recv_timeout(left.min(Duration::from_millis(200))) {
                Ok(ev) => self.handle(ev),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return false,
            }
        }
    }

    fn execute(&mut self, effect: Effect) {
        match effect {
            Effect::Quit => {}
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
                let params = self.state.params.clone();
                let cells = self.state.cells.clone();
                let (id, cancel) = self.runner.spawn(move |ctx| {
                    let ds = match (dataset, source) {
                        (Some(d), _) => d,
                        (None, TabSource::Input { path, meta }) => {
                            ctx.progress("loading", 0.0);
                            let opts = cells.load_options(meta);
                            Arc::new(data::load(&path, &opts).map_err(|e| e.to_string())?)
                        }
                        (None, TabSource::Session { path: p, .. }) => {
                            return Err(format!(
                                "{}: session has no data for this tab",
                                p.display()
                            ));
                        }
                    };
                    ctx.output(JobOutput::Loaded(ds.clone()));
                    let emit = |ev: PipelineEvent| match ev {
                        PipelineEvent::Stage { name, fraction } => ctx.progress(name, fraction),
                        other => ctx.output(JobOutput::Pipeline(other)),
                    };
                    let a = pipeline::run(&ds, &params, &emit, &ctx.cancel)
                        .map_err(|e| e.to_string())?;
                    ctx.output(JobOutput::PipelineDone(Box::new(a)));
                    if cells.ae_epochs > 0 && ds.tiles.is_some() {
                        let seed = params.seed;
                        let dev = cells.params.device;
                        let scores = crate::tiles::anomaly_scores(
                            &ds,
                            cells.ae_epochs,
                            seed,
                            dev,
                            &mut |f| {
                                ctx.progress("autoencoder", f);
                                !ctx.is_cancelled()
                            },
                        )
                        .map_err(|e| format!("{}: {e}", ds.name))?;
                        if let Some(v) = scores {
                            ctx.output(JobOutput::ModelScores(Arc::new(v)));
                        }
                    }
                    // The baseline map is on screen; now train the model (count model for
                    // cells, the DNA encoder) and replace it.
                    let (d2, scores) =
                        if cells.trains(&ds).map_err(|e| format!("{}: {e}", ds.name))? {
                            let t0 = std::time::Instant::now();
                            let out = crate::cells::train(&ds, &cells.params, &mut |r| {
                                ctx.progress("training vae", r.epoch as f64 / r.max_epochs as f64);
                                !ctx.is_cancelled()
                            })
                            .map_err(|e| e.to_string())?;
                            tracing::info!(
                                "count model trained in {:.1}s: {:?}",
                                t0.elapsed().as_secs_f64(),
                                out.model.summary
                            );
                            let mut d2 = (*ds).clone();
                            crate::cells::apply(&mut d2, &out);
                            (d2, out.nll)
                        } else if cells.dna.runs(&ds) {
                            let out = crate::dna::run(&ds, &cells.dna, &mut |stage, f, _| {
                                ctx.progress(stage, f);
                                !ctx.is_cancelled()
                            })
                            .map_err(|e| format!("{}: {e}", ds.name))?;
                            let Some(out) = out else {
                                return Ok(());
                            };
                            tracing::info!("DNA encoder: {:?}", out.model.summary);
                            let mut d2 = (*ds).clone();
                            crate::dna::apply(&mut d2, &out);
                            (d2, out.perplexity)
                        } else if let (Some(dir), Some(_)) = (&cells.vit, &ds.tiles) {
                            let out = crate::tiles::embed(
                                &ds,
                                dir,
                                cells.vit_size,
                                cells.params.device,
                                &mut |f| {
                                    ctx.progress("vit embedding", f);
                                    !ctx.is_cancelled()
                                },
                            )
                            .map_err(|e| format!("{}: {e}", ds.name))?;
                            let Some(d2) = out else {
                                return Ok(());
                            };
                            (d2, Vec::new())
                        } else if let (Some(p), Some(_)) = (&cells.ssl, &ds.tiles) {
                            let out =
                                crate::tiles::train_cnn(&ds, p, cells.params.device, &mut |f| {
                                    ctx.progress("training cnn", f);
                                    !ctx.is_cancelled()
                                })
                                .map_err(|e| format!("{}: {e}", ds.name))?;
                            let Some(d2) = out else {
                                return Ok(());
                            };
                            (d2, Vec::new())
                        } else {
                            return Ok(());
                        };
                    let d2 = Arc::new(d2);
                    ctx.output(JobOutput::Loaded(d2.clone()));
                    if !scores.is_empty() {
                        ctx.output(JobOutput::ModelScores(Arc::new(scores)));
                    }
                    let a = pipeline::run(&d2, &params, &emit, &ctx.cancel)
                        .map_err(|e| e.to_string())?;
                    ctx.output(JobOutput::PipelineDone(Box::new(a)));
                    Ok(())
                });
                self.started(tab, JobKind::Pipeline, "pipeline".into(), id, cancel);
            }
            Effect::Recluster { tab, method } => {
                let Some(t) = self.state.tabs.get(tab) else {
                    return;
                };
                let (Some(ds), Some(knn)) = (t.dataset.clone(), t.knn.clone()) else {
                    return;
                };
                let graph = t.graph.clone();
                let source = t.source.clone();
                let motif_params = self.state.params.motifs.clone();
                let name = match &method {
                    ClusterMethod::Leiden(_) => "leiden",
                    ClusterMethod::Kmeans(_) => "k-means",
                };
                let (id, cancel) = self.runner.spawn(move |ctx| {
                    ctx.progress("fuzzy graph", 0.0);
                    let g = match graph {
                        Some(g) => g,
                        None => Arc::new(crate::analysis::fuzzy::fuzzy_simplicial_set(&knn)),
                    };
                    let mut embedding = std::borrow::Cow::Borrowed(&ds.embedding);
                    if let (ClusterMethod::Kmeans(_), 0, TabSource::Session { path, index }) =
                        (&method, ds.embedding.cols, &source)
                    {
                        ctx.progress("loading embedding", 0.2);
                        embedding = std::borrow::Cow::Owned(
                            crate::session::read_embedding(path, *index)
                                .map_err(|e| e.to_string())?,
                        );
                    }
                    ctx.progress("clustering", 0.5);
                    let c =
                        pipeline::cluster(&embedding, &g, &method).map_err(|e| e.to_string())?;
                    if ctx.is_cancelled() {
                        return Ok(());
                    }
                    let c = Arc::new(c);
                    ctx.output(JobOutput::Reclustered(c.clone(), method, Some(g)));
                    if let Some(e) = &ds.expression {
                        ctx.progress("marker genes", 0.8);
                        let m = crate::analysis::markers::cluster_markers(e, &c);
                        ctx.output(JobOutput::Pipeline(PipelineEvent::Markers(Arc::new(m))));
                    }
                    if let Some(s) = &ds.sequences {
                        let emit = |ev: PipelineEvent| match ev {
                            PipelineEvent::Stage { name, fraction } => ctx.progress(name, fraction),
                            other => ctx.output(JobOutput::Pipeline(other)),
                        };
                        let m = pipeline::find_motifs(s, &c, &motif_params, &emit, &ctx.cancel)
                            .map_err(|e| e.to_string())?;
                        ctx.output(JobOutput::Pipeline(PipelineEvent::Motifs(m)));
                    }
                    Ok(())
                });
                self.started(tab, JobKind::Recluster, name.into(), id, cancel);
            }
            Effect::Compare { tab, a, b, label } => {
                let Some(t) = self.state.tabs.get(tab) else {
                    return;
                };
                let (Some(ds), Some(clusters)) = (t.dataset.clone(), t.clusters.clone()) else {
                    return;
                };
                let (id, cancel) = self.runner.spawn(move |ctx| {
                    let e = ds
                        .expression
                        .as_ref()
                        .ok_or("marker genes need expression values")?;
                    ctx.progress("wilcoxon", 0.0);
                    let pick = |set: &[u32], other: &[u32]| -> Vec<usize> {
                        (0..clusters.len())
                            .filter(|&i| {
                                if set.is_empty() {
                                    !other.contains(&clusters[i])
                                } else {
                                    set.contains(&clusters[i])
                                }
                            })
                            .collect()
                    };
                    let (ia, ib) = (pick(&a, &b), pick(&b, &a));
                    if ia.is_empty() || ib.is_empty() {
                        return Err(format!("{label}: a side has no cells"));
                    }
                    let m = crate::analysis::markers::compare(e, &ia, &ib, &label);
                    ctx.output(JobOutput::Compared(Arc::new(m)));
                    Ok(())
                });
                self.started(tab, JobKind::Compare, "compare".into(), id, cancel);
            }
            Effect::Export { tab, kind, path } => {
                let action = match self.export(tab, &kind, &path) {
                    Ok(n) => Action::Notify {
                        text: format!("wrote {n} rows to {}", path.display()),
                        error: false,
                    },
                    Err(e) => Action::Notify {
                        text: e,
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

    fn export(
        &self,
        tab: usize,
        kind: &ExportKind,
        path: &std::path::Path,
    ) -> Result<usize, String> {
        let t = self.state.tabs.get(tab).ok_or("no such tab")?;
        let ds = t.dataset.as_ref().ok_or("no data yet")?;
        let clusters = t.clusters.as_ref().ok_or("no clusters yet")?;
        match kind {
            ExportKind::ClusterIds(c) => {
                crate::export::write_ids(path, ds, clusters, *c).map_err(|e| e.to_string())
            }
            ExportKind::Clusters => {
                let table = crate::export::clusters_table(ds, clusters);
                crate::export::write_table(path, &table).map_err(|e| e.to_string())?;
                Ok(table.n_rows())
            }
            ExportKind::Markers => {
                let e = ds
                    .expression
                    .as_ref()
                    .ok_or("no marker genes (cells only)")?;
                // The comparison on screen, else every cluster's markers.
                let tables = match (&t.comparison, &t.markers) {
                    (Some(c), _) => std::slice::from_ref(c.as_ref()),
                    (None, Some(m)) => m.tables.as_slice(),
                    (None, None) => return Err("no marker genes yet".into()),
                };
                let table = crate::export::markers_table(&ds.name, &e.genes, tables, usize::MAX);
                crate::export::write_table(path, &table).map_err(|e| e.to_string())?;
                Ok(table.n_rows())
            }
            ExportKind::Motifs { meme } => {
                let m = t
                    .motifs
                    .as_ref()
                    .ok_or("no motifs (DNA only, once clusters land)")?;
                if *meme {
                    return crate::export::write_meme(path, m).map_err(|e| e.to_string());
                }
                let table = crate::export::motifs_table(&ds.name, m);
                crate::export::write_table(path, &table).map_err(|e| e.to_string())?;
                Ok(table.n_rows())
            }
            ExportKind::Sites => {
                let m = t
                    .motifs
                    .as_ref()
                    .ok_or("no motifs (DNA only, once clusters land)")?;
                let table = crate::export::sites_table(ds, m);
                crate::export::write_table(path, &table).map_err(|e| e.to_string())?;
                Ok(table.n_rows())
            }
            ExportKind::Anomalies => {
                let (Some(k), Some(i)) = (&t.anomaly_knn, &t.anomaly_iforest) else {
                    return Err("no anomaly scores yet".into());
                };
                let table = crate::export::anomalies_table(
                    ds,
                    k,
                    i,
                    t.anomaly_model.as_deref().map(|v| v.as_slice()),
                    clusters,
                );
                crate::export::write_table(path, &table).map_err(|e| e.to_string())?;
                Ok(table.n_rows())
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

/// Runs the interactive app in the real terminal until the user quits.
pub fn run(
    tabs: Vec<Tab>,
    params: PipelineParams,
    cells: crate::cells::InputOptions,
) -> anyhow::Result<()> {
    let mut term = super::terminal::enter()?;
    let size = term.size()?;
    let picker = graphics_picker();
    let mut app = App::new(tabs, params, (size.width, size.height));
    app.state.cells = cells;
    app.state.picker = picker;
    app.start();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let input = {
        let tx = app.sender();
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                match crossterm::event::poll(Duration::from_millis(100)) {
                    Ok(true) => match crossterm::event::read() {
                        Ok(ev) => {
                            if tx.send(Event::Term(ev)).is_err() {
                                break;
                            }
                        }
                        Err(_) => break,
                    },
                    Ok(false) => {}
                    Err(_) => break,
                }
            }
        })
    };
    let result = (|| -> anyhow::Result<()> {
        term.draw(|f| super::draw::draw(&app.state, f))?;
        loop {
            let busy = app.state.running_jobs().next().is_some();
            let first = app
                .rx
                .recv_timeout(Duration::from_millis(if busy { 250 } else { 1000 }));
            let mut events = Vec::new();
            match first {
                Ok(ev) => events.push(ev),
                Err(RecvTimeoutError::Timeout) => {
                    if !busy {
                        continue;
                    }
                    app.dispatch(Action::Tick);
                }
                Err(RecvTimeoutError::Disconnected) => break,
            }
            while let Ok(ev) = app.rx.try_recv() {
                events.push(ev);
            }
            // Terminal input first, then job results: the user is never kept waiting.
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
    })();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for c in app.cancels.values() {
        c.cancel();
    }
    super::terminal::restore();
    let _ = input.join();
    result
}
