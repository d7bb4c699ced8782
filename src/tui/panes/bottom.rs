//! The bottom pane: one of the anomalies ranking (by the score being coloured), the selected
//! cluster's findings (marker genes, motifs: `views/` draws them), the selections, the last `:crosstab`
//! or the last `:compare`'s metadata.

use super::TabView;
use crate::tui::action::Dir;
use crate::tui::color::ColorBy;
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
}

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
    /// Items by descending anomaly score (the first 1,000).
    pub rank: Vec<usize>,
    rank_key: (u64, u8),
    /// Quality-control columns shown beside the anomalies, with each value's robust z-score
    /// within its cluster (so a low-depth cell stands out from its own kind, not from all).
    pub qc: Vec<QcColumn>,
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
        let which = match v.color {
            ColorBy::AnomalyIforest => 1,
            ColorBy::AnomalyModel => 2,
            ColorBy::AnomalyDepth => 3,
            _ => 0,
        };
        let key = (v.version, which);
        if self.rank_key == key {
            return;
        }
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
        self.rank = match v.anomaly_scores() {
            Some(s) => {
                let mut r: Vec<usize> = (0..s.len()).collect();
                r.sort_by(|&a, &b| s[b].total_cmp(&s[a]).then(a.cmp(&b)));
                r.truncate(1000);
                r
            }
            None => Vec::new(),
        };
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
        self.rank.get(self.anomaly_sel).copied()
    }

    /// Moves the selection of the table shown by `step` rows.
    pub fn move_sel(&mut self, v: &TabView, d: Dir, step: usize) {
        let (sel, len) = match self.view {
            BottomView::Anomalies => (&mut self.anomaly_sel, self.rank.len()),
            BottomView::Findings => (&mut self.marker_sel, crate::tui::views::findings_rows(v)),
            BottomView::Selections => (&mut self.selection_sel, v.selections.defs.len()),
            BottomView::Crosstab => (
                &mut self.crosstab_sel,
                v.crosstab.map_or(0, |x| x.clusters.len() + 1),
            ),
            BottomView::Comparison => (
                &mut self.crosstab_sel,
                v.comparison.map_or(0, |c| c.meta.len()),
            ),
        };
        if len == 0 {
            return;
        }
        *sel = match d {
            Dir::Down | Dir::Right => (*sel + step).min(len - 1),
            Dir::Up | Dir::Left => sel.saturating_sub(step),
        };
    }

    pub fn draw(&self, v: &TabView, focused: bool, f: &mut Frame, r: Rect) {
        match self.view {
            BottomView::Findings => {
                crate::tui::views::draw_findings(v, self.marker_sel, focused, f, r)
            }
            BottomView::Anomalies => self.draw_anomalies(v, focused, f, r),
            BottomView::Selections => super::selections::draw(v, self.selection_sel, focused, f, r),
            BottomView::Crosstab => {
                super::groups::draw_crosstab(v, self.crosstab_sel, focused, f, r)
            }
            BottomView::Comparison => {
                super::groups::draw_comparison(v, self.crosstab_sel, focused, f, r)
            }
        }
    }

    fn draw_anomalies(&self, v: &TabView, focused: bool, f: &mut Frame, r: Rect) {
        let which = match v.color {
            ColorBy::AnomalyIforest => "isolation forest",
            ColorBy::AnomalyModel => v.model_score_name(),
            ColorBy::AnomalyDepth => "kNN distance z, library size regressed out",
            _ => "kNN distance z",
        };
        let title = format!(" anomalies · {which} ");
        let rows_h = r.height.saturating_sub(3) as usize;
        let first = scrolled(self.anomaly_sel, rows_h);
        let scores = v.anomaly_scores();
        // A QC value with its z within the cluster: "1682 (-2.1)".
        let qc = |k: usize, i: usize| -> String {
            self.qc.get(k).map_or(String::new(), |q| {
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
        let cells: Vec<[String; 7]> = self
            .rank
            .iter()
            .enumerate()
            .skip(first)
            .take(rows_h)
            .map(|(rank, &i)| {
                [
                    (rank + 1).to_string(),
                    v.dataset.map(|d| d.ids[i].clone()).unwrap_or_default(),
                    scores.map(|s| format!("{:.3}", s[i])).unwrap_or_default(),
                    v.result
                        .clusters
                        .as_ref()
                        .map(|c| c[i].to_string())
                        .unwrap_or_default(),
                    qc(0, i),
                    qc(1, i),
                    qc(2, i),
                ]
            })
            .collect();
        let header = |k: usize| {
            self.qc
                .get(k)
                .map_or(String::new(), |q| format!("{} (z)", q.name))
        };
        let qc_headers = [header(0), header(1), header(2)];
        let table = FittedTable {
            cells: &cells,
            headers: [
                "rank",
                "id",
                "score",
                "cluster",
                qc_headers[0].as_str(),
                qc_headers[1].as_str(),
                qc_headers[2].as_str(),
            ],
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
