//! The modality-free stages: plain functions over plain data, each with a validated parameter
//! struct. Nothing here knows about a modality or a terminal.

pub mod anomaly;
pub mod fuzzy;
pub mod graph;
pub mod kmeans;
pub mod knn;
pub mod leiden;
pub mod metrics;
pub mod pca;
pub mod spatial;
pub mod stats;
pub mod umap;
