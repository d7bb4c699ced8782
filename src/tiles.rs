//! The images workflow around a pretrained ViT: load a checkpoint folder, embed every tile
//! by its CLS token, make that the dataset's embedding. Knows nothing about the terminal.

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
