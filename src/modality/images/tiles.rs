//! Images (PNG, JPEG, TIFF; 8 or 16 bit; grey or RGB) through the `image` crate: a file or a
//! folder of files, cut into tiles (`--tile`, `--stride`), background tiles dropped by a
//! foreground mask, every tile keeping its source and box as metadata.
//!
//! Foreground mask: Otsu's threshold on saturation (max − min of R, G, B) for colour images
//! — stained tissue is saturated, glass is white or grey — and on intensity for grey images
//! (fluorescence: the signal is bright). A tile is kept when at least `min_foreground` of
//! its pixels are foreground (default 5 %); `--keep-background` keeps every tile.

use crate::core::DataError;
use crate::core::meta::MetaColumn;
use crate::core::meta::MetaValues;
use crate::modality::images::features::tile_features;
use crate::modality::images::slide::Slide;
use crate::modality::images::slide::cut::{CutParams, cut};
pub use crate::modality::images::slide::tissue::otsu;
use image::{DynamicImage, RgbImage};
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TileParams {
    /// Tile side in pixels.
    pub tile: u32,
    /// Step between tiles (0: the tile side).
    pub stride: u32,
    /// Share of foreground pixels a tile needs to be kept.
    pub min_foreground: f64,
    pub keep_background: bool,
    /// Whole slides: tile side in pixels at `slide_mpp`.
    #[serde(default = "default_slide_tile")]
    pub slide_tile: u32,
    /// Whole slides: microns per pixel tiles are cut at (0.5: about 20x).
    #[serde(default = "default_slide_mpp")]
    pub slide_mpp: f64,
    /// Whole slides: level-0 microns per pixel, overriding what the file says.
    #[serde(default)]
    pub mpp: Option<f64>,
}

fn default_slide_tile() -> u32 {
    224
}

fn default_slide_mpp() -> f64 {
    0.5
}

impl Default for TileParams {
    fn default() -> Self {
        Self {
            tile: 64,
            stride: 0,
            min_foreground: 0.05,
            keep_background: false,
            slide_tile: default_slide_tile(),
            slide_mpp: default_slide_mpp(),
            mpp: None,
        }
    }
}

/// The pixels of every tile (RGB, 8 bit) for previews and models, aligned with the ids.
#[derive(Debug, Clone, Default)]
pub struct Tiles {
    pub sources: Vec<PathBuf>,
    /// (source index, x, y, w, h)
    pub boxes: Vec<(u32, u32, u32, u32, u32)>,
    /// A picture's tiles as cut; a slide's at most `SLIDE_KEEP` pixels a side (what previews,
    /// the SimCLR CNN and the autoencoder take), so memory does not grow with the tiles'
    /// full size. `full` reads a slide tile again at the size it was embedded at.
    pub pixels: Vec<RgbImage>,
    /// Whether each source is a colour image (features differ: HED only for colour).
    pub colour: Vec<bool>,
    /// Baseline features of every tile, from its full-size pixels (empty for a session's
    /// tiles: the session keeps the embedding).
    pub features: Vec<Vec<f32>>,
    /// Per source: the open slide and the side its tiles were embedded at; None for pictures.
    pub slides: Vec<Option<(Arc<Slide>, u32)>>,
}

/// The side slide tiles are kept at in memory.
pub const SLIDE_KEEP: u32 = 64;

impl Tiles {
    /// Tile `i` at the size it was embedded at: a picture's tile as kept, a slide's read again.
    pub fn full(&self, i: usize) -> Result<RgbImage, String> {
        let (src, x, y, w, _) = self.boxes[i];
        match self.slides.get(src as usize) {
            Some(Some((s, side))) => s.read_scaled(x as u64, y as u64, w as u64, *side),
            _ => Ok(self.pixels[i].clone()),
        }
    }
}

/// What a run keeps of a slide tile read at full size: its baseline features and a copy at
/// most `SLIDE_KEEP` pixels a side.
pub fn keep_slide_tile(img: RgbImage) -> (Vec<f32>, RgbImage) {
    (tile_features(&img, true), keep_size(&img))
}

