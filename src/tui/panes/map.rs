//! The map pane: a braille density raster of the 2-D layout coloured by cluster, an anomaly
//! score, a metadata column or genes; a cursor that snaps to the nearest point in the
//! direction of travel; zoom and pan. The raster is cached per (data, colouring, viewport,
//! size), so moving the cursor never rebins the points.

use super::TabView;
use crate::core::MetaValues;
use crate::tui::action::Dir;
use crate::tui::color::ColorBy;
use crate::tui::raster::{
    Coloring, GRADIENT_STEPS, MEMBER, OTHER, Raster, Viewport, braille, rasterize_boxes,
};
use crate::tui::theme::{Palette, category_color, gradient_color, pane, picture_color, truncate};
use crate::tui::tissue::{PictureMode, picture_cells};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use std::sync::Arc;

/// Values behind the current colouring.
#[derive(Debug, Clone, PartialEq)]
pub enum ColorValues {
    Category {
        idx: Vec<u32>,
        names: Vec<String>,
    },
    Value {
        v: Vec<f32>,
        lo: f32,
        hi: f32,
        /// What the values are and how the colour range was chosen, for the colour bar.
        scale: String,
    },
    /// Membership of a selection, and its size.
    Highlight {
        member: Vec<bool>,
        n: usize,
    },
    Empty,
}

/// A uniform grid over the layout for nearest-point queries.
#[derive(Debug, Clone, PartialEq)]
pub struct Grid {
    pub x0: f32,
    pub y0: f32,
    pub cw: f32,
    pub ch: f32,
    pub g: usize,
    pub start: Vec<usize>,
    pub items: Vec<u32>,
}

impl Grid {
    pub fn build(layout: &[[f32; 2]]) -> Self {
        let g = ((layout.len() as f64 / 4.0).sqrt() as usize).clamp(1, 256);
        let vp = Viewport::fit(layout);
        let (x0, y0) = (vp.cx - vp.hw, vp.cy - vp.hh);
        let (cw, ch) = (2.0 * vp.hw / g as f32, 2.0 * vp.hh / g as f32);
        let cell = |p: [f32; 2]| -> usize {
            let cx = (((p[0] - x0) / cw) as isize).clamp(0, g as isize - 1) as usize;
            let cy = (((p[1] - y0) / ch) as isize).clamp(0, g as isize - 1) as usize;
            cy * g + cx
        };
        let mut count = vec![0usize; g * g + 1];
        for &p in layout {
            count[cell(p) + 1] += 1;
        }
        for i in 0..g * g {
            count[i + 1] += count[i];
        }
        let mut fill = count.clone();
        let mut items = vec![0u32; layout.len()];
        for (i, &p) in layout.iter().enumerate() {
            let c = cell(p);
            items[fill[c]] = i as u32;
            fill[c] += 1;
        }
        Self {
            x0,
            y0,
            cw,
            ch,
            g,
            start: count,
            items,
        }
    }

    /// Nearest item to `t` satisfying `keep`, searching rings of cells outwards.
    pub fn nearest(
        &self,
        layout: &[[f32; 2]],
        t: [f32; 2],
        keep: &dyn Fn(usize) -> bool,
    ) -> Option<usize> {
        let g = self.g as isize;
        let tx = (((t[0] - self.x0) / self.cw).floor() as isize).clamp(-1, g);
        let ty = (((t[1] - self.y0) / self.ch).floor() as isize).clamp(-1, g);
        let mut best: Option<(f32, usize)> = None;
        for r in 0..=(g + 1) {
            for cy in ty - r..=ty + r {
                for cx in tx - r..=tx + r {
                    if (cy - ty).abs() != r && (cx - tx).abs() != r {
                        continue;
                    }
                    if cx < 0 || cy < 0 || cx >= g || cy >= g {
                        continue;
                    }
                    let c = cy as usize * self.g + cx as usize;
                    for &i in &self.items[self.start[c]..self.start[c + 1]] {
                        let i = i as usize;
                        if !keep(i) {
                            continue;
                        }
                        let p = layout[i];
                        let d = (p[0] - t[0]).powi(2) + (p[1] - t[1]).powi(2);
                        if best.is_none_or(|(bd, bi)| (d, i) < (bd, bi)) {
                            best = Some((d, i));
                        }
                    }
                }
            }
            // Anything in a further ring is at least r cells away.
            if let Some((bd, _)) = best {
                let reach = r as f32 * self.cw.min(self.ch);
                if reach * reach >= bd {
                    break;
                }
            }
        }
        best.map(|b| b.1)
    }
}

