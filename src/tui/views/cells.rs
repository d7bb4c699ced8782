//! Cells: the marker-gene table of the selected cluster or of a `:compare`.

use crate::tui::panes::TabView;
use crate::tui::theme::{header_style, pane, row_style, scrolled};
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::widgets::{Cell, Paragraph, Row, Table};

/// The selected cluster's marker genes (or the `:compare` result): rank, gene, z, log2 fold
/// change, BH-adjusted p and the shares expressing in and out; row `sel` highlighted.
pub fn draw_markers(v: &TabView, sel: usize, focused: bool, f: &mut Frame, r: Rect) {
    let Some(m) = v.marker_table() else {
        let text = if v.result.markers.is_none() {
            "marker genes appear when the clusters land"
        } else {
            "select a cluster (Tab to the clusters pane, j/k)"
        };
        f.render_widget(Paragraph::new(text).block(pane(" markers ", focused)), r);
        return;
    };
    let expr = v.dataset.and_then(|d| d.expression());
    let values = expr.map_or("", |e| e.value_label());
    let title = if v.comparison.is_some() {
        format!(" markers · {} · Wilcoxon, BH · {values} ", m.group)
    } else {
        format!(
            " markers · cluster {} vs rest · Wilcoxon, BH · {values} ",
            m.group
        )
    };
    let effect = expr.map_or("lfc", |e| {
        crate::modality::cells::markers::effect_name(e.kind).1
    });
    let share = |p: f64| {
        if p.is_finite() {
            format!("{:.0}%", p * 100.0)
        } else {
            "–".into()
        }
    };
    let rows_h = r.height.saturating_sub(3) as usize;
    let first = scrolled(sel, rows_h);
    let genes = expr.map(|e| e.genes.as_slice()).unwrap_or_default();
    let gene_name = |g: usize| genes.get(g).map_or("", String::as_str);
    let rows: Vec<Row> = m
        .markers
        .iter()
        .enumerate()
        .skip(first)
        .take(rows_h)
        .map(|(k, mk)| {
            let st = row_style(k == sel && focused);
            Row::new(vec![
                Cell::from((k + 1).to_string()),
                Cell::from(gene_name(mk.gene)),
                Cell::from(format!("{:.2}", mk.score)),
                Cell::from(format!("{:+.2}", mk.log2_fc)),
                Cell::from(format!("{:.1e}", mk.padj)),
                Cell::from(share(mk.pct_in)),
                Cell::from(share(mk.pct_out)),
            ])
            .style(st)
        })
        .collect();
    let table = Table::new(
        rows,
        [
            Constraint::Length(4),
            Constraint::Min(8),
            Constraint::Length(7),
            Constraint::Length(6),
            Constraint::Length(8),
            Constraint::Length(5),
            Constraint::Length(5),
        ],
    )
    .header(Row::new(vec!["#", "gene", "z", effect, "padj", "in", "out"]).style(header_style()))
    .block(pane(&title, focused));
    f.render_widget(table, r);
}
