//! The count model's workflow: choose genes, train, embed, score. Knows nothing about the
//! terminal; `modality::embed` calls it for the CLI and the interface alike.

use crate::core::matrix::Matrix;
use crate::core::nn::DeviceKind;
use crate::modality::cells::expression::Expression;
use crate::modality::cells::h5ad::ValueKind;
use crate::modality::cells::vae;
use crate::modality::cells::vae::CountInput;
use crate::modality::cells::vae::EpochReport;
use crate::modality::cells::vae::ScviError;
use crate::modality::cells::vae::ScviParams;
use crate::modality::cells::vae::TrainEvent;
use crate::modality::cells::vae::Vae;
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

/// The genes the model reads: seurat_v3 HVGs on counts, never a gene that is zero everywhere.
pub fn model_genes(e: &Expression, n_top: usize) -> Vec<usize> {
    crate::modality::cells::baseline::highly_variable_genes_seurat_v3(e, n_top)
}

/// Trains the count model on every cell and returns the latent and reconstruction scores.
/// `on_event` gets the time estimate and each epoch's report; returning false cancels.
pub fn train(
    e: &Expression,
    p: &CellsParams,
    on_event: &mut dyn FnMut(TrainEvent) -> bool,
) -> Result<CellModelOutput, ScviError> {
    counts_of(e)?;
    let genes = model_genes(e, p.n_top_genes);
    let dev = p.device.device().map_err(ScviError::Device)?;
    // The model's genes by cell, columns in model order: only these are ever densified.
    let x = e.rows_of(&genes, |_, v| v);
    let all: Vec<usize> = (0..genes.len()).collect();
    let input = CountInput::new(&x, &all);
    let t0 = std::time::Instant::now();
    let trained = vae::train(&input, &p.scvi, &dev, on_event)?;
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

/// Scores cells the model may not have seen (same genes) by reconstruction NLL.
pub fn score(model: &CellModel, e: &Expression) -> Result<(Matrix, Vec<f32>), ScviError> {
    let x = e.rows_of(&model.genes, |_, v| v);
    let all: Vec<usize> = (0..model.genes.len()).collect();
    model.vae.embed(&CountInput::new(&x, &all))
}

/// True when the expression holds counts the model can train on.
pub fn has_counts(e: &Expression) -> bool {
    e.kind == ValueKind::Counts
}

/// Checks the expression is raw counts; the error says what was found instead.
pub fn counts_of(e: &Expression) -> Result<(), ScviError> {
    if has_counts(e) {
        Ok(())
    } else {
        Err(ScviError::NotCounts {
            source_name: e.source.clone(),
            what: e.kind.describe(),
        })
    }
}
