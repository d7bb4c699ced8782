//! The one pipeline: read → embed (baseline, then the modality's model) → neighbours → fuzzy
//! graph → clusters → anomaly scores → characterisation → projection. `biolens run` and the
//! interface's pipeline job both call `run`; `:recluster` calls `recluster`. Each stage reports
//! progress and its result as it lands, so the interface can show the map before the model
//! has finished training.

pub mod groups;
pub mod jobs;
pub mod predicate;
pub mod recluster;
pub mod select;
pub mod spatial;

use crate::analysis::{
    anomaly::{self, AnomalyParams},
    fuzzy,
    graph::CsrGraph,
    kmeans::{self, KMeansParams},
    knn::{self, KnnGraph, KnnParams},
    leiden::{self, LeidenParams},
    umap::{self, UmapParams},
};
use crate::modality::{
    self, Dataset, EmbedError, Embedding, Findings, LoadError, ModelEvent, Options,
};
use std::path::PathBuf;
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
    pub motifs: crate::modality::dna::motifs::MotifParams,
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

    /// Checks what does not depend on the data (before anything is read).
    pub fn check_options(&self) -> Result<(), PipelineError> {
        if !(4..=12).contains(&self.motifs.k) {
            return Err(PipelineError::Options(format!(
                "--motif-k must be from 4 to 12, got {}",
                self.motifs.k
            )));
        }
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        if self.threads > 4 * cores.max(1) {
            return Err(PipelineError::Options(format!(
                "--threads must be at most {} (4 × the {cores} cores here; 0 uses them all), got {}",
                4 * cores,
                self.threads
            )));
        }
        Ok(())
    }

    pub fn check(&self, n: usize) -> Result<(), PipelineError> {
        self.check_options()?;
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

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    // Boxed: reader and model errors carry paths and messages, and every stage returns this.
    #[error(transparent)]
    Load(Box<LoadError>),
    #[error(transparent)]
    Embed(Box<EmbedError>),
    /// A stage failed for one input.
    #[error("{input}: {error}")]
    In {
        input: String,
        error: Box<PipelineError>,
    },
    #[error(
        "{0} item(s): at least 2 are needed, and more than k (default 15) for the neighbour graph"
    )]
    TooFew(usize),
    #[error("{0}: {1}")]
    Stage(&'static str, String),
    #[error("cancelled")]
    Cancelled,
    /// An option out of its range, found before any work.
    #[error("{0}")]
    Options(String),
}

impl From<LoadError> for PipelineError {
    fn from(e: LoadError) -> Self {
        PipelineError::Load(Box::new(e))
    }
}

impl From<EmbedError> for PipelineError {
    fn from(e: EmbedError) -> Self {
        PipelineError::Embed(Box::new(e))
    }
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
    /// The kNN score with library size regressed out (`anomaly_knn_depth`), where the items
    /// have a library size (`depth_adjusted`).
    pub anomaly_depth: Option<Arc<Vec<f32>>>,
    /// The count model's per-cell reconstruction NLL (cells trained with a model only).
    pub anomaly_model: Option<Arc<Vec<f32>>>,
    /// What the modality found in each cluster (marker genes, motifs); None for a modality
    /// without findings of its own.
    pub findings: Option<Findings>,
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
        depth: Option<Arc<Vec<f32>>>,
    },
    /// The clusters' characterisation (marker genes, motifs).
    Findings(Findings),
    /// The input has been read.
    Loaded(Arc<Dataset>),
    /// An embedding is ready (the baseline first, then the model's when one runs).
    Embedded(Arc<Embedding>),
    /// Every stage has run on the latest embedding.
    Analysed(Box<Analysis>),
    /// A line worth showing (what a model measured).
    Note(String),
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
    data: &crate::core::matrix::Matrix,
    graph: &CsrGraph,
    method: &ClusterMethod,
    cancel: &CancelToken,
) -> Result<Vec<u32>, PipelineError> {
    match method {
        ClusterMethod::Leiden(p) => leiden::leiden_cancellable(graph, p, &|| cancel.is_cancelled())
            .map_err(|e| match e {
                leiden::LeidenError::Cancelled => PipelineError::Cancelled,
                e => PipelineError::Stage("clustering", e.to_string()),
            }),
        ClusterMethod::Kmeans(p) => {
            kmeans::kmeans(data, p).map_err(|e| PipelineError::Stage("clustering", e.to_string()))
        }
    }
}

