//! biolens: explore unlabelled biological data in the terminal.
//!
//! The library holds everything but the command-line entry point: loaders (`data`), the
//! analysis stages (`analysis`), their wiring (`pipeline`), background jobs (`jobs`), session
//! folders (`session`) and the terminal interface (`tui`). Only `tui` knows about a terminal.

pub mod analysis;
pub mod cells;

pub mod data;
pub mod dna;
pub mod export;

pub mod cli;
pub mod jobs;
pub mod matrix;
pub mod models;
pub mod pipeline;
pub mod session;

pub mod table_io;
pub mod tiles;
pub mod tui;

/// Version string recorded in session manifests.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
