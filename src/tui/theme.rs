//! Colours, frames and small text helpers every pane draws with. Okabe–Ito categories when
//! the terminal has true colour, the 16 basic colours otherwise, none under `NO_COLOR`.

use super::raster::GRADIENT_STEPS;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Span;
use ratatui::widgets::{Block, BorderType, Borders};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Palette {
    /// True colour.
    Rgb,
    /// xterm's 256 colours (TERM=…-256color, as tmux and most terminals set).
    Indexed,
    /// The 16 basic colours: 12 categories before one repeats.
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
        } else if std::env::var("TERM").is_ok_and(|t| t.contains("256color")) {
            Palette::Indexed
        } else {
            Palette::Basic
        }
    }

    /// Whether a picture can be drawn: true colour, or xterm's 256 (a slide's pinks and
    /// purples need more than 16 colours).
    pub fn pictures(&self) -> bool {
        matches!(self, Palette::Rgb | Palette::Indexed)
    }

    /// How many categories get a colour of their own before colours repeat (0: no colour).
    pub fn categories(&self) -> usize {
        match self {
            Palette::Rgb | Palette::Indexed => RGB.len(),
            Palette::Basic => BASIC.len(),
            Palette::Mono => 0,
        }
    }
}

/// Okabe–Ito's colour-blind-safe eight, then sixteen more picked greedily for the largest
/// smallest CIELAB distance to those before (all at least 26 ΔE apart, lightness ≥ 45 so they
/// read on a dark terminal): 24 categories before a colour repeats.
const RGB: [(u8, u8, u8); 24] = [
    (230, 159, 0),
    (86, 180, 233),
    (0, 158, 115),
    (240, 228, 66),
    (0, 114, 178),
    (213, 94, 0),
    (204, 121, 167),
    (200, 200, 200),
    (147, 38, 255),
    (38, 255, 38),
    (255, 38, 183),
    (38, 110, 255),
    (195, 255, 166),
    (255, 38, 74),
    (153, 107, 61),
    (38, 255, 255),
    (88, 153, 23),
    (38, 255, 147),
    (181, 166, 255),
    (163, 82, 204),
    (255, 38, 255),
    (183, 255, 38),
    (255, 225, 166),
    (135, 153, 99),
];

/// The nearest colour of xterm's 256-colour cube (indices 16–231).
fn xterm256(c: (u8, u8, u8)) -> Color {
    Color::Indexed(cube_index([c.0, c.1, c.2]))
}

/// A channel's level (0–5) in xterm's colour cube.
fn cube_level(v: u8) -> u8 {
    match v {
        0..48 => 0,
        48..115 => 1,
        _ => (v - 35) / 40,
    }
}

/// The index (16–231) of the cube colour nearest `c`.
fn cube_index(c: [u8; 3]) -> u8 {
    16 + 36 * cube_level(c[0]) + 6 * cube_level(c[1]) + cube_level(c[2])
}

/// A picture's pixel: itself in true colour, else the nearest of xterm's 256 (its cube or its
/// grey ramp, whichever is closer: a slide's background is nearly grey).
pub fn picture_color(p: Palette, c: [u8; 3]) -> Color {
    if p == Palette::Rgb {
        return Color::Rgb(c[0], c[1], c[2]);
    }
    // The cube colour's own channel values, to weigh it against the nearest grey.
    let value = |v: u8| match cube_level(v) {
        0 => 0i32,
        l => 55 + 40 * l as i32,
    };
    let d2 = |a: [i32; 3]| -> i32 { (0..3).map(|i| (a[i] - c[i] as i32).pow(2)).sum() };
    let cube = d2(c.map(value));
    let mean = (c[0] as u32 + c[1] as u32 + c[2] as u32) / 3;
    let k = (mean.saturating_sub(3) / 10).min(23) as u8;
    let grey = 8 + 10 * k as i32;
    if d2([grey; 3]) < cube {
        Color::Indexed(232 + k)
    } else {
        Color::Indexed(cube_index(c))
    }
}

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
        Palette::Indexed => xterm256(RGB[k as usize % RGB.len()]),
        Palette::Basic => BASIC[k as usize % BASIC.len()],
    }
}

