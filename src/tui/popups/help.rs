//! The help overlay (`?`): every key binding by group and every `:` command, generated from
//! the key map and the command table so they cannot drift.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Clear, Paragraph};

/// The help overlay, generated from the key map and the command table.
pub fn draw(f: &mut Frame, area: Rect, scroll: u16) {
    let w = area.width.saturating_sub(2).min(124);
    let h = area.height.saturating_sub(1).max(1);
    let r = Rect::new(area.x + (area.width - w) / 2, area.y, w, h);
    f.render_widget(Clear, r);
    let mut lines = Vec::new();
    let mut group = "";
    // The key column is as wide as the longest label, so a remapped action with three keys
    // never runs into its description.
    let key_w = crate::tui::keymap::bindings()
        .iter()
        .map(|b| b.label.chars().count() + 1)
        .max()
        .unwrap_or(6)
        .max(6);
    for b in crate::tui::keymap::bindings() {
        if b.group != group {
            group = b.group;
            lines.push(Line::from(Span::styled(
                group,
                Style::default()
                    .fg(Color::Cyan)
                    .add_modifier(Modifier::BOLD),
            )));
        }
        lines.push(Line::from(vec![
            Span::styled(
                format!(" {:<key_w$}", b.label),
                Style::default().fg(Color::Yellow),
            ),
            Span::raw(b.desc),
        ]));
    }
    lines.push(Line::from(Span::styled(
        "Command line (:)",
        Style::default()
            .fg(Color::Cyan)
            .add_modifier(Modifier::BOLD),
    )));
    let commands = crate::tui::commands::COMMANDS;
    let cw = commands.iter().map(|c| c.usage.len()).max().unwrap_or(0);
    for c in commands {
        lines.push(Line::from(vec![
            Span::styled(
                format!(" :{:<cw$} ", c.usage),
                Style::default().fg(Color::Yellow),
            ),
            Span::raw(c.about),
        ]));
    }
    lines.push(Line::from(Span::styled(
        "Mouse: click picks the nearest point or a row; wheel zooms the map",
        Style::default().fg(Color::DarkGray),
    )));
    // Two columns when the screen is short.
    let inner_h = h.saturating_sub(2) as usize;
    // Two columns only where each is wide enough for the longest description.
    let two_columns = lines.len() > inner_h && w >= 110;
    let rows = if two_columns {
        lines.len().div_ceil(2)
    } else {
        lines.len()
    };
    // Scrolls when it does not fit (80 × 24 and smaller); the title says how.
    let max_scroll = rows.saturating_sub(inner_h) as u16;
    let scroll = scroll.min(max_scroll);
    let title = if max_scroll > 0 {
        format!(
            " help · j/k PgDn/PgUp scroll ({}/{}) · Esc or ? closes ",
            scroll, max_scroll
        )
    } else {
        " help · Esc or ? closes ".to_string()
    };
    let block = Block::default()
        .borders(Borders::ALL)
        .border_type(BorderType::Double)
        .title(title);
    if two_columns {
        let half = lines.len().div_ceil(2);
        let right = lines.split_off(half);
        let ir = crate::tui::layout::inner(r);
        f.render_widget(block, r);
        let lw = ir.width / 2;
        f.render_widget(
            Paragraph::new(lines).scroll((scroll, 0)),
            Rect::new(ir.x, ir.y, lw, ir.height),
        );
        f.render_widget(
            Paragraph::new(right).scroll((scroll, 0)),
            Rect::new(ir.x + lw, ir.y, ir.width - lw, ir.height),
        );
    } else {
        f.render_widget(Paragraph::new(lines).scroll((scroll, 0)).block(block), r);
    }
}
