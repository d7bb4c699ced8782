//! Background jobs: each has an id, a name, throttled progress, a cancellation token and
//! owned results. The runner knows nothing about the terminal: messages go to a sink the
//! caller supplies (the TUI's event channel, or a test's).

use crate::pipeline::recluster::Reclustered;
use crate::pipeline::{CancelToken, PipelineEvent};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JobId(pub u64);

/// A result a job hands back while or when it finishes.
#[derive(Debug, Clone)]
pub enum JobOutput {
    /// What the pipeline (or a recluster) emits, as it lands.
    Pipeline(PipelineEvent),
    /// A `:compare` result.
    Compared(Arc<crate::pipeline::groups::Comparison>),
    Reclustered(Box<Reclustered>),
    /// Columns computed for the tab's items (a motif scan's), with a line saying what they
    /// hold; they join the dataset's metadata, and the first colours the map.
    Columns {
        columns: Vec<crate::core::MetaColumn>,
        note: String,
    },
    /// A `:nhood` result.
    Neighbourhood(Arc<crate::pipeline::spatial::Neighbourhood>),
    /// Pictures of the slides behind the tissue view's tiles.
    SlidePictures(Arc<crate::modality::SlidePictures>),
    /// A live run's new version, computed.
    Version(Arc<crate::watch::Version>),
    /// A live run's metrics log, with the rows just appended.
    Metrics(Arc<crate::watch::metrics::Metrics>),
}

#[derive(Debug, Clone)]
pub enum JobMsg {
    Progress {
        id: JobId,
        stage: String,
        fraction: f64,
    },
    Output {
        id: JobId,
        output: JobOutput,
    },
    Finished {
        id: JobId,
        outcome: JobOutcome,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum JobOutcome {
    Done,
    Cancelled,
    Failed(String),
}

pub type Sink = Arc<dyn Fn(JobMsg) + Send + Sync>;

/// Why a job failed.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error(transparent)]
    Pipeline(#[from] crate::pipeline::PipelineError),
    #[error(transparent)]
    File(#[from] crate::io::FileError),
    /// What went wrong, said in full (a file named, and why).
    #[error("{0}")]
    Said(String),
}

/// What a job body gets: report progress, hand back results, check for cancellation.
pub struct JobCtx {
    pub id: JobId,
    sink: Sink,
    pub cancel: CancelToken,
    last: std::sync::Mutex<(Instant, String)>,
}

impl JobCtx {
    /// Progress, throttled to ~20 messages a second per job (stage changes always pass).
    pub fn progress(&self, stage: &str, fraction: f64) {
        if let Ok(mut last) = self.last.lock() {
            let now = Instant::now();
            if last.1 == stage
                && now.duration_since(last.0) < Duration::from_millis(50)
                && fraction < 1.0
            {
                return;
            }
            *last = (now, stage.to_string());
        }
        (self.sink)(JobMsg::Progress {
            id: self.id,
            stage: stage.to_string(),
            fraction,
        });
    }

    pub fn output(&self, output: JobOutput) {
        (self.sink)(JobMsg::Output {
            id: self.id,
            output,
        });
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }
}

/// Starts jobs, numbering them: CPU-bound bodies on the runtime's bounded blocking pool, each
/// with a rayon pool of the runner's thread count; waiting bodies (a live run's file loop) as
/// tasks on the runtime itself.
pub struct JobRunner {
    next: u64,
    sink: Sink,
    threads: usize,
    runtime: tokio::runtime::Handle,
}

impl JobRunner {
    pub fn new(sink: Sink, threads: usize, runtime: tokio::runtime::Handle) -> Self {
        Self {
            next: 1,
            sink,
            threads,
            runtime,
        }
    }

    fn context(&mut self) -> JobCtx {
        let id = JobId(self.next);
        self.next += 1;
        JobCtx {
            id,
            sink: self.sink.clone(),
            cancel: CancelToken::default(),
            last: std::sync::Mutex::new((Instant::now(), String::new())),
        }
    }

    /// Starts `body` in the background with a rayon pool of the runner's thread count.
    /// The body returns an error to fail; a cancelled body's outcome is `Cancelled`.
    pub fn spawn<F>(&mut self, body: F) -> (JobId, CancelToken)
    where
        F: FnOnce(&JobCtx) -> Result<(), JobError> + Send + 'static,
    {
        let ctx = self.context();
        let (id, cancel) = (ctx.id, ctx.cancel.clone());
        let threads = self.threads;
        self.runtime.spawn_blocking(move || {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                crate::pipeline::with_threads(threads, || body(&ctx))
            }));
            let outcome = match r {
                Ok(r) => outcome(r, ctx.is_cancelled()),
                Err(p) => panicked(p),
            };
            (ctx.sink)(JobMsg::Finished { id, outcome });
        });
        (id, cancel)
    }

