//! The detail pane: the item under the cursor — its id, cluster and anomaly scores, the
//! model's score beside the library size, its sequence (DNA) or tile (images), its metadata
//! and its nearest neighbours.

use super::TabView;
use crate::tui::theme::{key_style, pane};
use crate::tui::views::images::Preview;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

/// The detail pane's state.
#[derive(Debug, Clone, Default)]
pub struct DetailPane {
    /// Lines the sequence is scrolled by, and for which item.
    pub seq_scroll: (usize, usize),
    /// Motif sites in the sequence under the cursor: (start, end, rank in its cluster).
    pub seq_hits: Vec<(usize, usize, usize)>,
    seq_key: Option<(u64, usize)>,
    /// The tile under the cursor, encoded for the terminal (images).
    pub preview: Option<Preview>,
    /// The value the map's colour stands for at the cursor (a gene's expression), and for
    /// which (data version, colouring version, item).
    colour_value: Option<String>,
    colour_key: Option<(u64, u64, usize)>,
}

impl DetailPane {
    pub fn refresh(&mut self, v: &TabView, picker: &ratatui_image::picker::Picker, area: Rect) {
        let key = v.cursor.map(|c| (v.version, c));
        if self.seq_key != key {
            self.seq_hits = crate::tui::views::item_marks(v);
            self.seq_key = key;
        }
        crate::tui::views::images::refresh_preview(&mut self.preview, v, picker, area);
        let key = v.cursor.map(|c| (v.version, v.color_version, c));
        if self.colour_key != key {
            self.colour_value = v.cursor.and_then(|i| crate::tui::views::colour_value(v, i));
            self.colour_key = key;
        }
    }

    /// Scrolls the sequence of item `cursor` by `by` lines (the draw clamps at its end).
    pub fn scroll(&mut self, cursor: usize, by: i32) {
        let from = if self.seq_scroll.1 == cursor {
            self.seq_scroll.0
        } else {
            0
        };
        self.seq_scroll = ((from as i64 + by as i64).max(0) as usize, cursor);
    }

    pub fn draw(&self, v: &TabView, f: &mut Frame, r: Rect) {
        let mut block = pane(" detail ", false);
        // An image tile sits at the top; the text goes below it, inside the same frame.
        let r = match &self.preview {
            Some(p) if v.cursor == Some(p.item) => {
                f.render_widget(block, r);
                f.render_widget(ratatui_image::Image::new(&p.protocol), p.area);
                block = Block::default().borders(Borders::LEFT | Borders::RIGHT | Borders::BOTTOM);
                let top = p.area.y + p.area.height;
                Rect::new(r.x, top, r.width, (r.y + r.height).saturating_sub(top))
            }
            _ => r,
        };
        let (Some(d), Some(i)) = (v.dataset, v.cursor) else {
            f.render_widget(
                Paragraph::new("move the cursor over the map").block(block),
                r,
            );
            return;
        };
        let key = key_style();
        let res = v.result;
        let mut lines = vec![Line::from(vec![
            Span::styled("id ", key),
            Span::styled(
                d.ids[i].clone(),
                Style::default().add_modifier(Modifier::BOLD),
            ),
        ])];
        // What the map's colour means here, right under the id.
        if let Some(c) = self
            .colour_value
            .as_ref()
            .filter(|_| self.colour_key.is_some_and(|k| k.2 == i))
        {
            lines.push(Line::from(vec![
                Span::styled("colour ", key),
                Span::raw(c.clone()),
            ]));
        }
        let mut facts = Vec::new();
        if let Some(c) = &res.clusters {
            facts.push(Span::styled("cluster ", key));
            facts.push(Span::raw(format!("{}  ", c[i])));
        }
        if let Some(a) = &res.anomaly_knn {
            facts.push(Span::styled("knn z ", key));
            facts.push(Span::raw(format!("{:.2}  ", a[i])));
        }
        if let Some(a) = &res.anomaly_iforest {
            facts.push(Span::styled("iforest ", key));
            facts.push(Span::raw(format!("{:.3}", a[i])));
        }
        lines.push(Line::from(facts));
        // The model's score sits right above total_counts and n_genes (the first metadata of
        // cells), so a depth effect is visible at a glance.
        if let Some(a) = &res.anomaly_model {
            lines.push(Line::from(vec![
                Span::styled(format!("{} ", v.model_score_name()), key),
                Span::raw(if a[i].abs() < 1.0 {
                    format!("{:.4}", a[i])
                } else {
                    format!("{:.1}", a[i])
                }),
            ]));
        }
        {
            // Half the pane at most, so metadata and neighbours stay in view.
            let width = r.width.saturating_sub(2).max(10) as usize;
            let max_rows = (r.height as usize / 2).max(3);
            let scroll = if self.seq_scroll.1 == i {
                self.seq_scroll.0
            } else {
                0
            };
            lines.extend(crate::tui::views::item_lines(
                v,
                i,
                &self.seq_hits,
                scroll,
                width,
                max_rows,
            ));
        }
        for c in &d.meta {
            lines.push(Line::from(vec![
                Span::styled(format!("{} ", c.name), key),
                Span::raw(c.display(i)),
            ]));
        }
        if let Some(k) = &res.knn {
            lines.push(Line::from(Span::styled("nearest neighbours", key)));
            let nb = k.neighbors(i);
            let ds = k.dists(i);
            for (&j, &dist) in nb.iter().zip(ds).skip(1).take(10) {
                let cl = res
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
        // Wrapped, not cut: a narrow pane must not show "ifores" or half a number.
        f.render_widget(
            Paragraph::new(lines)
                .wrap(ratatui::widgets::Wrap { trim: false })
                .block(block),
            r,
        );
    }
}
