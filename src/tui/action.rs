//! What can happen (actions) and what the loop must do about it (effects).

use crate::pipeline::ClusterMethod;
use crate::pipeline::jobs::JobId;
use crate::pipeline::jobs::JobMsg;
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    Left,
    Right,
    Up,
    Down,
}

#[derive(Debug, Clone)]
pub enum Action {
    Move(Dir),
    PageDown,
    PageUp,
    ZoomIn,
    ZoomOut,
    ResetView,
    FocusNext,
    FocusPrev,
    SelectTab(usize),
    /// Moves to the next (+1) or previous (−1) tab, wrapping around.
    CycleTab(isize),
    Open,
    CycleColor,
    StartSearch,
    SearchNext,
    SearchPrev,
    StartCommand,
    FocusAnomalies,
    ShowMarkers,
    /// Scroll the detail pane's sequence by lines (negative: up).
    ScrollDetail(i32),
    ExportCluster,
    CancelJob,
    ToggleHelp,
    Quit,
    Escape,
    InputChar(char),
    InputBackspace,
    InputSubmit,
    InputComplete,
    /// Moves the cursor on the `:` or `/` line.
    InputCursor(LineMove),
    /// Deletes the word before the cursor (C-w).
    InputDeleteWord,
    /// Deletes from the start of the line to the cursor (C-u).
    InputDeleteToStart,
    /// Copy the id under the cursor to the clipboard.
    YankId,
    /// Start (or cancel) a box selection on the map.
    BoxSelect,
    /// The selections table in the bottom pane.
    ShowSelections,
    /// The map between the projection and the positions on the tissue (`w`).
    ToggleTissue,
    /// The slide's picture in the tissue view: behind the tiles, alone, off (`b`).
    CyclePicture,
    /// Orders the focused table (the clusters pane, else the bottom pane's table).
    Sort(crate::tui::table_sort::SortRequest),
    /// The first (false) or last (true) row of the focused list.
    ListEnd(bool),
    /// Up (−1) or Down (+1) through the earlier `:` commands or `/` searches.
    InputHistory(i32),
    Resize(u16, u16),
    Click {
        col: u16,
        row: u16,
    },
    Scroll {
        up: bool,
        col: u16,
        row: u16,
    },
    Job(JobMsg),
    /// The loop spawned a job for `tab`.
    JobStarted {
        id: JobId,
        name: String,
        tab: usize,
        kind: JobKind,
    },
    /// The outcome of an effect the loop carried out (an export).
    Notify {
        text: String,
        error: bool,
    },
    Tick,
}

/// The jobs a tab can have running, one of each kind (a new one replaces the old).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobKind {
    /// Load, compute every stage, and train the count model where it applies.
    Pipeline,
    Recluster,
    /// Motif discovery again, on other groups (`:motifs`).
    Motifs,
    /// A `:compare` of two groups.
    Compare,
    /// A `:scan` of a known motif across the sequences.
    Scan,
    /// A statistic of the positions on the tissue (`:moran`).
    Spatial,
    /// The pictures behind the tissue view's tiles.
    Picture,
}

/// What to export.
#[derive(Debug, Clone, PartialEq)]
pub enum ExportKind {
    /// Every item with its cluster.
    Clusters,
    /// Every item ranked by anomaly score.
    Anomalies,
    /// The ids of one cluster.
    ClusterIds(u32),
    /// Marker genes of every cluster against the rest.
    Markers,
    /// The last `:compare` result.
    Compare,
    /// The last `:nhood` table.
    Nhood,
    /// A selection's ids, or its full rows (by the file's extension).
    Selection(String),
    /// Discovered motifs: a table, or MEME format.
    Motifs { meme: bool },
    /// Every motif site.
    Sites,
    /// The tab's results as an AnnData file, or added to a copy of `into`.
    Anndata { into: Option<PathBuf> },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Put this text on the terminal's clipboard (OSC 52).
    Yank(String),
    /// Load the tab's input (or take its dataset) and run every stage.
    StartPipeline {
        tab: usize,
    },
    Recluster {
        tab: usize,
        method: ClusterMethod,
    },
    Cancel(JobId),
    /// Motif discovery on the tab's sequences, per cluster or on the whole input.
    Motifs {
        tab: usize,
        groups: crate::modality::dna::motifs::Groups,
    },
    /// Items `a` against items `b`: markers or motifs, and the metadata.
    Compare {
        tab: usize,
        a: Vec<usize>,
        b: Vec<usize>,
        label: String,
    },
    Export {
        tab: usize,
        kind: ExportKind,
        path: PathBuf,
    },
    /// Write the tab's selections into its session's `selections.toml`.
    SaveSelections {
        tab: usize,
    },
    /// Read a picture of each slide or image the tissue view's tiles came from: (index among
    /// the tiles' sources, x offset in the view).
    SlidePictures {
        tab: usize,
        placed: Vec<(usize, f32)>,
    },
    /// Moran's I of `values` (named `what`) over the positions `at` (`:moran`).
    Moran {
        tab: usize,
        what: String,
        values: Vec<f64>,
        at: std::sync::Arc<Vec<[f32; 2]>>,
    },
    /// The neighbourhood enrichment of `labels` (groups `names`, by `by`) at the positions
    /// `at` (`:nhood`).
    Nhood {
        tab: usize,
        by: String,
        labels: Vec<u32>,
        names: Vec<String>,
        at: std::sync::Arc<Vec<[f32; 2]>>,
    },
    /// Scan the tab's sequences for motif `key` (`:scan`).
    Scan {
        tab: usize,
        key: String,
    },
    /// Keep the tab's current clusters in its session folder as column `name`.
    SaveClustering {
        tab: usize,
        name: String,
    },
    Quit,
}

/// Where the cursor of the `:` or `/` line goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineMove {
    Left,
    Right,
    Home,
    End,
}
