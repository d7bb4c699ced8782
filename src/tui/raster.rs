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
    /// Fits the points with a small margin, leaving out a few far outliers: one point far
    /// away would otherwise squeeze every other into a few rows. Per axis, the 0.1–99.9%
    /// range is widened by half its width; points beyond that are outliers (they count only
    /// when fewer than 1 in 200), and the view fits every other point.
    pub fn fit(layout: &[[f32; 2]]) -> Self {
        let finite = |p: &&[f32; 2]| p[0].is_finite() && p[1].is_finite();
        let n = layout.iter().filter(finite).count();
        let mut keep = [(f32::NEG_INFINITY, f32::INFINITY); 2];
        if n >= 200 {
            for (axis, k) in keep.iter_mut().enumerate() {
                let mut v: Vec<f32> = layout.iter().filter(finite).map(|p| p[axis]).collect();
                let lo_i = n / 1000;
                let hi_i = n - 1 - n / 1000;
                let lo = *v.select_nth_unstable_by(lo_i, f32::total_cmp).1;
                let hi = *v.select_nth_unstable_by(hi_i, f32::total_cmp).1;
                let pad = (hi - lo) * 0.5;
                *k = (lo - pad, hi + pad);
            }
            let inside = |p: &[f32; 2]| (0..2).all(|a| p[a] >= keep[a].0 && p[a] <= keep[a].1);
            let out = layout.iter().filter(finite).filter(|p| !inside(p)).count();
            if out * 200 > n {
                keep = [(f32::NEG_INFINITY, f32::INFINITY); 2];
            }
        }
        let (mut x0, mut x1, mut y0, mut y1) = (
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::INFINITY,
            f32::NEG_INFINITY,
        );
        for p in layout.iter().filter(finite) {
            if (0..2).any(|a| p[a] < keep[a].0 || p[a] > keep[a].1) {
                continue;
            }
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

    /// How many points of `layout` lie outside the view.
    pub fn outside(&self, layout: &[[f32; 2]]) -> usize {
        layout
            .iter()
            .filter(|p| (p[0] - self.cx).abs() > self.hw || (p[1] - self.cy).abs() > self.hh)
            .count()
    }

    /// Cell (column, row) of a layout point in a `w × h` cell area, if visible.
    pub fn to_cell(&self, p: [f32; 2], w: u16, h: u16) -> Option<(u16, u16)> {
        let (dx, dy) = self.dot_of(p, w, h)?;
        Some(((dx / 2) as u16, (dy / 4) as u16))
    }

    /// The dot a layout point falls on, not limited to the view (may be negative or past it).
    fn dot_unclamped(&self, p: [f32; 2], w: u16, h: u16) -> (f32, f32) {
        let (dw, dh) = (w as f32 * 2.0, h as f32 * 4.0);
        (
            (p[0] - (self.cx - self.hw)) / (2.0 * self.hw) * dw,
            ((self.cy + self.hh) - p[1]) / (2.0 * self.hh) * dh,
        )
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
    /// Members of a selection: a cell holding any member is [`MEMBER`], the others [`OTHER`].
    Highlight(&'a [bool]),
    Value {
        v: &'a [f32],
        lo: f32,
        hi: f32,
    },
    None,
}

/// Cell colours of a highlighted selection.
pub const MEMBER: u16 = 0;
pub const OTHER: u16 = 1;

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
    rasterize_boxes(layout, None, vp, w, h, coloring)
}

/// The same, each item `i` with an extent drawn as the box from `layout[i]` (its top-left
/// corner) `extents[i]` wide and high (a slide tile's footprint) rather than as one dot.
pub fn rasterize_boxes(
    layout: &[[f32; 2]],
    extents: Option<&[[f32; 2]]>,
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
    let mut mark = |c: usize, bits: u8, i: usize| {
        let cell = &mut cells[c];
        cell.dots |= bits;
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
            Coloring::Highlight(m) => {
                // One member is enough: a selection must be seen, not outvoted.
                if m[i] {
                    cell.color = MEMBER;
                } else if cell.color != MEMBER {
                    cell.color = OTHER;
                }
            }
            Coloring::Value { v, .. } => sums[c] += v[i],
            Coloring::None => {}
        }
    };
    let (dw, dh) = (w as i64 * 2, h as i64 * 4);
    for (i, &p) in layout.iter().enumerate() {
        let extent = extents
            .and_then(|e| e.get(i))
            .filter(|e| e[0] > 0.0 && e[1] > 0.0);
        let Some(e) = extent else {
            let Some((dx, dy)) = vp.dot_of(p, w, h) else {
                continue;
            };
            let c = (dy / 4) as usize * w as usize + (dx / 2) as usize;
            mark(c, DOT_BITS[(dx % 2) as usize][(dy % 4) as usize], i);
            continue;
        };
        let (x0, y0) = vp.dot_unclamped(p, w, h);
        let (x1, y1) = vp.dot_unclamped([p[0] + e[0], p[1] - e[1]], w, h);
        if !(x0.is_finite() && y0.is_finite() && x1.is_finite() && y1.is_finite()) {
            continue;
        }
        // Every dot whose centre lies in the box, at least the corner's own dot.
        let span = |a: f32, b: f32, max: i64| -> Option<(i64, i64)> {
            let lo = (a - 0.5).ceil() as i64;
            let hi = ((b - 0.5).ceil() as i64 - 1).max(lo);
            let (lo, hi) = (lo.max(0), hi.min(max - 1));
            (lo <= hi).then_some((lo, hi))
        };
        let (Some((dx0, dx1)), Some((dy0, dy1))) = (span(x0, x1, dw), span(y0, y1, dh)) else {
            continue;
        };
        for cy in dy0 / 4..=dy1 / 4 {
            for cx in dx0 / 2..=dx1 / 2 {
                let mut bits = 0u8;
                for dy in (cy * 4).max(dy0)..=(cy * 4 + 3).min(dy1) {
                    for dx in (cx * 2).max(dx0)..=(cx * 2 + 1).min(dx1) {
                        bits |= DOT_BITS[(dx % 2) as usize][(dy % 4) as usize];
                    }
                }
                mark(cy as usize * w as usize + cx as usize, bits, i);
            }
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
    // Boxes light whole cells by their size, not by how many items are there: shading them
    // by count would draw a pattern that is not in the data.
    if extents.is_none() {
        shade_dense_cells(&mut cells, w);
    }
    Raster { w, h, cells }
}

/// Saturated cells (all eight dots lit) needed before dense regions are shaded.
const SHADE_MIN_SATURATED: usize = 32;

/// At 1M points whole clusters light every dot of every cell and read as solid blocks.
/// When many cells are saturated, each saturated cell's glyph shows its count instead:
/// the lowest third of counts (log scale) keeps four dots in a checker, the middle third six,
/// the top third all eight, so density inside a cluster stays visible; colour still says
/// cluster (or value). Sparse cells keep their exact dots.
fn shade_dense_cells(cells: &mut [RasterCell], w: u16) {
    let mut counts: Vec<u32> = cells
        .iter()
        .filter(|c| c.dots == 0xFF)
        .map(|c| c.count)
        .collect();
    if counts.len() < SHADE_MIN_SATURATED {
        return;
    }
    counts.sort_unstable();
    let q = |f: f64| counts[((counts.len() - 1) as f64 * f) as usize];
    let (lo, hi) = (q(1.0 / 3.0), q(2.0 / 3.0));
    if lo == hi && hi == counts[counts.len() - 1] {
        // One density everywhere: nothing to show.
        return;
    }
    for (k, c) in cells.iter_mut().enumerate() {
        if c.dots != 0xFF {
            continue;
        }
        let checker = if (k % w.max(1) as usize).is_multiple_of(2) {
            0x95
        } else {
            0x6A
        };
        c.dots = if c.count <= lo {
            checker
        } else if c.count <= hi {
            0xDB
        } else {
            0xFF
        };
    }
}

pub fn braille(dots: u8) -> char {
    char::from_u32(0x2800 + dots as u32).unwrap_or(' ')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_far_outlier_does_not_squeeze_the_map() {
        let mut l: Vec<[f32; 2]> = (0..1000)
            .map(|i| [(i % 40) as f32 / 40.0, (i / 40) as f32 / 25.0])
            .collect();
        let v = Viewport::fit(&l);
        assert_eq!(v.outside(&l), 0);
        assert!(v.hw < 0.6 && v.hh < 0.6, "{v:?}");
        l.push([1000.0, -1000.0]);
        let v = Viewport::fit(&l);
        assert_eq!(v.outside(&l), 1, "{v:?}");
        assert!(v.hw < 0.6 && v.hh < 0.6, "{v:?}");
        // A spread-out layout keeps every point: no outliers are made up.
        let wide: Vec<[f32; 2]> = (0..1000)
            .map(|i| {
                let t = i as f32 / 1000.0;
                [t.powi(3) * 50.0, (t * 20.0).sin()]
            })
            .collect();
        assert_eq!(Viewport::fit(&wide).outside(&wide), 0);
        // Few points: always everything.
        let few = [[0.0, 0.0], [1.0, 1.0], [1000.0, 1000.0]];
        assert_eq!(Viewport::fit(&few).outside(&few), 0);
    }

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

    #[test]
    fn dense_regions_are_shaded_by_count_and_sparse_cells_keep_their_dots() {
        // A 40 × 10 raster: a dense blob whose centre holds 20× the points of its rim, and
        // one lone point.
        let mut layout = Vec::new();
        for cx in 0..20 {
            for cy in 0..10 {
                let reps = if (5..15).contains(&cx) && (3..7).contains(&cy) {
                    400
                } else {
                    20
                };
                for k in 0..reps {
                    // The centres of the cell's 2 × 4 dots.
                    let (dx, dy) = (
                        0.25 + (k % 2) as f32 * 0.5,
                        0.125 + ((k / 2) % 4) as f32 * 0.25,
                    );
                    layout.push([cx as f32 + dx, cy as f32 + dy]);
                }
            }
        }
        layout.push([35.3, 5.1]);
        let vp = Viewport {
            cx: 20.0,
            cy: 5.0,
            hw: 20.0,
            hh: 5.0,
        };
        let r = rasterize(&layout, &vp, 40, 10, &Coloring::None);
        let dots: std::collections::BTreeSet<u8> = r
            .cells
            .iter()
            .filter(|c| c.count >= 20)
            .map(|c| c.dots)
            .collect();
        // Rim and centre no longer draw the same glyph.
        assert!(dots.contains(&0xFF) && dots.len() >= 2, "{dots:?}");
        let lone = r.cells.iter().filter(|c| c.count == 1).count();
        assert_eq!(lone, 1);
        assert!(
            r.cells
                .iter()
                .any(|c| c.count == 1 && c.dots.count_ones() == 1)
        );
    }

    #[test]
    fn a_tile_with_an_extent_fills_its_footprint() {
        // A view of 0..10 × -10..0 on 5 × 5 cells: a dot is one unit wide, 0.5 high.
        let vp = Viewport {
            cx: 5.0,
            cy: -5.0,
            hw: 5.0,
            hh: 5.0,
        };
        // One tile at (2, -2) four wide and two high: dots x 2..6, y 4..8 (rows 1 of cells).
        let layout = [[2.0f32, -2.0]];
        let r = rasterize_boxes(&layout, Some(&[[4.0, 2.0]]), &vp, 5, 5, &Coloring::None);
        let lit: Vec<(usize, u8)> = r
            .cells
            .iter()
            .enumerate()
            .filter(|(_, c)| c.dots != 0)
            .map(|(k, c)| (k, c.dots))
            .collect();
        // Cells (1, 1) and (2, 1), every dot lit, each counting the tile once.
        assert_eq!(lit, vec![(6, 0xFF), (7, 0xFF)]);
        assert!(r.cells.iter().all(|c| c.count <= 1));
        // Without an extent the same item is its corner's dot only.
        let r = rasterize_boxes(&layout, None, &vp, 5, 5, &Coloring::None);
        assert_eq!(r.cells.iter().filter(|c| c.dots != 0).count(), 1);
        // A box wholly outside the view draws nothing; one across its edge is clipped.
        let r = rasterize_boxes(
            &[[20.0, -2.0]],
            Some(&[[4.0, 2.0]]),
            &vp,
            5,
            5,
            &Coloring::None,
        );
        assert!(r.cells.iter().all(|c| c.dots == 0));
        let r = rasterize_boxes(
            &[[8.0, -2.0]],
            Some(&[[4.0, 2.0]]),
            &vp,
            5,
            5,
            &Coloring::None,
        );
        assert_eq!(r.cells.iter().filter(|c| c.dots != 0).count(), 1);
    }
}
