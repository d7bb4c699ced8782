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

impl Options {
    /// Checks the images flags before any work, naming the allowed range.
    pub fn check(&self) -> Result<(), String> {
        if !(8..=4096).contains(&self.tiles.tile) {
            return Err(format!(
                "--tile must be from 8 to 4096 pixels, got {}",
                self.tiles.tile
            ));
        }
        if !(8..=4096).contains(&self.tiles.slide_tile) {
            return Err(format!(
                "a slide tile must be from 8 to 4096 pixels (--tile, or --tile-um at --mag), got {}",
                self.tiles.slide_tile
            ));
        }
        if !(self.tiles.slide_mpp.is_finite() && self.tiles.slide_mpp > 0.0) {
            return Err(format!(
                "--mag must be above 0, got {}",
                10.0 / self.tiles.slide_mpp
            ));
        }
        if let Some(m) = self.tiles.mpp
            && !(m.is_finite() && m > 0.0 && m < 1000.0)
        {
            return Err(format!("--mpp must be above 0 and below 1000 µm, got {m}"));
        }
        if self.vit.is_some() && !(14..=1024).contains(&self.vit_size) {
            return Err(format!(
                "--vit-size must be from 14 to 1024 pixels, got {}",
                self.vit_size
            ));
        }
        if self.ssl.as_ref().is_some_and(|p| p.epochs == 0) {
            return Err("--ssl-epochs must be at least 1".into());
        }
        if self.ae_epochs > 10_000 {
            return Err(format!(
                "--ae-epochs must be at most 10000, got {}",
                self.ae_epochs
            ));
        }
        Ok(())
    }
}
