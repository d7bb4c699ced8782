//! An images dataset's part of a session: the CNN trained on the tiles, in
//! `images-INDEX/cnn.safetensors`, with its settings and losses. Tile pixels are not stored:
//! a session keeps each tile's source and box and re-reads the pixels for previews.

use crate::io::{FileError, bad, io_err};
use crate::modality::images::model::TrainedCnn;
use crate::modality::images::ssl::SslParams;
use std::path::Path;

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ImagesEntry {
    pub folder: String,
    /// SimCLR settings and the mean NT-Xent loss of each epoch; weights in `cnn.safetensors`.
    pub params: SslParams,
    pub losses: Vec<f64>,
}

/// Writes an images dataset's trained CNN into `images-INDEX/cnn.safetensors`.
pub fn write(tmp: &Path, index: usize, m: &TrainedCnn) -> Result<ImagesEntry, FileError> {
    let folder = format!("images-{index}");
    let dir = tmp.join(&folder);
    std::fs::create_dir(&dir).map_err(io_err(&dir))?;
    let p = dir.join("cnn.safetensors");
    m.varmap
        .save(&p)
        .map_err(|e| bad(&p, format!("cannot write the CNN's weights: {e}")))?;
    Ok(ImagesEntry {
        folder,
        params: m.params.clone(),
        losses: m.losses.clone(),
    })
}