/// The map's state: cursor and viewport, and the caches drawing reads.
#[derive(Debug, Clone, Default)]
pub struct MapPane {
    pub cursor: Option<usize>,
    pub view: Option<Viewport>,
    pub colors: Option<((u64, u64), ColorValues)>,
    pub raster: Option<Raster>,
    raster_key: Option<RasterKey>,
    /// The slide pictures' colours under each half cell (top, bottom) in the tissue view.
    pub picture: Option<Vec<Option<[u8; 3]>>>,
    picture_key: Option<PictureKey>,
    pub grid: Option<Grid>,
    grid_version: u64,
    /// Half-width of the view that shows every point, for the zoom factor in the title.
    fit_hw: Option<f32>,
    /// Far outliers the fitted view leaves out (said in the title).
    off_map: usize,
    /// Where a box selection started (`v`): the box spans from here to the cursor.
    pub anchor: Option<[f32; 2]>,
}

/// What the raster was drawn from: data and colour versions, view, size, and the one slide
/// shown alone.
type RasterKey = (u64, u64, Viewport, u16, u16, Option<(f32, f32)>);

/// What the picture cells were sampled from: the pictures (by address), view, size, and
/// the one slide shown alone.
type PictureKey = (usize, Viewport, u16, u16, Option<(f32, f32)>);

/// What the map shows: the projection, or the tissue with the columns its positions come from.
fn map_name(v: &TabView) -> String {
    match v.tissue {
        Some(t) => match t.shown.and_then(|k| t.sources.get(k).map(|s| (k, s))) {
            Some((k, s)) => format!(
                "tissue · slide {}/{} {} ([ ]: others; w: map)",
                k + 1,
                t.sources.len(),
                s.name
            ),
            None => format!("tissue ({} × {}; w: map)", t.x, t.y),
        },
        None => "map".into(),
    }
}

fn color_values(v: &TabView) -> ColorValues {
    let value = |x: &[f32]| {
        let mut s: Vec<f32> = x.iter().copied().filter(|x| x.is_finite()).collect();
        if s.is_empty() {
            return ColorValues::Empty;
        }
        s.sort_by(|a, b| a.total_cmp(b));
        let lo = s[s.len() * 2 / 100];
        let hi = s[(s.len() * 98 / 100).min(s.len() - 1)];
        let clipped = s[0] < lo || s[s.len() - 1] > hi;
        ColorValues::Value {
            v: x.to_vec(),
            lo,
            hi,
            scale: format!(
                "{}, 2nd–98th percentile{}",
                v.color.name(),
                if clipped { ", beyond clipped" } else { "" }
            ),
        }
    };
    match v.color {
        ColorBy::Cluster => match &v.result.clusters {
            Some(c) => {
                let k = c.iter().max().map_or(0, |m| *m + 1);
                ColorValues::Category {
                    idx: c.to_vec(),
                    names: (0..k).map(|i| i.to_string()).collect(),
                }
            }
            None => ColorValues::Empty,
        },
        ColorBy::AnomalyKnn => v
            .result
            .anomaly_knn
            .as_ref()
            .map_or(ColorValues::Empty, |v| value(v)),
        ColorBy::AnomalyIforest => v
            .result
            .anomaly_iforest
            .as_ref()
            .map_or(ColorValues::Empty, |v| value(v)),
        ColorBy::AnomalyModel => v
            .result
            .anomaly_model
            .as_ref()
            .map_or(ColorValues::Empty, |v| value(v)),
        ColorBy::AnomalyDepth => v
            .result
            .anomaly_depth
            .as_ref()
            .map_or(ColorValues::Empty, |v| value(v)),
        ColorBy::Genes(_, genes) => {
            match v.dataset.and_then(|d| d.expression()) {
                Some(e) if !genes.is_empty() => {
                    let mut acc = vec![0f32; e.n_cells()];
                    for &g in genes {
                        for (a, x) in acc.iter_mut().zip(e.normalised_gene(g)) {
                            *a += x / genes.len() as f32;
                        }
                    }
                    // Expression is mostly zeros: scale to the top, not to percentiles.
                    let hi = acc.iter().fold(0f32, |m, &x| m.max(x));
                    ColorValues::Value {
                        v: acc,
                        lo: 0.0,
                        hi: if hi > 0.0 { hi } else { 1.0 },
                        scale: format!(
                            "{}{}, 0 to the highest",
                            e.value_label(),
                            if genes.len() > 1 {
                                " (mean of the genes)"
                            } else {
                                ""
                            }
                        ),
                    }
                }
                _ => ColorValues::Empty,
            }
        }
        ColorBy::Selection(name) => match v.selections.of(name) {
            Some(m) => {
                let n = v.layout().map_or(0, |l| l.len());
                let mut member = vec![false; n];
                for &i in m.iter() {
                    if let Some(x) = member.get_mut(i as usize) {
                        *x = true;
                    }
                }
                ColorValues::Highlight { member, n: m.len() }
            }
            None => ColorValues::Empty,
        },
        ColorBy::Meta(name) => match v
            .dataset
            .and_then(|d| d.meta_column(name))
            .map(|c| &c.values)
        {
            Some(MetaValues::Text(t)) => {
                // Categories numbered by frequency so the commonest get the first colours.
                let mut freq: std::collections::HashMap<&str, usize> = Default::default();
                for s in t {
                    *freq.entry(s.as_str()).or_default() += 1;
                }
                let mut names: Vec<(&str, usize)> = freq.into_iter().collect();
                names.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
                let index: std::collections::HashMap<&str, u32> = names
                    .iter()
                    .enumerate()
                    .map(|(i, (s, _))| (*s, i as u32))
                    .collect();
                ColorValues::Category {
                    idx: t.iter().map(|s| index[s.as_str()]).collect(),
                    names: names.iter().map(|(s, _)| s.to_string()).collect(),
                }
            }
            Some(MetaValues::Number(v)) => value(&v.iter().map(|&x| x as f32).collect::<Vec<_>>()),
            None => ColorValues::Empty,
        },
    }
}

