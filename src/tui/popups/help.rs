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
    // Two columns only where each is wide enough to read. Whole sections (a key group, the
    // command list) fill the left column while they fit and the rest go right, so a heading
    // never sits alone at the foot of a column.
    let inner_h = h.saturating_sub(2) as usize;
    let inner_w = w.saturating_sub(2) as usize;
    let two_columns = w >= 110;
    let col_w = if two_columns { inner_w / 2 } else { inner_w };
    let mut sections = key_sections();
    sections.push(command_lines(col_w));
    let mut lines = Vec::new();
    let mut right = Vec::new();
    for sec in sections {
        let to_right = two_columns
            && (!right.is_empty() || (!lines.is_empty() && lines.len() + sec.len() > inner_h));
        if to_right {
            right.extend(sec);
        } else {
            lines.extend(sec);
        }
    }
    let rows = lines.len().max(right.len());
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

fn heading(text: &str) -> Line<'static> {
    Line::from(Span::styled(
        text.to_string(),
        Style::default()
            .fg(Color::Cyan)
            .add_modifier(Modifier::BOLD),
    ))
}

/// Every key binding, one section per group, each under its heading.
fn key_sections() -> Vec<Vec<Line<'static>>> {
    let bindings = crate::tui::keymap::bindings();
    // The key column is as wide as the longest label, so a remapped action with three keys
    // never runs into its description.
    let key_w = bindings
        .iter()
        .map(|b| b.label.chars().count() + 1)
        .max()
        .unwrap_or(6)
        .max(6);
    let mut sections: Vec<Vec<Line<'static>>> = Vec::new();
    let mut group = "";
    for b in bindings {
        if b.group != group || sections.is_empty() {
            group = b.group;
            sections.push(vec![heading(group)]);
        }
        let lines = sections.last_mut().expect("pushed above");
        lines.push(Line::from(vec![
            Span::styled(
                format!(" {:<key_w$}", b.label),
                Style::default().fg(Color::Yellow),
            ),
            Span::raw(b.desc),
        ]));
    }
    sections
}

/// Every `:` command; a description too long for `width` continues on indented lines rather
/// than being cut off.
fn command_lines(width: usize) -> Vec<Line<'static>> {
    let commands = crate::tui::commands::COMMANDS;
    let cw = commands
        .iter()
        .map(|c| c.usage.chars().count())
        .max()
        .unwrap_or(0);
    let indent = cw + 3;
    let text_w = width.saturating_sub(indent).max(16);
    let mut lines = vec![heading("Command line (:)")];
    for c in commands {
        let mut parts = wrap(c.about, text_w).into_iter();
        let first = parts.next().unwrap_or_default();
        lines.push(Line::from(vec![
            Span::styled(
                format!(" :{:<cw$} ", c.usage),
                Style::default().fg(Color::Yellow),
            ),
            Span::raw(first),
        ]));
        for rest in parts {
            lines.push(Line::from(format!("{:indent$}{rest}", "")));
        }
    }
    // Editing keys of the `:` and `/` lines (the line editor's own; not in the key map).
    for part in wrap(
        "On the : and / lines: Left/Right, Home/End (C-a/C-e) move; C-w deletes a word, C-u \
         to the start, C-h a character; Tab completes; Up/Down recall",
        width.max(16),
    ) {
        lines.push(Line::from(Span::styled(
            part,
            Style::default().fg(Color::DarkGray),
        )));
    }
    lines.push(Line::from(Span::styled(
        "Mouse: click picks the nearest point or a row; wheel zooms the map",
        Style::default().fg(Color::DarkGray),
    )));
    lines
}

/// Greedy word wrap to `width` characters (a word longer than a line gets its own line).
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        let fits = line.chars().count() + 1 + word.chars().count() <= width;
        if !line.is_empty() && !fits {
            out.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() || out.is_empty() {
        out.push(line);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::wrap;

    #[test]
    fn wrap_keeps_words_whole_and_lines_within_width() {
        let w = wrap("where PRED · cluster 3,5 · ids FILE · = A and not B", 20);
        assert!(w.iter().all(|l| l.chars().count() <= 20), "{w:?}");
        assert_eq!(
            w.join(" "),
            "where PRED · cluster 3,5 · ids FILE · = A and not B"
        );
        assert_eq!(wrap("", 10), vec![String::new()]);
        assert_eq!(wrap("abcdefghijkl", 5), vec!["abcdefghijkl".to_string()]);
    }
}
