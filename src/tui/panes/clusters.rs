//! The clusters pane: one row per cluster (size, share, the commonest label or the top motif),
//! the selection that the bottom pane's markers and motifs follow, and for images the
//! selected cluster's medoid tiles.

use super::TabView;
use crate::tui::action::Dir;
use crate::tui::table_sort::{self, SortRequest, TableOrder};
use crate::tui::theme::{FittedTable, Palette, category_color, pane, row_style, scrolled};
use crate::tui::views::images::Strip;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph};

#[derive(Debug, Clone, PartialEq)]
pub struct ClusterRow {
    pub id: u32,
    pub size: usize,
    pub share: f64,
    pub top: String,
    /// The share of the cluster carrying the commonest label ("93%"; empty for motifs).
    pub top_share: String,
    /// Item nearest the cluster's 2-D centroid (Enter jumps there).
    pub center_item: Option<usize>,
}

/// The clusters pane's state.
#[derive(Debug, Clone, Default)]
pub struct ClusterList {
    /// The selected row.
    pub sel: usize,
    pub rows: Vec<ClusterRow>,
    /// Header of the label column (the metadata column labels come from, or "top motif").
    pub label_column: String,
    rows_version: u64,
    /// The selected cluster's most central tiles, encoded for the terminal (images).
    pub strip: Option<Strip>,
    /// The order rows are shown in (`o`/`O`, `:sort` with this pane focused).
    order: TableOrder,
}

const HEADERS: [&str; 3] = ["id", "size", "share"];

impl ClusterList {
    pub fn refresh(&mut self, v: &TabView) {
        if self.rows_version == v.version {
            return;
        }
        self.rows = cluster_rows(v);
        let findings = v.result.findings.as_ref();
        self.label_column = if let Some(h) = findings.and_then(|f| f.headline_column()) {
            h.to_string()
        } else {
            v.dataset
                .and_then(crate::modality::label_column)
                .map_or_else(|| "top".to_string(), |c| c.name.clone())
        };
        self.rows_version = v.version;
        let mut order = std::mem::take(&mut self.order);
        order.refresh(v.version, |j| self.column(j));
        self.order = order;
    }

    /// The headers: id, size, share, the label column and its share.
    pub fn headers(&self) -> Vec<String> {
        let mut h: Vec<String> = HEADERS.map(String::from).to_vec();
        h.push(self.label_column.clone());
        // No "%" heading over a column with nothing in it (motifs, images).
        h.push(if self.rows.iter().all(|c| c.top_share.is_empty()) {
            String::new()
        } else {
            "%".into()
        });
        h
    }

    fn cells(c: &ClusterRow) -> [String; 5] {
        [
            c.id.to_string(),
            c.size.to_string(),
            format!("{:.1}%", c.share * 100.0),
            c.top.clone(),
            c.top_share.clone(),
        ]
    }

    fn column(&self, j: usize) -> Vec<String> {
        self.rows
            .iter()
            .map(|c| Self::cells(c)[j.min(4)].clone())
            .collect()
    }

    /// Sorts the rows as asked (`o`, `O`, `:sort`), keeping the selected cluster selected.
    pub fn sort(&mut self, how: &SortRequest) -> Result<String, String> {
        let headers = self.headers();
        let by = table_sort::resolve(how, self.order.by, &headers, "clusters", |j| self.column(j))?;
        let mut order = std::mem::take(&mut self.order);
        self.sel = order.set(self.rows_version, by, self.sel, |j| self.column(j));
        self.order = order;
        Ok(table_sort::said("clusters", by, &headers))
    }

    fn row(&self) -> Option<&ClusterRow> {
        self.rows.get(self.order.sorted().row(self.sel))
    }

    /// The selected cluster's id.
    pub fn selected(&self) -> Option<u32> {
        self.row().map(|r| r.id)
    }

    /// Selects cluster `id`'s row; returns whether it has one.
    pub fn select_id(&mut self, id: u32) -> bool {
        let sorted = self.order.sorted();
        match (0..self.rows.len()).find(|&k| self.rows[sorted.row(k)].id == id) {
            Some(k) => {
                self.sel = k;
                true
            }
            None => false,
        }
    }

    /// The item nearest the selected cluster's centre on the map (Enter jumps there).
    pub fn selected_center(&self) -> Option<usize> {
        self.row().and_then(|r| r.center_item)
    }

