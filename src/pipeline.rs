//! The stages wired together: embedding → kNN → fuzzy graph → projection → clusters →
//! anomaly scores. Each stage reports progress and its result as it lands, so the TUI can show
//! the map before the clusters exist.

use crate::analysis::{
    anomaly::{self, AnomalyParams},
    fuzzy,
    graph::CsrGraph,
    kmeans::{self, KMeansParams},
    knn::{self, KnnGraph, KnnParams},
    leiden::{self, LeidenParams},
    umap::{self, UmapParams},
};
use crate::data::Dataset;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// How items are grouped.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "method", rename_all = "lowercase")]
pub enum ClusterMethod {
    Leiden(LeidenParams),
    Kmeans(KMeansParams),
}

impl Default for ClusterMethod {
    fn default() -> Self {
        ClusterMethod::Leiden(LeidenParams::default())
    }
}

impl ClusterMethod {
    pub fn describe(&self) -> String {
        match self {
            ClusterMethod::Leiden(p) => format!("leiden {}", p.resolution),
            ClusterMethod::Kmeans(p) => format!("kmeans {}", p.k),
        }
    }
}

/// Every parameter of a run; written to the session manifest.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, Default)]
pub struct PipelineParams {
    pub seed: u64,
    pub threads: usize,
    pub knn: KnnParams,
    pub umap: UmapParams,
    pub cluster: ClusterMethod,
    pub anomaly: AnomalyParams,
    #[serde(default)]
    pub motifs: crate::analysis::motifs::MotifParams,
}

