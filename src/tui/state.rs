//! What the interface holds: tabs (each the data the pipeline delivered plus its panes), focus,
//! mode, jobs, the message line. Derived data is refreshed in `update()`, never while drawing.

use super::action::JobKind;
pub use super::color::ColorBy;
use super::layout::{Areas, inner, preview_rect, strip_rect};
use super::panes::TabView;
use super::panes::bottom::BottomPane;
use super::panes::clusters::ClusterList;
use super::panes::detail::DetailPane;
use super::panes::jobs::{JobState, JobView};
use super::panes::map::MapPane;
use super::selection_set::Selections;
use super::theme::Palette;
use crate::modality::{Dataset, Embedding};
use crate::pipeline::Partial;
use crate::pipeline::groups::{Comparison, Crosstab};
use crate::pipeline::jobs::JobId;
use std::path::PathBuf;
use std::sync::Arc;

/// The pane keys go to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    Map,
    Clusters,
    /// The bottom pane: anomalies, markers or motifs.
    Bottom,
    Jobs,
}

impl Focus {
    pub const ORDER: [Focus; 4] = [Focus::Map, Focus::Clusters, Focus::Bottom, Focus::Jobs];
}

#[derive(Debug, Clone, PartialEq)]
pub enum Mode {
    Normal,
    Search(String),
    Command(String),
    Help,
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
    /// A training run followed live (`biolens watch`): each version replaces the tab's data.
    Watch(crate::watch::WatchOptions),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Search {
    pub query: String,
    pub matches: Vec<usize>,
    pub pos: usize,
}

/// A tab's data: what the pipeline delivered, how it is coloured, its jobs.
#[derive(Debug, Clone)]
pub struct TabData {
    pub title: String,
    pub source: TabSource,
    pub dataset: Option<Arc<Dataset>>,
    /// The embedding the map was made from (the model's once it has run).
    pub embedding: Option<Arc<Embedding>>,
    /// The analysis as it lands.
    pub result: Partial,
    /// A `:compare` result: its markers or motifs replace the selected cluster's, its
    /// metadata comparison has a view of its own.
    pub comparison: Option<Arc<Comparison>>,
    /// The last `:crosstab`.
    pub crosstab: Option<Arc<Crosstab>>,
    /// The last `:nhood`.
    pub nhood: Option<Arc<crate::pipeline::spatial::Neighbourhood>>,
    /// Named selections and their members.
    pub selections: Selections,
    pub color: ColorBy,
    pub search: Option<Search>,
    pub pipeline_job: Option<JobId>,
    pub recluster_job: Option<JobId>,
    pub motifs_job: Option<JobId>,
    pub compare_job: Option<JobId>,
    pub scan_job: Option<JobId>,
    pub spatial_job: Option<JobId>,
    pub picture_job: Option<JobId>,
    pub error: Option<String>,
    /// Bumped whenever data changes; keys the caches.
    pub version: u64,
    /// Bumped when the colouring changes: recolours the map without redoing data-only work.
    pub color_version: u64,
    /// The map shows positions on the tissue instead of the projection (`:map tissue`, `w`).
    pub tissue: Option<crate::tui::tissue::Tissue>,
    /// A live run's versions as they were computed, and the one shown.
    pub versions: Vec<Arc<crate::watch::Version>>,
    pub shown_version: Option<usize>,
    /// A live run's metrics log as read so far.
    pub metrics: Option<Arc<crate::watch::metrics::Metrics>>,
}

impl TabData {
    /// The layout the map draws and the cursor moves on: the tissue's, else the projection's.
    pub fn map_layout(&self) -> Option<Arc<Vec<[f32; 2]>>> {
        match &self.tissue {
            Some(t) => Some(t.layout.clone()),
            None => self.result.layout.clone(),
        }
    }