fn keep_size(img: &RgbImage) -> RgbImage {
    if img.width() <= SLIDE_KEEP {
        img.clone()
    } else {
        image::imageops::resize(
            img,
            SLIDE_KEEP,
            SLIDE_KEEP,
            image::imageops::FilterType::Triangle,
        )
    }
}

pub fn is_image_file(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase())
        .is_some_and(|e| matches!(e.as_str(), "png" | "jpg" | "jpeg" | "tif" | "tiff" | "svs"))
}

/// Level-0 pixels above which a TIFF is read by region even without a pyramid.
const SLIDE_PIXELS: u64 = 64 << 20;

/// A whole slide, read by region: an SVS, or a TIFF that is tiled, pyramidal or too large to
/// decode whole. Plain TIFF pictures keep going through the `image` crate.
pub fn open_slide(path: &Path) -> Option<Result<Slide, DataError>> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase())?;
    match ext.as_str() {
        "svs" => Some(Slide::open(path)),
        "tif" | "tiff" => {
            let s = Slide::open(path).ok()?;
            let (w, h) = s.dimensions();
            (s.levels.len() > 1 || s.levels[0].tiled || w as u64 * h as u64 > SLIDE_PIXELS)
                .then_some(Ok(s))
        }
        _ => None,
    }
}

/// A folder holding at least one image file (and no 10x matrix).
pub fn is_image_folder(path: &Path) -> bool {
    std::fs::read_dir(path).is_ok_and(|rd| rd.flatten().any(|e| is_image_file(&e.path())))
}

pub struct TilesRead {
    pub ids: Vec<String>,
    pub meta: Vec<MetaColumn>,
    pub tiles: Tiles,
    pub notes: Vec<String>,
}

/// True when a JPEG file ends with its end-of-image marker (FF D9) within its last KiB. The
/// decoder fills a cut-off JPEG with grey and reports no error, so a half-written or
/// half-downloaded slide would be tiled as if it were whole.
fn jpeg_is_complete(path: &Path) -> std::io::Result<bool> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(path)?;
    let len = f.metadata()?.len();
    let tail_len = len.min(1024);
    f.seek(SeekFrom::Start(len - tail_len))?;
    let mut tail = Vec::with_capacity(tail_len as usize);
    f.read_to_end(&mut tail)?;
    Ok(tail.windows(2).any(|w| w == [0xFF, 0xD9]))
}

fn decode(path: &Path) -> Result<DynamicImage, DataError> {
    let reader = image::ImageReader::open(path)
        .map_err(|e| DataError::io(path, e))?
        .with_guessed_format()
        .map_err(|e| DataError::io(path, e))?;
    if reader.format() == Some(image::ImageFormat::Jpeg)
        && !jpeg_is_complete(path).map_err(|e| DataError::io(path, e))?
    {
        return Err(DataError::file(
            path,
            "truncated JPEG: no end-of-image marker at the end of the file",
        ));
    }
    let img = reader.decode().map_err(|e| {
        DataError::file(
            path,
            match e {
                image::ImageError::Unsupported(u) => format!(
                    "unsupported image ({u}); expected PNG, JPEG or TIFF, 8 or 16 bit, grey or RGB"
                ),
                other => format!("cannot decode the image (corrupt or truncated?): {other}"),
            },
        )
    })?;
    use image::ColorType as C;
    match img.color() {
        C::L8 | C::L16 | C::La8 | C::La16 | C::Rgb8 | C::Rgb16 | C::Rgba8 | C::Rgba16 => Ok(img),
        other => Err(DataError::file(
            path,
            format!("pixel format {other:?} is not supported (expected 8- or 16-bit grey or RGB)"),
        )),
    }
}