impl PipelineParams {
    /// Propagates the one seed to every stage.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self.knn.seed = seed;
        self.umap.seed = seed;
        self.anomaly.seed = seed;
        self.motifs.seed = seed;
        match &mut self.cluster {
            ClusterMethod::Leiden(p) => p.seed = seed,
            ClusterMethod::Kmeans(p) => p.seed = seed,
        }
        self
    }

    pub fn check(&self, n: usize) -> Result<(), PipelineError> {
        if n < 2 {
            return Err(PipelineError::TooFew(n));
        }
        self.knn
            .check(n)
            .map_err(|e| PipelineError::Stage("neighbours", e.to_string()))?;
        self.umap
            .check(n)
            .map_err(|e| PipelineError::Stage("projection", e.to_string()))?;
        match &self.cluster {
            ClusterMethod::Leiden(p) => p
                .check()
                .map_err(|e| PipelineError::Stage("clustering", e.to_string()))?,
            ClusterMethod::Kmeans(p) if p.k == 0 || p.k > n => {
                return Err(PipelineError::Stage(
                    "clustering",
                    format!("k-means needs 1 ≤ k ≤ {n}, got {}", p.k),
                ));
            }
            ClusterMethod::Kmeans(_) => {}
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PipelineError {
    #[error(
        "{0} item(s): at least 2 are needed, and more than k (default 15) for the neighbour graph"
    )]
    TooFew(usize),
    #[error("{0}: {1}")]
    Stage(&'static str, String),
    #[error("cancelled")]
    Cancelled,
}

/// Everything computed for one dataset.
#[derive(Debug, Clone)]
pub struct Analysis {
    pub knn: Arc<KnnGraph>,
    pub graph: Option<Arc<CsrGraph>>,
    pub layout: Arc<Vec<[f32; 2]>>,
    pub clusters: Arc<Vec<u32>>,
    pub cluster_method: ClusterMethod,
    pub anomaly_knn: Arc<Vec<f32>>,
    pub anomaly_iforest: Arc<Vec<f32>>,
    /// The count model's per-cell reconstruction NLL (cells trained with a model only).
    pub anomaly_model: Option<Arc<Vec<f32>>>,
    /// Marker genes per cluster (datasets with expression values).
    pub markers: Option<Arc<crate::analysis::markers::Markers>>,
    /// Motifs per cluster (DNA).
    pub motifs: Option<Arc<crate::analysis::motifs::MotifResults>>,
    pub timings: Vec<(String, f64)>,
}

/// What a running pipeline tells its caller.
#[derive(Debug, Clone)]
pub enum PipelineEvent {
    Stage {
        name: &'static str,
        fraction: f64,
    },
    Knn(Arc<KnnGraph>),
    Layout(Arc<Vec<[f32; 2]>>),
    Clusters(Arc<Vec<u32>>, ClusterMethod),
    Anomalies {
        knn: Arc<Vec<f32>>,
        iforest: Arc<Vec<f32>>,
    },
    Markers(Arc<crate::analysis::markers::Markers>),
    Motifs(Arc<crate::analysis::motifs::MotifResults>),
}

/// A cancellation flag shared with a job.
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// Runs `f` on a rayon pool with `threads` threads (0 = all cores).
pub fn with_threads<T: Send>(threads: usize, f: impl FnOnce() -> T + Send) -> T {
    match rayon::ThreadPoolBuilder::new().num_threads(threads).build() {
        Ok(pool) => pool.install(f),
        Err(_) => f(),
    }
}

pub fn cluster(
    data: &crate::matrix::Matrix,
    graph: &CsrGraph,
    method: &ClusterMethod,
) -> Result<Vec<u32>, PipelineError> {
    match method {
        ClusterMethod::Leiden(p) => {
            leiden::leiden(graph, p).map_err(|e| PipelineError::Stage("clustering", e.to_string()))
        }
        ClusterMethod::Kmeans(p) => {
            kmeans::kmeans(data, p).map_err(|e| PipelineError::Stage("clustering", e.to_string()))
        }
    }
}

/// Runs every stage on `ds`, calling `emit` with progress and each result as it lands.
pub fn run(
    ds: &Dataset,
    params: &PipelineParams,
    emit: &(dyn Fn(PipelineEvent) + Sync),
    cancel: &CancelToken,
) -> Result<Analysis, PipelineError> {
    params.check(ds.len())?;
    let x = &ds.embedding;
    let cancelled = || cancel.is_cancelled();
    let mut timings = Vec::new();
    let mut t = std::time::Instant::now();
    let mut lap = |name: &str, timings: &mut Vec<(String, f64)>| {
        timings.push((name.to_string(), t.elapsed().as_secs_f64()));
        t = std::time::Instant::now();
    };

    let stage = |name: &'static str| move |f: f64| emit(PipelineEvent::Stage { name, fraction: f });
    let knn =
        knn::knn_graph(x, &params.knn, &stage("neighbours"), &cancelled).map_err(|e| match e {
            knn::KnnError::Cancelled => PipelineError::Cancelled,
            e => PipelineError::Stage("neighbours", e.to_string()),
        })?;
    let knn = Arc::new(knn);
    emit(PipelineEvent::Knn(knn.clone()));
    lap("knn", &mut timings);

    emit(PipelineEvent::Stage {
        name: "fuzzy graph",
        fraction: 0.0,
    });
    let graph = Arc::new(fuzzy::fuzzy_simplicial_set(&knn));
    lap("fuzzy_graph", &mut timings);
    if cancelled() {
        return Err(PipelineError::Cancelled);
    }

    // Clusters and anomaly scores are cheap next to the layout: compute them first so the
    // user sees groups while the map is still refining.
    emit(PipelineEvent::Stage {
        name: "clustering",
        fraction: 0.0,
    });
    let clusters = Arc::new(cluster(x, &graph, &params.cluster)?);
    emit(PipelineEvent::Clusters(
        clusters.clone(),
        params.cluster.clone(),
    ));
    lap("cluster", &mut timings);

    emit(PipelineEvent::Stage {
        name: "anomaly scores",
        fraction: 0.0,
    });
    let a_knn = Arc::new(anomaly::knn_distance_score(&knn, params.anomaly.knn_k));
    let a_if = Arc::new(anomaly::isolation_forest(x, &params.anomaly));
    emit(PipelineEvent::Anomalies {
        knn: a_knn.clone(),
        iforest: a_if.clone(),
    });
    lap("anomaly", &mut timings);
    if cancelled() {
        return Err(PipelineError::Cancelled);
    }

    let markers = ds.expression.as_ref().map(|e| {
        emit(PipelineEvent::Stage {
            name: "marker genes",
            fraction: 0.0,
        });
        let m = Arc::new(crate::analysis::markers::cluster_markers(e, &clusters));
        emit(PipelineEvent::Markers(m.clone()));
        lap("markers", &mut timings);
        m
    });
    if cancelled() {
        return Err(PipelineError::Cancelled);
    }

    let motifs = match &ds.sequences {
        Some(s) => {
            let m = find_motifs(s, &clusters, &params.motifs, emit, cancel)?;
            emit(PipelineEvent::Motifs(m.clone()));
            lap("motifs", &mut timings);
            Some(m)
        }
        None => None,
    };

    let layout = umap::umap_layout(x, &graph, &params.umap, &stage("projection"), &cancelled)
        .map_err(|e| match e {
            umap::UmapError::Cancelled => PipelineError::Cancelled,
            e => PipelineError::Stage("projection", e.to_string()),
        })?;
    let layout = Arc::new(layout);
    emit(PipelineEvent::Layout(layout.clone()));
    lap("umap", &mut timings);

    Ok(Analysis {
        knn,
        graph: Some(graph),
        layout,
        clusters,
        cluster_method: params.cluster.clone(),
        anomaly_knn: a_knn,
        anomaly_iforest: a_if,
        anomaly_model: None,
        markers,
        motifs,
        timings,
    })
}

/// Motif discovery per cluster, compared with the dataset's motif file when it has one.
pub fn find_motifs(
    s: &crate::data::seq::Sequences,
    clusters: &[u32],
    p: &crate::analysis::motifs::MotifParams,
    emit: &(dyn Fn(PipelineEvent) + Sync),
    cancel: &CancelToken,
) -> Result<Arc<crate::analysis::motifs::MotifResults>, PipelineError> {
    let (name, db) = match &s.motif_db {
        Some((n, d)) => (Some(n.clone()), d.clone()),
        None => (None, Arc::new(Vec::new())),
    };
    let progress = |f: f64| {
        emit(PipelineEvent::Stage {
            name: "motifs",
            fraction: f,
        })
    };
    crate::analysis::motifs::discover(&s.seqs, clusters, db, name, p, &progress, &|| {
        cancel.is_cancelled()
    })
    .map(Arc::new)
    .ok_or(PipelineError::Cancelled)
}
