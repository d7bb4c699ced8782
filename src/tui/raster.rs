//! The map's density raster: points binned into braille dots (2 × 4 per terminal cell), one
//! colour per cell. Computed in `update()` when data, colouring, viewport or size change, so
//! drawing only copies cells.

/// The part of the 2-D layout that is visible.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Viewport {
    pub cx: f32,
    pub cy: f32,
    /// Half the visible width and height, in layout units.
    pub hw: f32,
    pub hh: f32,
}

impl Viewport {
    /// Fits all points with a small margin.
    pub fn fit(layout: &[[f32; 2]]) -> Self {
        let (mut x0, mut x1, mut y0, mut y1) = (
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::INFINITY,
            f32::NEG_INFINITY,
        );
        for p in layout {
            x0 = x0.min(p[0]);
            x1 = x1.max(p[0]);
            y0 = y0.min(p[1]);
            y1 = y1.max(p[1]);
        }
        if !x0.is_finite() {
            return Self {
                cx: 0.0,
                cy: 0.0,
                hw: 1.0,
                hh: 1.0,
            };
        }
        let hw = ((x1 - x0) / 2.0).max(1e-3) * 1.05;
        let hh = ((y1 - y0) / 2.0).max(1e-3) * 1.05;
        Self {
            cx: (x0 + x1) / 2.0,
            cy: (y0 + y1) / 2.0,
            hw,
            hh,
        }
    }

    /// Cell (column, row) of a layout point in a `w × h` cell area, if visible.
    pub fn to_cell(&self, p: [f32; 2], w: u16, h: u16) -> Option<(u16, u16)> {
        let (dx, dy) = self.dot_of(p, w, h)?;
        Some(((dx / 2) as u16, (dy / 4) as u16))
    }

    fn dot_of(&self, p: [f32; 2], w: u16, h: u16) -> Option<(u32, u32)> {
        let (dw, dh) = (w as f32 * 2.0, h as f32 * 4.0);
        let fx = (p[0] - (self.cx - self.hw)) / (2.0 * self.hw) * dw;
        let fy = ((self.cy + self.hh) - p[1]) / (2.0 * self.hh) * dh;
        if fx >= 0.0 && fy >= 0.0 && fx < dw && fy < dh {
            Some((fx as u32, fy as u32))
        } else {
            None
        }
    }

    /// Layout point at the centre of cell (col, row).
    pub fn cell_center(&self, col: u16, row: u16, w: u16, h: u16) -> [f32; 2] {
        [
            self.cx - self.hw + (col as f32 + 0.5) / w.max(1) as f32 * 2.0 * self.hw,
            self.cy + self.hh - (row as f32 + 0.5) / h.max(1) as f32 * 2.0 * self.hh,
        ]
    }
}

/// How points are coloured: by category index or by a value mapped to a gradient.
#[derive(Debug, Clone, PartialEq)]
pub enum Coloring<'a> {
    Category(&'a [u32]),
    Value { v: &'a [f32], lo: f32, hi: f32 },
    None,
}

/// One terminal cell of the map.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct RasterCell {
    pub dots: u8,
    /// Category, or gradient step 0..GRADIENT_STEPS; u16::MAX = none.
    pub color: u16,
    pub count: u32,
}

pub const GRADIENT_STEPS: u16 = 8;

#[derive(Debug, Clone, PartialEq)]
pub struct Raster {
    pub w: u16,
    pub h: u16,
    pub cells: Vec<RasterCell>,
}

const DOT_BITS: [[u8; 4]; 2] = [[0x01, 0x02, 0x04, 0x40], [0x08, 0x10, 0x20, 0x80]];

/// Bins `layout` into a `w × h` raster. Majority vote (Boyer–Moore) picks a category per cell
/// in one pass; values are averaged.
pub fn rasterize(
    layout: &[[f32; 2]],
    vp: &Viewport,
    w: u16,
    h: u16,
    coloring: &Coloring,
) -> Raster {
    let n = w as usize * h as usize;
    let mut cells = vec![
        RasterCell {
            dots: 0,
            color: u16::MAX,
            count: 0
        };
        n
    ];
    let mut votes = vec![0u32; n];
    let mut sums = vec![
        0.0f32;
        if matches!(coloring, Coloring::Value { .. }) {
            n
        } else {
            0
        }
    ];
    for (i, &p) in layout.iter().enumerate() {
        let Some((dx, dy)) = vp.dot_of(p, w, h) else {
            continue;
        };
        let c = (dy / 4) as usize * w as usize + (dx / 2) as usize;
        let cell = &mut cells[c];
        cell.dots |= DOT_BITS[(dx % 2) as usize][(dy % 4) as usize];
        cell.count += 1;
        match coloring {
            Coloring::Category(cat) => {
                let k = cat[i].min(u16::MAX as u32 - 1) as u16;
                if votes[c] == 0 {
                    cell.color = k;
                    votes[c] = 1;
                } else if cell.color == k {
                    votes[c] += 1;
                } else {
                    votes[c] -= 1;
                }
            }
            Coloring::Value { v, .. } => sums[c] += v[i],
            Coloring::None => {}
        }
    }
    if let Coloring::Value { lo, hi, .. } = coloring {
        let span = (hi - lo).max(1e-12);
        for (cell, s) in cells.iter_mut().zip(&sums) {
            if cell.count > 0 {
                let t = ((s / cell.count as f32 - lo) / span).clamp(0.0, 1.0);
                cell.color = ((t * (GRADIENT_STEPS - 1) as f32).round()) as u16;
            }
        }
    }
    Raster { w, h, cells }
}

pub fn braille(dots: u8) -> char {
    char::from_u32(0x2800 + dots as u32).unwrap_or(' ')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corners_land_in_corner_cells() {
        let layout = [[0.0, 0.0], [10.0, 10.0], [5.0, 5.0]];
        let vp = Viewport {
            cx: 5.0,
            cy: 5.0,
            hw: 5.5,
            hh: 5.5,
        };
        let cats = [0u32, 1, 2];
        let r = rasterize(&layout, &vp, 10, 5, &Coloring::Category(&cats));
        assert_eq!(r.cells.iter().map(|c| c.count).sum::<u32>(), 3);
        // (0,0) is bottom-left; (10,10) top-right.
        assert_eq!(r.cells[4 * 10].color, 0);
        assert_eq!(r.cells[9].color, 1);
        assert_eq!(braille(0x01 | 0x80), '⢁');
    }
}
