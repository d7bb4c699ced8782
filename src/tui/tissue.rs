//! The map's tissue view: every item drawn where it lies on the tissue (a cell's or spot's
//! `obsm['spatial']`, a tile's corner on its slide, or two columns the user names) instead of
//! at its place on the 2-D projection. The cursor, colour and selections are shared, so moving
//! on one view and switching shows the same item on the other.

use crate::core::MetaValues;
use crate::modality::Dataset;
use crate::modality::SlidePictures;
use crate::tui::raster::Viewport;
use std::path::PathBuf;
use std::sync::Arc;

/// Column pairs that hold positions, looked for in this order when none are named.
pub const POSITION_COLUMNS: [(&str, &str); 2] = [("spatial_x", "spatial_y"), ("tile_x", "tile_y")];

/// Positions on the tissue, from two numeric columns.
#[derive(Debug, Clone, PartialEq)]
pub struct Tissue {
    pub x: String,
    pub y: String,
    /// Each item's (x, −y): images and slides count y downwards, the map upwards.
    pub layout: Arc<Vec<[f32; 2]>>,
    /// Each tile's width and height when the positions are tiles' corners: the map draws
    /// its footprint, so a slide's tissue reads as tissue, not as a grid of dots.
    pub extent: Option<Arc<Vec<[f32; 2]>>>,
    /// The slides (or images) tiles were cut from, side by side, left to right as read;
    /// empty when the positions are not tiles.
    pub sources: Vec<TissueSource>,
    /// Each item's index in `sources` (empty when there are none).
    pub source_of: Arc<Vec<u32>>,
    /// One slide at a time (`[`, `]`, `:slide`): the map shows only this source.
    pub shown: Option<usize>,
    /// Pictures of the sources, placed under their tiles, once read.
    pub pictures: Option<Arc<SlidePictures>>,
    pub picture: PictureMode,
}

/// One slide or image in the tissue view.
#[derive(Debug, Clone, PartialEq)]
pub struct TissueSource {
    /// The file's name.
    pub name: String,
    pub path: PathBuf,
    /// Where its tiles were moved to on x (their left edge), and the right edge after the move.
    pub offset: f32,
    pub x1: f32,
    pub items: usize,
}

/// How the slide's picture shows in the tissue view (`b` cycles).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PictureMode {
    /// Tiles alone.
    Off,
    /// The picture around and, dimmed, behind the tiles.
    #[default]
    Behind,
    /// The picture alone, with the cursor: the tissue as it is.
    Alone,
}

impl PictureMode {
    pub fn next(self) -> Self {
        match self {
            PictureMode::Off => PictureMode::Behind,
            PictureMode::Behind => PictureMode::Alone,
            PictureMode::Alone => PictureMode::Off,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            PictureMode::Off => "off",
            PictureMode::Behind => "behind the tiles",
            PictureMode::Alone => "alone",
        }
    }
}

