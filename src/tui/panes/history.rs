//! The bottom pane's history of a live run: a row per computed version (its file, items,
//! clusters, and against the version before: ARI, NMI, how far items moved on the map), the
//! version shown marked. Enter shows the selected version.

use super::TabView;
use crate::tui::table_sort::Sorted;
use crate::tui::theme::{FittedTable, pane, row_style, scrolled};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::widgets::{Cell, Paragraph};

pub const HEADERS: [&str; 8] = [
    "version", "file", "items", "clusters", "ARI", "NMI", "moved", "seconds",
];

/// Row `k`: version `k + 1`'s change line as cells.
pub fn cells(v: &TabView, k: usize) -> [String; 8] {
    let Some(c) = v.versions.get(k).map(|x| &x.change) else {
        return Default::default();
    };
    let opt = |x: Option<f64>| x.map_or("—".to_string(), |x| format!("{x:.3}"));
    [
        format!(
            "{}v{}",
            if v.shown_version == Some(k) {
                "▶ "
            } else {
                "  "
            },
            c.number
        ),
        c.file.clone(),
        c.n.to_string(),
        c.clusters.to_string(),
        opt(c.ari),
        opt(c.nmi),
        c.median_move.map_or("—".to_string(), |d| {
            format!("{:.1}%", 100.0 * d / c.diagonal.max(1e-12))
        }),
        format!("{:.1}", c.seconds),
    ]
}

pub fn draw(v: &TabView, sel: usize, sorted: Sorted, focused: bool, f: &mut Frame, r: Rect) {
    let n = v.versions.len();
    if n == 0 {
        f.render_widget(
            Paragraph::new("no versions yet: biolens watch PATH… follows a training run")
                .block(pane(" history ", focused)),
            r,
        );
        return;
    }
    let title = format!(
        " history · {n} version{} · [ ] or Enter show one · moved: median, share of the map ",
        if n == 1 { "" } else { "s" }
    );
    let rows_h = r.height.saturating_sub(3) as usize;
    let first = scrolled(sel, rows_h);
    let order: Vec<usize> = (first..n).take(rows_h).map(|k| sorted.row(k)).collect();
    let cells: Vec<[String; 8]> = order.iter().map(|&k| cells(v, k)).collect();
    let headers = sorted.headers(HEADERS);
    let table = FittedTable {
        cells: &cells,
        headers: headers.each_ref().map(String::as_str),
        keep: [9, 6, 7, 7, 8, 5, 8, 4],
        text: [false, true, false, false, false, false, false, false],
        lead: 0,
    }
    .build(
        r.width.saturating_sub(2),
        |k| {
            let st = row_style(first + k == sel && focused);
            if v.shown_version == order.get(k).copied() {
                st.add_modifier(Modifier::BOLD)
            } else {
                st
            }
        },
        |_, t| Cell::from(t.to_string()).style(Style::default()),
    )
    .block(pane(&title, focused));
    f.render_widget(table, r);
}