    /// What the panes read, with the other panes' selections.
    pub fn view<'a>(
        &'a self,
        cursor: Option<usize>,
        cluster: Option<u32>,
        busy: Option<&'a str>,
    ) -> TabView<'a> {
        TabView {
            dataset: self.dataset.as_deref(),
            embedding: self.embedding.as_deref(),
            result: &self.result,
            comparison: self.comparison.as_deref(),
            crosstab: self.crosstab.as_deref(),
            nhood: self.nhood.as_deref(),
            selections: &self.selections,
            color: &self.color,
            version: self.version,
            color_version: self.color_version,
            cursor,
            cluster,
            busy,
            error: self.error.as_deref(),
            tissue: self.tissue.as_ref(),
            versions: &self.versions,
            shown_version: self.shown_version,
            metrics: self.metrics.as_deref(),
        }
    }

    pub fn n(&self) -> usize {
        self.dataset.as_ref().map_or(0, |d| d.len())
    }

    /// The slot holding this tab's job of `kind`.
    pub fn job_mut(&mut self, kind: JobKind) -> &mut Option<JobId> {
        match kind {
            JobKind::Pipeline => &mut self.pipeline_job,
            JobKind::Recluster => &mut self.recluster_job,
            JobKind::Motifs => &mut self.motifs_job,
            JobKind::Compare => &mut self.compare_job,
            JobKind::Scan => &mut self.scan_job,
            JobKind::Spatial => &mut self.spatial_job,
            JobKind::Picture => &mut self.picture_job,
        }
    }

    /// Which of this tab's current jobs `id` is, if any.
    pub fn job_kind(&self, id: JobId) -> Option<JobKind> {
        [
            (self.pipeline_job, JobKind::Pipeline),
            (self.recluster_job, JobKind::Recluster),
            (self.motifs_job, JobKind::Motifs),
            (self.compare_job, JobKind::Compare),
            (self.scan_job, JobKind::Scan),
            (self.spatial_job, JobKind::Spatial),
            (self.picture_job, JobKind::Picture),
        ]
        .into_iter()
        .find(|(j, _)| *j == Some(id))
        .map(|(_, k)| k)
    }

    /// The colourings available, in cycle order.
    pub fn color_choices(&self) -> Vec<ColorBy> {
        let mut v = vec![
            ColorBy::Cluster,
            ColorBy::AnomalyKnn,
            ColorBy::AnomalyIforest,
        ];
        if self.result.anomaly_model.is_some() {
            v.push(ColorBy::AnomalyModel);
        }
        if self.result.anomaly_depth.is_some() {
            v.push(ColorBy::AnomalyDepth);
        }
        if let Some(d) = &self.dataset {
            v.extend(d.meta.iter().map(|c| ColorBy::Meta(c.name.clone())));
        }
        v.extend(
            self.selections
                .defs
                .iter()
                .map(|s| ColorBy::Selection(s.name.clone())),
        );
        v
    }
}

/// One dataset on screen: its data and its panes.
#[derive(Debug, Clone)]
pub struct Tab {
    pub data: TabData,
    pub map: MapPane,
    pub clusters: ClusterList,
    pub detail: DetailPane,
    pub bottom: BottomPane,
}

impl std::ops::Deref for Tab {
    type Target = TabData;
    fn deref(&self) -> &TabData {
        &self.data
    }
}

impl std::ops::DerefMut for Tab {
    fn deref_mut(&mut self) -> &mut TabData {
        &mut self.data
    }
}

impl Tab {
    pub fn new(title: String, source: TabSource) -> Self {
        Self {
            data: TabData {
                title,
                source,
                dataset: None,
                embedding: None,
                result: Partial::default(),
                comparison: None,
                crosstab: None,
                nhood: None,
                selections: Selections::default(),
                color: ColorBy::Cluster,
                search: None,
                pipeline_job: None,
                recluster_job: None,
                motifs_job: None,
                compare_job: None,
                scan_job: None,
                spatial_job: None,
                picture_job: None,
                tissue: None,
                versions: Vec::new(),
                shown_version: None,
                metrics: None,
                error: None,
                version: 1,
                color_version: 0,
            },
            map: MapPane::default(),
            clusters: ClusterList::default(),
            detail: DetailPane::default(),
            bottom: BottomPane::default(),
        }
    }

