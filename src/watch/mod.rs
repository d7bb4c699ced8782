//! Following a training run live (`biolens watch`): files that land are picked up once each
//! when complete, each version goes through the one pipeline as a cancellable job (a newer
//! version cancels an older one still computing), the picture is kept stable across
//! versions, and the metrics log is read as it grows.
//!
//! The loop runs on tokio: file events from `notify` and a tick (for files that settle
//! without another event, and for file systems that send none) wake it; CPU-bound versions
//! run on the blocking pool under the run's thread count.

pub mod files;
pub mod metrics;
pub mod version;

use crate::pipeline::{CancelToken, PipelineError, PipelineParams, RunOptions};
use files::{Stamp, Target, Tracker, Waiting};
use metrics::MetricsLog;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
pub use version::{Change, Version};

/// What to follow and how.
#[derive(Debug, Clone, PartialEq)]
pub struct WatchOptions {
    pub targets: Vec<PathBuf>,
    pub metrics: Option<PathBuf>,
    /// How long a file keeps its size and time before it counts as written.
    pub settle: Duration,
    /// Stop once nothing has landed or computed for this long (None: until stopped).
    pub idle_exit: Option<Duration>,
    pub threads: usize,
}

impl WatchOptions {
    /// Every target's folder exists (a file or pattern may not have landed yet; its folder
    /// must be there to be watched).
    pub fn check(&self) -> Result<(), String> {
        match self
            .targets
            .iter()
            .map(|t| Target::parse(t).folder())
            .find(|f| !f.is_dir())
        {
            Some(f) => Err(format!("{}: no such folder to watch", f.display())),
            None => Ok(()),
        }
    }

    /// The run's name, for a tab's title: the folder its first target lies in (`exp3` for
    /// `runs/exp3/emb_*.npy` and for `runs/exp3/`).
    pub fn name(&self) -> String {
        let folder = self
            .targets
            .first()
            .map(|t| Target::parse(t).folder())
            .unwrap_or_default();
        std::fs::canonicalize(&folder)
            .unwrap_or(folder)
            .file_name()
            .map_or_else(|| "watch".into(), |n| n.to_string_lossy().into_owned())
    }
}

/// What a watch reports as it goes.
#[derive(Debug, Clone)]
pub enum WatchEvent {
    /// Files seen but not yet written whole (each said once while it waits).
    Waiting(Vec<Waiting>),
    /// A complete version was picked up.
    Landed(Stamp),
    /// A version was left for a newer one (cancelled while computing, or never started).
    Superseded(Stamp),
    /// A version is computed: its map, clusters and what changed.
    Computed(Arc<Version>),
    /// A version could not be computed (the file named, and why); the watch goes on.
    Failed(Stamp, String),
    /// Rows were appended to the metrics log.
    Metrics(metrics::Metrics),
    /// The metrics log has a line that cannot be read (file and line named); the watch goes on.
    MetricsFailed(String),
    /// A pipeline stage of the version being computed.
    Stage(&'static str, f64),
}

/// Follows the targets until `stop` is set or the idle time passes, calling `on` with every
/// event. Returns the versions computed.
pub fn watch(
    w: &WatchOptions,
    params: &PipelineParams,
    opts: &RunOptions,
    stop: &CancelToken,
    on: &mut (dyn FnMut(WatchEvent) + Send),
) -> Result<Vec<Arc<Version>>, String> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .max_blocking_threads(2)
        .enable_time()
        .build()
        .map_err(|e| format!("cannot start the watch loop: {e}"))?;
    rt.block_on(follow(w, params, opts, stop, on))
}

