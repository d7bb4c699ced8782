//! Colours, frames and small text helpers every pane draws with. Okabe–Ito categories when
//! the terminal has true colour, the 16 basic colours otherwise, none under `NO_COLOR`.

use super::raster::GRADIENT_STEPS;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Span;
use ratatui::widgets::{Block, BorderType, Borders};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Palette {
    Rgb,
    Basic,
    Mono,
}

impl Palette {
    pub fn detect() -> Self {
        if std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()) {
            Palette::Mono
        } else if std::env::var("COLORTERM")
            .is_ok_and(|v| v.contains("truecolor") || v.contains("24bit"))
        {
            Palette::Rgb
        } else {
            Palette::Basic
        }
    }
}

/// Okabe–Ito colour-blind-safe palette, then a few extras.
const RGB: [(u8, u8, u8); 12] = [
    (230, 159, 0),
    (86, 180, 233),
    (0, 158, 115),
    (240, 228, 66),
    (0, 114, 178),
    (213, 94, 0),
    (204, 121, 167),
    (200, 200, 200),
    (153, 102, 51),
    (136, 204, 238),
    (68, 170, 153),
    (170, 68, 153),
];
const BASIC: [Color; 12] = [
    Color::Yellow,
    Color::LightCyan,
    Color::Green,
    Color::LightYellow,
    Color::Blue,
    Color::Red,
    Color::Magenta,
    Color::Gray,
    Color::LightRed,
    Color::Cyan,
    Color::LightGreen,
    Color::LightMagenta,
];
const GRADIENT_BASIC: [Color; GRADIENT_STEPS as usize] = [
    Color::Blue,
    Color::LightBlue,
    Color::Cyan,
    Color::Green,
    Color::LightGreen,
    Color::Yellow,
    Color::LightRed,
    Color::Red,
];

pub fn category_color(p: Palette, k: u16) -> Color {
    match p {
        Palette::Mono => Color::Reset,
        Palette::Rgb => {
            let (r, g, b) = RGB[k as usize % RGB.len()];
            Color::Rgb(r, g, b)
        }
        Palette::Basic => BASIC[k as usize % BASIC.len()],
    }
}

pub fn gradient_color(p: Palette, k: u16) -> Color {
    match p {
        Palette::Mono => Color::Reset,
        Palette::Rgb => {
            // viridis-like ramp
            let t = k as f32 / (GRADIENT_STEPS - 1) as f32;
            let stops = [
                (68, 1, 84),
                (59, 82, 139),
                (33, 145, 140),
                (94, 201, 98),
                (253, 231, 37),
            ];
            let x = t * (stops.len() - 1) as f32;
            let i = (x as usize).min(stops.len() - 2);
            let f = x - i as f32;
            let mix = |a: u8, b: u8| (a as f32 + (b as f32 - a as f32) * f) as u8;
            Color::Rgb(
                mix(stops[i].0, stops[i + 1].0),
                mix(stops[i].1, stops[i + 1].1),
                mix(stops[i].2, stops[i + 1].2),
            )
        }
        Palette::Basic => GRADIENT_BASIC[k as usize % GRADIENT_BASIC.len()],
    }
}

/// A pane's frame: thick and highlighted when focused.
pub fn pane<'a>(title: &'a str, focused: bool) -> Block<'a> {
    let style = if focused {
        Style::default()
            .fg(Color::Cyan)
            .add_modifier(Modifier::BOLD)
    } else {
        Style::default()
    };
    Block::default()
        .borders(Borders::ALL)
        .border_type(if focused {
            BorderType::Thick
        } else {
            BorderType::Plain
        })
        .border_style(style)
        .title(Span::styled(title, style))
}

/// The style of a list row: reversed when selected in a focused pane.
pub fn row_style(selected: bool) -> Style {
    if selected {
        Style::default().add_modifier(Modifier::REVERSED)
    } else {
        Style::default()
    }
}

/// The style of a field name beside its value.
pub fn key_style() -> Style {
    Style::default().fg(Color::DarkGray)
}

pub fn header_style() -> Style {
    Style::default().add_modifier(Modifier::BOLD)
}

pub fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// The first row to show so that row `sel` is visible in `height` rows.
pub fn scrolled(sel: usize, height: usize) -> usize {
    if height == 0 {
        0
    } else {
        sel.saturating_sub(height - 1)
    }
}

pub fn fmt_secs(s: f64) -> String {
    let s = s.max(0.0).round() as u64;
    format!("{}:{:02}", s / 60, s % 60)
}
