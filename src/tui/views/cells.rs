//! Cells: the marker-gene table of the selected cluster or of a `:compare`.

use crate::modality::cells::markers::MarkerTable;
use crate::tui::panes::TabView;
use crate::tui::table_sort::Sorted;
use crate::tui::theme::{FittedTable, pane, row_style, scrolled};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::widgets::{Cell, Paragraph};

/// The marker table shown: a `:compare` result, else the selected cluster's.
pub fn marker_table<'a>(v: &TabView<'a>) -> Option<&'a MarkerTable> {
    let m = v.findings()?.markers()?;
    if v.comparison.is_some() {
        return m.tables.first();
    }
    let id = v.cluster?;
    // Tables are in cluster order (`cluster_markers`, and sessions keep that order).
    m.tables
        .get(id as usize)
        .filter(|t| t.group.parse() == Ok(id))
}

/// The gene of row `row` of the marker table shown, for Enter to colour the map by.
pub fn gene_at(v: &TabView, row: usize) -> Option<String> {
    let g = marker_table(v)?.markers.get(row)?.gene;
    v.dataset?.expression()?.genes.get(g).cloned()
}

/// Item `i`'s value of the genes the map is coloured by (their mean, as the map shows it),
/// with what the values are.
pub fn gene_value(v: &TabView, i: usize, genes: &[usize]) -> Option<(f64, &'static str)> {
    let e = v.dataset?.expression()?;
    if genes.is_empty() || i >= e.n_cells() {
        return None;
    }
    let sum: f64 = genes.iter().map(|&g| e.normalised_at(i, g)).sum();
    Some((sum / genes.len() as f64, e.value_label()))
}

/// Rows of the marker table shown.
pub fn rows(v: &TabView) -> usize {
    marker_table(v).map_or(0, |m| m.markers.len())
}

/// The marker table's headers; the effect column is named for the values (log2 fold change
/// of counts, difference of scaled values…).
pub fn headers(v: &TabView) -> [&'static str; 7] {
    let effect = v.dataset.and_then(|d| d.expression()).map_or("lfc", |e| {
        crate::modality::cells::markers::effect_name(e.kind).1
    });
    ["#", "gene", "z", effect, "padj", "in", "out"]
}

/// Row `k` of the marker table shown: rank, gene, z, effect, BH-adjusted p and the shares
/// expressing in and out.
pub fn cells(v: &TabView, k: usize) -> [String; 7] {
    let (Some(m), Some(e)) = (
        marker_table(v).and_then(|t| t.markers.get(k)),
        v.dataset.and_then(|d| d.expression()),
    ) else {
        return Default::default();
    };
    let share = |p: f64| {
        if p.is_finite() {
            format!("{:.0}%", p * 100.0)
        } else {
            "–".into()
        }
    };
    [
        (k + 1).to_string(),
        e.genes.get(m.gene).cloned().unwrap_or_default(),
        format!("{:.2}", m.score),
        format!("{:+.2}", m.log2_fc),
        format!("{:.1e}", m.padj),
        share(m.pct_in),
        share(m.pct_out),
    ]
}

/// The selected cluster's marker genes (or the `:compare` result), display row `sel`
/// highlighted, in the order `sorted` gives.
pub fn draw_markers(
    v: &TabView,
    sel: usize,
    sorted: Sorted,
    focused: bool,
    f: &mut Frame,
    r: Rect,
) {
    let Some(m) = marker_table(v) else {
        let text = if v.result.findings.is_none() {
            "marker genes appear when the clusters land"
        } else {
            "select a cluster (Tab to the clusters pane, j/k)"
        };
        f.render_widget(Paragraph::new(text).block(pane(" markers ", focused)), r);
        return;
    };
    let values = v
        .dataset
        .and_then(|d| d.expression())
        .map_or("", |e| e.value_label());
    let title = if v.comparison.is_some() {
        format!(" markers · {} · Wilcoxon, BH · {values} ", m.group)
    } else {
        format!(
            " markers · cluster {} vs rest · Wilcoxon, BH · {values} ",
            m.group
        )
    };
    let rows_h = r.height.saturating_sub(3) as usize;
    let first = scrolled(sel, rows_h);
    // Every visible cell as text first, so the columns can be fitted to the pane: a narrow
    // pane drops whole columns, never cuts a number (6.1e-124 must not read 6.1e-1).
    let cells: Vec<[String; 7]> = (first..m.markers.len())
        .take(rows_h)
        .map(|k| cells(v, sorted.row(k)))
        .collect();
    let headers = sorted.headers(headers(v));
    let table = FittedTable {
        cells: &cells,
        headers: headers.each_ref().map(String::as_str),
        keep: [3, 9, 6, 7, 8, 5, 4],
        text: [false, true, false, false, false, false, false],
        lead: 0,
    }
    .build(
        r.width.saturating_sub(2),
        |k| row_style(first + k == sel && focused),
        |_, t| Cell::from(t.to_string()),
    )
    .block(pane(&title, focused));
    f.render_widget(table, r);
}
