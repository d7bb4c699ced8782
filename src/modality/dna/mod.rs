//! DNA: FASTA/FASTQ records cut into windows, the k-mer baseline, a DNABERT-2-style encoder
//! (pre-trained here or loaded), per-cluster motif discovery matched to a motif file
//! (Tomtom-like), and the DNA part of a session. Imports nothing of `modality/mod.rs`,
//! `pipeline`, `session` or `tui`.

pub mod encoder;
pub mod fastx;
pub mod kmer;
pub mod model;
pub mod motif_db;
pub mod motifs;
pub mod options;
pub mod scan;
pub mod session;
pub mod tables;
pub mod tomtom;

use crate::core::matrix::Matrix;
use crate::core::{DataError, ItemsRead};
pub use fastx::Sequences;
pub use options::{DnaModel, Options};
use std::path::Path;
use std::sync::Arc;

/// What a DNA dataset holds beyond its ids and metadata.
#[derive(Debug, Clone)]
pub struct DnaData {
    /// One sequence per item (with the motif file discovered motifs are matched against).
    pub sequences: Arc<Sequences>,
}

pub fn is_dna_input(path: &Path) -> bool {
    fastx::is_sequence_file(path)
}

/// Reads the records (cut into windows) and the motif file named in `o`.
pub fn read(path: &Path, o: &Options) -> Result<ItemsRead<DnaData>, DataError> {
    let mut r = fastx::read_sequences(path, &o.window)?;
    if let Some(m) = &o.motifs {
        let db = motif_db::read_motifs(m)?;
        let name = file_name(m);
        r.sequences.motif_db = Some((name, Arc::new(db)));
    }
    if let Some(b) = &o.background {
        let bg = fastx::read_sequences(b, &o.window)?;
        if bg.sequences.seqs.len() < 10 {
            return Err(DataError::BadFile {
                path: b.clone(),
                reason: format!(
                    "a motif background (--background) needs at least 10 sequences, found {}",
                    bg.sequences.seqs.len()
                ),
            });
        }
        r.sequences.motif_background = Some(motifs::UserBackground {
            name: file_name(b),
            seqs: Arc::new(bg.sequences.seqs),
        });
    }
    Ok(ItemsRead {
        ids: r.ids,
        meta: r.meta,
        data: DnaData {
            sequences: Arc::new(r.sequences),
        },
        inputs: vec![path.to_path_buf()],
        notes: r.notes,
    })
}

fn file_name(p: &Path) -> String {
    p.file_name().map_or_else(
        || p.display().to_string(),
        |s| s.to_string_lossy().to_string(),
    )
}

/// The k-mer baseline: canonical k-mer spectrum → CLR → PCA.
pub fn baseline(d: &DnaData, o: &Options) -> Result<Matrix, crate::analysis::pca::BaselineError> {
    kmer::kmer_embedding(&d.sequences.seqs, &o.kmer)
}

/// Whether an encoder runs under `o`.
pub fn trains(o: &Options) -> bool {
    o.model != DnaModel::Kmer
}
