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
    pub model: DnaModel,
    pub mlm: MlmParams,
    pub device: DeviceKind,
}