/// One input, read, embedded and analysed.
#[derive(Debug, Clone)]
pub struct Analysed {
    pub dataset: Arc<Dataset>,
    pub embedding: Arc<Embedding>,
    pub analysis: Analysis,
}

/// How a run goes beyond its stage parameters.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunOptions {
    /// How inputs are read and embedded.
    pub inputs: Options,
    /// Analyse the baseline embedding before the model stage, so a viewer has a map while a
    /// model trains (the interface); off for batch runs, which want only the final result.
    pub preview: bool,
}

/// What a run tells its caller: the input's index and the event.
pub type Emit<'a> = &'a (dyn Fn(usize, PipelineEvent) + Sync);

/// Reads every input (so a bad one fails before any work), names them uniquely, then embeds
/// and analyses each in turn. The command line's `run` and the interface's pipeline job call
/// this; nothing else wires the stages.
pub fn run(
    inputs: &[PathBuf],
    params: &PipelineParams,
    opts: &RunOptions,
    emit: Emit,
    cancel: &CancelToken,
) -> Result<Vec<Analysed>, PipelineError> {
    params.check_options()?;
    opts.inputs.check().map_err(PipelineError::Options)?;
    let mut datasets = Vec::with_capacity(inputs.len());
    for (i, p) in inputs.iter().enumerate() {
        let progress = |name: &'static str, fraction: f64| {
            emit(i, PipelineEvent::Stage { name, fraction });
        };
        datasets.push(modality::read_with(p, &opts.inputs, &progress)?);
    }
    let mut seen = std::collections::HashSet::new();
    for d in &mut datasets {
        while !seen.insert(d.name.clone()) {
            d.name.push('\'');
        }
    }
    datasets
        .into_iter()
        .enumerate()
        .map(|(i, ds)| run_dataset(Arc::new(ds), params, opts, &|e| emit(i, e), cancel))
        .collect()
}

/// Embeds and analyses one dataset: the baseline, then the modality's model stage when it has
/// one (with `opts.preview`, the baseline is analysed first), then every analysis stage.
pub fn run_dataset(
    ds: Arc<Dataset>,
    params: &PipelineParams,
    opts: &RunOptions,
    emit: &(dyn Fn(PipelineEvent) + Sync),
    cancel: &CancelToken,
) -> Result<Analysed, PipelineError> {
    run_dataset_from(ds, params, opts, &|_| None, emit, cancel)
}

/// `run_dataset`, each projection started where `start` puts the items.
pub fn run_dataset_from(
    ds: Arc<Dataset>,
    params: &PipelineParams,
    opts: &RunOptions,
    start: Start,
    emit: &(dyn Fn(PipelineEvent) + Sync),
    cancel: &CancelToken,
) -> Result<Analysed, PipelineError> {
    let within = |e: PipelineError| match e {
        PipelineError::Cancelled | PipelineError::Embed(_) | PipelineError::Load(_) => e,
        e => PipelineError::In {
            input: ds.path.display().to_string(),
            error: Box::new(e),
        },
    };
    emit(PipelineEvent::Loaded(ds.clone()));
    params.check(ds.len()).map_err(within)?;
    // Every embedding is announced, analysed, and the analysis announced.
    let analysed = |emb: Embedding| -> Result<(Arc<Embedding>, Analysis), PipelineError> {
        let emb = Arc::new(emb);
        emit(PipelineEvent::Embedded(emb.clone()));
        let a = analyse_from(&ds, &emb, params, start, emit, cancel).map_err(within)?;
        emit(PipelineEvent::Analysed(Box::new(a.clone())));
        Ok((emb, a))
    };
    emit(PipelineEvent::Stage {
        name: "embedding",
        fraction: 0.0,
    });
    let base = modality::baseline(&ds, &opts.inputs)?;
    let (embedding, analysis) = if modality::has_model_stage(&ds, &opts.inputs)? {
        if opts.preview {
            analysed(base.clone())?;
        }
        let emb = modality::model_stage(&ds, base, &opts.inputs, &mut |ev| {
            emit(match ev {
                ModelEvent::Progress { stage, fraction } => PipelineEvent::Stage {
                    name: stage,
                    fraction,
                },
                ModelEvent::Note(text) => PipelineEvent::Note(text),
            });
            !cancel.is_cancelled()
        })?
        .ok_or(PipelineError::Cancelled)?;
        if let Some(m) = &emb.model {
            emit(PipelineEvent::Note(modality::describe_model(m)));
        }
        analysed(emb)?
    } else {
        analysed(base)?
    };
    Ok(Analysed {
        dataset: ds,
        embedding,
        analysis,
    })
}