    /// A tab over a saved session dataset: everything present, nothing to compute.
    pub fn from_session(path: PathBuf, index: usize, sd: crate::session::SessionDataset) -> Self {
        let mut t = Tab::new(sd.dataset.name.clone(), TabSource::Session { path, index });
        t.map.on_layout(&sd.analysis.layout);
        t.data.dataset = Some(Arc::new(sd.dataset));
        t.data.embedding = Some(Arc::new(sd.embedding));
        t.data.result = Partial::from(sd.analysis);
        t
    }

    /// What the panes read; `busy` is the pipeline's stage while it runs.
    pub fn view<'a>(&'a self, busy: Option<&'a str>) -> TabView<'a> {
        self.data
            .view(self.map.cursor, self.clusters.selected(), busy)
    }

    /// Recomputes every pane's stale derived data for the current screen.
    pub fn refresh(&mut self, areas: &Areas, picker: &ratatui_image::picker::Picker) {
        let m = areas.map_inner();
        let (w, h) = (m.width.max(1), m.height.max(1));
        let Tab {
            data,
            map,
            clusters,
            detail,
            bottom,
        } = self;
        // Selections before the map: highlighting one reads its members.
        if data
            .selections
            .refresh(data.dataset.as_deref(), &data.result, data.version)
            && matches!(data.color, ColorBy::Selection(_))
        {
            data.color_version += 1;
        }
        // The cluster rows first: the other panes follow the selected cluster.
        clusters.refresh(&data.view(map.cursor, None, None));
        let v = data.view(map.cursor, clusters.selected(), None);
        bottom.refresh(&v);
        map.refresh(&v, w, h);
        detail.refresh(&v, picker, preview_rect(inner(areas.detail)));
        super::views::images::refresh_strip(
            &mut clusters.strip,
            &v,
            picker,
            strip_rect(inner(areas.clusters)),
        );
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub text: String,
    pub error: bool,
    /// When it was shown: information fades after [`Message::FADE`], errors stay until Esc.
    pub shown: std::time::Instant,
}

impl Message {
    pub const FADE: std::time::Duration = std::time::Duration::from_secs(6);

    pub fn new(text: impl Into<String>, error: bool) -> Self {
        Self {
            text: text.into(),
            error,
            shown: std::time::Instant::now(),
        }
    }
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
    /// First line of the help overlay shown (j/k scroll it when it does not fit).
    pub help_scroll: u16,
    /// Earlier `:` commands and `/` searches, oldest first, and the position Up/Down reached
    /// (None: the line being typed).
    pub history: History,
    /// Characters before the cursor on the `:` or `/` line (None: at its end).
    pub input_cursor: Option<usize>,
    /// The `:` line being run, spacing kept (predicates and file names read their text from
    /// it rather than from whitespace-split words).
    pub command_line: String,
}

/// What was typed on the command and search lines, for Up/Down.
#[derive(Debug, Clone, Default)]
pub struct History {
    pub commands: Vec<String>,
    pub searches: Vec<String>,
    pub at: Option<usize>,
}

impl History {
    /// Remembers `line` (not twice in a row).
    pub fn push(list: &mut Vec<String>, line: &str) {
        if !line.trim().is_empty() && list.last().is_none_or(|l| l != line) {
            list.push(line.to_string());
        }
    }
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
            help_scroll: 0,
            history: History::default(),
            input_cursor: None,
            command_line: String::new(),
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

    /// A message for the bottom line.
    pub fn info(&mut self, text: impl Into<String>) {
        self.message = Some(Message::new(text, false));
    }

    /// An error for the bottom line.
    pub fn error(&mut self, text: impl Into<String>) {
        self.message = Some(Message::new(text, true));
    }

    pub fn refresh(&mut self) {
        let areas = self.areas();
        let picker = &self.picker;
        if let Some(t) = self.tabs.get_mut(self.active) {
            t.refresh(&areas, picker);
        }
    }

    pub fn running_jobs(&self) -> impl Iterator<Item = &JobView> {
        self.jobs.iter().filter(|j| j.state == JobState::Running)
    }

    /// The stage of `t`'s pipeline job while it runs ("projection 40%").
    pub fn busy(&self, t: &Tab) -> Option<String> {
        let id = t.pipeline_job?;
        self.jobs
            .iter()
            .find(|j| j.id == id)
            .map(|j| format!("{} {:.0}%", j.stage, j.fraction * 100.0))
    }
}
