//! Format families every modality shares: Parquet tables, NPY arrays, embedding and metadata
//! tables (other tools' Parquet and Arrow IPC through polars, `frame`), gzip-transparent
//! text. Imports nothing of ours but `core`.

pub mod frame;
pub mod h5chunks;
pub mod npy;
pub mod parquet;
pub mod tables;
pub mod text;

use std::path::{Path, PathBuf};

/// Reading or writing one of our own files (session parts, exports) failed.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("{path}: {reason}")]
    Bad { path: PathBuf, reason: String },
    #[error("{path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error(transparent)]
    Table(#[from] parquet::TableError),
}

/// A `FileError::Bad` for `path`.
pub fn bad(path: &Path, reason: impl Into<String>) -> FileError {
    FileError::Bad {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// Maps an I/O error on `path` to a `FileError`.
pub fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> FileError + '_ {
    move |error| FileError::Io {
        path: path.to_path_buf(),
        error,
    }
}

/// Column `name` of a table read from `path`, or an error naming both.
pub fn column<'a>(
    t: &'a parquet::Table,
    name: &str,
    path: &Path,
) -> Result<&'a parquet::Column, FileError> {
    t.get(name)
        .ok_or_else(|| bad(path, format!("missing column '{name}'")))
}
