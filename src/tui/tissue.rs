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
                    .collect(),
            )),
            _ => None,
        };
        Ok(Tissue {
            extent,
            x: x.to_string(),
            y: y.to_string(),
            layout: Arc::new(
                xs.iter()
                    .zip(ys)
                    .map(|(&a, &b)| [a as f32, -b as f32])
                    .collect(),
            ),
        })
    }
}
