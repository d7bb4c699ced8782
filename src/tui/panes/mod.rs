//! One file per pane. Each pane owns its state (selection, scroll, caches), refreshes it from
//! the tab's data, handles the keys that move within it, and draws itself. Panes read the tab
//! through `TabView` and never import `state.rs`, so state and panes have no import circle.

pub mod bottom;
pub mod clusters;
pub mod detail;
pub mod groups;
pub mod hint;
pub mod history;
pub mod jobs;
pub mod map;
pub mod metrics;
pub mod nhood;
pub mod selections;

use crate::modality::{Dataset, Embedding, Findings};
use crate::pipeline::Partial;
use crate::pipeline::groups::{Comparison, Crosstab};
use crate::tui::color::ColorBy;
use crate::tui::selection_set::Selections;

/// What a pane reads from its tab: the data and the other panes' selections, never the
/// panes themselves.
#[derive(Clone, Copy)]
pub struct TabView<'a> {
    pub dataset: Option<&'a Dataset>,
    pub embedding: Option<&'a Embedding>,
    pub result: &'a Partial,
    /// A `:compare` result, shown in place of the selected cluster's findings.
    pub comparison: Option<&'a Comparison>,
    /// The last `:crosstab`.
    pub crosstab: Option<&'a Crosstab>,
    /// The last `:nhood`.
    pub nhood: Option<&'a crate::pipeline::spatial::Neighbourhood>,
    /// Named selections and their members.
    pub selections: &'a Selections,
    pub color: &'a ColorBy,
    /// Bumped whenever data changes; keys the caches.
    pub version: u64,
    /// Bumped when the colouring changes.
    pub color_version: u64,
    /// The item under the map's cursor.
    pub cursor: Option<usize>,
    /// The cluster selected in the clusters pane.
    pub cluster: Option<u32>,
    /// The pipeline's current stage while it runs ("projection 40%").
    pub busy: Option<&'a str>,
    pub error: Option<&'a str>,
    /// Positions on the tissue, when the map shows them instead of the projection.
    pub tissue: Option<&'a crate::tui::tissue::Tissue>,
    /// A live run's versions, the one shown, and its metrics.
    pub versions: &'a [std::sync::Arc<crate::watch::Version>],
    pub shown_version: Option<usize>,
    pub metrics: Option<&'a crate::watch::metrics::Metrics>,
}

impl TabView<'_> {
    /// What the model's per-item score is called for this tab's data.
    pub fn model_score_name(&self) -> &'static str {
        self.dataset
            .map_or("reconstruction NLL", |d| d.modality().model_score_name())
    }

    /// The anomaly score the bottom pane ranks by: the one being coloured, else kNN distance.
    pub fn anomaly_scores(&self) -> Option<&'_ std::sync::Arc<Vec<f32>>> {
        match self.color {
            ColorBy::AnomalyIforest => self.result.anomaly_iforest.as_ref(),
            ColorBy::AnomalyModel => self.result.anomaly_model.as_ref(),
            ColorBy::AnomalyDepth => self.result.anomaly_depth.as_ref(),
            _ => self.result.anomaly_knn.as_ref(),
        }
    }
}

impl<'a> TabView<'a> {
    /// The layout the map draws: the tissue's positions, else the projection.
    pub fn layout(&self) -> Option<&'a std::sync::Arc<Vec<[f32; 2]>>> {
        match self.tissue {
            Some(t) => Some(&t.layout),
            None => self.result.layout.as_ref(),
        }
    }

    /// The findings shown: a `:compare` result's, else the clusters'.
    pub fn findings(&self) -> Option<&'a Findings> {
        self.comparison
            .and_then(|c| c.findings.as_ref())
            .or(self.result.findings.as_ref())
    }
}
