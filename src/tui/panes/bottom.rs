//! The bottom pane: one of the anomalies ranking (by the score being coloured), the selected
//! cluster's findings (marker genes, motifs: `views/` draws them), the selections, the last `:crosstab`
//! or the last `:compare`'s metadata.

use super::TabView;
use crate::tui::action::Dir;
use crate::tui::color::ColorBy;
use crate::tui::table_sort::{self, SortRequest, Sorted, TableOrder};
use crate::tui::theme::{FittedTable, pane, row_style, scrolled};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::widgets::Cell;

/// What the bottom pane shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BottomView {
    #[default]
    Anomalies,
    /// The modality's findings: marker genes (cells), motifs (DNA).
    Findings,
    Selections,
    Crosstab,
    /// The metadata half of the last `:compare`.
    Comparison,
    /// The last `:nhood`: which groups touch which on the tissue.
    Neighbourhood,
    /// A live run's versions.
    History,
    /// A live run's metrics log as curves.
    Metrics,
}

impl BottomView {
    const ALL: [BottomView; 8] = [
        BottomView::Anomalies,
        BottomView::Findings,
        BottomView::Selections,
        BottomView::Crosstab,
        BottomView::Comparison,
        BottomView::Neighbourhood,
        BottomView::History,
        BottomView::Metrics,
    ];

    fn index(self) -> usize {
        Self::ALL.iter().position(|&x| x == self).unwrap_or(0)
    }

    /// What the view is called in messages.
    pub fn name(self) -> &'static str {
        match self {
            BottomView::Anomalies => "anomalies",
            BottomView::Findings => "findings",
            BottomView::Selections => "selections",
            BottomView::Crosstab => "crosstab",
            BottomView::Comparison => "comparison",
            BottomView::Neighbourhood => "neighbourhood",
            BottomView::History => "history",
            BottomView::Metrics => "metrics",
        }
    }
}

/// What the ranking view ranks by: a numeric metadata column while it colours the map (a
/// scan's strength, a QC value), else the anomaly score coloured (kNN distance by default);
/// its name and each item's value.
fn ranking(v: &TabView) -> Option<(String, Vec<f64>)> {
    if let Some(x) = ranked_column(v) {
        return Some((v.color.name().to_string(), x.clone()));
    }
    let s = v.anomaly_scores()?;
    Some((
        v.color.name().to_string(),
        s.iter().map(|&x| x as f64).collect(),
    ))
}

/// The numeric metadata column colouring the map, if that is what the ranking ranks by.
fn ranked_column<'a>(v: &TabView<'a>) -> Option<&'a Vec<f64>> {
    let ColorBy::Meta(name) = v.color else {
        return None;
    };
    match &v.dataset?.meta_column(name)?.values {
        crate::core::MetaValues::Number(x) => Some(x),
        _ => None,
    }
}

/// Anomalies table headers before the QC columns.
const ANOMALY_HEADERS: [&str; 4] = ["rank", "id", "score", "cluster"];

/// The bottom pane's state.
#[derive(Debug, Clone, Default)]
pub struct BottomPane {
    pub view: BottomView,
    /// Selected row of the anomalies ranking.
    pub anomaly_sel: usize,
    /// Selected row of the markers table, or the selected motif.
    pub marker_sel: usize,
    /// Selected row of the selections table.
    pub selection_sel: usize,
    /// Selected row of the crosstab and of the comparison table.
    pub crosstab_sel: usize,
    /// Items by descending anomaly score, or by the numeric column colouring the map (the
    /// first 1,000).
    pub rank: Vec<usize>,
    /// Each item's value of what `rank` ranks by.
    scores: Vec<f64>,
    rank_key: (u64, String),
    /// Quality-control columns shown beside the anomalies, with each value's robust z-score
    /// within its cluster (so a low-depth cell stands out from its own kind, not from all).
    pub qc: Vec<QcColumn>,
    /// Each view's order (`o`/`O`, `:sort`).
    orders: [TableOrder; 8],
    /// Selected row of the history table.
    pub history_sel: usize,
    /// A live run's metrics as curves (step name, series), made when rows land.
    pub curves: Option<(String, super::metrics::Series)>,
}

/// A quality-control metadata column as the anomalies table shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct QcColumn {
    pub name: String,
    pub values: Vec<f64>,
    /// (x − cluster median) / (1.4826 · cluster MAD); NaN where the spread is zero.
    pub z: Vec<f64>,
}