impl MapPane {
    /// Recomputes the colours, the spatial index and the raster for a `w × h`-cell map when
    /// their inputs changed.
    pub fn refresh(&mut self, v: &TabView, w: u16, h: u16) {
        let key = (v.version, v.color_version);
        if self.colors.as_ref().is_none_or(|(k, _)| *k != key) {
            self.colors = Some((key, color_values(v)));
        }
        let Some(layout) = v.layout() else {
            return;
        };
        if self.grid_version != v.version || self.grid.is_none() {
            self.grid = Some(Grid::build(layout));
            self.grid_version = v.version;
        }
        let view = *self.view.get_or_insert_with(|| Viewport::fit(layout));
        self.fit_hw.get_or_insert(Viewport::fit(layout).hw);
        let shown = v.tissue.and_then(|t| t.shown_range());
        let rkey = (v.version, v.color_version, view, w, h, shown);
        if self.raster_key != Some(rkey) {
            let coloring = match self.colors.as_ref().map(|c| &c.1) {
                Some(ColorValues::Category { idx, .. }) => Coloring::Category(idx),
                Some(ColorValues::Value { v, lo, hi, .. }) => Coloring::Value {
                    v,
                    lo: *lo,
                    hi: *hi,
                },
                Some(ColorValues::Highlight { member, .. }) if member.len() == layout.len() => {
                    Coloring::Highlight(member)
                }
                _ => Coloring::None,
            };
            let extents = v.tissue.and_then(|t| t.extent.as_deref());
            let mut raster = rasterize_boxes(
                layout,
                extents.map(|e| e.as_slice()),
                &view,
                w,
                h,
                &coloring,
            );
            // One slide alone: the others' tiles that the fitted view reaches are not drawn.
            if let Some((a, b)) = shown {
                let cw = 2.0 * view.hw / w.max(1) as f32;
                for (k, c) in raster.cells.iter_mut().enumerate() {
                    let x = view.cx - view.hw + (k % w as usize) as f32 * cw;
                    if x + cw < a || x > b {
                        *c = Default::default();
                    }
                }
            }
            self.raster = Some(raster);
            self.raster_key = Some(rkey);
        }
        match v.tissue.and_then(|t| t.pictures.as_ref().map(|p| (t, p))) {
            Some((t, p)) if t.picture != PictureMode::Off => {
                let pkey = (Arc::as_ptr(p) as usize, view, w, h, shown);
                if self.picture_key != Some(pkey) {
                    self.picture = Some(picture_cells(p, &view, w, h, shown));
                    self.picture_key = Some(pkey);
                }
            }
            _ => {
                self.picture = None;
                self.picture_key = None;
            }
        }
    }

    /// A new layout landed: fit the view to it and put the cursor on the first item.
    pub fn on_layout(&mut self, layout: &[[f32; 2]]) {
        self.reset_view(layout);
        if self.cursor.is_none() {
            self.cursor = Some(0);
        }
    }

