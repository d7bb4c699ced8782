//! The analysis stages: plain functions over plain data, each with a validated parameter
//! struct. Nothing here knows about a terminal.

pub mod anomaly;
pub mod fuzzy;
pub mod graph;
pub mod kmeans;
pub mod kmer;
pub mod knn;
pub mod leiden;
pub mod markers;
pub mod metrics;
pub mod motifs;
pub mod preprocess;
pub mod tomtom;
pub mod umap;