/// Reads one image or every image of a folder and cuts them into tiles. In a folder, an image
/// that cannot be read is reported in the notes and the others still load. Whole slides are
/// read by region (`slide`); `progress` hears the share of slide tiles read.
pub fn read_images(
    path: &Path,
    p: &TileParams,
    progress: &(dyn Fn(f64) + Sync),
) -> Result<TilesRead, DataError> {
    if p.tile == 0 {
        return Err(DataError::file(path, "--tile must be at least 1 pixel"));
    }
    let files: Vec<PathBuf> = if path.is_dir() {
        let mut v: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|e| DataError::io(path, e))?
            .flatten()
            .map(|e| e.path())
            .filter(|p| is_image_file(p))
            .collect();
        v.sort();
        if v.is_empty() {
            return Err(DataError::file(
                path,
                "the folder has no PNG, JPEG, TIFF or SVS images",
            ));
        }
        v
    } else {
        vec![path.to_path_buf()]
    };
    let mut out = TilesRead {
        ids: Vec::new(),
        meta: Vec::new(),
        tiles: Tiles::default(),
        notes: Vec::new(),
    };
    let mut cols = TileColumns::default();
    let mut errors = Vec::new();
    let mut any_slide = false;
    // Slide tiles' features come with their pixels; pictures' are computed at the end.
    let mut features: Vec<Option<Vec<f32>>> = Vec::new();
    let n_files = files.len();
    for (fi, f) in files.iter().enumerate() {
        let one = |e: DataError, errors: &mut Vec<String>| -> Result<(), DataError> {
            if n_files > 1 {
                errors.push(e.to_string());
                Ok(())
            } else {
                Err(e)
            }
        };
        // Absolute, so a session's previews find the file from any working folder.
        let source_name = f
            .canonicalize()
            .unwrap_or_else(|_| f.clone())
            .display()
            .to_string();
        let stem = f
            .file_name()
            .map(|s| s.to_string_lossy().to_string())
            .map(|n| {
                let lower = n.to_ascii_lowercase();
                [
                    ".ome.tiff",
                    ".ome.tif",
                    ".tiff",
                    ".tif",
                    ".svs",
                    ".png",
                    ".jpeg",
                    ".jpg",
                ]
                .iter()
                .find(|e| lower.ends_with(*e))
                .map(|e| n[..n.len() - e.len()].to_string())
                .unwrap_or(n)
            })
            .unwrap_or_default();
        let src = out.tiles.sources.len() as u32;
        if let Some(slide) = open_slide(f) {
            let slide = match slide {
                Ok(s) => s,
                Err(e) => {
                    one(e, &mut errors)?;
                    continue;
                }
            };
            let cp = CutParams {
                tile_px: p.slide_tile,
                target_mpp: p.slide_mpp,
                stride_px: p.stride,
                min_foreground: p.min_foreground,
                keep_background: p.keep_background,
                mpp: p.mpp,
            };
            let share = |x: f64| progress((fi as f64 + x) / n_files as f64);
            let c = match cut(&slide, &cp, &share, &keep_slide_tile) {
                Ok(c) => c,
                Err(e) => {
                    one(DataError::file(f, e), &mut errors)?;
                    continue;
                }
            };
            any_slide = true;
            for (k, (&(x, y, side), (fs, px))) in c.boxes.iter().zip(c.tiles).enumerate() {
                out.ids.push(format!("{stem}:{x},{y}"));
                out.tiles
                    .boxes
                    .push((src, x as u32, y as u32, side as u32, side as u32));
                out.tiles.pixels.push(px);
                features.push(Some(fs));
                cols.push(
                    &source_name,
                    &stem,
                    x,
                    y,
                    side,
                    c.foreground[k],
                    p.slide_tile,
                );
            }
            out.tiles.sources.push(f.clone());
            out.tiles.colour.push(true);
            out.tiles.slides.push(Some((Arc::new(slide), p.slide_tile)));
            out.notes.extend(c.notes);
            continue;
        }
        let img = match decode(f) {
            Ok(i) => i,
            Err(e) => {
                one(e, &mut errors)?;
                continue;
            }
        };
        let (w, h) = (img.width(), img.height());
        if p.tile > w || p.tile > h {
            let e = DataError::file(
                f,
                format!(
                    "--tile {} is larger than the image ({w} × {h} pixels)",
                    p.tile
                ),
            );
            one(e, &mut errors)?;
            continue;
        }
        let colour = img.color().has_color();
        let rgb = img.to_rgb8();
        let (kept, dropped, t) = cut_picture(&img, &rgb, colour, p, &mut |x, y, frac| {
            out.ids.push(format!("{stem}:{x},{y}"));
            out.tiles.boxes.push((src, x, y, p.tile, p.tile));
            out.tiles
                .pixels
                .push(image::imageops::crop_imm(&rgb, x, y, p.tile, p.tile).to_image());
            features.push(None);
            cols.push(
                &source_name,
                &stem,
                x as u64,
                y as u64,
                p.tile as u64,
                frac,
                p.tile,
            );
        });
        out.tiles.sources.push(f.clone());
        out.tiles.colour.push(colour);
        out.tiles.slides.push(None);
        if dropped > 0 {
            out.notes.push(format!(
                "{}: {kept} tiles kept, {dropped} background tiles dropped (Otsu on {} at {:.3}; under {:.0} % foreground)",
                f.display(),
                if colour { "saturation" } else { "intensity" },
                t,
                p.min_foreground * 100.0
            ));
        }
    }
    for e in &errors {
        out.notes.push(format!("skipped: {e}"));
    }
    if out.ids.is_empty() {
        return Err(DataError::file(
            path,
            if errors.is_empty() {
                "no tile has enough foreground (try --keep-background or a smaller --tile)"
                    .to_string()
            } else {
                format!("no image could be read: {}", errors.join("; "))
            },
        ));
    }
    out.meta = cols.into_meta(any_slide);
    {
        use rayon::prelude::*;
        let t = &out.tiles;
        out.tiles.features = features
            .into_par_iter()
            .enumerate()
            .map(|(i, f)| {
                f.unwrap_or_else(|| tile_features(&t.pixels[i], t.colour[t.boxes[i].0 as usize]))
            })
            .collect();
    }
    Ok(out)
}

