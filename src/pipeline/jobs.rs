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

/// Spawns jobs on their own threads, numbering them.
pub struct JobRunner {
    next: u64,
    sink: Sink,
    threads: usize,
}

impl JobRunner {
    pub fn new(sink: Sink, threads: usize) -> Self {
        Self {
            next: 1,
            sink,
            threads,
        }
    }

    /// Starts `body` in the background with a rayon pool of the runner's thread count.
    /// The body returns an error to fail; a cancelled body's outcome is `Cancelled`.
    pub fn spawn<F>(&mut self, body: F) -> (JobId, CancelToken)
    where
        F: FnOnce(&JobCtx) -> Result<(), JobError> + Send + 'static,
    {
        let id = JobId(self.next);
        self.next += 1;
        let cancel = CancelToken::default();
        let ctx = JobCtx {
            id,
            sink: self.sink.clone(),
            cancel: cancel.clone(),
            last: std::sync::Mutex::new((Instant::now(), String::new())),
        };
        let threads = self.threads;
        std::thread::spawn(move || {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                crate::pipeline::with_threads(threads, || body(&ctx))
            }));
            let outcome = match r {
                Ok(Ok(())) if ctx.is_cancelled() => JobOutcome::Cancelled,
                Ok(Ok(())) => JobOutcome::Done,
                Ok(Err(_)) if ctx.is_cancelled() => JobOutcome::Cancelled,
                Ok(Err(e)) => JobOutcome::Failed(e.to_string()),
                Err(p) => JobOutcome::Failed(format!(
                    "internal error: {}",
                    p.downcast_ref::<String>()
                        .cloned()
                        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_default()
                )),
            };
            (ctx.sink)(JobMsg::Finished { id, outcome });
        });
        (id, cancel)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    #[test]
    fn a_cancelled_job_reports_cancelled_and_a_failing_one_its_reason() {
        let (tx, rx) = mpsc::channel();
        let tx = std::sync::Mutex::new(tx);
        let sink: Sink = Arc::new(move |m| {
            let _ = tx.lock().map(|t| t.send(m));
        });
        let mut runner = JobRunner::new(sink, 1);
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
}
