//! Drawing: each pane draws itself from the state and its cached derived data; nothing here
//! computes or does I/O.

use super::panes::{hint, jobs};
use super::state::{Focus, Mode, State};
use super::theme::{fmt_secs, pane};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

pub fn draw(s: &State, f: &mut Frame) {
    let a = s.areas();
    draw_tabs(s, f, a.tabs);
    match s.tab() {
        Some(t) => {
            let busy = s.busy(t);
            let v = t.view(busy.as_deref());
            t.map.draw(&v, s.focus == Focus::Map, s.palette, f, a.map);
            t.clusters
                .draw(&v, s.focus == Focus::Clusters, s.palette, f, a.clusters);
            t.detail.draw(&v, f, a.detail);
            t.bottom.draw(&v, s.focus == Focus::Bottom, f, a.bottom);
        }
        None => {
            f.render_widget(Paragraph::new("no data").block(pane(" map ", true)), a.map);
        }
    }
    jobs::draw(&s.jobs, s.focus == Focus::Jobs, f, a.jobs);
    let input = match &s.mode {
        Mode::Search(q) => Some(('/', q.as_str())),
        Mode::Command(q) => Some((':', q.as_str())),
        Mode::Normal | Mode::Help => None,
    };
    let message = s.message.as_ref().map(|m| (m.text.as_str(), m.error));
    hint::draw(input, s.input_cursor, message, f, a.hint);
    if s.mode == Mode::Help {
        super::popups::help::draw(f, f.area(), s.help_scroll);
    }
}

fn draw_tabs(s: &State, f: &mut Frame, r: Rect) {
    let mut spans = Vec::new();
    for (i, t) in s.tabs.iter().enumerate() {
        let st = if i == s.active {
            Style::default().add_modifier(Modifier::REVERSED | Modifier::BOLD)
        } else {
            Style::default()
        };
        spans.push(Span::styled(format!(" {} {} ", i + 1, t.title), st));
        spans.push(Span::raw("  "));
    }
    let running: Vec<String> = s
        .running_jobs()
        .map(|j| match j.eta {
            Some(e) => format!("{} {:.0}% ETA {}", j.stage, j.fraction * 100.0, fmt_secs(e)),
            None => format!("{} {:.0}%", j.stage, j.fraction * 100.0),
        })
        .collect();
    let right = if running.is_empty() {
        String::from("biolens")
    } else {
        format!("jobs: {}", running.join(" · "))
    };
    let left_w: usize = spans.iter().map(|s| s.content.chars().count()).sum();
    let pad = (r.width as usize).saturating_sub(left_w + right.chars().count() + 1);
    spans.push(Span::raw(" ".repeat(pad)));
    spans.push(Span::styled(right, Style::default().fg(Color::Cyan)));
    f.render_widget(Paragraph::new(Line::from(spans)), r);
}