    /// Starts the future `body` makes as a task on the runtime: for a job that mostly waits
    /// (on files, on its own blocking work) and must not hold a thread while it does.
    pub fn spawn_async<F, Fut>(&mut self, body: F) -> (JobId, CancelToken)
    where
        F: FnOnce(JobCtx) -> Fut,
        Fut: std::future::Future<Output = Result<(), JobError>> + Send + 'static,
    {
        let ctx = self.context();
        let (id, cancel, sink) = (ctx.id, ctx.cancel.clone(), ctx.sink.clone());
        let task = self.runtime.spawn(body(ctx));
        let cancelled = cancel.clone();
        self.runtime.spawn(async move {
            let outcome = match task.await {
                Ok(r) => outcome(r, cancelled.is_cancelled()),
                Err(e) if e.is_panic() => panicked(e.into_panic()),
                Err(_) => JobOutcome::Cancelled,
            };
            sink(JobMsg::Finished { id, outcome });
        });
        (id, cancel)
    }
}

fn outcome(r: Result<(), JobError>, cancelled: bool) -> JobOutcome {
    match r {
        _ if cancelled => JobOutcome::Cancelled,
        Ok(()) => JobOutcome::Done,
        Err(e) => JobOutcome::Failed(e.to_string()),
    }
}

fn panicked(p: Box<dyn std::any::Any + Send>) -> JobOutcome {
    JobOutcome::Failed(format!(
        "internal error: {}",
        p.downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    /// A runner whose messages arrive on the receiver; the runtime must outlive the jobs.
    fn runner() -> (JobRunner, mpsc::Receiver<JobMsg>, tokio::runtime::Runtime) {
        let (tx, rx) = mpsc::channel();
        let tx = std::sync::Mutex::new(tx);
        let sink: Sink = Arc::new(move |m| {
            let _ = tx.lock().map(|t| t.send(m));
        });
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_time()
            .build()
            .unwrap();
        (JobRunner::new(sink, 1, rt.handle().clone()), rx, rt)
    }

    #[test]
    fn a_cancelled_job_reports_cancelled_and_a_failing_one_its_reason() {
        let (mut runner, rx, _rt) = runner();
        // Runs until cancelled (bounded, so a broken cancel fails the test instead of hanging).
        let (id, cancel) = runner.spawn(|ctx| {
            let end = Instant::now() + Duration::from_secs(30);
            while !ctx.is_cancelled() && Instant::now() < end {
                ctx.progress("waiting", 0.5);
                std::thread::sleep(Duration::from_millis(1));
            }
            if ctx.is_cancelled() {
                Err(crate::pipeline::PipelineError::Cancelled.into())
            } else {
                Ok(())
            }
        });
        let (bad, _) = runner.spawn(|_| {
            Err(crate::io::bad(
                std::path::Path::new("boom"),
                "the session has no data for this tab",
            )
            .into())
        });
        cancel.cancel();
        let mut outcomes = std::collections::HashMap::new();
        while outcomes.len() < 2 {
            if let JobMsg::Finished { id, outcome } =
                rx.recv_timeout(Duration::from_secs(60)).unwrap()
            {
                outcomes.insert(id, outcome);
            }
        }
        assert_eq!(outcomes[&id], JobOutcome::Cancelled);
        assert_eq!(
            outcomes[&bad],
            JobOutcome::Failed("boom: the session has no data for this tab".into())
        );
        assert_ne!(id, bad);
    }

    #[test]
    fn an_async_job_reports_its_outcome_and_a_panic_as_a_failure() {
        let (mut runner, rx, _rt) = runner();
        let (fine, _) = runner.spawn_async(|ctx| async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            ctx.progress("slept", 1.0);
            Ok(())
        });
        let (bad, _) = runner.spawn_async(|_| async move {
            if Instant::now().elapsed() < Duration::from_secs(3600) {
                panic!("lost the file");
            }
            Ok(())
        });
        let mut outcomes = std::collections::HashMap::new();
        let mut progressed = false;
        while outcomes.len() < 2 {
            match rx.recv_timeout(Duration::from_secs(60)).unwrap() {
                JobMsg::Finished { id, outcome } => {
                    outcomes.insert(id, outcome);
                }
                JobMsg::Progress { id, .. } => progressed |= id == fine,
                JobMsg::Output { .. } => {}
            }
        }
        assert!(progressed);
        assert_eq!(outcomes[&fine], JobOutcome::Done);
        assert_eq!(
            outcomes[&bad],
            JobOutcome::Failed("internal error: lost the file".into())
        );
    }
}
