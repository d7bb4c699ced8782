//! Command-line definitions (clap). Flags follow DESIGN §3; those of later modalities are added
//! with them.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(name = "biolens", version, args_conflicts_with_subcommands = false, about = "Explore unlabelled biological data in the terminal: kNN graph, UMAP-like map, Leiden clusters, anomalies.", long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Inputs to open (same as `biolens open PATH…`); none opens the built-in demo.
    pub paths: Vec<PathBuf>,
    #[command(flatten)]
    pub opts: CommonOpts,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Open inputs or a saved session in the terminal interface (no path: the built-in demo).
    Open { paths: Vec<PathBuf> },
    /// Compute headless and write a session folder.
    Run {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Output session folder (NAME.biolens).
        #[arg(short = 'o', long = "out")]
        out: PathBuf,
    },
    /// Export a table from a saved session.
    Export {
        session: PathBuf,
        what: ExportWhat,
        #[arg(long, value_enum, default_value = "csv")]
        format: ExportFormat,
        #[arg(short = 'o', long = "out")]
        out: PathBuf,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq)]
pub enum ExportWhat {
    Clusters,
    Anomalies,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq)]
pub enum ExportFormat {
    Csv,
    Parquet,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq)]
pub enum ClusterChoice {
    Leiden,
    Kmeans,
}

#[derive(Debug, Args, Clone)]
pub struct CommonOpts {
    /// Metadata CSV aligned by id (first column) or by row.
    #[arg(long, global = true)]
    pub meta: Option<PathBuf>,
    /// Metadata column with known labels: prints ARI, NMI, trustworthiness and kNN recall.
    #[arg(long, global = true)]
    pub labels: Option<String>,
    #[arg(long, default_value_t = 0, global = true)]
    pub seed: u64,
    /// Worker threads (0 = all cores). Results do not depend on it.
    #[arg(long, default_value_t = 0, global = true)]
    pub threads: usize,
    #[arg(long, value_enum, default_value = "leiden", global = true)]
    pub cluster: ClusterChoice,
    /// Leiden resolution.
    #[arg(long, default_value_t = 1.0, global = true)]
    pub resolution: f64,
    /// Number of k-means clusters.
    #[arg(long, default_value_t = 10, global = true)]
    pub clusters: usize,
    /// Neighbours per item, the item included.
    #[arg(short = 'k', long = "neighbors", default_value_t = 15, global = true)]
    pub k: usize,
    /// Log file (default: $XDG_STATE_HOME/biolens/biolens.log or ~/.local/state/…).
    #[arg(long, global = true)]
    pub log: Option<PathBuf>,
    /// Key file merged over the default keys (default: $XDG_CONFIG_HOME/biolens/keys.toml or
    /// ~/.config/biolens/keys.toml when it exists).
    #[arg(long, global = true)]
    pub keys: Option<PathBuf>,
}

impl Default for CommonOpts {
    fn default() -> Self {
        Self {
            meta: None,
            labels: None,
            seed: 0,
            threads: 0,
            cluster: ClusterChoice::Leiden,
            resolution: 1.0,
            clusters: 10,
            k: 15,
            log: None,
            keys: None,
        }
    }
}

impl CommonOpts {
    pub fn pipeline_params(&self) -> crate::pipeline::PipelineParams {
        use crate::analysis::{kmeans::KMeansParams, leiden::LeidenParams};
        let mut p = crate::pipeline::PipelineParams {
            threads: self.threads,
            ..Default::default()
        };
        p.knn.k = self.k;
        p.cluster = match self.cluster {
            ClusterChoice::Leiden => crate::pipeline::ClusterMethod::Leiden(LeidenParams {
                resolution: self.resolution,
                ..Default::default()
            }),
            ClusterChoice::Kmeans => crate::pipeline::ClusterMethod::Kmeans(KMeansParams {
                k: self.clusters,
                ..Default::default()
            }),
        };
        p.with_seed(self.seed)
    }
}
