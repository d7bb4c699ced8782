//! Group tables of the bottom pane: the last `:crosstab` (cluster × column, shares of each
//! cluster) and the metadata half of the last `:compare`.

use super::TabView;
use crate::pipeline::groups::MetaDiff;
use crate::tui::theme::{FittedTable, pane, row_style, scrolled, truncate};
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::widgets::{Cell, Paragraph, Row, Table};

/// Widest a value column of the crosstab gets.
const VALUE_WIDTH: usize = 10;

pub fn draw_crosstab(v: &TabView, sel: usize, focused: bool, f: &mut Frame, r: Rect) {
    let Some(x) = v.crosstab else {
        f.render_widget(
            Paragraph::new("no crosstab yet: :crosstab COLUMN").block(pane(" crosstab ", focused)),
            r,
        );
        return;
    };
    let total = x.total().max(1);
    let avail = r.width.saturating_sub(2) as usize;
    let widths: Vec<usize> = x
        .values
        .iter()
        .map(|s| s.chars().count().clamp(5, VALUE_WIDTH))
        .collect();
    // "cluster" and "n" first; then as many value columns as fit.
    let n_width = total.to_string().len().max(1);
    let mut used = 7 + 1 + n_width;
    let shown = widths
        .iter()
        .take_while(|&&w| {
            used += w + 1;
            used <= avail
        })
        .count();
    let hidden = x.values.len() - shown;
    let title = format!(
        " crosstab · cluster × {} · share of each cluster · χ² p = {:.2e}{} ",
        x.column,
        x.chi2.2,
        if hidden > 0 {
            format!(" · {hidden} more values")
        } else {
            String::new()
        }
    );
    let rows_h = r.height.saturating_sub(3) as usize;
    let first = scrolled(sel, rows_h);
    let col_sum: Vec<u64> = (0..x.values.len())
        .map(|j| x.counts.iter().map(|row| row[j]).sum())
        .collect();
    let mut body: Vec<(String, u64, Vec<u64>)> = x
        .clusters
        .iter()
        .zip(&x.counts)
        .map(|(c, row)| (c.to_string(), row.iter().sum(), row.clone()))
        .collect();
    body.push(("all".into(), total, col_sum));
    let rows: Vec<Row> = body
        .iter()
        .enumerate()
        .skip(first)
        .take(rows_h)
        .map(|(k, (name, n, counts))| {
            let mut cells = vec![Cell::from(name.clone()), Cell::from(n.to_string())];
            cells.extend(counts.iter().take(shown).map(|&c| {
                let share = 100.0 * c as f64 / (*n).max(1) as f64;
                Cell::from(if c == 0 {
                    "·".to_string()
                } else {
                    format!("{share:.0}%")
                })
            }));
            Row::new(cells).style(row_style(k == sel && focused))
        })
        .collect();
    let mut header = vec![Cell::from("cluster"), Cell::from("n")];
    header.extend(
        x.values
            .iter()
            .zip(&widths)
            .take(shown)
            .map(|(s, &w)| Cell::from(truncate(s, w))),
    );
    let mut constraints = vec![Constraint::Length(7), Constraint::Length(n_width as u16)];
    constraints.extend(
        widths
            .iter()
            .take(shown)
            .map(|&w| Constraint::Length(w as u16)),
    );
    let table = Table::new(rows, constraints)
        .header(Row::new(header).style(Style::default().add_modifier(Modifier::BOLD)))
        .block(pane(&title, focused));
    f.render_widget(table, r);
}

pub fn draw_comparison(v: &TabView, sel: usize, focused: bool, f: &mut Frame, r: Rect) {
    let Some(c) = v.comparison else {
        f.render_widget(
            Paragraph::new("no comparison yet: :compare A B").block(pane(" compare ", focused)),
            r,
        );
        return;
    };
    let title = format!(
        " compare · {} · n = {} vs {} · metadata (rank-sum / chi-square) ",
        c.label, c.n_a, c.n_b
    );
    let rows_h = r.height.saturating_sub(3) as usize;
    let first = scrolled(sel, rows_h);
    let cells: Vec<[String; 4]> = c
        .meta
        .iter()
        .skip(first)
        .take(rows_h)
        .map(|d| match d {
            MetaDiff::Number {
                column,
                median_a,
                median_b,
                ..
            } => [
                column.clone(),
                format!("{} vs {}", num(*median_a), num(*median_b)),
                "median".into(),
                format!("{:.2e}", d.p()),
            ],
            MetaDiff::Category {
                column,
                top,
                share_a,
                share_b,
                ..
            } => [
                column.clone(),
                format!("{:.0}% vs {:.0}%", share_a * 100.0, share_b * 100.0),
                top.clone(),
                format!("{:.2e}", d.p()),
            ],
        })
        .collect();
    let table = FittedTable {
        cells: &cells,
        headers: ["column", "A vs B", "of", "p"],
        keep: [9, 8, 5, 7],
        text: [true, false, true, false],
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

/// A median as short as it reads.
fn num(x: f64) -> String {
    if x.is_nan() {
        "–".into()
    } else if x.fract() == 0.0 && x.abs() < 1e9 {
        format!("{}", x as i64)
    } else if x.abs() >= 1e-2 && x.abs() < 1e5 {
        format!("{x:.3}")
    } else {
        format!("{x:.2e}")
    }
}