    /// Moves the cursor one cell over on a `w × h` map: to the nearest point that lies in the
    /// direction of travel.
    pub fn move_cursor(&mut self, layout: &[[f32; 2]], d: Dir, w: u16, h: u16) {
        let (Some(view), Some(grid)) = (self.view, &self.grid) else {
            return;
        };
        let cur = self.cursor.unwrap_or(0).min(layout.len().saturating_sub(1));
        let Some(&p) = layout.get(cur) else {
            return;
        };
        let (sx, sy) = (2.0 * view.hw / w as f32, 2.0 * view.hh / h as f32);
        let (dx, dy) = match d {
            Dir::Left => (-sx, 0.0),
            Dir::Right => (sx, 0.0),
            Dir::Up => (0.0, sy),
            Dir::Down => (0.0, -sy),
        };
        let target = [p[0] + dx, p[1] + dy];
        let keep = |i: usize| {
            let q = layout[i];
            i != cur && ((q[0] - p[0]) * dx + (q[1] - p[1]) * dy) > 0.0
        };
        if let Some(next) = grid.nearest(layout, target, &keep) {
            self.cursor = Some(next);
            self.follow(layout[next]);
        }
    }

    /// Puts the cursor on item `i`, panning so it is visible (`center`: centred on it).
    pub fn go_to(&mut self, layout: &[[f32; 2]], i: usize, center: bool) {
        self.cursor = Some(i);
        if center {
            if let Some(v) = &mut self.view {
                v.cx = layout[i][0];
                v.cy = layout[i][1];
            }
        } else {
            self.follow(layout[i]);
        }
    }

    /// Pans so `p` is visible.
    fn follow(&mut self, p: [f32; 2]) {
        if let Some(v) = &mut self.view
            && ((p[0] - v.cx).abs() > v.hw * 0.95 || (p[1] - v.cy).abs() > v.hh * 0.95)
        {
            v.cx = p[0];
            v.cy = p[1];
        }
    }

    /// Zooms by `f` around `at` (else the cursor), keeping the anchor where it is on screen.
    pub fn zoom(&mut self, layout: Option<&[[f32; 2]]>, f: f32, at: Option<[f32; 2]>) {
        let center = at.or_else(|| self.cursor.zip(layout).map(|(c, l)| l[c]));
        if let Some(v) = &mut self.view {
            if let Some(c) = center {
                v.cx = c[0] + (v.cx - c[0]) * f;
                v.cy = c[1] + (v.cy - c[1]) * f;
            }
            v.hw = (v.hw * f).max(1e-4);
            v.hh = (v.hh * f).max(1e-4);
        }
    }

    /// The box being drawn, as (x0, x1, y0, y1) in map coordinates.
    pub fn box_bounds(&self, layout: &[[f32; 2]]) -> Option<(f32, f32, f32, f32)> {
        let a = self.anchor?;
        let c = layout.get(self.cursor?)?;
        Some((
            a[0].min(c[0]),
            a[0].max(c[0]),
            a[1].min(c[1]),
            a[1].max(c[1]),
        ))
    }

    pub fn reset_view(&mut self, layout: &[[f32; 2]]) {
        let view = Viewport::fit(layout);
        self.off_map = view.outside(layout);
        self.view = Some(view);
        self.fit_hw = Some(view.hw);
    }

    /// How far the view is zoomed in (1 = every point shown).
    pub fn zoom_factor(&self) -> f32 {
        match (self.view, self.fit_hw) {
            (Some(v), Some(full)) if v.hw > 0.0 => full / v.hw,
            _ => 1.0,
        }
    }

    /// The map position at a cell of the `inner` map area.
    pub fn position_at(&self, col: u16, row: u16, inner: Rect) -> Option<[f32; 2]> {
        self.view
            .map(|v| v.cell_center(col - inner.x, row - inner.y, inner.width, inner.height))
    }

    /// Puts the cursor on the point nearest a click at (`col`, `row`) inside `inner`.
    pub fn click(&mut self, layout: &[[f32; 2]], col: u16, row: u16, inner: Rect) {
        let (Some(p), Some(g)) = (self.position_at(col, row, inner), &self.grid) else {
            return;
        };
        if let Some(i) = g.nearest(layout, p, &|_| true) {
            self.cursor = Some(i);
        }
    }

