//! Images: PNG/JPEG/TIFF files, whole slides (SVS, pyramidal TIFF, OME-TIFF, read by region)
//! or folders of them, cut into tiles with a foreground mask, baseline colour/stain/texture
//! features, a SimCLR CNN trained on the tiles or a pretrained DINOv2 ViT, an autoencoder's
//! reconstruction error, and the images part of a session. Imports nothing of
//! `modality/mod.rs`, `pipeline`, `session` or `tui`.

pub mod autoencoder;
pub mod features;
pub mod model;
pub mod options;
pub mod pictures;
pub mod session;
pub mod slide;
pub mod ssl;
pub mod tiles;
pub mod vit;

use crate::core::matrix::Matrix;
use crate::core::{DataError, ItemsRead};
pub use options::Options;
use std::path::Path;
use std::sync::Arc;
pub use tiles::Tiles;

/// What an images dataset holds beyond its ids and metadata.
#[derive(Debug, Clone)]
pub struct ImagesData {
    /// Tile pixels and boxes, aligned with the ids. None for a session whose source images
    /// can no longer be read (previews are then off; nothing else needs the pixels).
    pub tiles: Option<Arc<Tiles>>,
}

pub fn is_images_input(path: &Path) -> bool {
    if path.is_dir() {
        tiles::is_image_folder(path)
    } else {
        tiles::is_image_file(path)
    }
}

/// Reads images or slides and cuts them into tiles; `progress` hears the share of slide tiles
/// read.
pub fn read(
    path: &Path,
    o: &Options,
    progress: &(dyn Fn(f64) + Sync),
) -> Result<ItemsRead<ImagesData>, DataError> {
    let r = tiles::read_images(path, &o.tiles, progress)?;
    Ok(ItemsRead {
        ids: r.ids,
        meta: r.meta,
        inputs: r.tiles.sources.clone(),
        data: ImagesData {
            tiles: Some(Arc::new(r.tiles)),
        },
        notes: r.notes,
    })
}

/// The baseline features of every tile, standardised, PCA-50.
pub fn baseline(d: &ImagesData) -> Result<Matrix, crate::analysis::pca::BaselineError> {
    let Some(t) = &d.tiles else {
        return Err(crate::analysis::pca::BaselineError::TooFew { n: 0 });
    };
    features::baseline_embedding(&t.features, 50)
}

/// Whether a model embeds the tiles under `o` (a ViT, or the SimCLR CNN).
pub fn trains(o: &Options) -> bool {
    o.vit.is_some() || o.ssl.is_some()
}
