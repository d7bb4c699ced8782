//! How images are cut into tiles and embedded.

use crate::core::nn::DeviceKind;
use crate::modality::images::ssl::SslParams;
use crate::modality::images::tiles::TileParams;
use std::path::PathBuf;

/// Images settings of a run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Options {
    pub tiles: TileParams,
    /// A pretrained DINOv2-style ViT folder, and the side tiles are resized to for it.
    pub vit: Option<PathBuf>,
    pub vit_size: u32,
    /// Train the SimCLR CNN on the tiles (when no ViT is given).
    pub ssl: Option<SslParams>,
    /// Epochs of the autoencoder whose reconstruction error scores tiles (0: none).
    pub ae_epochs: usize,
    /// Seeds the autoencoder.
    pub seed: u64,
    pub device: DeviceKind,
}
