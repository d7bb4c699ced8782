//! Drawing: reads the state and the derived data, computes nothing.

use super::keymap::{COMMANDS, bindings};
use super::raster::{GRADIENT_STEPS, braille};
use super::state::{ColorValues, Focus, JobState, Mode, Palette, State, Tab, inner};
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Cell, Clear, Paragraph, Row, Table, Wrap};

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

fn gradient_color(p: Palette, k: u16) -> Color {
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

fn pane<'a>(title: &'a str, focused: bool) -> Block<'a> {
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

pub fn draw(s: &State, f: &mut Frame) {
    let a = s.areas();
    draw_tabs(s, f, a.tabs);
    match s.tab() {
        Some(t) => {
            draw_map(s, t, f, a.map);
            draw_clusters(s, t, f, a.clusters);
            draw_detail(t, f, a.detail);
            draw_anomalies(s, t, f, a.anomalies);
        }
        None => {
            f.render_widget(Paragraph::new("no data").block(pane(" map ", true)), a.map);
        }
    }
    draw_jobs(s, f, a.jobs);
    draw_hint(s, f, a.hint);
    if s.mode == Mode::Help {
        draw_help(f, f.area());
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

pub fn fmt_secs(s: f64) -> String {
    let s = s.max(0.0).round() as u64;
    format!("{}:{:02}", s / 60, s % 60)
}

fn draw_map(s: &State, t: &Tab, f: &mut Frame, r: Rect) {
    let title = format!(" map · colour: {} ", t.color.name());
    let block = pane(&title, s.focus == Focus::Map);
    let area = inner(r);
    f.render_widget(block, r);
    let Some(raster) = &t.derived.raster else {
        let msg = match (&t.error, t.pipeline_job) {
            (Some(e), _) => format!("failed: {e}"),
            (None, Some(_)) => {
                let stage = s
                    .jobs
                    .iter()
                    .find(|j| Some(j.id) == t.pipeline_job)
                    .map(|j| format!("{} {:.0}%", j.stage, j.fraction * 100.0))
                    .unwrap_or_default();
                format!("computing… {stage}\nthe map appears when the projection lands")
            }
            _ => "no layout".into(),
        };
        f.render_widget(Paragraph::new(msg).wrap(Wrap { trim: true }), area);
        return;
    };
    let value_coloring = matches!(
        t.derived.colors.as_ref().map(|c| &c.1),
        Some(ColorValues::Value { .. })
    );
    let buf = f.buffer_mut();
    for row in 0..raster.h.min(area.height) {
        for col in 0..raster.w.min(area.width) {
            let c = raster.cells[row as usize * raster.w as usize + col as usize];
            if c.count == 0 {
                continue;
            }
            let color = if c.color == u16::MAX {
                Color::Reset
            } else if value_coloring {
                gradient_color(s.palette, c.color)
            } else {
                category_color(s.palette, c.color)
            };
            if let Some(cell) = buf.cell_mut((area.x + col, area.y + row)) {
                cell.set_char(braille(c.dots)).set_fg(color);
            }
        }
    }
    // Cursor.
    if let (Some(i), Some(l), Some(v)) = (t.cursor, &t.layout, t.view)
        && let Some((cx, cy)) = v.to_cell(l[i], area.width, area.height)
        && let Some(cell) = buf.cell_mut((area.x + cx, area.y + cy))
    {
        cell.set_char('▣').set_style(
            Style::default()
                .fg(Color::White)
                .add_modifier(Modifier::BOLD | Modifier::REVERSED),
        );
    }
    // Legend on the bottom border: categories by frequency, or the value range.
    let legend: Vec<Span> = match t.derived.colors.as_ref().map(|c| &c.1) {
        Some(ColorValues::Category { names, .. })
            if !matches!(t.color, super::state::ColorBy::Cluster) =>
        {
            names
                .iter()
                .take(8)
                .enumerate()
                .flat_map(|(k, n)| {
                    [
                        Span::styled(
                            "■",
                            Style::default().fg(category_color(s.palette, k as u16)),
                        ),
                        Span::raw(format!("{} ", truncate(n, 12))),
                    ]
                })
                .collect()
        }
        Some(ColorValues::Value { lo, hi, .. }) => {
            let mut v = vec![Span::raw(format!("{lo:.2} "))];
            for k in 0..GRADIENT_STEPS {
                v.push(Span::styled(
                    "█",
                    Style::default().fg(gradient_color(s.palette, k)),
                ));
            }
            v.push(Span::raw(format!(" {hi:.2}")));
            v
        }
        _ => Vec::new(),
    };
    if !legend.is_empty() && r.height > 2 {
        let lr = Rect::new(r.x + 2, r.y + r.height - 1, r.width.saturating_sub(4), 1);
        f.render_widget(Paragraph::new(Line::from(legend)), lr);
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

fn scrolled(sel: usize, height: usize) -> usize {
    if height == 0 {
        0
    } else {
        sel.saturating_sub(height - 1)
    }
}

fn draw_clusters(s: &State, t: &Tab, f: &mut Frame, r: Rect) {
    let method = t
        .cluster_method
        .as_ref()
        .map(|m| m.describe())
        .unwrap_or_default();
    let title = format!(" clusters {method} ");
    let block = pane(&title, s.focus == Focus::Clusters);
    let rows_h = r.height.saturating_sub(3) as usize;
    let first = scrolled(t.cluster_sel, rows_h);
    let rows: Vec<Row> = t
        .derived
        .cluster_rows
        .iter()
        .enumerate()
        .skip(first)
        .take(rows_h)
        .map(|(i, c)| {
            let st = if i == t.cluster_sel && s.focus == Focus::Clusters {
                Style::default().add_modifier(Modifier::REVERSED)
            } else {
                Style::default()
            };
            Row::new(vec![
                Cell::from(Line::from(vec![
                    Span::styled(
                        "■ ",
                        Style::default().fg(category_color(s.palette, c.id as u16)),
                    ),
                    Span::raw(c.id.to_string()),
                ])),
                Cell::from(c.size.to_string()),
                Cell::from(format!("{:.1}%", c.share * 100.0)),
                Cell::from(c.top.clone()),
            ])
            .style(st)
        })
        .collect();
    let label = t.derived.label_column.as_str();
    let table = Table::new(
        rows,
        [
            Constraint::Length(5),
            Constraint::Length(6),
            Constraint::Length(6),
            Constraint::Min(6),
        ],
    )
    .header(
        Row::new(vec!["id", "size", "share", label])
            .style(Style::default().add_modifier(Modifier::BOLD)),
    )
    .block(block);
    f.render_widget(table, r);
    if let Some(strip) = &t.strip {
        let area = super::state::strip_rect(inner(r));
        f.render_widget(
            Clear,
            Rect::new(
                area.x,
                area.y.saturating_sub(1),
                area.width,
                area.height + 1,
            ),
        );
        f.render_widget(
            Paragraph::new(Span::styled(
                "medoid tiles of the selected cluster",
                Style::default().fg(Color::DarkGray),
            )),
            Rect::new(area.x, area.y.saturating_sub(1), area.width, 1),
        );
        for (rect, p) in &strip.protocols {
            f.render_widget(ratatui_image::Image::new(p), *rect);
        }
    }
    if t.derived.cluster_rows.is_empty() {
        let msg = if t.pipeline_job.is_some() {
            "computing…"
        } else {
            "no clusters"
        };
        f.render_widget(
            Paragraph::new(msg),
            Rect::new(r.x + 1, r.y + 2, r.width.saturating_sub(2), 1),
        );
    }
}

fn draw_detail(t: &Tab, f: &mut Frame, r: Rect) {
    let mut block = pane(" detail ", false);
    // An image tile sits at the top; the text goes below it, inside the same frame.
    let r = match &t.preview {
        Some(p) if t.cursor == Some(p.item) => {
            f.render_widget(block, r);
            f.render_widget(ratatui_image::Image::new(&p.protocol), p.area);
            block = Block::default().borders(Borders::LEFT | Borders::RIGHT | Borders::BOTTOM);
            let top = p.area.y + p.area.height;
            Rect::new(r.x, top, r.width, (r.y + r.height).saturating_sub(top))
        }
        _ => r,
    };
    let (Some(d), Some(i)) = (&t.dataset, t.cursor) else {
        f.render_widget(
            Paragraph::new("move the cursor over the map").block(block),
            r,
        );
        return;
    };
    let key = Style::default().fg(Color::DarkGray);
    let mut lines = vec![Line::from(vec![
        Span::styled("id ", key),
        Span::styled(
            d.ids[i].clone(),
            Style::default().add_modifier(Modifier::BOLD),
        ),
    ])];
    let mut facts = Vec::new();
    if let Some(c) = &t.clusters {
        facts.push(Span::styled("cluster ", key));
        facts.push(Span::raw(format!("{}  ", c[i])));
    }
    if let Some(a) = &t.anomaly_knn {
        facts.push(Span::styled("knn z ", key));
        facts.push(Span::raw(format!("{:.2}  ", a[i])));
    }
    if let Some(a) = &t.anomaly_iforest {
        facts.push(Span::styled("iforest ", key));
        facts.push(Span::raw(format!("{:.3}", a[i])));
    }
    lines.push(Line::from(facts));
    // The model's score sits right above total_counts and n_genes (the first metadata of
    // cells), so a depth effect is visible at a glance.
    if let Some(a) = &t.anomaly_model {
        lines.push(Line::from(vec![
            Span::styled(format!("{} ", t.model_score_name()), key),
            Span::raw(if a[i].abs() < 1.0 {
                format!("{:.4}", a[i])
            } else {
                format!("{:.1}", a[i])
            }),
        ]));
    }
    if let Some(seq) = d.sequences().and_then(|s| s.seqs.get(i)) {
        // Half the pane at most, so metadata and neighbours stay in view.
        let width = r.width.saturating_sub(2).max(10) as usize;
        let max_rows = (r.height as usize / 2).max(3);
        let n_rows = seq.len().div_ceil(width);
        let scroll = if t.seq_scroll.1 == i {
            t.seq_scroll.0
        } else {
            0
        };
        let first = scroll.min(n_rows.saturating_sub(max_rows));
        lines.push(Line::from(vec![
            Span::styled("sequence ", key),
            Span::raw(format!(
                "{} bp · rows {}-{} of {} ([ ] scroll) · motif sites highlighted",
                seq.len(),
                first + 1,
                (first + max_rows).min(n_rows),
                n_rows
            )),
        ]));
        let hits = &t.derived.seq_hits;
        for row in first..(first + max_rows).min(n_rows) {
            let start = row * width;
            let end = (start + width).min(seq.len());
            let spans: Vec<Span> = (start..end)
                .map(|p| {
                    let b = seq[p];
                    let mut st = Style::default().fg(base_color(b));
                    if b.is_ascii_lowercase() {
                        st = st.add_modifier(Modifier::DIM);
                    }
                    if let Some(h) = hits.iter().find(|h| p >= h.0 && p < h.1) {
                        let bg = match h.2 {
                            1 => Color::Magenta,
                            2 => Color::Cyan,
                            _ => Color::White,
                        };
                        st = st.bg(bg).fg(Color::Black).add_modifier(Modifier::BOLD);
                    }
                    Span::styled((b as char).to_string(), st)
                })
                .collect();
            lines.push(Line::from(spans));
        }
    }
    for c in &d.meta {
        lines.push(Line::from(vec![
            Span::styled(format!("{} ", c.name), key),
            Span::raw(c.display(i)),
        ]));
    }
    if let Some(k) = &t.knn {
        lines.push(Line::from(Span::styled("nearest neighbours", key)));
        let nb = k.neighbors(i);
        let ds = k.dists(i);
        for (&j, &dist) in nb.iter().zip(ds).skip(1).take(10) {
            let cl = t
                .clusters
                .as_ref()
                .map(|c| format!(" c{}", c[j as usize]))
                .unwrap_or_default();
            lines.push(Line::from(format!(
                "  {} {:.3}{}",
                d.ids[j as usize], dist, cl
            )));
        }
    }
    f.render_widget(Paragraph::new(lines).block(block), r);
}

fn draw_markers(s: &State, t: &Tab, f: &mut Frame, r: Rect) {
    let focused = s.focus == Focus::Anomalies;
    let Some(m) = t.marker_table() else {
        let text = if t.markers.is_none() {
            "marker genes appear when the clusters land"
        } else {
            "select a cluster (Tab to the clusters pane, j/k)"
        };
        f.render_widget(Paragraph::new(text).block(pane(" markers ", focused)), r);
        return;
    };
    let title = if t.comparison.is_some() {
        format!(" markers · {} · Wilcoxon, BH ", m.group)
    } else {
        format!(" markers · cluster {} vs rest · Wilcoxon, BH ", m.group)
    };
    let rows_h = r.height.saturating_sub(3) as usize;
    let first = scrolled(t.marker_sel, rows_h);
    let genes = t
        .dataset
        .as_ref()
        .and_then(|d| d.expression())
        .map(|e| e.genes.as_slice())
        .unwrap_or_default();
    let gene_name = |g: usize| genes.get(g).map_or("", String::as_str);
    let rows: Vec<Row> = m
        .markers
        .iter()
        .enumerate()
        .skip(first)
        .take(rows_h)
        .map(|(k, mk)| {
            let st = if k == t.marker_sel && focused {
                Style::default().add_modifier(Modifier::REVERSED)
            } else {
                Style::default()
            };
            Row::new(vec![
                Cell::from((k + 1).to_string()),
                Cell::from(gene_name(mk.gene)),
                Cell::from(format!("{:.2}", mk.score)),
                Cell::from(format!("{:+.2}", mk.log2_fc)),
                Cell::from(format!("{:.1e}", mk.padj)),
                Cell::from(format!("{:.0}%", mk.pct_in * 100.0)),
                Cell::from(format!("{:.0}%", mk.pct_out * 100.0)),
            ])
            .style(st)
        })
        .collect();
    let table = Table::new(
        rows,
        [
            Constraint::Length(4),
            Constraint::Min(8),
            Constraint::Length(7),
            Constraint::Length(6),
            Constraint::Length(8),
            Constraint::Length(5),
            Constraint::Length(5),
        ],
    )
    .header(
        Row::new(vec!["#", "gene", "z", "lfc", "padj", "in", "out"])
            .style(Style::default().add_modifier(Modifier::BOLD)),
    )
    .block(pane(&title, focused));
    f.render_widget(table, r);
}

fn base_color(b: u8) -> Color {
    match b.to_ascii_uppercase() {
        b'A' => Color::Green,
        b'C' => Color::Blue,
        b'G' => Color::Yellow,
        b'T' => Color::Red,
        _ => Color::DarkGray,
    }
}

/// A sequence logo `rows` high (2 bits at the top): each column's letters stacked by
/// probability × information content, the most likely on top.
fn logo_lines(m: &crate::modality::dna::motif_db::Motif, rows: usize) -> Vec<Line<'static>> {
    let ic = m.information();
    let bits_per_row = 2.0 / rows as f64;
    let mut grid = vec![vec![Span::raw(" "); m.width()]; rows];
    for (j, col) in m.probs.iter().enumerate() {
        let mut order = [0usize, 1, 2, 3];
        order.sort_by(|&a, &b| col[a].total_cmp(&col[b]));
        // Stack from the bottom, smallest first; a row shows the letter covering its middle.
        let mut top = 0.0;
        let mut bands = Vec::new();
        for &b in &order {
            let h = col[b] * ic[j];
            bands.push((top, top + h, b));
            top += h;
        }
        for (r, row) in grid.iter_mut().enumerate() {
            let mid = (rows - 1 - r) as f64 * bits_per_row + bits_per_row / 2.0;
            if let Some(&(_, _, b)) = bands.iter().find(|(lo, hi, _)| mid >= *lo && mid < *hi) {
                let letter = b"ACGT"[b];
                row[j] = Span::styled(
                    (letter as char).to_string(),
                    Style::default()
                        .fg(base_color(letter))
                        .add_modifier(Modifier::BOLD),
                );
            }
        }
    }
    grid.into_iter().map(Line::from).collect()
}

/// The consensus with each letter coloured by base and dimmed where the column says little.
fn consensus_spans(m: &crate::modality::dna::motif_db::Motif) -> Vec<Span<'static>> {
    let ic = m.information();
    m.consensus()
        .bytes()
        .zip(ic)
        .map(|(b, bits)| {
            let st = Style::default().fg(base_color(b));
            let st = if bits >= 1.0 {
                st.add_modifier(Modifier::BOLD)
            } else if bits < 0.5 {
                st.add_modifier(Modifier::DIM)
            } else {
                st
            };
            Span::styled((b as char).to_string(), st)
        })
        .collect()
}

fn draw_motifs(s: &State, t: &Tab, f: &mut Frame, r: Rect) {
    let focused = s.focus == Focus::Anomalies;
    let Some(res) = &t.motifs else {
        f.render_widget(
            Paragraph::new("motifs appear when the clusters land").block(pane(" motifs ", focused)),
            r,
        );
        return;
    };
    let cluster = t.derived.cluster_rows.get(t.cluster_sel).map(|c| c.id);
    let motifs = t.cluster_motifs();
    let db = res
        .database_name
        .as_deref()
        .map_or("no --motifs file".to_string(), |d| format!("vs {d}"));
    let title = format!(
        " motifs · cluster {} · held-out Fisher, E = p × {} · {db} ",
        cluster.map_or("-".into(), |c| c.to_string()),
        res.motifs.len()
    );
    let block = pane(&title, focused);
    let inner = block.inner(r);
    f.render_widget(block, r);
    if motifs.is_empty() {
        f.render_widget(
            Paragraph::new("no motif passed the held-out test in this cluster"),
            inner,
        );
        return;
    }
    let sel = t.marker_sel.min(motifs.len() - 1);
    let m = motifs[sel];
    let logo_h = 4u16.min(inner.height.saturating_sub(3));
    let [logo_r, rest] =
        ratatui::layout::Layout::vertical([Constraint::Length(logo_h), Constraint::Min(0)])
            .areas(inner);
    let key = Style::default().fg(Color::DarkGray);
    let mut logo = logo_lines(&m.motif, logo_h as usize);
    if let Some(first) = logo.first_mut() {
        first.spans.push(Span::styled("  2 bits", key));
    }
    let best = m.matches.first().map(|b| {
        let d = &res.database[b.target];
        format!(
            "{} {} E {:.1e} q {:.1e} ({})",
            d.id,
            d.name,
            b.evalue,
            b.qvalue,
            if b.reverse { "−" } else { "+" }
        )
    });
    if let Some(last) = logo.last_mut() {
        last.spans.push(Span::styled(
            format!(
                "  {} sites · held-out {}/{} vs {}/{} · best match: {}",
                m.sites.len(),
                m.test_fg.0,
                m.test_fg.1,
                m.test_bg.0,
                m.test_bg.1,
                best.unwrap_or_else(|| "—".into())
            ),
            key,
        ));
    }
    f.render_widget(Paragraph::new(logo), logo_r);
    let rows: Vec<Row> = motifs
        .iter()
        .enumerate()
        .map(|(k, x)| {
            let st = if k == sel && focused {
                Style::default().add_modifier(Modifier::REVERSED)
            } else {
                Style::default()
            };
            let matched = x.matches.first().map_or(String::new(), |b| {
                let d = &res.database[b.target];
                format!("{} {} ({:.1e})", d.id, d.name, b.evalue)
            });
            Row::new(vec![
                Cell::from(x.rank.to_string()),
                Cell::from(Line::from(consensus_spans(&x.motif))),
                Cell::from(format!("{:.1e}", x.pvalue)),
                Cell::from(format!("{:.1e}", x.evalue)),
                Cell::from(x.sites.len().to_string()),
                Cell::from(matched),
            ])
            .style(st)
        })
        .collect();
    let table = Table::new(
        rows,
        [
            Constraint::Length(2),
            Constraint::Length(16),
            Constraint::Length(8),
            Constraint::Length(8),
            Constraint::Length(6),
            Constraint::Min(10),
        ],
    )
    .header(
        Row::new(vec!["#", "consensus", "p", "E", "sites", "best match (E)"])
            .style(Style::default().add_modifier(Modifier::BOLD)),
    );
    f.render_widget(table, rest);
}

fn draw_anomalies(s: &State, t: &Tab, f: &mut Frame, r: Rect) {
    if t.show_markers {
        return if t.motifs.is_some() {
            draw_motifs(s, t, f, r)
        } else {
            draw_markers(s, t, f, r)
        };
    }
    let which = match t.color {
        super::state::ColorBy::AnomalyIforest => "isolation forest",
        super::state::ColorBy::AnomalyRecon => t.model_score_name(),
        _ => "kNN distance z",
    };
    let title = format!(" anomalies · {which} ");
    let block = pane(&title, s.focus == Focus::Anomalies);
    let rows_h = r.height.saturating_sub(3) as usize;
    let first = scrolled(t.anomaly_sel, rows_h);
    let scores = t.anomaly_scores();
    let rows: Vec<Row> = t
        .derived
        .anomaly_rank
        .iter()
        .enumerate()
        .skip(first)
        .take(rows_h)
        .map(|(rank, &i)| {
            let st = if rank == t.anomaly_sel && s.focus == Focus::Anomalies {
                Style::default().add_modifier(Modifier::REVERSED)
            } else {
                Style::default()
            };
            Row::new(vec![
                Cell::from((rank + 1).to_string()),
                Cell::from(
                    t.dataset
                        .as_ref()
                        .map(|d| d.ids[i].clone())
                        .unwrap_or_default(),
                ),
                Cell::from(scores.map(|v| format!("{:.3}", v[i])).unwrap_or_default()),
                Cell::from(
                    t.clusters
                        .as_ref()
                        .map(|c| c[i].to_string())
                        .unwrap_or_default(),
                ),
            ])
            .style(st)
        })
        .collect();
    let table = Table::new(
        rows,
        [
            Constraint::Length(5),
            Constraint::Min(10),
            Constraint::Length(8),
            Constraint::Length(7),
        ],
    )
    .header(
        Row::new(vec!["rank", "id", "score", "cluster"])
            .style(Style::default().add_modifier(Modifier::BOLD)),
    )
    .block(block);
    f.render_widget(table, r);
}

fn draw_jobs(s: &State, f: &mut Frame, r: Rect) {
    let block = pane(" jobs ", s.focus == Focus::Jobs);
    let w = r.width.saturating_sub(2) as usize;
    let lines: Vec<Line> = s
        .jobs
        .iter()
        .rev()
        .map(|j| {
            let (status, style) = match &j.state {
                JobState::Running => {
                    let bar_w = 10usize;
                    let filled = ((j.fraction * bar_w as f64).round() as usize).min(bar_w);
                    let eta = j
                        .eta
                        .map(|e| format!(" ETA {}", fmt_secs(e)))
                        .unwrap_or_default();
                    (
                        format!(
                            "{} {}{} {:.0}%{}",
                            j.stage,
                            "█".repeat(filled),
                            "░".repeat(bar_w - filled),
                            j.fraction * 100.0,
                            eta
                        ),
                        Style::default().fg(Color::Cyan),
                    )
                }
                JobState::Done => ("✓ done".to_string(), Style::default().fg(Color::Green)),
                JobState::Cancelled => {
                    ("cancelled".to_string(), Style::default().fg(Color::Yellow))
                }
                JobState::Failed(e) => (format!("✗ {e}"), Style::default().fg(Color::Red)),
            };
            Line::from(vec![
                Span::raw(format!("#{} {} ", j.id.0, j.name)),
                Span::styled(truncate(&status, w.saturating_sub(j.name.len() + 4)), style),
            ])
        })
        .collect();
    let lines = if lines.is_empty() {
        vec![Line::from("no jobs · x cancels the running one")]
    } else {
        lines
    };
    f.render_widget(Paragraph::new(lines).block(block), r);
}

fn draw_hint(s: &State, f: &mut Frame, r: Rect) {
    let line = match &s.mode {
        Mode::Search(q) => Line::from(vec![
            Span::styled("/", Style::default().fg(Color::Yellow)),
            Span::raw(q.clone()),
            Span::styled("█", Style::default().add_modifier(Modifier::SLOW_BLINK)),
        ]),
        Mode::Command(q) => Line::from(vec![
            Span::styled(":", Style::default().fg(Color::Yellow)),
            Span::raw(q.clone()),
            Span::styled("█", Style::default().add_modifier(Modifier::SLOW_BLINK)),
        ]),
        _ => match &s.message {
            Some(m) => Line::from(Span::styled(
                m.text.clone(),
                if m.error {
                    Style::default().fg(Color::Red).add_modifier(Modifier::BOLD)
                } else {
                    Style::default().fg(Color::Green)
                },
            )),
            None => {
                let mut hints: Vec<&str> = bindings().iter().filter_map(|b| b.hint).collect();
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

fn draw_help(f: &mut Frame, area: Rect) {
    let w = area.width.saturating_sub(2).min(124);
    let h = area.height.saturating_sub(1).max(1);
    let r = Rect::new(area.x + (area.width - w) / 2, area.y, w, h);
    f.render_widget(Clear, r);
    let mut lines = Vec::new();
    let mut group = "";
    for b in bindings() {
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
                format!(" {:<6}", b.label),
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
    let cw = COMMANDS.iter().map(|(c, _)| c.len()).max().unwrap_or(0);
    for (c, d) in COMMANDS {
        lines.push(Line::from(vec![
            Span::styled(format!(" :{c:<cw$} "), Style::default().fg(Color::Yellow)),
            Span::raw(*d),
        ]));
    }
    lines.push(Line::from(Span::styled(
        "Mouse: click picks the nearest point or a row; wheel zooms the map",
        Style::default().fg(Color::DarkGray),
    )));
    // Two columns when the screen is short.
    let block = Block::default()
        .borders(Borders::ALL)
        .border_type(BorderType::Double)
        .title(" help · Esc or ? closes ");
    let inner_h = h.saturating_sub(2) as usize;
    if lines.len() > inner_h && w >= 70 {
        let half = lines.len().div_ceil(2);
        let right = lines.split_off(half);
        let ir = inner(r);
        f.render_widget(block, r);
        let lw = ir.width / 2;
        f.render_widget(Paragraph::new(lines), Rect::new(ir.x, ir.y, lw, ir.height));
        f.render_widget(
            Paragraph::new(right),
            Rect::new(ir.x + lw, ir.y, ir.width - lw, ir.height),
        );
    } else {
        f.render_widget(Paragraph::new(lines).block(block), r);
    }
}