/// The tile grid of a decoded picture; `keep(x, y, foreground share)` for every tile kept.
/// Returns (kept, dropped, threshold).
fn cut_picture(
    img: &DynamicImage,
    rgb: &RgbImage,
    colour: bool,
    p: &TileParams,
    keep: &mut dyn FnMut(u32, u32, f64),
) -> (usize, usize, f32) {
    let (w, h) = rgb.dimensions();
    let stride = if p.stride > 0 { p.stride } else { p.tile };
    // The mask's values: saturation for colour, intensity (16-bit kept) for grey.
    let values: Vec<f32> = if colour {
        rgb.pixels()
            .map(|px| {
                let mx = px.0.iter().max().copied().unwrap_or(0) as f32;
                let mn = px.0.iter().min().copied().unwrap_or(0) as f32;
                (mx - mn) / 255.0
            })
            .collect()
    } else {
        img.to_luma32f().pixels().map(|px| px.0[0]).collect()
    };
    let t = otsu(&values);
    let (mut kept, mut dropped) = (0, 0);
    let mut y = 0;
    while y + p.tile <= h {
        let mut x = 0;
        while x + p.tile <= w {
            let mut fg = 0usize;
            for yy in y..y + p.tile {
                let row = (yy * w) as usize;
                fg += values[row + x as usize..row + (x + p.tile) as usize]
                    .iter()
                    .filter(|&&v| v > t)
                    .count();
            }
            let frac = fg as f64 / (p.tile * p.tile) as f64;
            if p.keep_background || frac >= p.min_foreground {
                keep(x, y, frac);
                kept += 1;
            } else {
                dropped += 1;
            }
            x += stride;
        }
        y += stride;
    }
    (kept, dropped, t)
}

