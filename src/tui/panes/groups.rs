//! Group tables of the bottom pane: the last `:crosstab` (cluster × column, shares of each
//! cluster) and the metadata half of the last `:compare`.

use super::TabView;
use crate::pipeline::groups::MetaDiff;
use crate::tui::table_sort::Sorted;
use crate::tui::theme::{
    FittedTable, columns_that_fit, pane, row_style, scrolled, truncate, value_table,
};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::widgets::{Cell, Paragraph, Row};

/// Widest a value column of the crosstab gets.
const VALUE_WIDTH: usize = 10;

/// The crosstab's headers: cluster, n and each value of the column.
pub fn crosstab_headers(v: &TabView) -> Vec<String> {
    let mut h = vec!["cluster".to_string(), "n".to_string()];
    if let Some(x) = v.crosstab {
        h.extend(x.values.iter().cloned());
    }
    h
}

/// Column `j` of every cluster's row (not the "all" row), for sorting: the cluster, its size,
/// or value j − 2's share of the cluster.
pub fn crosstab_column(v: &TabView, j: usize) -> Vec<String> {
    let Some(x) = v.crosstab else {
        return Vec::new();
    };
    x.clusters
        .iter()
        .zip(&x.counts)
        .map(|(c, row)| {
            let n: u64 = row.iter().sum();
            match j {
                0 => c.to_string(),
                1 => n.to_string(),
                _ => row
                    .get(j - 2)
                    .map_or(String::new(), |&k| (k as f64 / n.max(1) as f64).to_string()),
            }
        })
        .collect()
}

/// The crosstab, display row `sel` selected; the clusters in the order `sorted` gives and the
/// "all" row last.
pub fn draw_crosstab(
    v: &TabView,
    sel: usize,
    sorted: Sorted,
    focused: bool,
    f: &mut Frame,
    r: Rect,
) {
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
    let shown = columns_that_fit(&widths, 7 + 1 + n_width, avail);
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
    let rows: Vec<Row> = (0..body.len())
        .skip(first)
        .take(rows_h)
        .map(|k| {
            let (name, n, counts) = &body[sorted.row(k)];
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
    let mut header = vec![
        Cell::from(sorted.header(0, "cluster")),
        Cell::from(sorted.header(1, "n")),
    ];
    header.extend(
        x.values
            .iter()
            .zip(&widths)
            .enumerate()
            .take(shown)
            .map(|(j, (s, &w))| {
                // The arrow replaces the last letter rather than push the column wider.
                let h = sorted.header(j + 2, &truncate(s, w));
                Cell::from(truncate(&h, w))
            }),
    );
    let table = value_table(
        rows,
        header,
        &[7, n_width],
        &widths[..shown],
        &title,
        focused,
    );
    f.render_widget(table, r);
}

pub const COMPARISON_HEADERS: [&str; 4] = ["column", "A vs B", "of", "p"];

/// A metadata difference's row: column, medians or shares of A and B, of what, p.
pub fn comparison_cells(d: &MetaDiff) -> [String; 4] {
    match d {
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
    }
}

/// The metadata half of the last `:compare`, display row `sel` selected, in the order
/// `sorted` gives.
pub fn draw_comparison(
    v: &TabView,
    sel: usize,
    sorted: Sorted,
    focused: bool,
    f: &mut Frame,
    r: Rect,
) {
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
    let cells: Vec<[String; 4]> = (first..c.meta.len())
        .take(rows_h)
        .map(|k| comparison_cells(&c.meta[sorted.row(k)]))
        .collect();
    let headers = sorted.headers(COMPARISON_HEADERS);
    let table = FittedTable {
        cells: &cells,
        headers: headers.each_ref().map(String::as_str),
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
