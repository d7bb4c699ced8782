//! How sequences are read, embedded and searched for motifs.

use crate::core::nn::DeviceKind;
use crate::modality::dna::encoder::MlmParams;
use crate::modality::dna::fastx::WindowParams;
use crate::modality::dna::kmer::KmerParams;
use std::path::PathBuf;

/// How DNA sequences are embedded.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum DnaModel {
    /// Canonical k-mer spectrum → CLR → PCA only.
    #[default]
    Kmer,
    /// Pre-train a small DNABERT-2-style encoder on the sequences (masked-language modelling).
    Mlm,
    /// A pretrained checkpoint folder (DNABERT-2 layout).
    Pretrained(PathBuf),
}

/// DNA settings of a run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Options {
    /// How FASTA/FASTQ records are cut into items.
    pub window: WindowParams,
    pub kmer: KmerParams,
    /// JASPAR or MEME file that discovered motifs are compared with.
    pub motifs: Option<PathBuf>,
    /// FASTA/FASTQ file of background sequences for motif discovery (`--background FILE`).
    pub background: Option<PathBuf>,
    pub model: DnaModel,
    pub mlm: MlmParams,
    pub device: DeviceKind,
}

impl Options {
    /// Checks the DNA flags before any work, naming the allowed range.
    pub fn check(&self) -> Result<(), String> {
        if !(1..=8).contains(&self.kmer.k) {
            return Err(format!("--kmer must be from 1 to 8, got {}", self.kmer.k));
        }
        if self.model == DnaModel::Mlm {
            let m = &self.mlm;
            if m.epochs == 0 {
                return Err("--mlm-epochs must be at least 1".into());
            }
            if !(32..=1024).contains(&m.hidden) || !m.hidden.is_multiple_of(32) {
                return Err(format!(
                    "--mlm-hidden must be a multiple of 32 from 32 to 1024, got {}",
                    m.hidden
                ));
            }
            if !(1..=24).contains(&m.layers) {
                return Err(format!(
                    "--mlm-layers must be from 1 to 24, got {}",
                    m.layers
                ));
            }
            if !(16..=65_536).contains(&m.vocab) {
                return Err(format!(
                    "--mlm-vocab must be from 16 to 65536, got {}",
                    m.vocab
                ));
            }
        }
        Ok(())
    }
}
