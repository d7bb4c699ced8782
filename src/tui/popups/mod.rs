//! Overlays drawn over the panes.

pub mod help;
