//! Modality-free building blocks: the dense matrix, the metadata columns, the reader error,
//! device and weight-initialisation helpers for the candle models. Imports nothing of ours.

mod error;
pub mod matrix;
pub mod meta;
pub mod nn;

pub use error::DataError;
pub use meta::{MetaColumn, MetaValues};
