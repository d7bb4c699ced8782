//! The bottom pane's neighbourhood table: the last `:nhood`, one row per group, one column per
//! neighbouring group, each cell the z-score of how often the row's items have the column's
//! among their nearest neighbours on the tissue (positive: together more than chance).

use super::TabView;
use crate::tui::table_sort::Sorted;
use crate::tui::theme::{columns_that_fit, pane, row_style, scrolled, truncate, value_table};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Style};
use ratatui::widgets::{Cell, Paragraph, Row};

/// Widest a group column gets.
const VALUE_WIDTH: usize = 10;

/// The group, its size, then one column per group.
pub fn headers(v: &TabView) -> Vec<String> {
    let mut h = vec![
        v.nhood.map_or("group".to_string(), |n| n.by.clone()),
        "n".to_string(),
    ];
    if let Some(n) = v.nhood {
        h.extend(n.names.iter().cloned());
    }
    h
}

fn z_text(z: f64) -> String {
    if z.is_finite() {
        format!("{z:+.1}")
    } else {
        "·".into()
    }
}

/// Column `j` of every row, as shown.
pub fn column(v: &TabView, j: usize) -> Vec<String> {
    let Some(n) = v.nhood else {
        return Vec::new();
    };
    (0..n.names.len())
        .map(|a| match j {
            0 => n.names[a].clone(),
            1 => n.sizes[a].to_string(),
            _ => n.enrichment.z[a]
                .get(j - 2)
                .map_or(String::new(), |&z| z_text(z)),
        })
        .collect()
}

pub fn draw(v: &TabView, sel: usize, sorted: Sorted, focused: bool, f: &mut Frame, r: Rect) {
    let Some(n) = v.nhood else {
        f.render_widget(
            Paragraph::new(
                "no neighbourhood enrichment yet: :nhood [COLUMN] (on data with positions)",
            )
            .block(pane(" neighbourhood ", focused)),
            r,
        );
        return;
    };
    let k = n.names.len();
    let avail = r.width.saturating_sub(2) as usize;
    let name_w = n
        .names
        .iter()
        .map(|s| s.chars().count())
        .chain([n.by.chars().count()])
        .max()
        .unwrap_or(5)
        .clamp(5, 16);
    let n_width = n.sizes.iter().max().map_or(1, |m| m.to_string().len());
    let widths: Vec<usize> = n
        .names
        .iter()
        .map(|s| s.chars().count().clamp(6, VALUE_WIDTH))
        .collect();
    let shown = columns_that_fit(&widths, name_w + 1 + n_width, avail);
    let title = format!(
        " neighbourhood · {} × {} · z vs {} permutations{} ",
        n.by,
        n.by,
        n.enrichment.permutations,
        if shown < k {
            format!(" · {} more columns", k - shown)
        } else {
            String::new()
        }
    );
    let rows_h = r.height.saturating_sub(3) as usize;
    let first = scrolled(sel, rows_h);
    let rows: Vec<Row> = (0..k)
        .skip(first)
        .take(rows_h)
        .map(|row| {
            let a = sorted.row(row);
            let mut cells = vec![
                Cell::from(truncate(&n.names[a], name_w)),
                Cell::from(n.sizes[a].to_string()),
            ];
            cells.extend(n.enrichment.z[a].iter().take(shown).map(|&z| {
                // Strong pairs stand out; the colour's sign says together or apart.
                let style = if z.is_finite() && z >= 2.0 {
                    Style::default().fg(Color::Green)
                } else if z.is_finite() && z <= -2.0 {
                    Style::default().fg(Color::Red)
                } else {
                    Style::default()
                };
                Cell::from(z_text(z)).style(style)
            }));
            Row::new(cells).style(row_style(row == sel && focused))
        })
        .collect();
    let mut header = vec![
        Cell::from(sorted.header(0, &truncate(&n.by, name_w))),
        Cell::from(sorted.header(1, "n")),
    ];
    header.extend(
        n.names
            .iter()
            .zip(&widths)
            .enumerate()
            .take(shown)
            .map(|(j, (s, &w))| Cell::from(truncate(&sorted.header(j + 2, &truncate(s, w)), w))),
    );
    let table = value_table(
        rows,
        header,
        &[name_w, n_width],
        &widths[..shown],
        &title,
        focused,
    );
    f.render_widget(table, r);
}
