//! The jobs pane: every background job with its stage, progress, ETA and outcome.

use crate::pipeline::jobs::JobId;
use crate::tui::theme::{fmt_secs, pane, truncate};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use std::time::Instant;

#[derive(Debug, Clone, PartialEq)]
pub enum JobState {
    Running,
    Done,
    Cancelled,
    Failed(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct JobView {
    pub id: JobId,
    pub name: String,
    pub stage: String,
    pub fraction: f64,
    pub state: JobState,
    pub started: std::time::Instant,
    pub stage_started: std::time::Instant,
    /// Seconds left in the current stage, estimated from its progress.
    pub eta: Option<f64>,
    pub elapsed: f64,
}

/// Updates the elapsed time and ETA of running jobs.
pub fn tick(jobs: &mut [JobView]) {
    let now = Instant::now();
    for j in jobs {
        if j.state == JobState::Running {
            j.elapsed = now.duration_since(j.started).as_secs_f64();
            let in_stage = now.duration_since(j.stage_started).as_secs_f64();
            j.eta = (j.fraction > 0.02 && j.fraction < 1.0)
                .then(|| in_stage * (1.0 - j.fraction) / j.fraction);
        }
    }
}

/// Adds a view for a newly spawned job, keeping at most 8 (finished ones go first).
pub fn push(jobs: &mut Vec<JobView>, id: JobId, name: &str) {
    let now = Instant::now();
    jobs.push(JobView {
        id,
        name: name.to_string(),
        stage: "starting".into(),
        fraction: 0.0,
        state: JobState::Running,
        started: now,
        stage_started: now,
        eta: None,
        elapsed: 0.0,
    });
    // Keep the list short: finished jobs beyond the last 8 are dropped.
    while jobs.len() > 8 {
        match jobs.iter().position(|j| j.state != JobState::Running) {
            Some(p) => {
                jobs.remove(p);
            }
            None => break,
        }
    }
}

/// The jobs list, newest first: stage, progress bar, ETA, or how it ended.
pub fn draw(jobs: &[JobView], focused: bool, f: &mut Frame, r: Rect) {
    let block = pane(" jobs ", focused);
    let w = r.width.saturating_sub(2) as usize;
    let lines: Vec<Line> = jobs
        .iter()
        .rev()
        .map(|j| {
            let (status, style) = match &j.state {
                JobState::Running => {
                    let bar_w = 10usize;
                    let filled = ((j.fraction * bar_w as f64).round() as usize).min(bar_w);
                    let eta = j
                        .eta
                        .map(|e| format!(" ETA {}", fmt_secs(e)))
                        .unwrap_or_default();
                    // A stage named like its job ("motifs" in job "motifs") is said once.
                    let stage = if j.name.ends_with(j.stage.as_str()) {
                        ""
                    } else {
                        j.stage.as_str()
                    };
                    (
                        format!(
                            "{}{}{}{} {:.0}%{}",
                            stage,
                            if stage.is_empty() { "" } else { " " },
                            "█".repeat(filled),
                            "░".repeat(bar_w - filled),
                            j.fraction * 100.0,
                            eta
                        ),
                        Style::default().fg(Color::Cyan),
                    )
                }
                JobState::Done => ("✓ done".to_string(), Style::default().fg(Color::Green)),
                JobState::Cancelled => {
                    ("cancelled".to_string(), Style::default().fg(Color::Yellow))
                }
                JobState::Failed(e) => (format!("✗ {e}"), Style::default().fg(Color::Red)),
            };
            Line::from(vec![
                Span::raw(format!("#{} {} ", j.id.0, j.name)),
                Span::styled(truncate(&status, w.saturating_sub(j.name.len() + 4)), style),
            ])
        })
        .collect();
    let lines = if lines.is_empty() {
        vec![Line::from("no jobs · x cancels the running one")]
    } else {
        lines
    };
    f.render_widget(
        Paragraph::new(lines)
            .wrap(ratatui::widgets::Wrap { trim: false })
            .block(block),
        r,
    );
}
