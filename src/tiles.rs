//! The images workflow around the models: a SimCLR CNN trained on the tiles, or a pretrained
//! ViT loaded from a folder; either embeds every tile and becomes the dataset's embedding.
//! Knows nothing about the terminal.

use crate::data::{Dataset, EmbeddingSource};
use crate::models::vit::{Vit, VitError};
use std::path::Path;

/// Embeds `ds`'s tiles with the ViT in `dir` at `size` pixels; None when cancelled.
pub fn embed(
    ds: &Dataset,
    dir: &Path,
    size: u32,
    device: crate::models::DeviceKind,
    progress: &mut dyn FnMut(f64) -> bool,
) -> Result<Option<Dataset>, VitError> {
    let Some(tiles) = &ds.tiles else {
        return Ok(None);
    };
    let dev = device.device().map_err(|e| VitError::Checkpoint {
        path: dir.to_path_buf(),
        reason: e,
    })?;
    let vit = Vit::load(dir, &dev)?;
    let Some(m) = vit.embed(&tiles.pixels, size, progress)? else {
        return Ok(None);
    };
    let mut out = ds.clone();
    out.embedding = m;
    out.embedding_source = EmbeddingSource::Encoder {
        model: format!(
            "ViT {} layers × {} (CLS token at {size} px, {})",
            vit.cfg.num_hidden_layers,
            vit.cfg.hidden_size,
            dir.display()
        ),
    };
    Ok(Some(out))
}

/// A CNN trained here, kept for the session.
pub struct TrainedCnn {
    pub model: crate::models::ssl::Cnn,
    pub varmap: candle_nn::VarMap,
    pub params: crate::models::ssl::SslParams,
    pub losses: Vec<f64>,
}

impl std::fmt::Debug for TrainedCnn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrainedCnn")
            .field("losses", &self.losses)
            .finish()
    }
}

/// Trains the SimCLR CNN on `ds`'s tiles and embeds them; None when cancelled.
pub fn train_cnn(
    ds: &Dataset,
    p: &crate::models::ssl::SslParams,
    device: crate::models::DeviceKind,
    progress: &mut dyn FnMut(f64) -> bool,
) -> Result<Option<Dataset>, String> {
    let Some(tiles) = &ds.tiles else {
        return Ok(None);
    };
    let dev = device.device()?;
    let trained = crate::models::ssl::train(&tiles.pixels, p, &dev, &mut |r| {
        progress(r.epoch as f64 / r.epochs.max(1) as f64)
    })
    .map_err(|e| e.to_string())?;
    let Some((model, varmap, losses)) = trained else {
        return Ok(None);
    };
    let m = crate::models::ssl::embed(&model, &tiles.pixels, p.input, &dev)
        .map_err(|e| e.to_string())?;
    let mut out = ds.clone();
    out.embedding = m;
    out.embedding_source = EmbeddingSource::Encoder {
        model: format!(
            "SimCLR CNN trained here ({} epochs, {} px views, NT-Xent {:.3} → {:.3})",
            p.epochs,
            p.input,
            losses.first().copied().unwrap_or(f64::NAN),
            losses.last().copied().unwrap_or(f64::NAN)
        ),
    };
    out.image_model = Some(std::sync::Arc::new(TrainedCnn {
        model,
        varmap,
        params: p.clone(),
        losses,
    }));
    Ok(Some(out))
}

/// Per-tile reconstruction error of a small convolutional autoencoder trained on the tiles
/// (an anomaly score); None when cancelled or when the dataset has no tiles.
pub fn anomaly_scores(
    ds: &Dataset,
    epochs: usize,
    seed: u64,
    device: crate::models::DeviceKind,
    progress: &mut dyn FnMut(f64) -> bool,
) -> Result<Option<Vec<f32>>, String> {
    let Some(tiles) = &ds.tiles else {
        return Ok(None);
    };
    let dev = device.device()?;
    crate::models::autoencoder::reconstruction_scores(&tiles.pixels, epochs, seed, &dev, progress)
        .map_err(|e| e.to_string())
}
