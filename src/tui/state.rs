//! Everything the screen shows, and the data derived from it (raster, cluster table, anomaly
//! ranking, spatial index). Derived data is refreshed in `update()`, never while drawing.

use super::action::JobKind;
use super::raster::{Coloring, Raster, Viewport, rasterize};
use crate::analysis::graph::CsrGraph;
use crate::analysis::knn::KnnGraph;
use crate::core::meta::MetaValues;
use crate::modality::Dataset;
use crate::pipeline::ClusterMethod;
use crate::pipeline::jobs::JobId;
use ratatui::layout::{Constraint, Direction, Layout, Rect};
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    Map,
    Clusters,
    Anomalies,
    Jobs,
}

impl Focus {
    pub const ORDER: [Focus; 4] = [Focus::Map, Focus::Clusters, Focus::Anomalies, Focus::Jobs];
}

#[derive(Debug, Clone, PartialEq)]
pub enum Mode {
    Normal,
    Search(String),
    Command(String),
    Help,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ColorBy {
    Cluster,
    AnomalyKnn,
    AnomalyIforest,
    /// The count model's reconstruction NLL.
    AnomalyRecon,
    Meta(String),
    /// Mean log-normalised expression of these genes (display name first).
    Genes(String, Vec<usize>),
}

impl ColorBy {
    pub fn name(&self) -> &str {
        match self {
            ColorBy::Cluster => "cluster",
            ColorBy::AnomalyKnn => "anomaly_knn",
            ColorBy::AnomalyIforest => "anomaly_iforest",
            ColorBy::AnomalyRecon => "anomaly_recon",
            ColorBy::Meta(n) => n,
            ColorBy::Genes(n, _) => n,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum JobState {
    Running,
    Done,
    Cancelled,
    Failed(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct JobView {
    pub id: JobId,
    pub name: String,
    pub stage: String,
    pub fraction: f64,
    pub state: JobState,
    pub started: std::time::Instant,
    pub stage_started: std::time::Instant,
    /// Seconds left in the current stage, estimated from its progress.
    pub eta: Option<f64>,
    pub elapsed: f64,
}

/// Where a tab's data comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum TabSource {
    Input {
        path: PathBuf,
    },
    /// Dataset `index` of a saved session.
    Session {
        path: PathBuf,
        index: usize,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct ClusterRow {
    pub id: u32,
    pub size: usize,
    pub share: f64,
    pub top: String,
    /// Item nearest the cluster's 2-D centroid (Enter jumps there).
    pub center_item: Option<usize>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Search {
    pub query: String,
    pub matches: Vec<usize>,
    pub pos: usize,
}

/// Values behind the current colouring.
#[derive(Debug, Clone, PartialEq)]
pub enum ColorValues {
    Category { idx: Vec<u32>, names: Vec<String> },
    Value { v: Vec<f32>, lo: f32, hi: f32 },
    Empty,
}

/// A uniform grid over the layout for nearest-point queries.
#[derive(Debug, Clone, PartialEq)]
pub struct Grid {
    pub x0: f32,
    pub y0: f32,
    pub cw: f32,
    pub ch: f32,
    pub g: usize,
    pub start: Vec<usize>,
    pub items: Vec<u32>,
}

impl Grid {
    pub fn build(layout: &[[f32; 2]]) -> Self {
        let g = ((layout.len() as f64 / 4.0).sqrt() as usize).clamp(1, 256);
        let vp = Viewport::fit(layout);
        let (x0, y0) = (vp.cx - vp.hw, vp.cy - vp.hh);
        let (cw, ch) = (2.0 * vp.hw / g as f32, 2.0 * vp.hh / g as f32);
        let cell = |p: [f32; 2]| -> usize {
            let cx = (((p[0] - x0) / cw) as isize).clamp(0, g as isize - 1) as usize;
            let cy = (((p[1] - y0) / ch) as isize).clamp(0, g as isize - 1) as usize;
            cy * g + cx
        };
        let mut count = vec![0usize; g * g + 1];
        for &p in layout {
            count[cell(p) + 1] += 1;
        }
        for i in 0..g * g {
            count[i + 1] += count[i];
        }
        let mut fill = count.clone();
        let mut items = vec![0u32; layout.len()];
        for (i, &p) in layout.iter().enumerate() {
            let c = cell(p);
            items[fill[c]] = i as u32;
            fill[c] += 1;
        }
        Self {
            x0,
            y0,
            cw,
            ch,
            g,
            start: count,
            items,
        }
    }

    /// Nearest item to `t` satisfying `keep`, searching rings of cells outwards.
    pub fn nearest(
        &self,
        layout: &[[f32; 2]],
        t: [f32; 2],
        keep: &dyn Fn(usize) -> bool,
    ) -> Option<usize> {
        let g = self.g as isize;
        let tx = (((t[0] - self.x0) / self.cw).floor() as isize).clamp(-1, g);
        let ty = (((t[1] - self.y0) / self.ch).floor() as isize).clamp(-1, g);
        let mut best: Option<(f32, usize)> = None;
        for r in 0..=(g + 1) {
            for cy in ty - r..=ty + r {
                for cx in tx - r..=tx + r {
                    if (cy - ty).abs() != r && (cx - tx).abs() != r {
                        continue;
                    }
                    if cx < 0 || cy < 0 || cx >= g || cy >= g {
                        continue;
                    }
                    let c = cy as usize * self.g + cx as usize;
                    for &i in &self.items[self.start[c]..self.start[c + 1]] {
                        let i = i as usize;
                        if !keep(i) {
                            continue;
                        }
                        let p = layout[i];
                        let d = (p[0] - t[0]).powi(2) + (p[1] - t[1]).powi(2);
                        if best.is_none_or(|(bd, bi)| (d, i) < (bd, bi)) {
                            best = Some((d, i));
                        }
                    }
                }
            }
            // Anything in a further ring is at least r cells away.
            if let Some((bd, _)) = best {
                let reach = r as f32 * self.cw.min(self.ch);
                if reach * reach >= bd {
                    break;
                }
            }
        }
        best.map(|b| b.1)
    }
}

#[derive(Debug, Clone, Default)]
pub struct Derived {
    pub raster: Option<Raster>,
    pub raster_key: Option<(u64, u64, Viewport, u16, u16)>,
    pub colors: Option<((u64, u64), ColorValues)>,
    pub cluster_rows: Vec<ClusterRow>,
    /// Header of the clusters pane's label column (the metadata column labels come from).
    pub label_column: String,
    pub rows_version: u64,
    pub anomaly_rank: Vec<usize>,
    /// (data version, ranked by isolation forest)
    pub rank_key: (u64, u8),
    pub grid: Option<Grid>,
    pub grid_version: u64,
    /// Motif sites in the sequence under the cursor, by start: (start, end, rank in its
    /// cluster), for the detail pane's highlighting.
    pub seq_hits: Vec<(usize, usize, usize)>,
    pub seq_key: Option<(u64, usize)>,
}

/// A tile encoded for the terminal, for one item and one area.
#[derive(Clone)]
pub struct Preview {
    pub item: usize,
    pub area: Rect,
    pub protocol: ratatui_image::protocol::Protocol,
}

/// Representative tiles of one cluster: its medoids (the members nearest the cluster's mean
/// in the embedding; on the map when a session was opened without the vectors).
#[derive(Clone)]
pub struct Strip {
    pub key: (u64, u32, Rect),
    pub items: Vec<usize>,
    pub protocols: Vec<(Rect, ratatui_image::protocol::Protocol)>,
}

impl std::fmt::Debug for Strip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Strip").field("items", &self.items).finish()
    }
}

impl std::fmt::Debug for Preview {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Preview")
            .field("item", &self.item)
            .field("area", &self.area)
            .finish()
    }
}

#[derive(Debug, Clone)]
pub struct Tab {
    pub title: String,
    pub source: TabSource,
    pub dataset: Option<Arc<Dataset>>,
    /// The embedding the map was made from (the model's once it has run).
    pub embedding: Option<Arc<crate::modality::Embedding>>,
    pub knn: Option<Arc<KnnGraph>>,
    pub graph: Option<Arc<CsrGraph>>,
    pub layout: Option<Arc<Vec<[f32; 2]>>>,
    pub clusters: Option<Arc<Vec<u32>>>,
    pub cluster_method: Option<ClusterMethod>,
    pub anomaly_knn: Option<Arc<Vec<f32>>>,
    pub anomaly_iforest: Option<Arc<Vec<f32>>>,
    pub anomaly_model: Option<Arc<Vec<f32>>>,
    pub markers: Option<Arc<crate::modality::cells::markers::Markers>>,
    /// A `:compare` result, shown in the markers pane instead of the selected cluster's.
    pub comparison: Option<Arc<crate::modality::cells::markers::MarkerTable>>,
    pub compare_job: Option<JobId>,
    /// Motifs per cluster (DNA), shown in the bottom pane with `m`.
    pub motifs: Option<Arc<crate::modality::dna::motifs::MotifResults>>,
    pub motif_sel: usize,
    /// Lines the detail pane's sequence is scrolled by, and for which item.
    pub seq_scroll: (usize, usize),
    /// The tile under the cursor, encoded for the terminal (images).
    pub preview: Option<Preview>,
    /// The selected cluster's most central tiles, encoded for the clusters pane (images).
    pub strip: Option<Strip>,
    /// The bottom pane shows marker genes instead of anomalies.
    pub show_markers: bool,
    pub marker_sel: usize,
    pub color: ColorBy,
    pub cursor: Option<usize>,
    pub view: Option<Viewport>,
    pub cluster_sel: usize,
    pub anomaly_sel: usize,
    pub search: Option<Search>,
    pub pipeline_job: Option<JobId>,
    pub recluster_job: Option<JobId>,
    pub error: Option<String>,
    /// Bumped whenever data changes; keys the caches.
    pub version: u64,
    /// Bumped when the colouring changes: recolours the map without redoing data-only work.
    pub color_version: u64,
    pub derived: Derived,
}

impl Tab {
    pub fn new(title: String, source: TabSource) -> Self {
        Self {
            title,
            source,
            dataset: None,
            embedding: None,
            knn: None,
            graph: None,
            layout: None,
            clusters: None,
            cluster_method: None,
            anomaly_knn: None,
            anomaly_iforest: None,
            anomaly_model: None,
            markers: None,
            comparison: None,
            compare_job: None,
            motifs: None,
            motif_sel: 0,
            seq_scroll: (0, 0),
            preview: None,
            strip: None,
            show_markers: false,
            marker_sel: 0,
            color: ColorBy::Cluster,
            cursor: None,
            view: None,
            cluster_sel: 0,
            anomaly_sel: 0,
            search: None,
            pipeline_job: None,
            recluster_job: None,
            error: None,
            version: 1,
            color_version: 0,
            derived: Derived::default(),
        }
    }

    /// A tab over a saved session dataset: everything present, nothing to compute.
    pub fn from_session(path: PathBuf, index: usize, sd: crate::session::SessionDataset) -> Self {
        let mut t = Tab::new(sd.dataset.name.clone(), TabSource::Session { path, index });
        let a = sd.analysis;
        t.dataset = Some(Arc::new(sd.dataset));
        t.embedding = Some(Arc::new(sd.embedding));
        t.knn = Some(a.knn);
        t.graph = a.graph;
        t.view = Some(Viewport::fit(&a.layout));
        t.cursor = Some(0);
        t.layout = Some(a.layout);
        t.clusters = Some(a.clusters);
        t.cluster_method = Some(a.cluster_method);
        t.anomaly_knn = Some(a.anomaly_knn);
        t.anomaly_iforest = Some(a.anomaly_iforest);
        t.anomaly_model = a.anomaly_model;
        t.markers = a.markers;
        t.motifs = a.motifs;
        t
    }

    pub fn n(&self) -> usize {
        self.dataset.as_ref().map_or(0, |d| d.len())
    }

    /// What the pipeline has delivered so far, as the one result type (for exports): None
    /// before the neighbours, clusters and anomaly scores exist.
    pub fn analysis(&self) -> Option<crate::pipeline::Analysis> {
        Some(crate::pipeline::Analysis {
            knn: self.knn.clone()?,
            graph: self.graph.clone(),
            layout: self.layout.clone().unwrap_or_default(),
            clusters: self.clusters.clone()?,
            cluster_method: self.cluster_method.clone()?,
            anomaly_knn: self.anomaly_knn.clone()?,
            anomaly_iforest: self.anomaly_iforest.clone()?,
            anomaly_model: self.anomaly_model.clone(),
            markers: self.markers.clone(),
            motifs: self.motifs.clone(),
            timings: Vec::new(),
        })
    }

    /// The slot holding this tab's job of `kind`.
    pub fn job_mut(&mut self, kind: JobKind) -> &mut Option<JobId> {
        match kind {
            JobKind::Pipeline => &mut self.pipeline_job,
            JobKind::Recluster => &mut self.recluster_job,
            JobKind::Compare => &mut self.compare_job,
        }
    }

    /// Which of this tab's current jobs `id` is, if any.
    pub fn job_kind(&self, id: JobId) -> Option<JobKind> {
        [
            (self.pipeline_job, JobKind::Pipeline),
            (self.recluster_job, JobKind::Recluster),
            (self.compare_job, JobKind::Compare),
        ]
        .into_iter()
        .find(|(j, _)| *j == Some(id))
        .map(|(_, k)| k)
    }

    /// The selected cluster's motifs, in rank order (DNA).
    pub fn cluster_motifs(&self) -> Vec<&crate::modality::dna::motifs::FoundMotif> {
        let (Some(m), Some(row)) = (
            &self.motifs,
            self.derived.cluster_rows.get(self.cluster_sel),
        ) else {
            return Vec::new();
        };
        m.of_cluster(row.id).collect()
    }

    /// What the model's per-item score is called for this tab's data.
    pub fn model_score_name(&self) -> &'static str {
        self.dataset
            .as_ref()
            .map_or("reconstruction NLL", |d| d.modality().model_score_name())
    }

    /// The marker table the bottom pane shows: a `:compare` result, else the selected
    /// cluster's.
    pub fn marker_table(&self) -> Option<&crate::modality::cells::markers::MarkerTable> {
        if let Some(c) = &self.comparison {
            return Some(c);
        }
        let id = self.derived.cluster_rows.get(self.cluster_sel)?.id;
        // Tables are in cluster order (`cluster_markers`, and sessions keep that order).
        self.markers
            .as_ref()?
            .tables
            .get(id as usize)
            .filter(|t| t.group.parse() == Ok(id))
    }

    /// The anomaly score shown in the anomalies pane: the one being coloured, else kNN distance.
    pub fn anomaly_scores(&self) -> Option<&Arc<Vec<f32>>> {
        match self.color {
            ColorBy::AnomalyIforest => self.anomaly_iforest.as_ref(),
            ColorBy::AnomalyRecon => self.anomaly_model.as_ref(),
            _ => self.anomaly_knn.as_ref(),
        }
    }

    /// The colourings available, in cycle order.
    pub fn color_choices(&self) -> Vec<ColorBy> {
        let mut v = vec![
            ColorBy::Cluster,
            ColorBy::AnomalyKnn,
            ColorBy::AnomalyIforest,
        ];
        if self.anomaly_model.is_some() {
            v.push(ColorBy::AnomalyRecon);
        }
        if let Some(d) = &self.dataset {
            v.extend(d.meta.iter().map(|c| ColorBy::Meta(c.name.clone())));
        }
        v
    }

    fn color_values(&self) -> ColorValues {
        let value = |v: &[f32]| {
            let mut s: Vec<f32> = v.iter().copied().filter(|x| x.is_finite()).collect();
            if s.is_empty() {
                return ColorValues::Empty;
            }
            s.sort_by(|a, b| a.total_cmp(b));
            let lo = s[s.len() * 2 / 100];
            let hi = s[(s.len() * 98 / 100).min(s.len() - 1)];
            ColorValues::Value {
                v: v.to_vec(),
                lo,
                hi,
            }
        };
        match &self.color {
            ColorBy::Cluster => match &self.clusters {
                Some(c) => {
                    let k = c.iter().max().map_or(0, |m| *m + 1);
                    ColorValues::Category {
                        idx: c.to_vec(),
                        names: (0..k).map(|i| i.to_string()).collect(),
                    }
                }
                None => ColorValues::Empty,
            },
            ColorBy::AnomalyKnn => self
                .anomaly_knn
                .as_ref()
                .map_or(ColorValues::Empty, |v| value(v)),
            ColorBy::AnomalyIforest => self
                .anomaly_iforest
                .as_ref()
                .map_or(ColorValues::Empty, |v| value(v)),
            ColorBy::AnomalyRecon => self
                .anomaly_model
                .as_ref()
                .map_or(ColorValues::Empty, |v| value(v)),
            ColorBy::Genes(_, genes) => {
                match self.dataset.as_ref().and_then(|d| d.expression()) {
                    Some(e) if !genes.is_empty() => {
                        let mut acc = vec![0f32; e.matrix.n_cells];
                        for &g in genes {
                            for (a, x) in acc.iter_mut().zip(e.normalised_gene(g)) {
                                *a += x / genes.len() as f32;
                            }
                        }
                        // Expression is mostly zeros: scale to the top, not to percentiles.
                        let hi = acc.iter().fold(0f32, |m, &x| m.max(x));
                        ColorValues::Value {
                            v: acc,
                            lo: 0.0,
                            hi: if hi > 0.0 { hi } else { 1.0 },
                        }
                    }
                    _ => ColorValues::Empty,
                }
            }
            ColorBy::Meta(name) => match self
                .dataset
                .as_ref()
                .and_then(|d| d.meta_column(name))
                .map(|c| &c.values)
            {
                Some(MetaValues::Text(t)) => {
                    // Categories numbered by frequency so the commonest get the first colours.
                    let mut freq: std::collections::HashMap<&str, usize> = Default::default();
                    for s in t {
                        *freq.entry(s.as_str()).or_default() += 1;
                    }
                    let mut names: Vec<(&str, usize)> = freq.into_iter().collect();
                    names.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
                    let index: std::collections::HashMap<&str, u32> = names
                        .iter()
                        .enumerate()
                        .map(|(i, (s, _))| (*s, i as u32))
                        .collect();
                    ColorValues::Category {
                        idx: t.iter().map(|s| index[s.as_str()]).collect(),
                        names: names.iter().map(|(s, _)| s.to_string()).collect(),
                    }
                }
                Some(MetaValues::Number(v)) => {
                    value(&v.iter().map(|&x| x as f32).collect::<Vec<_>>())
                }
                None => ColorValues::Empty,
            },
        }
    }

    /// Recomputes whatever derived data is stale for a map of `w × h` cells.
    pub fn refresh(&mut self, w: u16, h: u16) {
        let v = self.version;
        let cv = self.color_version;
        if self
            .derived
            .colors
            .as_ref()
            .is_none_or(|(k, _)| *k != (v, cv))
        {
            self.derived.colors = Some(((v, cv), self.color_values()));
        }
        if self.derived.rows_version != v {
            self.derived.cluster_rows = self.cluster_rows();
            self.derived.label_column = if self.motifs.is_some() {
                "top motif".to_string()
            } else {
                self.dataset
                    .as_deref()
                    .and_then(crate::modality::label_column)
                    .map_or_else(|| "top".to_string(), |c| c.name.clone())
            };
            self.derived.rows_version = v;
        }
        let which = match self.color {
            ColorBy::AnomalyIforest => 1,
            ColorBy::AnomalyRecon => 2,
            _ => 0,
        };
        let rank_key = (v, which);
        if self.derived.rank_key != rank_key {
            self.derived.anomaly_rank = match self.anomaly_scores() {
                Some(s) => {
                    let mut r: Vec<usize> = (0..s.len()).collect();
                    r.sort_by(|&a, &b| s[b].total_cmp(&s[a]).then(a.cmp(&b)));
                    r.truncate(1000);
                    r
                }
                None => Vec::new(),
            };
            self.derived.rank_key = rank_key;
        }
        let seq_key = self.cursor.map(|c| (v, c));
        if self.derived.seq_key != seq_key {
            self.derived.seq_hits = self.sequence_hits();
            self.derived.seq_key = seq_key;
        }
        if let Some(layout) = &self.layout {
            if self.derived.grid_version != v || self.derived.grid.is_none() {
                self.derived.grid = Some(Grid::build(layout));
                self.derived.grid_version = v;
            }
            let view = *self.view.get_or_insert_with(|| Viewport::fit(layout));
            let key = (v, cv, view, w, h);
            if self.derived.raster_key != Some(key) {
                let coloring = match self.derived.colors.as_ref().map(|c| &c.1) {
                    Some(ColorValues::Category { idx, .. }) => Coloring::Category(idx),
                    Some(ColorValues::Value { v, lo, hi }) => Coloring::Value {
                        v,
                        lo: *lo,
                        hi: *hi,
                    },
                    _ => Coloring::None,
                };
                self.derived.raster = Some(rasterize(layout, &view, w, h, &coloring));
                self.derived.raster_key = Some(key);
            }
        }
    }

    /// Encodes the tile under the cursor for `area` when either changed.
    pub fn refresh_preview(&mut self, picker: &ratatui_image::picker::Picker, area: Rect) {
        let (Some(i), Some(tiles)) = (
            self.cursor,
            self.dataset.as_ref().and_then(|d| d.tiles().cloned()),
        ) else {
            self.preview = None;
            return;
        };
        if self
            .preview
            .as_ref()
            .is_some_and(|p| p.item == i && p.area == area)
        {
            return;
        }
        let Some(px) = tiles.pixels.get(i) else {
            self.preview = None;
            return;
        };
        let img = image::DynamicImage::ImageRgb8(px.clone());
        self.preview = picker
            .new_protocol(
                img,
                ratatui::layout::Size::new(area.width, area.height),
                ratatui_image::Resize::Scale(None),
            )
            .ok()
            .map(|protocol| Preview {
                item: i,
                area,
                protocol,
            });
    }

    /// Encodes the selected cluster's medoid tiles for `area` (one row of square-ish tiles).
    pub fn refresh_strip(&mut self, picker: &ratatui_image::picker::Picker, area: Rect) {
        let (Some(tiles), Some(c), Some(row)) = (
            self.dataset.as_ref().and_then(|d| d.tiles().cloned()),
            self.clusters.clone(),
            self.derived.cluster_rows.get(self.cluster_sel),
        ) else {
            self.strip = None;
            return;
        };
        let key = (self.version, row.id, area);
        if self.strip.as_ref().is_some_and(|s| s.key == key) {
            return;
        }
        let members: Vec<usize> = (0..c.len()).filter(|&i| c[i] == row.id).collect();
        let tile_w = (2 * area.height).max(2);
        let n = ((area.width + 1) / (tile_w + 1)) as usize;
        let items = self.medoids(&members, n);
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
                let img = image::DynamicImage::ImageRgb8(tiles.pixels.get(i)?.clone());
                picker
                    .new_protocol(
                        img,
                        ratatui::layout::Size::new(r.width, r.height),
                        ratatui_image::Resize::Scale(None),
                    )
                    .ok()
                    .map(|p| (r, p))
            })
            .collect();
        self.strip = Some(Strip {
            key,
            items,
            protocols,
        });
    }

    /// The `n` members nearest their mean: in the embedding when it is loaded, else on the map.
    fn medoids(&self, members: &[usize], n: usize) -> Vec<usize> {
        if self.dataset.is_none() {
            return Vec::new();
        }
        let emb = self.embedding.as_ref().map(|e| e.matrix.clone());
        let point = |i: usize| -> Vec<f32> {
            if let Some(m) = emb.as_ref().filter(|m| m.cols > 0) {
                m.row(i).to_vec()
            } else {
                self.layout
                    .as_ref()
                    .map_or(vec![0.0, 0.0], |l| l[i].to_vec())
            }
        };
        let Some(first) = members.first() else {
            return Vec::new();
        };
        let mut mean = vec![0f32; point(*first).len()];
        for &i in members {
            for (m, v) in mean.iter_mut().zip(point(i)) {
                *m += v / members.len() as f32;
            }
        }
        let mut by: Vec<(f32, usize)> = members
            .iter()
            .map(|&i| (crate::core::matrix::sq_dist(&point(i), &mean), i))
            .collect();
        by.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        by.into_iter().take(n).map(|x| x.1).collect()
    }

    fn sequence_hits(&self) -> Vec<(usize, usize, usize)> {
        let (Some(i), Some(m), Some(c)) = (self.cursor, &self.motifs, &self.clusters) else {
            return Vec::new();
        };
        let mut hits: Vec<(usize, usize, usize)> = m
            .of_cluster(c[i])
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

    fn cluster_rows(&self) -> Vec<ClusterRow> {
        let (Some(c), Some(d)) = (&self.clusters, &self.dataset) else {
            return Vec::new();
        };
        let k = c.iter().max().map_or(0, |m| *m as usize + 1);
        let labels = crate::modality::cluster_labels(d, c);
        let mut size = vec![0usize; k];
        let mut cx = vec![0.0f64; k];
        let mut cy = vec![0.0f64; k];
        for (i, &ci) in c.iter().enumerate() {
            size[ci as usize] += 1;
            if let Some(l) = &self.layout {
                cx[ci as usize] += l[i][0] as f64;
                cy[ci as usize] += l[i][1] as f64;
            }
        }
        let mut center = vec![None; k];
        if let Some(l) = &self.layout {
            let mut best = vec![f64::INFINITY; k];
            for (i, &ci) in c.iter().enumerate() {
                let j = ci as usize;
                let (mx, my) = (cx[j] / size[j] as f64, cy[j] / size[j] as f64);
                let dd = (l[i][0] as f64 - mx).powi(2) + (l[i][1] as f64 - my).powi(2);
                if dd < best[j] {
                    best[j] = dd;
                    center[j] = Some(i);
                }
            }
        }
        (0..k)
            .map(|j| {
                let (l, hits) = &labels[j];
                let motif = self
                    .motifs
                    .as_ref()
                    .and_then(|m| m.of_cluster(j as u32).next());
                let top = if let Some(m) = motif {
                    let name = self
                        .motifs
                        .as_ref()
                        .and_then(|r| m.matches.first().map(|b| r.database[b.target].name.clone()));
                    format!("{} {}", m.motif.consensus(), name.unwrap_or_default())
                } else if l.is_empty() {
                    String::new()
                } else {
                    format!("{l} {:.0}%", 100.0 * *hits as f64 / size[j].max(1) as f64)
                };
                ClusterRow {
                    id: j as u32,
                    size: size[j],
                    share: size[j] as f64 / c.len().max(1) as f64,
                    top,
                    center_item: center[j],
                }
            })
            .collect()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub text: String,
    pub error: bool,
}

#[derive(Debug, Clone)]
pub struct State {
    pub tabs: Vec<Tab>,
    pub active: usize,
    pub focus: Focus,
    pub mode: Mode,
    pub jobs: Vec<JobView>,
    pub message: Option<Message>,
    pub size: (u16, u16),
    pub quit: bool,
    pub params: crate::pipeline::PipelineParams,
    /// Colours: full RGB, the 16 basic colours, or none (NO_COLOR).
    pub palette: Palette,
    /// How inputs are read and embedded, per modality, and whether the baseline map is shown
    /// while a model trains.
    pub options: crate::pipeline::RunOptions,
    /// How images reach the terminal: kitty, sixel or iTerm2 graphics where detected, Unicode
    /// half blocks otherwise (what plain SSH gets).
    pub picker: ratatui_image::picker::Picker,
}

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

/// Screen regions, computed the same way by `update()` (for the raster size and mouse hits)
/// and by drawing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Areas {
    pub tabs: Rect,
    pub map: Rect,
    pub clusters: Rect,
    pub detail: Rect,
    pub anomalies: Rect,
    pub jobs: Rect,
    pub hint: Rect,
}

impl Areas {
    pub fn new(w: u16, h: u16) -> Self {
        let area = Rect::new(0, 0, w, h);
        let bottom_h = if h >= 30 { 9 } else { 6 };
        let rows = Layout::default()
            .direction(Direction::Vertical)
            .constraints([
                Constraint::Length(1),
                Constraint::Min(6),
                Constraint::Length(bottom_h),
                Constraint::Length(1),
            ])
            .split(area);
        let mid = Layout::default()
            .direction(Direction::Horizontal)
            .constraints([Constraint::Percentage(60), Constraint::Percentage(40)])
            .split(rows[1]);
        let right = Layout::default()
            .direction(Direction::Vertical)
            .constraints([Constraint::Percentage(45), Constraint::Percentage(55)])
            .split(mid[1]);
        let bottom = Layout::default()
            .direction(Direction::Horizontal)
            .constraints([Constraint::Percentage(60), Constraint::Percentage(40)])
            .split(rows[2]);
        Self {
            tabs: rows[0],
            map: mid[0],
            clusters: right[0],
            detail: right[1],
            anomalies: bottom[0],
            jobs: bottom[1],
            hint: rows[3],
        }
    }

    /// The map's drawable cells (inside the border).
    pub fn map_inner(&self) -> Rect {
        inner(self.map)
    }
}

/// The top of the detail pane where a tile is shown: as wide as the pane, half its height
/// at most, about square on screen (a cell is twice as tall as wide).
pub fn preview_rect(detail_inner: Rect) -> Rect {
    let h = (detail_inner.height * 3 / 5)
        .min(detail_inner.width / 2)
        .max(1);
    Rect::new(
        detail_inner.x,
        detail_inner.y,
        (2 * h).min(detail_inner.width),
        h,
    )
}

/// The bottom rows of the clusters pane where an images tab shows the selected cluster's
/// medoid tiles.
pub fn strip_rect(clusters_inner: Rect) -> Rect {
    let h = 4.min(clusters_inner.height / 3);
    Rect::new(
        clusters_inner.x,
        clusters_inner.y + clusters_inner.height - h,
        clusters_inner.width,
        h,
    )
}

pub fn inner(r: Rect) -> Rect {
    Rect::new(
        r.x + 1,
        r.y + 1,
        r.width.saturating_sub(2),
        r.height.saturating_sub(2),
    )
}

impl State {
    pub fn new(tabs: Vec<Tab>, params: crate::pipeline::PipelineParams, size: (u16, u16)) -> Self {
        let mut s = Self {
            tabs,
            active: 0,
            focus: Focus::Map,
            mode: Mode::Normal,
            jobs: Vec::new(),
            message: None,
            size,
            quit: false,
            params,
            palette: Palette::detect(),
            options: crate::pipeline::RunOptions {
                preview: true,
                ..Default::default()
            },
            picker: ratatui_image::picker::Picker::halfblocks(),
        };
        s.refresh();
        s
    }

    pub fn areas(&self) -> Areas {
        Areas::new(self.size.0, self.size.1)
    }

    pub fn tab(&self) -> Option<&Tab> {
        self.tabs.get(self.active)
    }

    pub fn tab_mut(&mut self) -> Option<&mut Tab> {
        self.tabs.get_mut(self.active)
    }

    pub fn refresh(&mut self) {
        let m = self.areas().map_inner();
        let (w, h) = (m.width.max(1), m.height.max(1));
        let preview_area = preview_rect(inner(self.areas().detail));
        let strip_area = strip_rect(inner(self.areas().clusters));
        let picker = &self.picker;
        if let Some(t) = self.tabs.get_mut(self.active) {
            t.refresh(w, h);
            t.refresh_preview(picker, preview_area);
            t.refresh_strip(picker, strip_area);
        }
    }

    pub fn running_jobs(&self) -> impl Iterator<Item = &JobView> {
        self.jobs.iter().filter(|j| j.state == JobState::Running)
    }
}
