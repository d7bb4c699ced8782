//! A slide cut into tiles at a chosen resolution: tissue found on the overview first, then
//! only tiles over tissue read, in parallel, each from the pyramid level closest above the
//! wanted resolution.

use super::Slide;
use super::tissue;
use image::RgbImage;

#[derive(Debug, Clone)]
pub struct CutParams {
    /// Tile side in output pixels.
    pub tile_px: u32,
    /// Microns per output pixel.
    pub target_mpp: f64,
    /// Step between tiles in output pixels (0: the tile side).
    pub stride_px: u32,
    pub min_foreground: f64,
    pub keep_background: bool,
    /// Level-0 microns per pixel, overriding the file's.
    pub mpp: Option<f64>,
}

pub struct SlideCut<T> {
    /// Level-0 boxes: (x, y, side).
    pub boxes: Vec<(u64, u64, u64)>,
    pub foreground: Vec<f64>,
    /// What `each` made of every tile's pixels.
    pub tiles: Vec<T>,
    /// Level-0 microns per pixel used (None: the file had none and none was given).
    pub mpp: Option<f64>,
    pub notes: Vec<String>,
}

/// Sides of the overview the tissue is found on.
const OVERVIEW_SIDE: u32 = 2048;

/// Tiles read per parallel batch, between progress reports.
const BATCH: usize = 256;

/// Cuts `slide`; `each` turns every tile's pixels into what is kept of it, as it is read, so
/// only a batch of full-size tiles is in memory at a time.
pub fn cut<T: Send>(
    slide: &Slide,
    p: &CutParams,
    progress: &(dyn Fn(f64) + Sync),
    each: &(dyn Fn(RgbImage) -> T + Sync),
) -> Result<SlideCut<T>, String> {
    use rayon::prelude::*;
    let mut notes = vec![slide.describe()];
    let mpp = p.mpp.or(slide.mpp.map(|m| m.0));
    // Level-0 pixels per output pixel.
    let d = match mpp {
        Some(m) => p.target_mpp / m,
        None => {
            notes.push(format!(
                "{}: the file gives no microns per pixel, so tiles are cut from level-0 pixels as they are (give --mpp to cut at {} µm/px)",
                slide.path.display(),
                p.target_mpp
            ));
            1.0
        }
    };
    if d < 0.99 {
        notes.push(format!(
            "{}: the slide is {:.3} µm/px, coarser than the {} µm/px asked for: tiles are enlarged {:.2}×",
            slide.path.display(),
            mpp.unwrap_or(0.0),
            p.target_mpp,
            1.0 / d
        ));
    }
    let side = (p.tile_px as f64 * d).round().max(1.0) as u64;
    let step = if p.stride_px > 0 {
        (p.stride_px as f64 * d).round().max(1.0) as u64
    } else {
        side
    };
    let (w0, h0) = slide.dimensions();
    if side > w0 as u64 || side > h0 as u64 {
        return Err(format!(
            "a tile of {} pixels at {} µm/px covers {side} level-0 pixels, more than the slide ({w0} × {h0})",
            p.tile_px, p.target_mpp
        ));
    }
    let (ov, ovds) = slide.overview(OVERVIEW_SIDE)?;
    let mask = tissue::detect(&ov, ovds, (side * side) as f64);
    let mut boxes = Vec::new();
    let mut foreground = Vec::new();
    let mut dropped = 0usize;
    let mut y = 0u64;
    while y + side <= h0 as u64 {
        let mut x = 0u64;
        while x + side <= w0 as u64 {
            let f = mask.fraction(x as f64, y as f64, side as f64, side as f64);
            if p.keep_background || f >= p.min_foreground {
                boxes.push((x, y, side));
                foreground.push(f);
            } else {
                dropped += 1;
            }
            x += step;
        }
        y += step;
    }
    notes.push(format!(
        "{}: tissue on {:.1} % of the slide (Otsu on saturation at {:.3}, {}× overview); {} tiles of {} px at {:.3} µm/px ({side} level-0 px) kept, {dropped} background tiles dropped",
        slide.path.display(),
        mask.share() * 100.0,
        mask.threshold,
        ovds.round(),
        boxes.len(),
        p.tile_px,
        mpp.map(|m| m * d).unwrap_or(d),
    ));
    let mut tiles = Vec::with_capacity(boxes.len());
    for (k, batch) in boxes.chunks(BATCH).enumerate() {
        let read: Result<Vec<T>, String> = batch
            .par_iter()
            .map(|&(x, y, s)| slide.read_scaled(x, y, s, p.tile_px).map(each))
            .collect();
        tiles.extend(read?);
        progress(((k + 1) * BATCH).min(boxes.len()) as f64 / boxes.len().max(1) as f64);
    }
    Ok(SlideCut {
        boxes,
        foreground,
        tiles,
        mpp,
        notes,
    })
}
