//! What the map is coloured by: a tab's state that the map, the bottom pane and the commands
//! read (its own file so that the panes' shared view of a tab imports no pane).

/// The colouring of the map.
#[derive(Debug, Clone, PartialEq)]
pub enum ColorBy {
    Cluster,
    AnomalyKnn,
    AnomalyIforest,
    /// The model's own anomaly score (which one depends on the modality).
    AnomalyModel,
    /// The kNN score with library size regressed out (`anomaly_knn_depth`).
    AnomalyDepth,
    Meta(String),
    /// Mean log-normalised expression of these genes (display name first).
    Genes(String, Vec<usize>),
    /// A selection's members, the rest greyed.
    Selection(String),
}

impl ColorBy {
    pub fn name(&self) -> &str {
        match self {
            ColorBy::Cluster => "cluster",
            ColorBy::AnomalyKnn => "anomaly_knn",
            ColorBy::AnomalyIforest => "anomaly_iforest",
            ColorBy::AnomalyModel => "anomaly_model",
            ColorBy::AnomalyDepth => crate::pipeline::DEPTH_SCORE,
            ColorBy::Meta(n) => n,
            ColorBy::Genes(n, _) => n,
            ColorBy::Selection(n) => n,
        }
    }
}
