//! biolens command line: parse, set up logging and the panic hook, dispatch.

use biolens::cli::{Cli, Command, CommonOpts};
use clap::Parser;
use std::path::PathBuf;

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
    biolens::core::memory::keep_freed_blocks();
    let cli = Cli::parse();
    init_logging(&cli.opts);
    biolens::tui::terminal::install_panic_hook();
    let result = match cli.command {
        Some(Command::Run { paths, out }) => biolens::cli::run(&paths, &out, &cli.opts),
        Some(Command::Open { paths }) => biolens::cli::open(&paths, &cli.opts),
        Some(Command::Watch(args)) => biolens::cli::watch(&args, &cli.opts),
        Some(Command::Export {
            session,
            what,
            name,
            format,
            out,
            dataset,
            into,
        }) => biolens::cli::export(
            &session,
            what,
            name.as_deref(),
            biolens::cli::AnndataTarget {
                dataset: dataset.as_deref(),
                into: into.as_deref(),
            },
            format,
            &out,
        ),
        Some(Command::Scan {
            seqs,
            motif,
            site_p,
            out,
        }) => biolens::cli::scan(&seqs, &motif, site_p, out.as_deref(), &cli.opts),
        None => biolens::cli::open(&cli.paths, &cli.opts),
    };
    if let Err(e) = result {
        biolens::tui::terminal::restore();
        eprintln!("error: {e:#}");
        std::process::exit(2);
    }
}
