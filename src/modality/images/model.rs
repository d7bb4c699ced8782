//! The images models' workflow: a SimCLR CNN trained on the tiles, or a pretrained ViT loaded
//! from a folder, embeds every tile; a small autoencoder scores them. Knows nothing about the
//! terminal; `modality::embed` calls it for the CLI and the interface alike.

use crate::core::matrix::Matrix;
use crate::core::nn::DeviceKind;
use crate::modality::images::ssl::SslParams;
use crate::modality::images::tiles::Tiles;
use crate::modality::images::vit::{Vit, VitError};
use image::RgbImage;
use std::path::Path;

/// Why an image model could not run.
#[derive(Debug, thiserror::Error)]
pub enum ImageModelError {
    #[error(transparent)]
    Vit(#[from] VitError),
    #[error("{0}")]
    Device(String),
    #[error("reading a tile again for the ViT: {0}")]
    Tiles(String),
    #[error("the SimCLR CNN: {0}")]
    Cnn(candle_core::Error),
    #[error("the autoencoder: {0}")]
    Autoencoder(candle_core::Error),
}

/// Tiles handed to the ViT at a time: slide tiles are read again at full size per batch, so
/// memory holds one batch, not the slide.
const VIT_BATCH: usize = 512;

/// Embeds tiles with the ViT in `dir` at `size` pixels; None when cancelled. Returns the
/// embedding and a description of the model.
pub fn embed_vit(
    tiles: &Tiles,
    dir: &Path,
    size: u32,
    device: DeviceKind,
    progress: &mut dyn FnMut(f64) -> bool,
) -> Result<Option<(Matrix, String)>, ImageModelError> {
    use rayon::prelude::*;
    let dev = device.device().map_err(|e| VitError::Checkpoint {
        path: dir.to_path_buf(),
        reason: e,
    })?;
    let vit = Vit::load(dir, &dev)?;
    let n = tiles.pixels.len();
    let mut m = Matrix::zeros(n, vit.cfg.hidden_size);
    for start in (0..n).step_by(VIT_BATCH) {
        let end = (start + VIT_BATCH).min(n);
        let batch: Vec<RgbImage> = (start..end)
            .into_par_iter()
            .map(|i| tiles.full(i))
            .collect::<Result<_, _>>()
            .map_err(ImageModelError::Tiles)?;
        let share = (end - start) as f64 / n as f64;
        let done = start as f64 / n as f64;
        let Some(part) = vit.embed(&batch, size, &mut |f| progress(done + f * share))? else {
            return Ok(None);
        };
        for (k, i) in (start..end).enumerate() {
            m.row_mut(i).copy_from_slice(part.row(k));
        }
    }
    let about = format!(
        "ViT {} layers × {} (CLS token at {size} px, {})",
        vit.cfg.num_hidden_layers,
        vit.cfg.hidden_size,
        dir.display()
    );
    Ok(Some((m, about)))
}

/// A CNN trained here, kept for the session.
pub struct TrainedCnn {
    pub model: crate::modality::images::ssl::Cnn,
    pub varmap: candle_nn::VarMap,
    pub params: SslParams,
    pub losses: Vec<f64>,
}

impl std::fmt::Debug for TrainedCnn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrainedCnn")
            .field("losses", &self.losses)
            .finish()
    }
}

impl TrainedCnn {
    pub fn describe(&self) -> String {
        let p = &self.params;
        format!(
            "SimCLR CNN trained here ({} epochs, {} px views, NT-Xent {:.3} → {:.3})",
            p.epochs,
            p.input,
            self.losses.first().copied().unwrap_or(f64::NAN),
            self.losses.last().copied().unwrap_or(f64::NAN)
        )
    }
}

/// Trains the SimCLR CNN on the tiles and embeds them; None when cancelled.
pub fn train_cnn(
    pixels: &[RgbImage],
    p: &SslParams,
    device: DeviceKind,
    progress: &mut dyn FnMut(f64) -> bool,
) -> Result<Option<(Matrix, TrainedCnn)>, ImageModelError> {
    let dev = device.device().map_err(ImageModelError::Device)?;
    let trained = crate::modality::images::ssl::train(pixels, p, &dev, &mut |r| {
        progress(r.epoch as f64 / r.epochs.max(1) as f64)
    })
    .map_err(ImageModelError::Cnn)?;
    let Some((model, varmap, losses)) = trained else {
        return Ok(None);
    };
    let m = crate::modality::images::ssl::embed(&model, pixels, p.input, &dev)
        .map_err(ImageModelError::Cnn)?;
    Ok(Some((
        m,
        TrainedCnn {
            model,
            varmap,
            params: p.clone(),
            losses,
        },
    )))
}

/// Per-tile reconstruction error of a small convolutional autoencoder trained on the tiles
/// (an anomaly score); None when cancelled.
pub fn anomaly_scores(
    pixels: &[RgbImage],
    epochs: usize,
    seed: u64,
    device: DeviceKind,
    progress: &mut dyn FnMut(f64) -> bool,
) -> Result<Option<Vec<f32>>, ImageModelError> {
    let dev = device.device().map_err(ImageModelError::Device)?;
    crate::modality::images::autoencoder::reconstruction_scores(
        pixels, epochs, seed, &dev, progress,
    )
    .map_err(ImageModelError::Autoencoder)
}