/// The metadata of every tile, gathered as the files are cut.
#[derive(Default)]
struct TileColumns {
    source: Vec<String>,
    slide: Vec<String>,
    x: Vec<f64>,
    y: Vec<f64>,
    side: Vec<f64>,
    foreground: Vec<f64>,
    px: Vec<f64>,
}

impl TileColumns {
    #[allow(clippy::too_many_arguments)]
    fn push(&mut self, source: &str, slide: &str, x: u64, y: u64, side: u64, fg: f64, px: u32) {
        self.source.push(source.to_string());
        self.slide.push(slide.to_string());
        self.x.push(x as f64);
        self.y.push(y as f64);
        self.side.push(side as f64);
        self.foreground.push(fg);
        self.px.push(px as f64);
    }

    /// `slide` (the file's name) and `tile_px` (the side the tile was embedded at) only when
    /// a whole slide is among the inputs: pictures alone keep the columns they always had.
    fn into_meta(self, slides: bool) -> Vec<MetaColumn> {
        let num = |name: &str, v: Vec<f64>| MetaColumn {
            name: name.into(),
            values: MetaValues::Number(v),
        };
        let mut meta = vec![MetaColumn {
            name: "source".into(),
            values: MetaValues::Text(self.source),
        }];
        if slides {
            meta.push(MetaColumn {
                name: "slide".into(),
                values: MetaValues::Text(self.slide),
            });
        }
        meta.extend([
            num("tile_x", self.x),
            num("tile_y", self.y),
            num("tile_w", self.side.clone()),
            num("tile_h", self.side),
            num("foreground", self.foreground),
        ]);
        if slides {
            meta.push(num("tile_px", self.px));
        }
        meta
    }
}

