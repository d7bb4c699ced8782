//! DNA: the sequence under the cursor with its cluster's motif sites highlighted, sequence
//! logos scaled by information content, and the selected cluster's motif table.

use crate::modality::dna::motif_db::Motif;
use crate::modality::dna::motifs::{FoundMotif, MotifResults};
use crate::tui::panes::TabView;
use crate::tui::table_sort::Sorted;
use crate::tui::theme::{
    FitColumn, Segment, fit, fit_segments, header_style, key_style, pane, row_style, truncate,
};
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table};

/// The clusters' motifs (not a comparison's).
fn cluster_results<'a>(v: &TabView<'a>) -> Option<&'a MotifResults> {
    v.result.findings.as_ref()?.motifs().map(|m| m.as_ref())
}

/// The selected cluster's motifs in rank order, or a `:compare` result's.
pub fn cluster_motifs<'a>(v: &TabView<'a>) -> Vec<&'a FoundMotif> {
    if let Some(m) = v.comparison.and_then(|c| c.findings.as_ref()?.motifs()) {
        return m.motifs.iter().collect();
    }
    let (Some(m), Some(c)) = (cluster_results(v), v.cluster) else {
        return Vec::new();
    };
    m.covering(c).collect()
}

/// Motif sites in the sequence under the cursor, by start: (start, end, rank in its cluster).
pub fn sequence_hits(v: &TabView) -> Vec<(usize, usize, usize)> {
    let (Some(i), Some(m), Some(c)) = (v.cursor, cluster_results(v), &v.result.clusters) else {
        return Vec::new();
    };
    let mut hits: Vec<(usize, usize, usize)> = m
        .covering(c[i])
        .flat_map(|f| {
            f.sites
                .iter()
                .filter(move |s| s.item as usize == i)
                .map(move |s| (s.pos as usize, s.pos as usize + f.motif.width(), f.rank))
        })
        .collect();
    hits.sort_unstable();
    hits
}

/// The sequence of item `i` for the detail pane: a header line and at most `max_rows` rows of
/// `width` letters from row `scroll`, soft-masked letters dim, motif sites highlighted.
pub fn sequence_lines(
    seq: &[u8],
    hits: &[(usize, usize, usize)],
    scroll: usize,
    width: usize,
    max_rows: usize,
) -> Vec<Line<'static>> {
    let n_rows = seq.len().div_ceil(width);
    let first = scroll.min(n_rows.saturating_sub(max_rows));
    let mut lines = vec![Line::from(vec![
        Span::styled("sequence ", key_style()),
        Span::raw(format!(
            "{} bp · rows {}-{} of {} ([ ] scroll) · motif sites highlighted",
            seq.len(),
            first + 1,
            (first + max_rows).min(n_rows),
            n_rows
        )),
    ])];
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
    lines
}

