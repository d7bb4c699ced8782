//! A live run's versions in a tab: the newest shown as it lands while the user follows the
//! run, any earlier one on `[`/`]` or from the history table. Showing a version keeps what the
//! user was looking at: the cursor stays on its id, the view (zoom and place: the maps share
//! a frame; panned only when the cursor's item moved out of it), the colouring, selections
//! and focus.

use crate::tui::state::{Tab, TabSource};
use std::sync::Arc;

/// Adds a computed version; shows it when the tab was showing the newest one (or none).
/// Returns whether it is now shown.
pub fn add(t: &mut Tab, v: Arc<crate::watch::Version>) -> bool {
    let following = t
        .data
        .shown_version
        .is_none_or(|k| k + 1 == t.data.versions.len());
    t.data.versions.push(v);
    // A live run's tab opens on its history.
    if t.data.versions.len() == 1 {
        t.bottom.view = crate::tui::panes::bottom::BottomView::History;
    }
    if following {
        show(t, t.data.versions.len() - 1);
    }
    following
}

/// Shows version `k` (0-based) in the tab.
pub fn show(t: &mut Tab, k: usize) {
    let Some(v) = t.data.versions.get(k).cloned() else {
        return;
    };
    let cursor_id = t
        .map
        .cursor
        .and_then(|c| t.data.dataset.as_ref()?.ids.get(c).cloned());
    let view = t.map.view;
    let first = t.data.dataset.is_none();
    t.data.dataset = Some(Arc::new(v.item.dataset.clone()));
    t.data.embedding = Some(Arc::new(v.item.embedding.clone()));
    t.data.result = crate::pipeline::Partial::from(v.item.analysis.clone());
    // What was computed on the other version's items does not carry over.
    t.data.comparison = None;
    t.data.crosstab = None;
    t.data.nhood = None;
    t.data.tissue = None;
    t.data.shown_version = Some(k);
    t.data.version += 1;
    t.data.color_version += 1;
    if let TabSource::Watch(w) = &t.data.source {
        t.title = format!("{} v{}", w.name(), v.number);
    }
    let ids = &v.item.dataset.ids;
    t.map.cursor = cursor_id
        .and_then(|id| ids.iter().position(|x| *x == id))
        .or(Some(0));
    if first || view.is_none() {
        t.map.on_layout(&v.item.analysis.layout);
    } else {
        // Same zoom and place; panned only when the cursor's item left the view.
        t.map.view = view;
        if let Some(c) = t.map.cursor {
            t.map.go_to(&v.item.analysis.layout, c, false);
        }
    }
}

/// `]` / `[`: the next or previous version (stops at the ends); says which, or why not.
pub fn step(t: &mut Tab, by: isize) -> Result<String, String> {
    let n = t.data.versions.len();
    let at = t.data.shown_version.unwrap_or(n.saturating_sub(1)) as isize;
    let k = (at + by).clamp(0, n as isize - 1) as usize;
    if k as isize == at {
        return Err(if by > 0 {
            "the newest version is shown; the next one appears when it lands".into()
        } else {
            "the first version is shown".into()
        });
    }
    show(t, k);
    let v = &t.data.versions[k];
    Ok(format!(
        "{}{}",
        v.change.line(),
        if k + 1 < n {
            "; new versions will not replace it (] to the newest follows again)"
        } else {
            "; following the run"
        }
    ))
}
