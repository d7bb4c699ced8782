//! Progress of `biolens run` on stderr.

use std::io::{IsTerminal, Write};

/// Progress on stderr: a redrawn bar on a terminal; otherwise one line per stage, and one
/// every 10 s within a long stage.
pub struct Progress {
    pub tty: bool,
    pub start: std::time::Instant,
    last: std::sync::Mutex<(String, std::time::Instant, std::time::Instant)>,
}

impl Progress {
    pub fn new() -> Self {
        let now = std::time::Instant::now();
        Self {
            tty: std::io::stderr().is_terminal(),
            start: now,
            last: std::sync::Mutex::new((String::new(), now, now)),
        }
    }

    pub fn report(&self, dataset: &str, stage: &str, f: f64) {
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
        // Without a terminal (a log under nohup or tmux), a long stage still says how far it
        // is every 10 s, so a log never sits silent for minutes.
        if !self.tty && !new_stage && f < 1.0 && now.duration_since(last.2).as_secs() >= 10 {
            last.2 = now;
            eprintln!(
                "[{:>6.1}s] {dataset}: {stage} {:.0}%",
                self.start.elapsed().as_secs_f64(),
                f * 100.0
            );
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

impl Default for Progress {
    fn default() -> Self {
        Self::new()
    }
}
