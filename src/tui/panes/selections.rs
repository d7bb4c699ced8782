//! The bottom pane's selections table (name, size, definition) of the tab's `Selections`.

use super::TabView;
use crate::tui::table_sort::Sorted;
use crate::tui::theme::{FittedTable, pane, row_style, scrolled};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::widgets::Cell;

pub const HEADERS: [&str; 4] = ["name", "size", "share", "definition"];

/// Row `k`: name, size, share of the items, definition (or why it has no members).
pub fn cells(v: &TabView, k: usize) -> [String; 4] {
    let s = v.selections;
    let n = v.dataset.map_or(0, |d| d.len()).max(1);
    match (s.defs.get(k), s.members.get(k)) {
        (Some(d), Some(Ok(m))) => [
            d.name.clone(),
            m.len().to_string(),
            format!("{:.1}%", 100.0 * m.len() as f64 / n as f64),
            d.def.to_string(),
        ],
        (Some(d), Some(Err(e))) => [d.name.clone(), "—".into(), String::new(), e.clone()],
        _ => Default::default(),
    }
}

/// The selections table, display row `sel` selected, in the order `sorted` gives.
pub fn draw(v: &TabView, sel: usize, sorted: Sorted, focused: bool, f: &mut Frame, r: Rect) {
    let s = v.selections;
    let title = if s.defs.is_empty() {
        " selections · none yet: v on the map, or :select NAME where … ".to_string()
    } else {
        format!(" selections · {} · Enter colours the map ", s.defs.len())
    };
    let rows_h = r.height.saturating_sub(3) as usize;
    let first = scrolled(sel, rows_h);
    let cells: Vec<[String; 4]> = (first..s.defs.len())
        .take(rows_h)
        .map(|k| cells(v, sorted.row(k)))
        .collect();
    let headers = sorted.headers(HEADERS);
    let table = FittedTable {
        cells: &cells,
        headers: headers.each_ref().map(String::as_str),
        keep: [9, 8, 5, 7],
        text: [true, false, false, true],
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