/// Every analysis stage on one embedding, calling `emit` with progress and each result as it
/// lands.
pub fn analyse(
    ds: &Dataset,
    emb: &Embedding,
    params: &PipelineParams,
    emit: &(dyn Fn(PipelineEvent) + Sync),
    cancel: &CancelToken,
) -> Result<Analysis, PipelineError> {
    analyse_from(ds, emb, params, &|_| None, emit, cancel)
}

/// Where each item's projection starts, given the items' kNN graph (None: the usual
/// spectral start). A live run starts each version from the one before.
pub type Start<'a> = &'a (dyn Fn(&KnnGraph) -> Option<Vec<[f32; 2]>> + Sync);

/// `analyse`, with the projection started where `start` puts each item.
pub fn analyse_from(
    ds: &Dataset,
    emb: &Embedding,
    params: &PipelineParams,
    start: Start,
    emit: &(dyn Fn(PipelineEvent) + Sync),
    cancel: &CancelToken,
) -> Result<Analysis, PipelineError> {
    params.check(ds.len())?;
    let x = &*emb.matrix;
    if x.cols == 0 {
        return Err(PipelineError::Stage(
            "embedding",
            format!(
                "{}: the embedding has no dimensions (every item empty or unreadable?)",
                emb.source.describe()
            ),
        ));
    }
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
    let clusters = Arc::new(cluster(x, &graph, &params.cluster, cancel)?);
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
    let a_depth = depth_adjusted(ds, &a_knn).map(Arc::new);
    emit(PipelineEvent::Anomalies {
        knn: a_knn.clone(),
        iforest: a_if.clone(),
        depth: a_depth.clone(),
    });
    lap("anomaly", &mut timings);
    if cancelled() {
        return Err(PipelineError::Cancelled);
    }

    let progress =
        |name: &'static str, fraction: f64| emit(PipelineEvent::Stage { name, fraction });
    let findings = modality::characterise(ds, &clusters, &params.motifs, &progress, &cancelled)
        .map_err(|_| PipelineError::Cancelled)?;
    if let Some(f) = &findings {
        emit(PipelineEvent::Findings(f.clone()));
        lap(f.stage(), &mut timings);
    }
    if cancelled() {
        return Err(PipelineError::Cancelled);
    }

    let start = start(&knn);
    let layout = umap::umap_layout_from(
        x,
        &graph,
        &params.umap,
        start.as_deref(),
        &stage("projection"),
        &cancelled,
    )
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
        anomaly_depth: a_depth,
        anomaly_model: emb.anomaly_model.clone(),
        findings,
        timings,
    })
}

/// What `anomaly_depth` is called in tables, colourings and predicates.
pub const DEPTH_SCORE: &str = "anomaly_knn_depth";

/// Names of a library-size column: scanpy's, Seurat's, older scanpy's.
pub const LIBRARY_SIZE: [&str; 3] = ["total_counts", "nCount_RNA", "n_counts"];

/// The library-size column a dataset's items may carry (cells: `total_counts`, or Seurat's
/// and older scanpy's names).
pub fn library_size(ds: &Dataset) -> Option<&[f64]> {
    LIBRARY_SIZE
        .iter()
        .find_map(|n| match ds.meta_column(n).map(|c| &c.values) {
            Some(crate::core::MetaValues::Number(v)) if v.len() == ds.len() => Some(v.as_slice()),
            _ => None,
        })
}

