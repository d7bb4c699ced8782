//! Loaders and the `Dataset` type. One file per format family; every reader reports bad input
//! with the file and, where it applies, the line or record.

pub mod meta;
pub mod mtx;
pub mod npy;
pub mod tables;

use crate::matrix::Matrix;
pub use meta::{MetaColumn, MetaValues};
use std::path::{Path, PathBuf};

/// What kind of items a dataset holds; one TUI tab per dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Modality {
    Cells,
    Dna,
    Images,
    Table,
}

impl Modality {
    pub fn as_str(&self) -> &'static str {
        match self {
            Modality::Cells => "cells",
            Modality::Dna => "dna",
            Modality::Images => "images",
            Modality::Table => "table",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "cells" => Some(Modality::Cells),
            "dna" => Some(Modality::Dna),
            "images" => Some(Modality::Images),
            "table" => Some(Modality::Table),
            _ => None,
        }
    }
}

/// Bad input, always naming the file and (where known) the line or record.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("{path}: cannot read: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
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
        "{path}: not a recognised input (expected a 10x Matrix Market folder, .csv, .parquet or .npy)"
    )]
    Unrecognised { path: PathBuf },
}

impl DataError {
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        DataError::Io {
            path: path.to_path_buf(),
            source,
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

/// How the embedding was made.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum EmbeddingSource {
    /// Read as given from a table or array.
    Precomputed,
    /// log1p-CP10k → HVG → scale → PCA from counts.
    PcaBaseline { n_genes_used: usize },
}

/// One modality's items: ids, metadata columns and their `n × d` embedding.
#[derive(Debug, Clone)]
pub struct Dataset {
    pub name: String,
    pub modality: Modality,
    pub ids: Vec<String>,
    pub meta: Vec<MetaColumn>,
    pub embedding: Matrix,
    pub embedding_source: EmbeddingSource,
    /// The files read, for the manifest.
    pub inputs: Vec<PathBuf>,
}

impl Dataset {
    pub fn len(&self) -> usize {
        self.ids.len()
    }
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
    pub fn meta_column(&self, name: &str) -> Option<&MetaColumn> {
        self.meta.iter().find(|c| c.name == name)
    }
}

/// Options shared by the loaders.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// A CSV of metadata aligned by id (first column or `id`) or, failing that, by row.
    pub meta: Option<PathBuf>,
    pub baseline: crate::analysis::preprocess::BaselineParams,
}

/// Detects the format from the path and loads it.
pub fn load(path: &Path, opts: &LoadOptions) -> Result<Dataset, LoadError> {
    let meta_err = |e| LoadError::Data(e);
    if !path.exists() {
        return Err(LoadError::Data(DataError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file or directory"),
        }));
    }
    let name = path
        .file_name()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_else(|| path.display().to_string());
    let lower = name.to_lowercase();
    let mut ds = if path.is_dir() {
        if mtx::find_matrix(path).is_some() {
            let counts = mtx::read_10x_folder(path).map_err(meta_err)?;
            let emb =
                crate::analysis::preprocess::baseline_embedding(&counts.counts, &opts.baseline)
                    .map_err(|e| LoadError::Baseline {
                        path: path.to_path_buf(),
                        source: e,
                    })?;
            let n_genes_used = counts.counts.n_genes.min(opts.baseline.n_top_genes);
            Dataset {
                name,
                modality: Modality::Cells,
                ids: counts.barcodes,
                meta: counts.meta,
                embedding: emb,
                embedding_source: EmbeddingSource::PcaBaseline { n_genes_used },
                inputs: counts.files,
            }
        } else {
            return Err(LoadError::Data(DataError::file(
                path,
                "folder has no matrix.mtx or matrix.mtx.gz (expected a 10x Matrix Market folder)",
            )));
        }
    } else if lower.ends_with(".csv") || lower.ends_with(".tsv") || lower.ends_with(".csv.gz") {
        tables::read_embedding_csv(path, &name).map_err(meta_err)?
    } else if lower.ends_with(".parquet") {
        tables::read_embedding_parquet(path, &name).map_err(meta_err)?
    } else if lower.ends_with(".npy") {
        npy::read_embedding_npy(path, &name).map_err(meta_err)?
    } else {
        return Err(LoadError::Data(DataError::Unrecognised {
            path: path.to_path_buf(),
        }));
    };
    if let Some(m) = &opts.meta {
        meta::attach_csv(&mut ds, m).map_err(meta_err)?;
        ds.inputs.push(m.clone());
    }
    check_ids(&ds)?;
    Ok(ds)
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Data(#[from] DataError),
    #[error("{path}: {source}")]
    Baseline {
        path: PathBuf,
        #[source]
        source: crate::analysis::preprocess::BaselineError,
    },
    #[error("{path}: duplicate id '{id}' (records {first} and {second}); ids must be unique")]
    DuplicateId {
        path: PathBuf,
        id: String,
        first: usize,
        second: usize,
    },
}

fn check_ids(ds: &Dataset) -> Result<(), LoadError> {
    let mut seen = std::collections::HashMap::with_capacity(ds.ids.len());
    for (i, id) in ds.ids.iter().enumerate() {
        if let Some(&first) = seen.get(id.as_str()) {
            return Err(LoadError::DuplicateId {
                path: ds.inputs.first().cloned().unwrap_or_default(),
                id: id.clone(),
                first: first + 1,
                second: i + 1,
            });
        }
        seen.insert(id.as_str(), i);
    }
    Ok(())
}

/// Opens a file for buffered reading, transparently decompressing `.gz`.
pub fn open_text(path: &Path) -> Result<Box<dyn std::io::BufRead>, DataError> {
    let f = std::fs::File::open(path).map_err(|e| DataError::io(path, e))?;
    if path.extension().is_some_and(|e| e == "gz") {
        Ok(Box::new(std::io::BufReader::new(
            flate2::read::MultiGzDecoder::new(std::io::BufReader::new(f)),
        )))
    } else {
        Ok(Box::new(std::io::BufReader::new(f)))
    }
}

/// Checks every value of an embedding is finite; names the record and column otherwise.
pub fn check_finite(path: &Path, m: &Matrix, ids: &[String]) -> Result<(), DataError> {
    for i in 0..m.rows {
        if let Some(c) = m.row(i).iter().position(|v| !v.is_finite()) {
            return Err(DataError::file(
                path,
                format!(
                    "record {} (id '{}'), column {}: value {} is not a finite number",
                    i + 1,
                    ids.get(i).map(String::as_str).unwrap_or("?"),
                    c + 1,
                    m.row(i)[c]
                ),
            ));
        }
    }
    Ok(())
}