    pub fn draw(&self, v: &TabView, focused: bool, palette: Palette, f: &mut Frame, r: Rect) {
        let zoom = self.zoom_factor();
        let zoom = if (zoom - 1.0).abs() > 0.01 {
            format!("· zoom {zoom:.1}× ")
        } else if self.off_map > 0 {
            // The fitted view leaves far outliers out rather than squeeze the rest.
            format!(
                "· {} far outlier{} off the map ",
                self.off_map,
                if self.off_map == 1 { "" } else { "s" }
            )
        } else {
            String::new()
        };
        let title = match v.color {
            _ if self.anchor.is_some() => {
                " map · box selection: move to the other corner, Enter saves, Esc cancels "
                    .to_string()
            }
            ColorBy::AnomalyModel => {
                format!(" {} · colour: {} {zoom}", map_name(v), v.model_score_name())
            }
            _ => format!(" {} · colour: {} {zoom}", map_name(v), v.color.name()),
        };
        let block = pane(&title, focused);
        let area = crate::tui::layout::inner(r);
        f.render_widget(block, r);
        let Some(raster) = &self.raster else {
            let msg = match (v.error, v.busy) {
                (Some(e), _) => format!("failed: {e}"),
                (None, Some(stage)) => {
                    format!("computing… {stage}\nthe map appears when the projection lands")
                }
                _ => "no layout".into(),
            };
            f.render_widget(Paragraph::new(msg).wrap(Wrap { trim: true }), area);
            return;
        };
        let value_coloring = matches!(
            self.colors.as_ref().map(|c| &c.1),
            Some(ColorValues::Value { .. })
        );
        let highlight = matches!(
            self.colors.as_ref().map(|c| &c.1),
            Some(ColorValues::Highlight { .. })
        );
        let picture = self
            .picture
            .as_ref()
            .filter(|p| palette.pictures() && p.len() == raster.w as usize * raster.h as usize * 2);
        let alone = v
            .tissue
            .is_some_and(|t| t.picture == PictureMode::Alone && picture.is_some());
        let buf = f.buffer_mut();
        for row in 0..raster.h.min(area.height) {
            for col in 0..raster.w.min(area.width) {
                let c = raster.cells[row as usize * raster.w as usize + col as usize];
                let halves = picture.map(|p| {
                    let at = |r: usize| p[r * raster.w as usize + col as usize];
                    (at(2 * row as usize), at(2 * row as usize + 1))
                });
                if let (Some((top, bottom)), true) = (halves, c.count == 0 || alone) {
                    // The picture in half blocks: two pixels a cell, over SSH in any terminal
                    // with 256 colours.
                    if let Some(cell) = buf.cell_mut((area.x + col, area.y + row)) {
                        match (top, bottom) {
                            (Some(t), b) => {
                                cell.set_char('▀').set_fg(picture_color(palette, t));
                                if let Some(b) = b {
                                    cell.set_bg(picture_color(palette, b));
                                }
                            }
                            (None, Some(b)) => {
                                cell.set_char('▄').set_fg(picture_color(palette, b));
                            }
                            (None, None) => {}
                        }
                    }
                    continue;
                }
                if c.count == 0 {
                    continue;
                }
                let color = if c.color == u16::MAX {
                    Color::Reset
                } else if highlight {
                    match (c.color, palette) {
                        (_, Palette::Mono) => Color::Reset,
                        (MEMBER, _) => Color::Yellow,
                        (OTHER, _) => Color::DarkGray,
                        _ => Color::Reset,
                    }
                } else if value_coloring {
                    gradient_color(palette, c.color)
                } else {
                    category_color(palette, c.color)
                };
                if let Some(cell) = buf.cell_mut((area.x + col, area.y + row)) {
                    cell.set_char(braille(c.dots)).set_fg(color);
                    // Behind the tiles the picture is dimmed, so the dots' colours stay read.
                    if let Some((t, b)) = halves
                        && let Some(m) = mean_colour(t, b)
                    {
                        cell.set_bg(picture_color(palette, m.map(|v| v / 3)));
                    }
                }
            }
        }
        // The box being drawn: its outline over the points.
        if let (Some(l), Some(view)) = (v.layout(), self.view)
            && let Some((x0, x1, y0, y1)) = self.box_bounds(l)
        {
            let (w, h) = (area.width, area.height);
            let clamp = |p: [f32; 2]| {
                let fx = (p[0] - (view.cx - view.hw)) / (2.0 * view.hw) * w as f32;
                let fy = ((view.cy + view.hh) - p[1]) / (2.0 * view.hh) * h as f32;
                (
                    fx.clamp(0.0, w.saturating_sub(1) as f32) as u16,
                    fy.clamp(0.0, h.saturating_sub(1) as f32) as u16,
                )
            };
            let (c0, r0) = clamp([x0, y1]);
            let (c1, r1) = clamp([x1, y0]);
            let style = Style::default()
                .fg(Color::Cyan)
                .add_modifier(Modifier::BOLD);
            for col in c0..=c1 {
                for row in [r0, r1] {
                    if let Some(cell) = buf.cell_mut((area.x + col, area.y + row)) {
                        cell.set_char('─').set_style(style);
                    }
                }
            }
            for row in r0..=r1 {
                for col in [c0, c1] {
                    if let Some(cell) = buf.cell_mut((area.x + col, area.y + row)) {
                        cell.set_char('│').set_style(style);
                    }
                }
            }
        }
        if let (Some(i), Some(l), Some(view)) = (self.cursor, v.layout(), self.view)
            && let Some((cx, cy)) = view.to_cell(l[i], area.width, area.height)
            && let Some(cell) = buf.cell_mut((area.x + cx, area.y + cy))
        {
            cell.set_char('▣').set_style(
                Style::default()
                    .fg(Color::White)
                    .add_modifier(Modifier::BOLD | Modifier::REVERSED),
            );
        }
        // Legend on the bottom border: categories by frequency, or the value range.
        let legend: Vec<Span> = match self.colors.as_ref().map(|c| &c.1) {
            Some(ColorValues::Category { names, .. }) => {
                // Clusters are named in the clusters pane; a column's categories here, the
                // most frequent first, as many as fit.
                let mut l: Vec<Span> = Vec::new();
                let mut used = 0usize;
                let room = r.width.saturating_sub(4) as usize;
                let mut shown = 0;
                if !matches!(v.color, ColorBy::Cluster) {
                    for (k, n) in names.iter().enumerate() {
                        let text = format!("{} ", truncate(n, 12));
                        let w = 1 + text.chars().count();
                        // Keep room for "+N more" after the last one shown.
                        if used + w + 10 > room && k + 1 < names.len() {
                            break;
                        }
                        l.push(Span::styled(
                            "■",
                            Style::default().fg(category_color(palette, k as u16)),
                        ));
                        l.push(Span::raw(text));
                        used += w;
                        shown += 1;
                    }
                    if shown < names.len() {
                        l.push(Span::raw(format!("+{} more ", names.len() - shown)));
                    }
                }
                let distinct = palette.categories();
                if distinct > 0 && names.len() > distinct {
                    l.push(Span::styled(
                        format!("colours repeat after {distinct}"),
                        Style::default().add_modifier(Modifier::DIM),
                    ));
                }
                l
            }
            Some(ColorValues::Highlight { n, .. }) => vec![
                Span::styled("■", Style::default().fg(Color::Yellow)),
                Span::raw(format!("{} ({n}) ", v.color.name())),
                Span::styled("■", Style::default().fg(Color::DarkGray)),
                Span::raw("rest"),
            ],
            Some(ColorValues::Value { lo, hi, scale, .. }) => {
                let mut l = vec![Span::raw(format!("{lo:.2} "))];
                for k in 0..GRADIENT_STEPS {
                    l.push(Span::styled(
                        "█",
                        Style::default().fg(gradient_color(palette, k)),
                    ));
                }
                let hi = format!(" {hi:.2} ");
                // The bar names its scale in what room is left, cut with an ellipsis.
                let used =
                    l.iter().map(|s| s.content.chars().count()).sum::<usize>() + hi.chars().count();
                let room = (r.width as usize).saturating_sub(4 + used);
                l.push(Span::raw(hi));
                if room > 4 {
                    l.push(Span::styled(
                        truncate(scale, room),
                        Style::default().add_modifier(Modifier::DIM),
                    ));
                }
                l
            }
            _ => Vec::new(),
        };
        if !legend.is_empty() && r.height > 2 {
            let lr = Rect::new(r.x + 2, r.y + r.height - 1, r.width.saturating_sub(4), 1);
            f.render_widget(Paragraph::new(Line::from(legend)), lr);
        }
    }
}

/// The mean of a cell's two halves' colours, either alone when the other has none.
fn mean_colour(a: Option<[u8; 3]>, b: Option<[u8; 3]>) -> Option<[u8; 3]> {
    match (a, b) {
        (Some(a), Some(b)) => Some([0, 1, 2].map(|i| ((a[i] as u16 + b[i] as u16) / 2) as u8)),
        (a, b) => a.or(b),
    }
}
