//! How cells are read and embedded: one struct, filled by the command line's cells flags and
//! kept by the interface for its jobs.

use crate::modality::cells::baseline::BaselineParams;
use crate::modality::cells::model::CellsParams;

/// How cells are embedded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ModelChoice {
    /// The count model for raw integer counts (unless an obsm matrix is chosen), the PCA
    /// baseline otherwise.
    Auto,
    /// The PCA baseline only.
    #[default]
    Pca,
    /// The count model; an error for data that is not raw counts.
    Scvi,
}

/// Cells settings of a run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Options {
    pub model: ModelChoice,
    /// The count model's settings.
    pub params: CellsParams,
    pub baseline: BaselineParams,
    /// Use this `obsm` matrix of an .h5ad as the embedding.
    pub obsm: Option<String>,
    /// Which matrix of an `.h5ad` to read (`--layer`, `--raw`).
    pub matrix: crate::modality::cells::h5ad::MatrixChoice,
    /// QC: drop cells with fewer detected genes (0 keeps all but zero-count cells).
    pub min_genes: usize,
}

impl Options {
    /// Checks the cells flags before any work, naming the allowed range.
    pub fn check(&self) -> Result<(), String> {
        if self.params.scvi.max_epochs == Some(0) {
            return Err("--epochs must be at least 1".into());
        }
        if self.params.n_top_genes == 0 {
            return Err("--n-top-genes must be at least 1".into());
        }
        Ok(())
    }
}