    /// Moves the selection by `step` rows; returns whether it moved.
    pub fn move_sel(&mut self, d: Dir, step: usize) -> bool {
        let len = self.rows.len();
        if len == 0 {
            return false;
        }
        let before = self.sel;
        self.sel = match d {
            Dir::Down | Dir::Right => (self.sel + step).min(len - 1),
            Dir::Up | Dir::Left => self.sel.saturating_sub(step),
        };
        self.sel != before
    }

    /// Selects the row under a click at screen row `row` of a pane starting at `top`.
    pub fn click(&mut self, row: u16, top: u16) {
        // Row 0 of the pane is its border, row 1 the header.
        let r = row.saturating_sub(top + 2) as usize;
        if r < self.rows.len() {
            self.sel = r;
        }
    }

    pub fn draw(&self, v: &TabView, focused: bool, palette: Palette, f: &mut Frame, r: Rect) {
        let method = v
            .result
            .cluster_method
            .as_ref()
            .map(|m| m.describe())
            .unwrap_or_default();
        let title = format!(" clusters {method} ");
        let rows_h = r.height.saturating_sub(3) as usize;
        let first = scrolled(self.sel, rows_h);
        let sorted = self.order.sorted();
        let shown: Vec<&ClusterRow> = (first..self.rows.len())
            .take(rows_h)
            .map(|k| &self.rows[sorted.row(k)])
            .collect();
        let cells: Vec<[String; 5]> = shown.iter().map(|c| Self::cells(c)).collect();
        let ids: Vec<u32> = shown.iter().map(|c| c.id).collect();
        let plain = self.headers();
        let headers: [String; 5] = std::array::from_fn(|j| sorted.header(j, &plain[j]));
        let table = FittedTable {
            cells: &cells,
            headers: headers.each_ref().map(String::as_str),
            keep: [9, 7, 6, 8, 5],
            text: [false, false, false, true, false],
            // The id column also holds the colour swatch ("■ ").
            lead: 2,
        }
        .build(
            r.width.saturating_sub(2),
            |k| row_style(first + k == self.sel && focused),
            |k, id| {
                Cell::from(Line::from(vec![
                    Span::styled(
                        "■ ",
                        Style::default().fg(category_color(palette, ids[k] as u16)),
                    ),
                    Span::raw(id.to_string()),
                ]))
            },
        )
        .block(pane(&title, focused));
        f.render_widget(table, r);
        if let Some(strip) = &self.strip {
            crate::tui::views::images::draw_strip(strip, f, r);
        }
        if self.rows.is_empty() {
            let msg = if v.busy.is_some() {
                "computing…"
            } else {
                "no clusters"
            };
            f.render_widget(
                Paragraph::new(msg),
                Rect::new(r.x + 1, r.y + 2, r.width.saturating_sub(2), 1),
            );
        }
    }
}

fn cluster_rows(v: &TabView) -> Vec<ClusterRow> {
    let (Some(c), Some(d)) = (&v.result.clusters, v.dataset) else {
        return Vec::new();
    };
    let k = c.iter().max().map_or(0, |m| *m as usize + 1);
    let labels = crate::modality::cluster_labels(d, c);
    let mut size = vec![0usize; k];
    let mut cx = vec![0.0f64; k];
    let mut cy = vec![0.0f64; k];
    for (i, &ci) in c.iter().enumerate() {
        size[ci as usize] += 1;
        if let Some(l) = &v.result.layout {
            cx[ci as usize] += l[i][0] as f64;
            cy[ci as usize] += l[i][1] as f64;
        }
    }
    let mut center = vec![None; k];
    if let Some(l) = &v.result.layout {
        let mut best = vec![f64::INFINITY; k];
        for (i, &ci) in c.iter().enumerate() {
            let j = ci as usize;
            let (mx, my) = (cx[j] / size[j] as f64, cy[j] / size[j] as f64);
            let dd = (l[i][0] as f64 - mx).powi(2) + (l[i][1] as f64 - my).powi(2);
            if dd < best[j] {
                best[j] = dd;
                center[j] = Some(i);
            }
        }
    }
    (0..k)
        .map(|j| {
            let (l, hits) = &labels[j];
            let headline = v
                .result
                .findings
                .as_ref()
                .and_then(|f| f.headline(j as u32));
            let (top, top_share) = if let Some(h) = headline {
                (h, String::new())
            } else if l.is_empty() {
                (String::new(), String::new())
            } else {
                (
                    l.clone(),
                    format!("{:.0}%", 100.0 * *hits as f64 / size[j].max(1) as f64),
                )
            };
            ClusterRow {
                id: j as u32,
                size: size[j],
                share: size[j] as f64 / c.len().max(1) as f64,
                top,
                top_share,
                center_item: center[j],
            }
        })
        .collect()
}
