//! Screen regions, computed the same way by `update()` (for the raster size and mouse hits)
//! and by drawing.

use ratatui::layout::{Constraint, Direction, Layout, Rect};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Areas {
    pub tabs: Rect,
    pub map: Rect,
    pub clusters: Rect,
    pub detail: Rect,
    pub bottom: Rect,
    pub jobs: Rect,
    pub hint: Rect,
}

impl Areas {
    pub fn new(w: u16, h: u16) -> Self {
        let area = Rect::new(0, 0, w, h);
        // The bottom pane's tables (markers, motifs, anomalies) grow with the terminal: three
        // tenths of its height, never below 6 rows, so the map keeps the larger share.
        let bottom_h = if h >= 30 { (h * 3 / 10).max(9) } else { 6 };
        let rows = Layout::default()
            .direction(Direction::Vertical)
            .constraints([
                Constraint::Length(1),
                Constraint::Min(6),
                Constraint::Length(bottom_h),
                Constraint::Length(1),
            ])
            .split(area);
        let mid = Layout::default()
            .direction(Direction::Horizontal)
            .constraints([Constraint::Percentage(60), Constraint::Percentage(40)])
            .split(rows[1]);
        let right = Layout::default()
            .direction(Direction::Vertical)
            .constraints([Constraint::Percentage(45), Constraint::Percentage(55)])
            .split(mid[1]);
        let bottom = Layout::default()
            .direction(Direction::Horizontal)
            .constraints([Constraint::Percentage(60), Constraint::Percentage(40)])
            .split(rows[2]);
        Self {
            tabs: rows[0],
            map: mid[0],
            clusters: right[0],
            detail: right[1],
            bottom: bottom[0],
            jobs: bottom[1],
            hint: rows[3],
        }
    }

    /// The map's drawable cells (inside the border).
    pub fn map_inner(&self) -> Rect {
        inner(self.map)
    }
}

/// The top of the detail pane where a tile is shown: as wide as the pane, half its height
/// at most, about square on screen (a cell is twice as tall as wide).
pub fn preview_rect(detail_inner: Rect) -> Rect {
    let h = (detail_inner.height * 3 / 5)
        .min(detail_inner.width / 2)
        .max(1);
    Rect::new(
        detail_inner.x,
        detail_inner.y,
        (2 * h).min(detail_inner.width),
        h,
    )
}

/// The bottom rows of the clusters pane where an images tab shows the selected cluster's
/// medoid tiles.
pub fn strip_rect(clusters_inner: Rect) -> Rect {
    let h = 4.min(clusters_inner.height / 3);
    Rect::new(
        clusters_inner.x,
        clusters_inner.y + clusters_inner.height - h,
        clusters_inner.width,
        h,
    )
}

pub fn inner(r: Rect) -> Rect {
    Rect::new(
        r.x + 1,
        r.y + 1,
        r.width.saturating_sub(2),
        r.height.saturating_sub(2),
    )
}
