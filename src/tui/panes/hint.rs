//! The hint line: what is being typed after `/` or `:`, the last message, or the key hints
//! generated from the key map.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

/// The bottom line: the search or command being typed (`input`: its prompt and text, with
/// the cursor before character `cursor`, at the end when None), else the last message
/// (`message`: text and whether it is an error), else the key hints.
pub fn draw(
    input: Option<(char, &str)>,
    cursor: Option<usize>,
    message: Option<(&str, bool)>,
    f: &mut Frame,
    r: Rect,
) {
    let line = match input {
        Some((prompt, q)) => {
            let chars: Vec<char> = q.chars().collect();
            let k = cursor.unwrap_or(chars.len()).min(chars.len());
            // A line longer than the terminal keeps the cursor in view.
            let room = (r.width as usize).saturating_sub(2).max(1);
            let first = (k + 1).saturating_sub(room);
            let before: String = chars[first..k].iter().collect();
            let (under, after): (String, String) = match chars.get(k) {
                Some(c) => (c.to_string(), chars[k + 1..].iter().collect()),
                None => (" ".to_string(), String::new()),
            };
            // The last message (Tab's candidates, the error being corrected) stays in view
            // above the line while typing.
            if let Some((text, error)) = message
                && r.y > 0
            {
                let above = Rect::new(r.x, r.y - 1, r.width, 1);
                let style = if error {
                    Style::default().fg(Color::Red).add_modifier(Modifier::BOLD)
                } else {
                    Style::default().fg(Color::Cyan)
                };
                f.render_widget(ratatui::widgets::Clear, above);
                f.render_widget(
                    Paragraph::new(Line::from(Span::styled(
                        crate::tui::theme::truncate(text, r.width as usize),
                        style,
                    ))),
                    above,
                );
            }
            Line::from(vec![
                Span::styled(prompt.to_string(), Style::default().fg(Color::Yellow)),
                Span::raw(before),
                Span::styled(under, Style::default().add_modifier(Modifier::REVERSED)),
                Span::raw(after),
            ])
        }
        None => match message {
            Some((text, error)) => {
                let style = if error {
                    Style::default().fg(Color::Red).add_modifier(Modifier::BOLD)
                } else {
                    Style::default().fg(Color::Green)
                };
                // A message longer than the line grows upwards over the panes (up to 6 lines)
                // instead of losing its end, which is usually the useful part.
                let width = r.width.max(1) as usize;
                let n = text.chars().count();
                if n > width {
                    let rows = (n.div_ceil(width) as u16 + 1).min(6).min(r.y + 1);
                    let area = Rect::new(r.x, r.y + 1 - rows, r.width, rows);
                    f.render_widget(ratatui::widgets::Clear, area);
                    f.render_widget(
                        Paragraph::new(Line::from(Span::styled(text.to_string(), style)))
                            .wrap(ratatui::widgets::Wrap { trim: false }),
                        area,
                    );
                    return;
                }
                Line::from(Span::styled(text.to_string(), style))
            }
            None => {
                let mut hints: Vec<&str> = crate::tui::keymap::bindings()
                    .iter()
                    .filter_map(|b| b.hint)
                    .collect();
                // On a narrow terminal drop hints from the middle; help and quit stay last.
                let width = |h: &[&str]| h.iter().map(|x| x.chars().count() + 2).sum::<usize>();
                while hints.len() > 2 && width(&hints) > r.width as usize {
                    hints.remove(hints.len() - 3);
                }
                let mut spans = Vec::new();
                for h in hints {
                    {
                        let (k, rest) = h.split_once(' ').unwrap_or((h, ""));
                        spans.push(Span::styled(
                            k.to_string(),
                            Style::default()
                                .fg(Color::Yellow)
                                .add_modifier(Modifier::BOLD),
                        ));
                        spans.push(Span::raw(format!(" {rest}  ")));
                    }
                }
                Line::from(spans)
            }
        },
    };
    f.render_widget(Paragraph::new(line), r);
}
