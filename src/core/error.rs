//! The error every reader returns for bad input.

use std::path::{Path, PathBuf};

/// Bad input, always naming the file and (where known) the line or record.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("{path}: cannot read: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{path}:{line}: {reason}")]
    BadLine {
        path: PathBuf,
        line: usize,
        reason: String,
    },
    #[error("{path}: {reason}")]
    BadFile { path: PathBuf, reason: String },
    #[error(
        "{path}: not a recognised input (expected a 10x Matrix Market folder, .h5ad, FASTA/FASTQ (.fa, .fasta, .fq, .fastq, optionally .gz), PNG/JPEG/TIFF images or whole slides (.svs, pyramidal .tif) or a folder of them, .csv, .tsv, .parquet or .npy)"
    )]
    Unrecognised { path: PathBuf },
}

impl DataError {
    pub fn io(path: &Path, error: std::io::Error) -> Self {
        DataError::Io {
            path: path.to_path_buf(),
            error,
        }
    }
    pub fn file(path: &Path, reason: impl Into<String>) -> Self {
        DataError::BadFile {
            path: path.to_path_buf(),
            reason: reason.into(),
        }
    }
    pub fn line(path: &Path, line: usize, reason: impl Into<String>) -> Self {
        DataError::BadLine {
            path: path.to_path_buf(),
            line,
            reason: reason.into(),
        }
    }
}