/// The QC columns looked for, first name found of each: library size (as the depth-adjusted
/// score reads it), a tile's foreground share, detected genes, mitochondrial share (scanpy's
/// and Seurat's names).
const QC_NAMES: [&[&str]; 4] = [
    &crate::pipeline::LIBRARY_SIZE,
    &["foreground"],
    &["n_genes", "n_genes_by_counts", "nFeature_RNA"],
    &["percent_mito", "pct_counts_mt", "percent.mt"],
];

impl BottomPane {
    pub fn refresh(&mut self, v: &TabView) {
        // Anomaly scores are known by the colouring's name; a column only while numeric.
        let which = if ranked_column(v).is_some() || !matches!(v.color, ColorBy::Meta(_)) {
            v.color.name().to_string()
        } else {
            String::new()
        };
        let key = (v.version, which);
        if self.rank_key != key {
            self.refresh_rank(v, key);
        }
        let (idx, key) = (self.view.index(), self.table_key(v));
        let mut order = std::mem::take(&mut self.orders[idx]);
        order.refresh(key, |j| self.column(v, j));
        self.orders[idx] = order;
    }

    /// What the table shown is built from, hashed: its view, the data, the ranking, the
    /// cluster, its rows, the comparison and crosstab shown and the selections' sizes.
    fn table_key(&self, v: &TabView) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        let ranking = &self.rank_key.1;
        (
            self.view.index(),
            v.version,
            ranking,
            v.cluster,
            self.rows(v),
        )
            .hash(&mut h);
        (v.comparison.map(|c| c as *const _ as usize)).hash(&mut h);
        (v.crosstab.map(|c| c as *const _ as usize)).hash(&mut h);
        (v.nhood.map(|c| c as *const _ as usize)).hash(&mut h);
        for m in &v.selections.members {
            m.as_ref().map(|m| m.len()).ok().hash(&mut h);
        }
        h.finish()
    }

    fn refresh_rank(&mut self, v: &TabView, key: (u64, String)) {
        self.qc = match (v.dataset, v.result.clusters.as_ref()) {
            (Some(d), Some(c)) if c.len() == d.len() => QC_NAMES
                .iter()
                .filter_map(|names| {
                    let col = names
                        .iter()
                        .find_map(|n| d.meta.iter().find(|m| m.name == *n))?;
                    let crate::core::MetaValues::Number(values) = &col.values else {
                        return None;
                    };
                    Some(QcColumn {
                        name: col.name.clone(),
                        z: crate::analysis::anomaly::robust_z_within(values, c),
                        values: values.clone(),
                    })
                })
                .collect(),
            _ => Vec::new(),
        };
        let ranked = ranking(v);
        self.rank = match &ranked {
            Some((_, s)) => {
                // Largest first; an item without a value (NaN) last.
                let key = |i: usize| {
                    if s[i].is_nan() {
                        f64::NEG_INFINITY
                    } else {
                        s[i]
                    }
                };
                let mut r: Vec<usize> = (0..s.len()).collect();
                r.sort_by(|&a, &b| key(b).total_cmp(&key(a)).then(a.cmp(&b)));
                r.truncate(1000);
                r
            }
            None => Vec::new(),
        };
        self.scores = ranked.map(|r| r.1).unwrap_or_default();
        self.rank_key = key;
    }

    /// Shows the modality's findings (marker genes, motifs); an error says it has none.
    pub fn show_findings(&mut self, v: &TabView) -> Result<(), &'static str> {
        crate::tui::views::findings_view(v)?;
        self.view = BottomView::Findings;
        self.marker_sel = 0;
        Ok(())
    }

    /// The item selected in the anomalies ranking.
    pub fn selected_anomaly(&self) -> Option<usize> {
        self.rank
            .get(self.row(BottomView::Anomalies, self.anomaly_sel))
            .copied()
    }

    /// The table row of `view` shown at display position `k`.
    pub fn row(&self, view: BottomView, k: usize) -> usize {
        self.orders[view.index()].sorted().row(k)
    }

    /// The selected row of the findings table (in the table's own order).
    pub fn findings_row(&self) -> usize {
        self.row(BottomView::Findings, self.marker_sel)
    }

    /// The version the history table's selected row shows (in the table's own order).
    pub fn history_row(&self) -> usize {
        self.row(BottomView::History, self.history_sel)
    }

    /// The selected row of the selections table (in the table's own order).
    pub fn selection_row(&self) -> usize {
        self.row(BottomView::Selections, self.selection_sel)
    }

    fn sel_mut(&mut self) -> &mut usize {
        match self.view {
            BottomView::Anomalies => &mut self.anomaly_sel,
            BottomView::Findings => &mut self.marker_sel,
            BottomView::Selections => &mut self.selection_sel,
            BottomView::Crosstab | BottomView::Comparison | BottomView::Neighbourhood => {
                &mut self.crosstab_sel
            }
            BottomView::History | BottomView::Metrics => &mut self.history_sel,
        }
    }

    /// Rows of the table shown (the crosstab's "all" row excluded: it stays last).
    fn rows(&self, v: &TabView) -> usize {
        match self.view {
            BottomView::Anomalies => self.rank.len(),
            BottomView::Findings => crate::tui::views::findings_rows(v),
            BottomView::Selections => v.selections.defs.len(),
            BottomView::Crosstab => v.crosstab.map_or(0, |x| x.clusters.len()),
            BottomView::Comparison => v.comparison.map_or(0, |c| c.meta.len()),
            BottomView::Neighbourhood => v.nhood.map_or(0, |n| n.names.len()),
            BottomView::History => v.versions.len(),
            BottomView::Metrics => 0,
        }
    }

    /// The headers of the table shown.
    pub fn headers(&self, v: &TabView) -> Vec<String> {
        match self.view {
            BottomView::Anomalies => self.anomaly_headers().to_vec(),
            BottomView::Findings => crate::tui::views::findings_headers(v),
            BottomView::Selections => super::selections::HEADERS.map(String::from).to_vec(),
            BottomView::Crosstab => super::groups::crosstab_headers(v),
            BottomView::Comparison => super::groups::COMPARISON_HEADERS.map(String::from).to_vec(),
            BottomView::Neighbourhood => super::nhood::headers(v),
            BottomView::History => super::history::HEADERS.map(String::from).to_vec(),
            BottomView::Metrics => Vec::new(),
        }
    }

    /// Column `j`'s text of every row of the table shown, in the table's own order.
    pub fn column(&self, v: &TabView, j: usize) -> Vec<String> {
        let n = self.rows(v);
        match self.view {
            BottomView::Anomalies => (0..n)
                .map(|k| self.anomaly_cells(v, k)[j.min(6)].clone())
                .collect(),
            BottomView::Findings => crate::tui::views::findings_column(v, j),
            BottomView::Selections => (0..n)
                .map(|k| super::selections::cells(v, k)[j.min(3)].clone())
                .collect(),
            BottomView::Crosstab => super::groups::crosstab_column(v, j),
            BottomView::Comparison => v.comparison.map_or(Vec::new(), |c| {
                c.meta
                    .iter()
                    .map(|d| super::groups::comparison_cells(d)[j.min(3)].clone())
                    .collect()
            }),
            BottomView::Neighbourhood => super::nhood::column(v, j),
            BottomView::History => (0..n)
                .map(|k| super::history::cells(v, k)[j.min(7)].clone())
                .collect(),
            BottomView::Metrics => Vec::new(),
        }
    }

    /// The table shown, sorted by the next column (`o`) or in reverse (`O`), or by the column
    /// named (`:sort`); says what it did.
    pub fn sort(&mut self, v: &TabView, how: &SortRequest) -> Result<String, String> {
        let headers = self.headers(v);
        let idx = self.view.index();
        let name = match self.view {
            BottomView::Findings => crate::tui::views::findings_view(v).unwrap_or("findings"),
            other => other.name(),
        };
        let by = table_sort::resolve(how, self.orders[idx].by, &headers, name, |j| {
            self.column(v, j)
        })?;
        let (sel, key) = (*self.sel_mut(), self.table_key(v));
        let mut order = std::mem::take(&mut self.orders[idx]);
        let at = order.set(key, by, sel, |j| self.column(v, j));
        self.orders[idx] = order;
        *self.sel_mut() = at;
        Ok(table_sort::said(name, by, &headers))
    }

    /// Moves the selection of the table shown by `step` rows.
    pub fn move_sel(&mut self, v: &TabView, d: Dir, step: usize) {
        let len = self.rows(v) + usize::from(self.view == BottomView::Crosstab);
        let sel = self.sel_mut();
        if len == 0 {
            return;
        }
        *sel = match d {
            Dir::Down | Dir::Right => (*sel + step).min(len - 1),
            Dir::Up | Dir::Left => sel.saturating_sub(step),
        };
    }

    pub fn draw(&self, v: &TabView, focused: bool, f: &mut Frame, r: Rect) {
        let sorted = self.orders[self.view.index()].sorted();
        match self.view {
            BottomView::Findings => {
                crate::tui::views::draw_findings(v, self.marker_sel, sorted, focused, f, r)
            }
            BottomView::Anomalies => self.draw_anomalies(v, sorted, focused, f, r),
            BottomView::Selections => {
                super::selections::draw(v, self.selection_sel, sorted, focused, f, r)
            }
            BottomView::Crosstab => {
                super::groups::draw_crosstab(v, self.crosstab_sel, sorted, focused, f, r)
            }
            BottomView::Comparison => {
                super::groups::draw_comparison(v, self.crosstab_sel, sorted, focused, f, r)
            }
            BottomView::Neighbourhood => {
                super::nhood::draw(v, self.crosstab_sel, sorted, focused, f, r)
            }
            BottomView::History => super::history::draw(v, self.history_sel, sorted, focused, f, r),
            BottomView::Metrics => super::metrics::draw(v, self.curves.as_ref(), focused, f, r),
        }
    }

    fn anomaly_headers(&self) -> [String; 7] {
        std::array::from_fn(|j| match j {
            0..4 => ANOMALY_HEADERS[j].to_string(),
            _ => self
                .qc
                .get(j - 4)
                .map_or(String::new(), |q| format!("{} (z)", q.name)),
        })
    }

    /// Row `k` of the anomalies table (rank k + 1): rank, id, score, cluster and the QC values
    /// with their z within the cluster ("1682 (-2.1)").
    fn anomaly_cells(&self, v: &TabView, k: usize) -> [String; 7] {
        let Some(&i) = self.rank.get(k) else {
            return Default::default();
        };
        let qc = |c: usize| -> String {
            self.qc.get(c).map_or(String::new(), |q| {
                let x = q.values[i];
                let x = if x.fract() == 0.0 && x.abs() < 1e9 {
                    format!("{x:.0}")
                } else {
                    format!("{x:.3}")
                };
                if q.z[i].is_finite() {
                    format!("{x} ({:+.1})", q.z[i])
                } else {
                    x
                }
            })
        };
        [
            (k + 1).to_string(),
            v.dataset.map(|d| d.ids[i].clone()).unwrap_or_default(),
            self.scores
                .get(i)
                .map(|s| format!("{s:.3}"))
                .unwrap_or_default(),
            v.result
                .clusters
                .as_ref()
                .map(|c| c[i].to_string())
                .unwrap_or_default(),
            qc(0),
            qc(1),
            qc(2),
        ]
    }

    fn draw_anomalies(&self, v: &TabView, sorted: Sorted, focused: bool, f: &mut Frame, r: Rect) {
        let title = match v.color {
            ColorBy::AnomalyIforest => " anomalies · isolation forest ".to_string(),
            ColorBy::AnomalyModel => format!(" anomalies · {} ", v.model_score_name()),
            ColorBy::AnomalyDepth => {
                " anomalies · kNN distance z, library size regressed out ".to_string()
            }
            ColorBy::Meta(name) if ranked_column(v).is_some() => {
                format!(" ranked by {name}, largest first (c/:color cycles back to anomalies) ")
            }
            _ => " anomalies · kNN distance z ".to_string(),
        };
        let rows_h = r.height.saturating_sub(3) as usize;
        let first = scrolled(self.anomaly_sel, rows_h);
        let cells: Vec<[String; 7]> = (first..self.rank.len())
            .take(rows_h)
            .map(|k| self.anomaly_cells(v, sorted.row(k)))
            .collect();
        let plain = self.anomaly_headers();
        let headers: [String; 7] = std::array::from_fn(|j| sorted.header(j, &plain[j]));
        let table = FittedTable {
            cells: &cells,
            headers: headers.each_ref().map(String::as_str),
            keep: [5, 9, 8, 6, 4, 3, 2],
            // An id is whole or absent (a cut id cannot be searched for): QC columns go first.
            text: [false; 7],
            lead: 0,
        }
        .build(
            r.width.saturating_sub(2),
            |k| row_style(first + k == self.anomaly_sel && focused),
            |_, t| Cell::from(t.to_string()),
        )
        .block(pane(&title, focused));
        f.render_widget(table, r);
    }
}
