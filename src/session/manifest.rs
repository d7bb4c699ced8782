//! `manifest.toml`: format and biolens version, every parameter, seed, threads, device, and
//! per dataset its inputs (path, size, SHA-256), embedding, clustering, timings and the
//! entries of its modality's folder.

use crate::io::{FileError, io_err};
use crate::modality::{Modality, ModalityEntries};
use crate::pipeline::{ClusterMethod, PipelineParams};
use sha2::Digest;
use std::io::Read;
use std::path::Path;

pub const FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct InputFile {
    pub path: String,
    pub size: u64,
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DatasetEntry {
    pub name: String,
    pub modality: Modality,
    pub n_items: usize,
    pub embedding_dim: usize,
    pub embedding: String,
    pub cluster: ClusterMethod,
    pub inputs: Vec<InputFile>,
    /// Seconds per stage.
    pub timings: std::collections::BTreeMap<String, f64>,
    /// What this dataset's rows of `points.parquet`'s `anomaly_model` column hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anomaly_model: Option<ModelScore>,
    /// The modality's own part of the session folder (see `ModalityEntries`).
    #[serde(flatten)]
    pub parts: ModalityEntries,
}

/// A model's anomaly score: its name (exports call the column `anomaly_NAME`) and definition.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ModelScore {
    pub name: String,
    pub definition: String,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Manifest {
    pub format_version: u32,
    pub biolens_version: String,
    pub seed: u64,
    pub threads: usize,
    pub device: String,
    pub params: PipelineParams,
    pub datasets: Vec<DatasetEntry>,
}

/// SHA-256 and size of a file.
pub fn checksum(path: &Path) -> Result<InputFile, FileError> {
    let mut f = std::fs::File::open(path).map_err(io_err(path))?;
    let mut h = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut size = 0u64;
    loop {
        let n = f.read(&mut buf).map_err(io_err(path))?;
        if n == 0 {
            break;
        }
        size += n as u64;
        h.update(&buf[..n]);
    }
    let sha256 = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    Ok(InputFile {
        path: path.display().to_string(),
        size,
        sha256,
    })
}