pub fn gradient_color(p: Palette, k: u16) -> Color {
    match p {
        Palette::Mono => Color::Reset,
        Palette::Rgb | Palette::Indexed => {
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
            let c = (
                mix(stops[i].0, stops[i + 1].0),
                mix(stops[i].1, stops[i + 1].1),
                mix(stops[i].2, stops[i + 1].2),
            );
            if p == Palette::Indexed {
                xterm256(c)
            } else {
                Color::Rgb(c.0, c.1, c.2)
            }
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

/// One piece of a status line for [`fit_segments`].
pub enum Segment {
    /// May be shortened with an ellipsis (a name).
    Text(String),
    /// Shown whole or not at all (a number with its label).
    Number(String),
}

/// Segments joined by `sep` in at most `width` characters: whole segments in order while they
/// fit; a text segment that does not is ellipsised (when at least 4 characters are left), a
/// number is dropped; anything left out is marked by a final `…`, so a cut never passes for
/// the whole line and a number is never cut into another number.
pub fn fit_segments(segs: &[Segment], sep: &str, width: usize) -> String {
    let sep_n = sep.chars().count();
    let mut out = String::new();
    let mut used = 0;
    for (k, seg) in segs.iter().enumerate() {
        let (text, is_text) = match seg {
            Segment::Text(t) => (t, true),
            Segment::Number(t) => (t, false),
        };
        let lead = if k == 0 { 0 } else { sep_n };
        let n = text.chars().count();
        // Room for this segment, and for a final `…` if more follow.
        let tail = usize::from(k + 1 < segs.len());
        if used + lead + n + tail <= width || (k + 1 == segs.len() && used + lead + n <= width) {
            if k > 0 {
                out.push_str(sep);
            }
            out.push_str(text);
            used += lead + n;
            continue;
        }
        let room = width.saturating_sub(used + lead);
        if is_text && room >= 4 {
            if k > 0 {
                out.push_str(sep);
            }
            // It did not fit with the mark after it, so it is cut (by one letter at least).
            out.extend(text.chars().take(room - 1));
            out.push('…');
        } else if used < width {
            out.push('…');
        }
        return out;
    }
    out
}

/// One column of a table laid out by [`fit`].
pub struct FitColumn<'a> {
    pub header: &'a str,
    /// The widest cell shown (characters).
    pub widest: usize,
    /// Higher stays longer when the pane is narrow.
    pub keep: u8,
    /// Text may be shortened with an ellipsis; numbers never are, only dropped whole.
    pub text: bool,
}

/// Lays out columns in `avail` cells with one space between them: numbers at their full
/// width, text at least 4 wide (then ellipsised), dropping the lowest-`keep` columns until the
/// rest fit; what is left over widens the text columns. Returns the kept columns (index,
/// width), in order. A number is never cut into another number.
pub fn fit(cols: &[FitColumn], avail: u16) -> Vec<(usize, u16)> {
    let natural = |c: &FitColumn| c.widest.max(c.header.chars().count());
    let least = |c: &FitColumn| {
        if c.text {
            natural(c).min(c.header.chars().count().max(4))
        } else {
            natural(c)
        }
    };
    // A column with neither heading nor content takes no room at all.
    let mut kept: Vec<usize> = (0..cols.len()).filter(|&i| natural(&cols[i]) > 0).collect();
    let need = |kept: &[usize]| -> usize {
        kept.iter().map(|&i| least(&cols[i])).sum::<usize>() + kept.len().saturating_sub(1)
    };
    while kept.len() > 1 && need(&kept) > avail as usize {
        // The lowest priority goes first; of equals, the rightmost.
        let Some(pos) = (0..kept.len()).rev().min_by_key(|&p| cols[kept[p]].keep) else {
            break;
        };
        kept.remove(pos);
    }
    let mut spare = (avail as usize).saturating_sub(need(&kept));
    kept.iter()
        .map(|&i| {
            let c = &cols[i];
            let mut w = least(c);
            if c.text {
                let more = (natural(c) - w).min(spare);
                w += more;
                spare -= more;
            }
            (i, w as u16)
        })
        .collect()
}

/// A table of text cells fitted to `avail` columns by [`fit`]: `text` marks the columns that
/// may be ellipsised, `keep` their priorities, `selected` the highlighted row, and `first`
/// (when given) draws column 0 itself (e.g. with a colour swatch). Used by every list pane.
pub struct FittedTable<'a, const N: usize> {
    pub cells: &'a [[String; N]],
    pub headers: [&'a str; N],
    pub keep: [u8; N],
    pub text: [bool; N],
    /// Extra characters column 0 takes beyond its text (a swatch).
    pub lead: usize,
}

impl<'a, const N: usize> FittedTable<'a, N> {
    /// The rows and the kept columns' widths for `avail` cells; `style(k)` styles row k and
    /// `first(k, text)` builds column 0 of row k.
    pub fn build(
        &self,
        avail: u16,
        style: impl Fn(usize) -> Style,
        first: impl Fn(usize, &str) -> ratatui::widgets::Cell<'a>,
    ) -> ratatui::widgets::Table<'a> {
        use ratatui::layout::Constraint;
        use ratatui::widgets::{Cell, Row, Table};
        let cols: Vec<FitColumn> = (0..N)
            .map(|j| {
                let lead = if j == 0 { self.lead } else { 0 };
                FitColumn {
                    header: self.headers[j],
                    widest: self
                        .cells
                        .iter()
                        .map(|c| c[j].chars().count() + lead)
                        .max()
                        .unwrap_or(0),
                    keep: self.keep[j],
                    text: self.text[j],
                }
            })
            .collect();
        let layout = fit(&cols, avail);
        let rows: Vec<Row> = self
            .cells
            .iter()
            .enumerate()
            .map(|(k, c)| {
                Row::new(
                    layout
                        .iter()
                        .map(|&(j, w)| {
                            if j == 0 {
                                // Column 0's own text is cut like the others' (its lead,
                                // a swatch, takes the rest).
                                first(k, &truncate(&c[0], (w as usize).saturating_sub(self.lead)))
                            } else {
                                Cell::from(truncate(&c[j], w as usize))
                            }
                        })
                        .collect::<Vec<_>>(),
                )
                .style(style(k))
            })
            .collect();
        Table::new(rows, layout.iter().map(|&(_, w)| Constraint::Length(w))).header(
            Row::new(
                layout
                    .iter()
                    .map(|&(j, _)| self.headers[j])
                    .collect::<Vec<_>>(),
            )
            .style(header_style()),
        )
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

/// A table of a few leading columns (`lead` widths) then value columns (`widths`), its header
/// bold, in a pane titled `title`: the crosstab and the neighbourhood table.
pub fn value_table<'a>(
    rows: Vec<ratatui::widgets::Row<'a>>,
    header: Vec<ratatui::widgets::Cell<'a>>,
    lead: &[usize],
    widths: &[usize],
    title: &'a str,
    focused: bool,
) -> ratatui::widgets::Table<'a> {
    use ratatui::layout::Constraint;
    let constraints: Vec<Constraint> = lead
        .iter()
        .chain(widths)
        .map(|&w| Constraint::Length(w as u16))
        .collect();
    ratatui::widgets::Table::new(rows, constraints)
        .header(ratatui::widgets::Row::new(header).style(header_style()))
        .block(pane(title, focused))
}

/// How many of the value columns `widths` fit after `used` characters in `avail` (one space
/// between columns).
pub fn columns_that_fit(widths: &[usize], mut used: usize, avail: usize) -> usize {
    widths
        .iter()
        .take_while(|&&w| {
            used += w + 1;
            used <= avail
        })
        .count()
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_picture_pixel_takes_the_nearer_of_the_grey_ramp_and_the_cube_in_256_colours() {
        // Near-white glass: the grey ramp (238) is closer than the cube's white (231).
        assert_eq!(
            picture_color(Palette::Indexed, [236, 236, 238]),
            Color::Indexed(255)
        );
        // Eosin pink: a cube colour, the one xterm256 gives.
        assert_eq!(
            picture_color(Palette::Indexed, [215, 135, 175]),
            xterm256((215, 135, 175))
        );
        assert_eq!(picture_color(Palette::Rgb, [1, 2, 3]), Color::Rgb(1, 2, 3));
    }

    use super::*;

    #[test]
    fn twenty_four_categories_before_a_colour_repeats() {
        for p in [Palette::Rgb, Palette::Indexed] {
            let colours: std::collections::BTreeSet<String> = (0..24)
                .map(|k| format!("{:?}", category_color(p, k)))
                .collect();
            assert_eq!(colours.len(), 24, "{p:?}: {colours:?}");
            assert_eq!(p.categories(), 24);
            assert_eq!(category_color(p, 24), category_color(p, 0));
        }
        assert_eq!(Palette::Basic.categories(), 12);
    }

    #[test]
    fn segments_keep_numbers_whole_and_mark_every_cut() {
        let segs = [
            Segment::Number("12 sites".into()),
            Segment::Text("best match: MA2267.1 rho".into()),
            Segment::Number("E 1.2e-4".into()),
            Segment::Number("q 7.6e-2".into()),
        ];
        let all = fit_segments(&segs, " · ", 200);
        assert_eq!(
            all,
            "12 sites · best match: MA2267.1 rho · E 1.2e-4 · q 7.6e-2"
        );
        for w in 0..all.chars().count() {
            let got = fit_segments(&segs, " · ", w);
            assert!(got.chars().count() <= w, "{w}: '{got}'");
            if !got.is_empty() {
                assert!(got.ends_with('…'), "{w}: '{got}' cut without an ellipsis");
            }
            // Numbers are whole or absent.
            for n in ["1.2e-4", "7.6e-2"] {
                let first = &n[..3];
                assert!(
                    !got.contains(first) || got.contains(n),
                    "{w}: '{got}' cut {n}"
                );
            }
        }
    }
}
