//! The map's tissue view: every item drawn where it lies on the tissue (a cell's or spot's
//! `obsm['spatial']`, a tile's corner on its slide, or two columns the user names) instead of
//! at its place on the 2-D projection. The cursor, colour and selections are shared, so moving
//! on one view and switching shows the same item on the other.

use crate::core::MetaValues;
use crate::modality::Dataset;
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
    /// Slides laid side by side, left to right in the order they were read (1: one slide or
    /// positions that are not tiles).
    pub slides: usize,
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
        // Tiles of several slides share coordinates: each slide is put to the right of the
        // one before, so none hides another (and tissue neighbours stay on their slide).
        let mut slides = 1;
        if let (true, Some(MetaValues::Text(names))) =
            (extent.is_some(), ds.meta_column("slide").map(|c| &c.values))
        {
            let mut order: Vec<&str> = Vec::new();
            for n in names {
                if !order.contains(&n.as_str()) {
                    order.push(n);
                }
            }
            slides = order.len();
            if slides > 1 {
                let right = |k: usize| -> f32 {
                    (0..layout.len())
                        .filter(|&i| names[i] == order[k])
                        .map(|i| layout[i][0] + extent.as_ref().map_or(0.0, |e| e[i][0]))
                        .fold(0.0, f32::max)
                };
                let widths: Vec<f32> = (0..slides).map(right).collect();
                let gap = 0.05 * widths.iter().copied().fold(0.0, f32::max);
                let mut offsets = vec![0f32; slides];
                for k in 1..slides {
                    offsets[k] = offsets[k - 1] + widths[k - 1] + gap;
                }
                for (i, p) in layout.iter_mut().enumerate() {
                    let k = order.iter().position(|o| *o == names[i]).unwrap_or(0);
                    p[0] += offsets[k];
                }
            }
        }
        Ok(Tissue {
            extent,
            x: x.to_string(),
            y: y.to_string(),
            layout: Arc::new(layout),
            slides,
        })
    }
}
