//! The bottom pane's loss curve of a live run: the metrics log's series against its step (or
//! epoch) as braille lines, with a mark where each version of the map landed on the same
//! axis.

use super::TabView;
use crate::tui::theme::pane;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Style};
use ratatui::symbols::Marker;
use ratatui::text::Span;
use ratatui::widgets::{Axis, Chart, Dataset, GraphType, Paragraph};

/// At most this many series are drawn (the first ones in the log's order).
pub const MAX_SERIES: usize = 4;

/// The points of each series drawn: (name, (step, value) with finite values only).
pub type Series = Vec<(String, Vec<(f64, f64)>)>;

/// The series and the versions' steps, computed in `update()` when new rows land.
pub fn series(m: &crate::watch::metrics::Metrics) -> (String, Series) {
    let (step_name, steps) = m.steps();
    let s = m
        .series()
        .into_iter()
        .take(MAX_SERIES)
        .map(|name| {
            let pts = m
                .column(name)
                .unwrap_or(&[])
                .iter()
                .zip(&steps)
                .filter(|(v, s)| v.is_finite() && s.is_finite())
                .map(|(&v, &s)| (s, v))
                .collect();
            (name.to_string(), pts)
        })
        .collect();
    (step_name, s)
}

/// The series' colours: basic ones, which every colour terminal has.
const COLOURS: [Color; MAX_SERIES] = [Color::Cyan, Color::Yellow, Color::Magenta, Color::Green];
const COLOUR_NAMES: [&str; MAX_SERIES] = ["cyan", "yellow", "magenta", "green"];

pub fn draw(v: &TabView, curves: Option<&(String, Series)>, focused: bool, f: &mut Frame, r: Rect) {
    let Some((step_name, series)) = curves.filter(|c| c.1.iter().any(|s| !s.1.is_empty())) else {
        f.render_widget(
            Paragraph::new(
                "no metrics yet: biolens watch … --metrics FILE (a CSV with a header, or JSON lines)",
            )
            .block(pane(" metrics ", focused)),
            r,
        );
        return;
    };
    let all = series.iter().flat_map(|s| s.1.iter());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in all {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    if x1 <= x0 {
        x1 = x0 + 1.0;
    }
    if y1 <= y0 {
        y1 = y0 + 1.0;
    }
    // Each version's mark sits at the step the log had reached when it landed, at the top.
    let marks: Vec<(f64, f64)> = v
        .versions
        .iter()
        .filter_map(|ver| ver.change.step)
        .map(|s| (s.clamp(x0, x1), y1))
        .collect();
    let mut sets: Vec<Dataset> = series
        .iter()
        .enumerate()
        .map(|(k, (name, pts))| {
            Dataset::default()
                .name(name.clone())
                .marker(Marker::Braille)
                .graph_type(GraphType::Line)
                .style(Style::default().fg(COLOURS[k % MAX_SERIES]))
                .data(pts)
        })
        .collect();
    sets.push(
        Dataset::default()
            .name("versions")
            .marker(Marker::Dot)
            .graph_type(GraphType::Scatter)
            .style(Style::default().fg(Color::White))
            .data(&marks),
    );
    let label = |x: f64| Span::raw(format!("{x:.3}"));
    // The legend in the title: the chart's own hides itself in a small pane.
    let names: Vec<String> = series
        .iter()
        .enumerate()
        .map(|(k, (name, _))| format!("{name} ({})", COLOUR_NAMES[k % MAX_SERIES]))
        .collect();
    let title = format!(
        " metrics · {} · • a version landed · :history ",
        names.join(", ")
    );
    let chart = Chart::new(sets)
        .block(pane(&title, focused))
        .x_axis(
            Axis::default()
                .title(step_name.as_str())
                .bounds([x0, x1])
                .labels([label(x0), label(x1)]),
        )
        .y_axis(
            Axis::default()
                .bounds([y0, y1])
                .labels([label(y0), label(y1)]),
        );
    f.render_widget(chart, r);
}
