//! The cells workflow around the count model: choose genes, train, embed, score. Knows nothing
//! about the terminal; the CLI and the TUI's jobs call it.

use crate::data::h5ad::ValueKind;
use crate::data::{Dataset, EmbeddingSource, Expression};
use crate::matrix::Matrix;
use crate::models::DeviceKind;
use crate::models::scvi::{self, CountInput, EpochReport, ScviError, ScviParams, Vae};
use std::sync::Arc;

/// What training measured, kept in the session manifest.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ModelSummary {
    pub kind: String,
    pub params: ScviParams,
    pub device: DeviceKind,
    pub n_genes_used: usize,
    pub epochs_run: usize,
    pub best_epoch: usize,
    pub stopped_early: bool,
    /// Mean over the held-out cells: reconstruction NLL + KL, with lgamma(x+1) included.
    pub heldout_elbo: f64,
    pub heldout_reconstruction: f64,
    pub seconds_per_epoch: f64,
}

/// A trained count model, the genes it reads and what it produced.
pub struct CellModel {
    pub vae: Vae,
    /// Model gene j is expression column `genes[j]`.
    pub genes: Vec<usize>,
    pub summary: ModelSummary,
    pub history: Vec<EpochReport>,
}

impl std::fmt::Debug for CellModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CellModel")
            .field("genes", &self.genes.len())
            .field("summary", &self.summary)
            .finish()
    }
}

/// Latent, per-cell scores and the model.
pub struct CellModelOutput {
    pub latent: Matrix,
    /// Per-cell reconstruction negative log-likelihood (an anomaly score).
    pub nll: Vec<f32>,
    pub model: Arc<CellModel>,
}

/// Settings of the cells workflow.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CellsParams {
    pub scvi: ScviParams,
    pub n_top_genes: usize,
    pub device: DeviceKind,
}

impl Default for CellsParams {
    fn default() -> Self {
        Self {
            scvi: ScviParams::default(),
            n_top_genes: 2000,
            device: DeviceKind::Cpu,
        }
    }
}

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

/// What the command line and the interface do with cells inputs: loader options, which
/// embedding, and the count model's settings. One decision for both.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InputOptions {
    pub model: ModelChoice,
    pub params: CellsParams,
    pub obsm: Option<String>,
    pub min_genes: usize,
    /// DNA inputs: windows, baseline k-mer length, motif file. (The loader options of every
    /// modality travel together so the CLI and the interface load the same way.)
    pub window: crate::data::seq::WindowParams,
    pub kmer: crate::analysis::kmer::KmerParams,
    pub motifs: Option<std::path::PathBuf>,
    /// Images: how files are cut into tiles.
    pub tiles: crate::data::images::TileParams,
    /// Images: a pretrained DINOv2-style ViT folder, and the side tiles are resized to.
    pub vit: Option<std::path::PathBuf>,
    pub vit_size: u32,
    /// Images: train the SimCLR CNN on the tiles (when no ViT is given).
    pub ssl: Option<crate::models::ssl::SslParams>,
    /// Images: epochs of the autoencoder whose reconstruction error scores tiles (0: none).
    pub ae_epochs: usize,
    /// DNA: which encoder, and its pre-training settings.
    pub dna: crate::dna::DnaOptions,
}

impl InputOptions {
    pub fn load_options(&self, meta: Option<std::path::PathBuf>) -> crate::data::LoadOptions {
        crate::data::LoadOptions {
            meta,
            obsm: self.obsm.clone(),
            min_genes: self.min_genes,
            window: self.window.clone(),
            kmer: self.kmer.clone(),
            motifs: self.motifs.clone(),
            tiles: self.tiles.clone(),
            ..Default::default()
        }
    }