pub fn base_color(b: u8) -> Color {
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
pub fn logo_lines(m: &Motif, rows: usize) -> Vec<Line<'static>> {
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
pub fn consensus_spans(m: &Motif) -> Vec<Span<'static>> {
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

/// The motif table's headers.
pub const HEADERS: [&str; 6] = ["#", "consensus", "p", "E", "sites", "best match (E)"];

/// A motif's row: rank, consensus, p, E, sites and its best match with the match's E-value.
fn motif_cells(res: &MotifResults, x: &FoundMotif) -> [String; 6] {
    let matched = x.matches.first().map_or(String::new(), |b| {
        let d = &res.database[b.target];
        format!("{} {} ({:.1e})", d.id, d.name, b.evalue)
    });
    [
        x.rank.to_string(),
        x.motif.consensus(),
        format!("{:.1e}", x.pvalue),
        format!("{:.1e}", x.evalue),
        x.sites.len().to_string(),
        matched,
    ]
}

/// Column `j`'s text of every motif shown, in rank order (for sorting).
pub fn motif_column(v: &TabView, j: usize) -> Vec<String> {
    let Some(res) = cluster_results(v) else {
        return Vec::new();
    };
    cluster_motifs(v)
        .iter()
        .map(|x| motif_cells(res, x)[j.min(5)].clone())
        .collect()
}

/// The selected cluster's motifs (every motif when the whole input was one group): a logo of
/// the one selected (display row `sel` in the order `sorted` gives), how it was tested and its
/// best match, and the motif table.
pub fn draw_motifs(v: &TabView, sel: usize, sorted: Sorted, focused: bool, f: &mut Frame, r: Rect) {
    let Some(res) = cluster_results(v) else {
        f.render_widget(
            Paragraph::new("motifs appear when the clusters land").block(pane(" motifs ", focused)),
            r,
        );
        return;
    };
    let cluster = v.cluster;
    let motifs = cluster_motifs(v);
    let db = res
        .database_name
        .as_deref()
        .map_or("no --motifs file".to_string(), |d| format!("vs {d}"));
    let group = match res.groups {
        crate::modality::dna::motifs::Groups::All => "whole input".to_string(),
        crate::modality::dna::motifs::Groups::Clusters => {
            format!("cluster {}", cluster.map_or("-".into(), |c| c.to_string()))
        }
    };
    let title = format!(" motifs · {group} · against {} · {db} ", res.background);
    let block = pane(&title, focused);
    let inner = block.inner(r);
    f.render_widget(block, r);
    if motifs.is_empty() {
        f.render_widget(
            Paragraph::new("no motif passed its test (held-out or cross-validated) here"),
            inner,
        );
        return;
    }
    let sel = sel.min(motifs.len() - 1);
    let m = motifs[sorted.row(sel).min(motifs.len() - 1)];
    let logo_h = 4u16.min(inner.height.saturating_sub(3));
    // The best match's logo under the motif's, aligned as Tomtom aligned them, where the pane
    // is tall enough to keep three table rows below both.
    let matched = m
        .matches
        .first()
        .filter(|_| inner.height >= 2 * logo_h + 4)
        .map(|b| {
            let d = &res.database[b.target];
            let t = if b.reverse {
                d.reverse_complement()
            } else {
                d.clone()
            };
            (b, d, t)
        });
    let match_h = if matched.is_some() { logo_h } else { 0 };
    let [logo_r, match_r, rest] = ratatui::layout::Layout::vertical([
        Constraint::Length(logo_h),
        Constraint::Length(match_h),
        Constraint::Min(0),
    ])
    .areas(inner);
    // Query column i sits over target column i + offset.
    let offset = matched.as_ref().map_or(0, |(b, _, _)| b.offset);
    let (qpad, tpad) = (offset.max(0) as usize, (-offset).max(0) as usize);
    let key = key_style();
    let mut logo = logo_lines(&m.motif, logo_h as usize);
    for l in &mut logo {
        l.spans.insert(0, Span::raw(" ".repeat(qpad)));
    }
    // Beside the logo: whole numbers or none, a name ellipsised, every cut marked.
    let room = (logo_r.width as usize).saturating_sub(m.motif.width() + qpad + 2);
    if let Some(first) = logo.first_mut() {
        let segs = [
            Segment::Number("2 bits".into()),
            Segment::Number(format!("E {:.1e}", m.evalue)),
            Segment::Number(format!(
                "{} {}/{} vs {}/{}",
                m.test.label(),
                m.test_fg.0,
                m.test_fg.1,
                m.test_bg.0,
                m.test_bg.1
            )),
        ];
        first.spans.push(Span::styled(
            format!("  {}", fit_segments(&segs, " · ", room)),
            key,
        ));
    }
    let mut segs = vec![Segment::Number(format!("{} sites", m.sites.len()))];
    match m.matches.first() {
        Some(b) => {
            let d = &res.database[b.target];
            segs.push(Segment::Text(format!("best match: {} {}", d.id, d.name)));
            segs.push(Segment::Number(format!("E {:.1e}", b.evalue)));
            segs.push(Segment::Number(format!("q {:.1e}", b.qvalue)));
            segs.push(Segment::Number(
                (if b.reverse { "(−)" } else { "(+)" }).into(),
            ));
        }
        None => segs.push(Segment::Text("best match: —".into())),
    }
    if let Some(last) = logo.last_mut() {
        last.spans.push(Span::styled(
            format!("  {}", fit_segments(&segs, " · ", room)),
            key,
        ));
    }
    // Where its sites fall along the sequences, 5′ to 3′: centred (a ChIP summit, a TSS)
    // or anywhere.
    if logo.len() >= 3
        && let Some(line) = logo.get_mut(1)
        && m.spread.iter().any(|&c| c > 0)
    {
        let label = "sites along the sequences 5′ ";
        if room >= label.chars().count() + m.spread.len() + 3 {
            line.spans.push(Span::styled(format!("  {label}"), key));
            line.spans.push(Span::raw(spark(&m.spread)));
            line.spans.push(Span::styled(" 3′", key));
        }
    }
    f.render_widget(Paragraph::new(logo), logo_r);
    if let Some((b, d, t)) = &matched {
        let mut lines = logo_lines(t, match_h as usize);
        let room = (match_r.width as usize).saturating_sub(t.width() + tpad + 2);
        for l in &mut lines {
            l.spans.insert(0, Span::raw(" ".repeat(tpad)));
        }
        if let Some(first) = lines.first_mut() {
            let segs = [
                Segment::Text(format!("{} {}", d.id, d.name)),
                Segment::Number(
                    (if b.reverse {
                        "reverse complement"
                    } else {
                        "as stored"
                    })
                    .into(),
                ),
            ];
            first.spans.push(Span::styled(
                format!("  {}", fit_segments(&segs, " · ", room)),
                key,
            ));
        }
        f.render_widget(Paragraph::new(lines), match_r);
    }
    // The table follows the selection (one row is the header).
    let rows_h = rest.height.saturating_sub(1) as usize;
    let first = crate::tui::theme::scrolled(sel, rows_h);
    // Columns fitted as every list pane's are: numbers whole or dropped, the consensus and the
    // match name ellipsised.
    let cells: Vec<[String; 6]> = (0..motifs.len())
        .map(|k| motif_cells(res, motifs[sorted.row(k)]))
        .collect();
    let headers = sorted.headers(HEADERS);
    let cols: Vec<FitColumn> = (0..6)
        .map(|j| FitColumn {
            header: headers[j].as_str(),
            widest: cells
                .iter()
                .map(|c| c[j].chars().count())
                .max()
                .unwrap_or(0),
            keep: [6, 5, 3, 4, 2, 1][j],
            text: j == 1 || j == 5,
        })
        .collect();
    let layout = fit(&cols, rest.width);
    let rows: Vec<Row> = cells
        .iter()
        .enumerate()
        .skip(first)
        .take(rows_h)
        .map(|(k, c)| {
            let x = motifs[sorted.row(k)];
            let st = row_style(k == sel && focused);
            Row::new(layout.iter().map(|&(j, w)| {
                if j == 1 {
                    Cell::from(Line::from(consensus_fitted(&x.motif, w as usize)))
                } else {
                    Cell::from(truncate(&c[j], w as usize))
                }
            }))
            .style(st)
        })
        .collect();
    let widths: Vec<Constraint> = layout.iter().map(|&(_, w)| Constraint::Length(w)).collect();
    let table = Table::new(rows, widths)
        .header(Row::new(layout.iter().map(|&(j, _)| headers[j].as_str())).style(header_style()));
    f.render_widget(table, rest);
}

/// Counts as a one-line bar chart, the largest a full block.
fn spark(counts: &[u32]) -> String {
    const BARS: [char; 9] = [' ', '▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let top = counts.iter().copied().max().unwrap_or(0).max(1) as f64;
    counts
        .iter()
        .map(|&c| {
            let k = (c as f64 / top * 8.0).ceil() as usize;
            BARS[k.min(8)]
        })
        .collect()
}

/// The coloured consensus in at most `w` letters, ending in `…` when cut.
fn consensus_fitted(m: &Motif, w: usize) -> Vec<Span<'static>> {
    let mut spans = consensus_spans(m);
    if spans.len() > w {
        spans.truncate(w.saturating_sub(1));
        spans.push(Span::raw("…"));
    }
    spans
}