impl Tissue {
    /// The positions in columns `x` and `y` of `ds` (the first pair of `POSITION_COLUMNS`
    /// found when None); an error says what is missing.
    pub fn from_columns(ds: &Dataset, names: Option<(&str, &str)>) -> Result<Tissue, String> {
        let (x, y) = match names {
            Some(p) => p,
            None => POSITION_COLUMNS
                .iter()
                .copied()
                .find(|(x, y)| ds.meta_column(x).is_some() && ds.meta_column(y).is_some())
                .ok_or_else(|| {
                    "no positions in this dataset: an .h5ad's obsm['spatial'] or image tiles \
                     give them, or name two numeric columns: :map tissue X Y"
                        .to_string()
                })?,
        };
        let column = |name: &str| -> Result<&Vec<f64>, String> {
            match ds.meta_column(name).map(|c| &c.values) {
                Some(MetaValues::Number(v)) => Ok(v),
                Some(MetaValues::Text(_)) => Err(format!("column '{name}' is not numeric")),
                None => Err(format!("no column '{name}'")),
            }
        };
        let (xs, ys) = (column(x)?, column(y)?);
        let missing = (0..xs.len())
            .filter(|&i| !(xs[i].is_finite() && ys[i].is_finite()))
            .count();
        if missing > 0 {
            return Err(format!(
                "{missing} of {} items have no position in {x}, {y}",
                xs.len()
            ));
        }
        let extent = match (x, y, column("tile_w"), column("tile_h")) {
            ("tile_x", "tile_y", Ok(w), Ok(h)) => Some(Arc::new(
                w.iter()
                    .zip(h)
                    .map(|(&a, &b)| [a as f32, b as f32])
                    .collect::<Vec<[f32; 2]>>(),
            )),
            _ => None,
        };
        let mut layout: Vec<[f32; 2]> = xs
            .iter()
            .zip(ys)
            .map(|(&a, &b)| [a as f32, -b as f32])
            .collect();
        // Tiles of several slides or images share coordinates: each source is put to the
        // right of the one before, so none hides another (and tissue neighbours stay on
        // their slide).
        let mut sources = Vec::new();
        let mut source_of = Vec::new();
        if let (Some(e), Some(MetaValues::Text(paths))) =
            (&extent, ds.meta_column("source").map(|c| &c.values))
        {
            let mut order: Vec<&str> = Vec::new();
            source_of = paths
                .iter()
                .map(|p| match order.iter().position(|o| o == p) {
                    Some(k) => k as u32,
                    None => {
                        order.push(p);
                        order.len() as u32 - 1
                    }
                })
                .collect();
            let mut right = vec![0f32; order.len()];
            let mut items = vec![0usize; order.len()];
            for (i, &k) in source_of.iter().enumerate() {
                right[k as usize] = right[k as usize].max(layout[i][0] + e[i][0]);
                items[k as usize] += 1;
            }
            let gap = 0.05 * right.iter().copied().fold(0.0, f32::max);
            let mut offset = 0f32;
            for (k, p) in order.iter().enumerate() {
                let path = PathBuf::from(p);
                sources.push(TissueSource {
                    name: path
                        .file_name()
                        .map_or_else(|| p.to_string(), |n| n.to_string_lossy().into_owned()),
                    path,
                    offset,
                    x1: offset + right[k],
                    items: items[k],
                });
                offset += right[k] + gap;
            }
            for (i, p) in layout.iter_mut().enumerate() {
                p[0] += sources[source_of[i] as usize].offset;
            }
        }
        Ok(Tissue {
            extent,
            x: x.to_string(),
            y: y.to_string(),
            layout: Arc::new(layout),
            sources,
            source_of: Arc::new(source_of),
            shown: None,
            pictures: None,
            picture: PictureMode::default(),
        })
    }

    /// How many slides or images lie side by side (1 when the positions are not tiles).
    pub fn slides(&self) -> usize {
        self.sources.len().max(1)
    }

    /// The x range the map keeps when one source is shown.
    pub fn shown_range(&self) -> Option<(f32, f32)> {
        let s = self.sources.get(self.shown?)?;
        Some((s.offset, s.x1))
    }

    /// The items of source `k`, as positions (for fitting the view to it).
    pub fn source_layout(&self, k: usize) -> Vec<[f32; 2]> {
        let e = self.extent.as_deref();
        let mut v = Vec::new();
        for (i, &s) in self.source_of.iter().enumerate() {
            if s as usize == k {
                let p = self.layout[i];
                v.push(p);
                if let Some(e) = e {
                    v.push([p[0] + e[i][0], p[1] - e[i][1]]);
                }
            }
        }
        v
    }
}

/// The colours of a `w × h`-cell map's half cells (two per cell, top then bottom, row by
/// row) under `view`, sampled from the pictures: None where none lies or outside `keep`'s x
/// range. Each half cell averages a 3 × 3 grid of samples, so a zoomed-out view is not
/// speckled by single pixels.
pub fn picture_cells(
    p: &SlidePictures,
    view: &Viewport,
    w: u16,
    h: u16,
    keep: Option<(f32, f32)>,
) -> Vec<Option<[u8; 3]>> {
    let (cw, ch) = (2.0 * view.hw / w.max(1) as f32, view.hh / h.max(1) as f32);
    let (left, top) = (view.cx - view.hw, view.cy + view.hh);
    let mut out = Vec::with_capacity(w as usize * h as usize * 2);
    for row in 0..h as usize * 2 {
        for col in 0..w as usize {
            let (x, y) = (left + col as f32 * cw, top - row as f32 * ch);
            if keep.is_some_and(|(a, b)| x + cw < a || x > b) {
                out.push(None);
                continue;
            }
            let (mut sum, mut n) = ([0u32; 3], 0u32);
            for a in 0..3 {
                for b in 0..3 {
                    let sx = x + (a as f32 + 0.5) / 3.0 * cw;
                    let sy = y - (b as f32 + 0.5) / 3.0 * ch;
                    if let Some(c) = p.at(sx, sy) {
                        for (s, v) in sum.iter_mut().zip(c) {
                            *s += v as u32;
                        }
                        n += 1;
                    }
                }
            }
            // At least half the samples on the picture: its edge is not smeared outwards.
            out.push((n >= 5).then(|| sum.map(|s| ((s + n / 2) / n) as u8)));
        }
    }
    out
}
