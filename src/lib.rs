//! biolens: explore unlabelled biological data in the terminal.
//!
//! Layers, each importing only those below it: `core` and `io` (types and formats),
//! `analysis` (modality-free stages), `modality` (one folder per kind of data behind one
//! enum), `pipeline` (the one wiring of the stages, background jobs), `session` and `export`,
//! then the front ends: `cli` and `tui`. Only `tui` knows about a terminal.

pub mod analysis;
pub mod cli;
pub mod core;
pub mod export;
pub mod io;
pub mod modality;
pub mod pipeline;
pub mod session;
pub mod tui;
pub mod watch;

/// Version string recorded in session manifests.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
