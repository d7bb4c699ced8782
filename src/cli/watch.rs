//! `biolens watch`: follows a training run. With `--headless`, a line per event on standard
//! error (for `nohup` or tmux on the GPU box) and every computed version written into the
//! session folder `-o`, side by side.

use super::{CommonOpts, WatchArgs};
use crate::pipeline::{CancelToken, RunOptions};
use crate::watch::{WatchEvent, WatchOptions};
use anyhow::{Result, bail};
use std::time::Duration;

pub fn watch(a: &WatchArgs, opts: &CommonOpts) -> Result<()> {
    let threads = opts.thread_count();
    let w = WatchOptions {
        targets: a.paths.clone(),
        metrics: a.metrics.clone(),
        settle: Duration::from_millis(a.settle_ms),
        idle_exit: a.idle_exit.map(Duration::from_secs_f64),
        threads,
    };
    if !a.headless {
        if a.out.is_some() {
            bail!("-o keeps the versions of a --headless watch; the interface shows them");
        }
        if !std::io::IsTerminal::is_terminal(&std::io::stdout()) {
            bail!(
                "the live view needs a terminal; use `biolens watch … --headless -o RUN.biolens`"
            );
        }
        let params = opts.pipeline_params();
        let inputs = opts.input_options();
        params.check_options()?;
        inputs.check().map_err(anyhow::Error::msg)?;
        let tab = crate::tui::state::Tab::new(
            format!("watch {}", w.name()),
            crate::tui::state::TabSource::Watch(w),
        );
        let mouse = !opts.no_mouse && crate::tui::keymap::mouse_wanted();
        return crate::tui::app::run(
            vec![tab],
            params,
            RunOptions {
                inputs,
                preview: false,
            },
            mouse,
        );
    }
    if let Some(out) = &a.out {
        if out.exists() && !crate::session::is_session(out) {
            bail!(
                "{}: exists and is not a biolens session; choose another -o",
                out.display()
            );
        }
        crate::session::check_writable(out)?;
    }
    if let Some(s) = a.idle_exit
        && !(s.is_finite() && s >= 0.0)
    {
        bail!("--idle-exit must be a number of seconds ≥ 0, got {s}");
    }
    crate::core::scratch::clean_up_on_signal()?;
    let params = opts.pipeline_params();
    let run_opts = RunOptions {
        inputs: opts.input_options(),
        preview: false,
    };
    params.check_options()?;
    run_opts.inputs.check().map_err(anyhow::Error::msg)?;
    let stop = CancelToken::default();
    let mut kept: Vec<std::sync::Arc<crate::watch::Version>> = Vec::new();
    let mut last_metrics: Option<crate::watch::metrics::Metrics> = None;
    let mut write_error: Option<anyhow::Error> = None;
    eprintln!(
        "watching {} (a file counts once it has kept its size for {} ms){}",
        a.paths
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", "),
        a.settle_ms,
        a.metrics
            .as_ref()
            .map_or(String::new(), |m| format!("; metrics from {}", m.display()))
    );
    crate::watch::watch(&w, &params, &run_opts, &stop, &mut |ev| match ev {
        WatchEvent::Waiting(ws) => {
            for x in ws {
                eprintln!("waiting for {}: {}", x.path.display(), x.why);
            }
        }
        WatchEvent::Landed(s) => eprintln!("landed: {} ({} bytes)", s.path.display(), s.size),
        WatchEvent::Superseded(s) => eprintln!(
            "skipped: {} (a newer version landed first)",
            s.path.display()
        ),
        WatchEvent::Failed(s, e) => eprintln!("failed: {}: {e}", s.path.display()),
        WatchEvent::MetricsFailed(e) => eprintln!("metrics: {e}"),
        WatchEvent::Stage(..) => {}
        WatchEvent::Metrics(m) => last_metrics = Some(m),
        WatchEvent::Computed(v) => {
            let mut line = v.change.line();
            if let Some(m) = &last_metrics {
                line.push_str(&format!(" · {}", metrics_line(m)));
            }
            eprintln!("{line}");
            kept.push(v);
            if let Some(out) = &a.out {
                let items: Vec<_> = kept.iter().map(|v| v.item.clone()).collect();
                let inputs: Vec<_> = kept.iter().map(|v| v.inputs.clone()).collect();
                match crate::session::write_with_inputs(
                    out,
                    &params,
                    threads,
                    opts.device,
                    &items,
                    &inputs,
                    &Default::default(),
                ) {
                    Ok(_) => eprintln!(
                        "wrote {} ({} version{})",
                        out.display(),
                        kept.len(),
                        if kept.len() == 1 { "" } else { "s" }
                    ),
                    Err(e) => {
                        eprintln!("error: {e}");
                        write_error.get_or_insert(e.into());
                        stop.cancel();
                    }
                }
            }
        }
    })
    .map_err(anyhow::Error::msg)?;
    if let Some(e) = write_error {
        return Err(e);
    }
    Ok(())
}

/// The metrics' last values: the step and each series' latest value.
fn metrics_line(m: &crate::watch::metrics::Metrics) -> String {
    let (step_name, steps) = m.steps();
    let mut parts = vec![format!(
        "{step_name} {}",
        steps.last().map_or("?".into(), |s| format!("{s}"))
    )];
    for name in m.series() {
        if let Some(v) = m
            .column(name)
            .and_then(|c| c.iter().rev().find(|x| x.is_finite()))
        {
            parts.push(format!("{name} {v:.4}"));
        }
    }
    parts.join(", ")
}