/// The watch loop itself, for a caller that already runs tokio (the interface, whose runtime
/// also carries the versions' blocking work).
pub async fn follow(
    w: &WatchOptions,
    params: &PipelineParams,
    opts: &RunOptions,
    stop: &CancelToken,
    on: &mut (dyn FnMut(WatchEvent) + Send),
) -> Result<Vec<Arc<Version>>, String> {
    use notify::Watcher;
    w.check()?;
    let targets: Vec<Target> = w.targets.iter().map(|p| Target::parse(p)).collect();
    let (wake_tx, mut wake_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    // File events only wake the loop: what changed is read from the files themselves.
    let mut watcher = notify::recommended_watcher(move |_res: notify::Result<notify::Event>| {
        let _ = wake_tx.send(());
    })
    .map_err(|e| format!("cannot watch files: {e}"))?;
    let mut folders: Vec<PathBuf> = targets.iter().map(Target::folder).collect();
    if let Some(m) = &w.metrics
        && let Some(parent) = m.parent().filter(|p| !p.as_os_str().is_empty())
    {
        folders.push(parent.to_path_buf());
    }
    folders.sort();
    folders.dedup();
    for f in &folders {
        watcher
            .watch(f, notify::RecursiveMode::NonRecursive)
            .map_err(|e| format!("{}: cannot watch: {e}", f.display()))?;
    }
    let mut tracker = Tracker::new(targets, w.settle);
    let mut log = w.metrics.as_deref().map(MetricsLog::new);
    let (done_tx, mut done_rx) =
        tokio::sync::mpsc::unbounded_channel::<(Stamp, Result<Version, PipelineError>)>();
    let (stage_tx, mut stage_rx) = tokio::sync::mpsc::unbounded_channel::<(&'static str, f64)>();
    let mut queue: Vec<Stamp> = Vec::new();
    // The cancel token of the version computing on the blocking pool, if one is.
    let mut computing: Option<CancelToken> = None;
    let mut versions: Vec<Arc<Version>> = Vec::new();
    let mut said_waiting: Vec<Waiting> = Vec::new();
    let mut last_activity = Instant::now();
    let tick_every = (w.settle / 2).clamp(Duration::from_millis(50), Duration::from_secs(1));
    let mut tick = tokio::time::interval(tick_every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            Some(()) = wake_rx.recv() => {}
            Some((name, f)) = stage_rx.recv() => {
                on(WatchEvent::Stage(name, f));
                continue;
            }
            Some((stamp, result)) = done_rx.recv() => {
                computing = None;
                last_activity = Instant::now();
                match result {
                    Ok(mut v) => {
                        v.change.step = log.as_ref().and_then(|l| l.metrics.steps().1.last().copied());
                        let v = Arc::new(v);
                        versions.push(v.clone());
                        on(WatchEvent::Computed(v));
                    }
                    Err(PipelineError::Cancelled) => on(WatchEvent::Superseded(stamp)),
                    Err(e) => on(WatchEvent::Failed(stamp, e.to_string())),
                }
            }
        }
        if stop.is_cancelled() {
            if let Some(c) = &computing {
                c.cancel();
            }
            break;
        }
        let (landed, waiting) = tracker.poll(Instant::now());
        if waiting != said_waiting {
            if !waiting.is_empty() {
                on(WatchEvent::Waiting(waiting.clone()));
            }
            said_waiting = waiting;
        }
        for s in landed {
            last_activity = Instant::now();
            on(WatchEvent::Landed(s.clone()));
            queue.push(s);
            // A newer version makes the one computing moot.
            if let Some(c) = &computing {
                c.cancel();
            }
        }
        if let Some(log) = &mut log {
            match log.update() {
                Ok(0) => {}
                Ok(_) => on(WatchEvent::Metrics(log.metrics.clone())),
                Err(e) => on(WatchEvent::MetricsFailed(e)),
            }
        }
        if computing.is_none() && !queue.is_empty() {
            // Only the newest waiting version is worth computing.
            let newest = queue.pop().unwrap_or_else(|| unreachable!());
            for s in queue.drain(..) {
                on(WatchEvent::Superseded(s));
            }
            let cancel = CancelToken::default();
            computing = Some(cancel.clone());
            let (params, opts, previous) = (params.clone(), opts.clone(), versions.last().cloned());
            let (done, stage) = (done_tx.clone(), stage_tx.clone());
            let number = versions.len() + 1;
            let threads = w.threads;
            tokio::task::spawn_blocking(move || {
                let emit = |ev: crate::pipeline::PipelineEvent| {
                    if let crate::pipeline::PipelineEvent::Stage { name, fraction } = ev {
                        let _ = stage.send((name, fraction));
                    }
                };
                let r = crate::pipeline::with_threads(threads, || {
                    version::compute(
                        number,
                        &newest,
                        &params,
                        &opts,
                        previous.as_deref(),
                        &emit,
                        &cancel,
                    )
                });
                let _ = done.send((newest, r));
            });
        }
        if computing.is_none()
            && queue.is_empty()
            && w.idle_exit.is_some_and(|d| last_activity.elapsed() >= d)
        {
            break;
        }
    }
    Ok(versions)
}
