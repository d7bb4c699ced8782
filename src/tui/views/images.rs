//! Images: the tile under the cursor in the detail pane and the selected cluster's medoid
//! tiles in the clusters pane, encoded for the terminal once per (item, area) by
//! ratatui-image: kitty, sixel or iTerm2 graphics where detected, half blocks otherwise.

use crate::tui::panes::TabView;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Style};
use ratatui::text::Span;
use ratatui::widgets::{Clear, Paragraph};
use ratatui_image::picker::Picker;
use ratatui_image::protocol::Protocol;

/// A tile encoded for the terminal, for one item and one area.
#[derive(Clone)]
pub struct Preview {
    pub item: usize,
    pub area: Rect,
    pub protocol: Protocol,
}

impl std::fmt::Debug for Preview {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Preview")
            .field("item", &self.item)
            .field("area", &self.area)
            .finish()
    }
}

/// Representative tiles of one cluster: its medoids (the members nearest the cluster's mean
/// in the embedding; on the map when a session was opened without the vectors).
#[derive(Clone)]
pub struct Strip {
    pub key: (u64, u32, Rect),
    pub items: Vec<usize>,
    pub protocols: Vec<(Rect, Protocol)>,
}

impl std::fmt::Debug for Strip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Strip").field("items", &self.items).finish()
    }
}

fn encode(picker: &Picker, img: &image::RgbImage, area: Rect) -> Option<Protocol> {
    picker
        .new_protocol(
            image::DynamicImage::ImageRgb8(img.clone()),
            ratatui::layout::Size::new(area.width, area.height),
            ratatui_image::Resize::Scale(None),
        )
        .ok()
}

/// Encodes the tile under the cursor for `area` when either changed.
pub fn refresh_preview(preview: &mut Option<Preview>, v: &TabView, picker: &Picker, area: Rect) {
    let (Some(i), Some(tiles)) = (v.cursor, v.dataset.and_then(|d| d.tiles())) else {
        *preview = None;
        return;
    };
    if preview
        .as_ref()
        .is_some_and(|p| p.item == i && p.area == area)
    {
        return;
    }
    *preview = tiles
        .pixels
        .get(i)
        .and_then(|px| encode(picker, px, area))
        .map(|protocol| Preview {
            item: i,
            area,
            protocol,
        });
}

/// Encodes the selected cluster's medoid tiles for `area` (one row of square-ish tiles).
pub fn refresh_strip(strip: &mut Option<Strip>, v: &TabView, picker: &Picker, area: Rect) {
    let (Some(tiles), Some(c), Some(id)) = (
        v.dataset.and_then(|d| d.tiles()),
        v.result.clusters.as_ref(),
        v.cluster,
    ) else {
        *strip = None;
        return;
    };
    let key = (v.version, id, area);
    if strip.as_ref().is_some_and(|s| s.key == key) {
        return;
    }
    let members: Vec<usize> = (0..c.len()).filter(|&i| c[i] == id).collect();
    let tile_w = (2 * area.height).max(2);
    let n = ((area.width + 1) / (tile_w + 1)) as usize;
    let items = medoids(v, &members, n);
    let protocols = items
        .iter()
        .enumerate()
        .filter_map(|(k, &i)| {
            let r = Rect::new(
                area.x + k as u16 * (tile_w + 1),
                area.y,
                tile_w,
                area.height,
            );
            encode(picker, tiles.pixels.get(i)?, r).map(|p| (r, p))
        })
        .collect();
    *strip = Some(Strip {
        key,
        items,
        protocols,
    });
}

/// The `n` members nearest their mean: in the embedding when it is loaded, else on the map.
fn medoids(v: &TabView, members: &[usize], n: usize) -> Vec<usize> {
    let emb = v.embedding.map(|e| &e.matrix).filter(|m| m.cols > 0);
    let point = |i: usize| -> Vec<f32> {
        match emb {
            Some(m) => m.row(i).to_vec(),
            None => v
                .result
                .layout
                .as_ref()
                .map_or(vec![0.0, 0.0], |l| l[i].to_vec()),
        }
    };
    let Some(first) = members.first() else {
        return Vec::new();
    };
    let mut mean = vec![0f32; point(*first).len()];
    for &i in members {
        for (m, x) in mean.iter_mut().zip(point(i)) {
            *m += x / members.len() as f32;
        }
    }
    let mut by: Vec<(f32, usize)> = members
        .iter()
        .map(|&i| (crate::core::matrix::sq_dist(&point(i), &mean), i))
        .collect();
    by.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    by.into_iter().take(n).map(|x| x.1).collect()
}

/// Draws the medoid strip at the bottom of the clusters pane `r`.
pub fn draw_strip(strip: &Strip, f: &mut Frame, r: Rect) {
    let area = crate::tui::layout::strip_rect(crate::tui::layout::inner(r));
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
