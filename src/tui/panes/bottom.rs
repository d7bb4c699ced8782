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
}

impl BottomPane {
    pub fn refresh(&mut self, v: &TabView) {
        let which = match v.color {
            ColorBy::AnomalyIforest => 1,
            ColorBy::AnomalyModel => 2,
            _ => 0,
        };
        let key = (v.version, which);
        if self.rank_key == key {
            return;
        }
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
            _ => "kNN distance z",
        };
        let title = format!(" anomalies · {which} ");
        let rows_h = r.height.saturating_sub(3) as usize;
        let first = scrolled(self.anomaly_sel, rows_h);
        let scores = v.anomaly_scores();
        let cells: Vec<[String; 4]> = self
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
                ]
            })
            .collect();
        let table = FittedTable {
            cells: &cells,
            headers: ["rank", "id", "score", "cluster"],
            keep: [5, 9, 8, 6],
            text: [false, true, false, false],
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