    /// Whether the count model is trained for `ds`: an error when it was asked for and the
    /// data is not raw counts; never for a dataset that already has a model.
    pub fn trains(&self, ds: &Dataset) -> Result<bool, ScviError> {
        // DNA has its own model choice (`dna`); a cells-model flag does not apply to it.
        if ds.model.is_some() || ds.sequences.is_some() {
            return Ok(false);
        }
        match self.model {
            ModelChoice::Pca => Ok(false),
            ModelChoice::Auto => Ok(self.obsm.is_none() && has_counts(ds)),
            ModelChoice::Scvi => counts_of(ds).map(|_| true),
        }
    }
}

/// True when the dataset holds counts the model can train on.
pub fn has_counts(ds: &Dataset) -> bool {
    ds.expression
        .as_ref()
        .is_some_and(|e| e.kind == ValueKind::Counts)
}

/// Checks the expression is raw counts; the error says what was found instead.
pub fn counts_of(ds: &Dataset) -> Result<&Arc<Expression>, ScviError> {
    match &ds.expression {
        Some(e) if e.kind == ValueKind::Counts => Ok(e),
        Some(e) => Err(ScviError::NotCounts {
            source_name: e.source.clone(),
            what: e.kind.describe(),
        }),
        None => Err(ScviError::NotCounts {
            source_name: ds.name.clone(),
            what: "no expression matrix (an embedding table)",
        }),
    }
}

/// The genes the model reads: seurat_v3 HVGs on counts, never a gene that is zero everywhere.
pub fn model_genes(e: &Expression, n_top: usize) -> Vec<usize> {
    crate::analysis::preprocess::highly_variable_genes_seurat_v3(&e.matrix, n_top)
}

/// Trains the count model on every cell and returns the latent and reconstruction scores.
/// `on_epoch` gets each epoch's report; returning false cancels.
pub fn train(
    ds: &Dataset,
    p: &CellsParams,
    on_epoch: &mut dyn FnMut(&EpochReport) -> bool,
) -> Result<CellModelOutput, ScviError> {
    let e = counts_of(ds)?;
    let genes = model_genes(e, p.n_top_genes);
    let dev = p.device.device().map_err(ScviError::Device)?;
    let input = CountInput::new(&e.matrix, &genes);
    let t0 = std::time::Instant::now();
    let trained = scvi::train(&input, &p.scvi, &dev, on_epoch)?;
    let secs = t0.elapsed().as_secs_f64();
    let (heldout_elbo, heldout_reconstruction) = if trained.validation_cells.is_empty() {
        (f64::NAN, f64::NAN)
    } else {
        trained
            .vae
            .elbo(&input, &trained.validation_cells, p.scvi.seed ^ 0xe1b0)?
    };
    let (latent, nll) = trained.vae.embed(&input)?;
    let epochs_run = trained.history.len();
    let summary = ModelSummary {
        kind: "scvi-vae".into(),
        params: p.scvi.clone(),
        device: p.device,
        n_genes_used: genes.len(),
        epochs_run,
        best_epoch: trained.best_epoch,
        stopped_early: trained.stopped_early,
        heldout_elbo,
        heldout_reconstruction,
        seconds_per_epoch: secs / epochs_run.max(1) as f64,
    };
    Ok(CellModelOutput {
        latent,
        nll,
        model: Arc::new(CellModel {
            vae: trained.vae,
            genes,
            summary,
            history: trained.history,
        }),
    })
}

/// Makes the model's latent the dataset's embedding.
pub fn apply(ds: &mut Dataset, out: &CellModelOutput) {
    ds.embedding = out.latent.clone();
    ds.embedding_source = EmbeddingSource::Scvi {
        n_genes_used: out.model.genes.len(),
        epochs: out.model.summary.epochs_run,
    };
    ds.model = Some(out.model.clone());
}

/// Scores cells the model may not have seen (same genes) by reconstruction NLL.
pub fn score(model: &CellModel, e: &Expression) -> Result<(Matrix, Vec<f32>), ScviError> {
    let input = CountInput::new(&e.matrix, &model.genes);
    model.vae.embed(&input)
}