/// Re-reads tile pixels from their source files by the boxes in the metadata: a session keeps
/// the boxes, not the pixels. None when a source can no longer be read (previews then stay
/// off; everything else in the session is unaffected).
pub fn tiles_from_meta(meta: &[MetaColumn]) -> Option<Tiles> {
    let col = |n: &str| meta.iter().find(|c| c.name == n).map(|c| &c.values);
    let Some(MetaValues::Text(src)) = col("source") else {
        return None;
    };
    let num = |n: &str| match col(n) {
        Some(MetaValues::Number(v)) => Some(v.clone()),
        _ => None,
    };
    let (xs, ys, ws, hs) = (
        num("tile_x")?,
        num("tile_y")?,
        num("tile_w")?,
        num("tile_h")?,
    );
    // Slide tiles were read at this side; pictures' tiles are their boxes as they are.
    let px = num("tile_px");
    enum Opened {
        Picture(RgbImage),
        Slide(Arc<Slide>),
    }
    let mut t = Tiles::default();
    let mut opened: Vec<Opened> = Vec::new();
    for i in 0..src.len() {
        let p = PathBuf::from(&src[i]);
        let k = match t.sources.iter().position(|s| *s == p) {
            Some(k) => k,
            None => {
                match open_slide(&p) {
                    Some(s) => {
                        opened.push(Opened::Slide(Arc::new(s.ok()?)));
                        t.colour.push(true);
                    }
                    None => {
                        let img = image::open(&p).ok()?;
                        t.colour.push(img.color().has_color());
                        opened.push(Opened::Picture(img.to_rgb8()));
                    }
                }
                t.slides.push(None);
                t.sources.push(p);
                t.sources.len() - 1
            }
        };
        let (x, y, w, h) = (xs[i] as u32, ys[i] as u32, ws[i] as u32, hs[i] as u32);
        let pixels = match &opened[k] {
            Opened::Picture(img) => {
                if x + w > img.width() || y + h > img.height() {
                    return None;
                }
                image::imageops::crop_imm(img, x, y, w, h).to_image()
            }
            Opened::Slide(s) => {
                let side = px.as_ref().map(|v| v[i] as u32).filter(|&v| v > 0)?;
                if t.slides[k].is_none() {
                    t.slides[k] = Some((s.clone(), side));
                }
                // Read as the run read it, then kept as the run kept it: the same previews.
                keep_size(&s.read_scaled(x as u64, y as u64, w as u64, side).ok()?)
            }
        };
        t.boxes.push((k as u32, x, y, w, h));
        t.pixels.push(pixels);
    }
    Some(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modality::images::features::{RGB_FROM_HED, hed, inverse3, lbp_histogram};

    #[test]
    fn otsu_splits_two_levels() {
        let mut v = vec![0.1f32; 100];
        v.extend(vec![0.8f32; 50]);
        let t = otsu(&v);
        assert!(t > 0.1 && t < 0.8, "{t}");
    }

    #[test]
    fn hed_of_white_is_zero_and_haematoxylin_is_first() {
        let m = inverse3(RGB_FROM_HED);
        assert_eq!(hed([255, 255, 255], &m), [0.0, 0.0, 0.0]);
        // A haematoxylin-blue pixel has more H than E.
        let x = hed([80, 70, 160], &m);
        assert!(x[0] > x[1], "{x:?}");
        // The inverse is an inverse.
        let i = inverse3(m);
        for r in 0..3 {
            for c in 0..3 {
                assert!((i[r][c] - RGB_FROM_HED[r][c]).abs() < 1e-9);
            }
        }
    }

    #[test]
    fn lbp_of_a_flat_tile_is_all_ones_pattern() {
        let h = lbp_histogram(&[0.5; 25], 5, 5);
        assert_eq!(h[8], 1.0);
    }

    #[test]
    fn bad_images_are_named_and_folders_keep_the_good_ones() {
        let d = tempfile::tempdir().unwrap();
        let good = d.path().join("a.png");
        image::RgbImage::from_fn(40, 40, |x, _| image::Rgb([(x * 6) as u8, 10, 200]))
            .save(&good)
            .unwrap();
        let bad = d.path().join("b.png");
        let bytes = std::fs::read(&good).unwrap();
        std::fs::write(&bad, &bytes[..bytes.len() / 2]).unwrap();
        let p = TileParams {
            tile: 16,
            keep_background: true,
            ..Default::default()
        };
        let e = read_images(&bad, &p, &|_| {}).err().unwrap().to_string();
        assert!(e.contains("b.png") && e.contains("cannot decode"), "{e}");
        // A JPEG cut in half decodes without complaint (the rest is grey); it is refused.
        let jpg = d.path().join("c.jpg");
        image::RgbImage::from_fn(64, 64, |x, y| {
            image::Rgb([(x * 4) as u8, (y * 4) as u8, 90])
        })
        .save(&jpg)
        .unwrap();
        assert!(read_images(&jpg, &p, &|_| {}).is_ok());
        let whole = std::fs::read(&jpg).unwrap();
        let cut = d.path().join("cut.jpg");
        std::fs::write(&cut, &whole[..whole.len() / 2]).unwrap();
        let e = read_images(&cut, &p, &|_| {}).err().unwrap().to_string();
        assert!(e.contains("cut.jpg") && e.contains("truncated JPEG"), "{e}");
        std::fs::remove_file(&jpg).unwrap();
        std::fs::remove_file(&cut).unwrap();
        let r = read_images(d.path(), &p, &|_| {}).unwrap();
        assert_eq!(r.ids.len(), 4);
        assert!(
            r.notes
                .iter()
                .any(|n| n.contains("skipped") && n.contains("b.png"))
        );
        let big = TileParams {
            tile: 64,
            ..p.clone()
        };
        let e = read_images(&good, &big, &|_| {}).err().unwrap().to_string();
        assert!(e.contains("larger than the image (40 × 40"), "{e}");
        let empty = tempfile::tempdir().unwrap();
        let e = read_images(empty.path(), &p, &|_| {})
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("no PNG, JPEG, TIFF or SVS"), "{e}");
    }
}