/// The kNN anomaly score with log library size regressed out: an item far from its
/// neighbours only because it has few counts (a low-quality cell) no longer ranks high. None
/// for items without a library size.
pub fn depth_adjusted(ds: &Dataset, knn: &[f32]) -> Option<Vec<f32>> {
    let lib: Vec<f64> = library_size(ds)?
        .iter()
        .map(|x| x.max(0.0).ln_1p())
        .collect();
    anomaly::adjusted_for(knn, &lib)
}

/// Reads one input and makes its baseline embedding (no model): what tests, benchmarks and
/// scripts need to call `analyse` on a file.
pub fn load(path: &std::path::Path, opts: &Options) -> Result<(Dataset, Embedding), PipelineError> {
    let ds = modality::read(path, opts)?;
    let emb = modality::baseline(&ds, opts)?;
    Ok((ds, emb))
}

/// An analysis as it lands, stage by stage: what a viewer holds while the pipeline runs.
/// `apply` merges each event the way `analyse` produces them, so no front end re-implements it.
#[derive(Debug, Clone, Default)]
pub struct Partial {
    pub knn: Option<Arc<KnnGraph>>,
    pub graph: Option<Arc<CsrGraph>>,
    pub layout: Option<Arc<Vec<[f32; 2]>>>,
    pub clusters: Option<Arc<Vec<u32>>>,
    pub cluster_method: Option<ClusterMethod>,
    pub anomaly_knn: Option<Arc<Vec<f32>>>,
    pub anomaly_iforest: Option<Arc<Vec<f32>>>,
    pub anomaly_depth: Option<Arc<Vec<f32>>>,
    pub anomaly_model: Option<Arc<Vec<f32>>>,
    pub findings: Option<Findings>,
}

impl Partial {
    /// Takes in one result event; returns whether anything changed.
    pub fn apply(&mut self, ev: &PipelineEvent) -> bool {
        match ev {
            PipelineEvent::Knn(k) => self.knn = Some(k.clone()),
            PipelineEvent::Layout(l) => self.layout = Some(l.clone()),
            PipelineEvent::Clusters(c, m) => {
                self.clusters = Some(c.clone());
                self.cluster_method = Some(m.clone());
            }
            PipelineEvent::Anomalies {
                knn,
                iforest,
                depth,
            } => {
                self.anomaly_knn = Some(knn.clone());
                self.anomaly_iforest = Some(iforest.clone());
                self.anomaly_depth = depth.clone();
            }
            PipelineEvent::Findings(f) => {
                self.findings = Some(f.clone().keeping(self.findings.as_ref()));
            }
            PipelineEvent::Embedded(e) => self.anomaly_model = e.anomaly_model.clone(),
            // The whole result: after the stage events it repeats them (and adds the graph);
            // a session read back sends it alone.
            PipelineEvent::Analysed(a) => *self = Partial::from((**a).clone()),
            PipelineEvent::Stage { .. } | PipelineEvent::Loaded(_) | PipelineEvent::Note(_) => {
                return false;
            }
        }
        true
    }

    /// The one result type, once neighbours, clusters and anomaly scores exist (the layout
    /// may still be computing: it is empty then).
    pub fn analysis(&self) -> Option<Analysis> {
        Some(Analysis {
            knn: self.knn.clone()?,
            graph: self.graph.clone(),
            layout: self.layout.clone().unwrap_or_default(),
            clusters: self.clusters.clone()?,
            cluster_method: self.cluster_method.clone()?,
            anomaly_knn: self.anomaly_knn.clone()?,
            anomaly_iforest: self.anomaly_iforest.clone()?,
            anomaly_depth: self.anomaly_depth.clone(),
            anomaly_model: self.anomaly_model.clone(),
            findings: self.findings.clone(),
            timings: Vec::new(),
        })
    }
}

impl From<Analysis> for Partial {
    fn from(a: Analysis) -> Self {
        Self {
            knn: Some(a.knn),
            graph: a.graph,
            layout: Some(a.layout),
            clusters: Some(a.clusters),
            cluster_method: Some(a.cluster_method),
            anomaly_knn: Some(a.anomaly_knn),
            anomaly_iforest: Some(a.anomaly_iforest),
            anomaly_depth: a.anomaly_depth,
            anomaly_model: a.anomaly_model,
            findings: a.findings,
        }
    }
}
