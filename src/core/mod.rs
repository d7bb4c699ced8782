//! Modality-free building blocks: the dense matrix, the metadata columns, the reader error,
//! device and weight-initialisation helpers for the candle models. Imports nothing of ours.

mod error;
pub mod guard;
pub mod matrix;
pub mod memory;
pub mod meta;
pub mod nn;
pub mod scratch;
pub mod selection;
pub mod text;

pub use error::DataError;
pub use meta::{MetaColumn, MetaValues};

/// What a modality's reader returns: the items' ids and metadata, the modality's own data, the
/// files read (for the manifest) and what the reader did that the user should know.
pub struct ItemsRead<D> {
    pub ids: Vec<String>,
    pub meta: Vec<MetaColumn>,
    pub data: D,
    pub inputs: Vec<std::path::PathBuf>,
    pub notes: Vec<String>,
}
