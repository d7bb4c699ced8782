//! The modalities behind one enum. This file is the only place that asks "which modality?":
//! reading, the baseline, the model stage, characterisation, the model's score name and the
//! session part are dispatched here, and each modality's folder holds the rest. Adding a
//! modality is one folder, one `Payload` variant with its arms below, one options struct in
//! `Options` (flattened into the CLI), and optionally a view in `tui/views/`.
//!
//! Longer than our ~600-line guide on purpose: every arm of every modality-dependent step lives
//! here so that no other file matches on the modality; each arm is a call into its folder.

pub mod cells;
pub mod dna;
pub mod findings;
pub mod images;

pub use findings::{Cancelled, Findings};

use crate::core::matrix::Matrix;
use crate::core::{DataError, MetaColumn, MetaValues};
use crate::io::{FileError, bad};
use cells::CellsData;
use dna::DnaData;
use images::ImagesData;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What kind of items a dataset holds; one TUI tab per dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Modality {
    Cells,
    Dna,
    Images,
    Table,
}

impl Modality {
    pub fn as_str(&self) -> &'static str {
        match self {
            Modality::Cells => "cells",
            Modality::Dna => "dna",
            Modality::Images => "images",
            Modality::Table => "table",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "cells" => Some(Modality::Cells),
            "dna" => Some(Modality::Dna),
            "images" => Some(Modality::Images),
            "table" => Some(Modality::Table),
            _ => None,
        }
    }

    /// What the model's per-item anomaly score is called.
    pub fn model_score_name(&self) -> &'static str {
        match self {
            Modality::Dna => "pseudo-perplexity",
            Modality::Images => "reconstruction error",
            Modality::Cells | Modality::Table => "reconstruction NLL",
        }
    }

    /// The model score's column name in exports (`anomaly_` + this) and its definition, for
    /// the manifest: each modality's model gives a different score, never one shared name.
    pub fn model_score(&self) -> (&'static str, &'static str) {
        match self {
            Modality::Dna => (
                "pseudo_perplexity",
                "exp of the encoder's mean masked-token cross-entropy over a sampled third of \
                 the sequence's tokens (higher: less like the training sequences)",
            ),
            Modality::Images => (
                "recon_error",
                "mean squared error of a convolutional autoencoder's reconstruction of the \
                 tile's pixels (RGB in [0, 1], resized to 32 x 32)",
            ),
            Modality::Cells | Modality::Table => (
                "recon_nll",
                "negative log-likelihood (nats) of the cell's counts under the count model's \
                 reconstruction (its negative binomial or ZINB likelihood)",
            ),
        }
    }
}

/// A modality's raw data: what its baseline, model and characterisation read.
#[derive(Debug, Clone)]
pub enum Payload {
    Cells(CellsData),
    Dna(DnaData),
    Images(ImagesData),
    /// A given embedding (CSV, Parquet or NPY table): nothing to embed.
    Table(Arc<Matrix>),
}

/// One input's items: ids, metadata and the modality's data. Loaders only read: the
/// embedding is made apart from it (`Embedding`), by the pipeline's embed stage.
#[derive(Debug, Clone)]
pub struct Dataset {
    pub name: String,
    /// The path the user named.
    pub path: PathBuf,
    pub ids: Vec<String>,
    pub meta: Vec<MetaColumn>,
    /// The files read, for the manifest.
    pub inputs: Vec<PathBuf>,
    /// Things the reader did that the user should know (filters applied).
    pub notes: Vec<String>,
    pub payload: Payload,
}

impl Dataset {
    pub fn len(&self) -> usize {
        self.ids.len()
    }
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
    pub fn meta_column(&self, name: &str) -> Option<&MetaColumn> {
        self.meta.iter().find(|c| c.name == name)
    }
    pub fn modality(&self) -> Modality {
        match &self.payload {
            Payload::Cells(_) => Modality::Cells,
            Payload::Dna(_) => Modality::Dna,
            Payload::Images(_) => Modality::Images,
            Payload::Table(_) => Modality::Table,
        }
    }
    /// Expression values (cells).
    pub fn expression(&self) -> Option<&Arc<cells::Expression>> {
        match &self.payload {
            Payload::Cells(c) => Some(&c.expression),
            _ => None,
        }
    }
    /// The sequences (DNA).
    pub fn sequences(&self) -> Option<&Arc<dna::Sequences>> {
        match &self.payload {
            Payload::Dna(d) => Some(&d.sequences),
            _ => None,
        }
    }
    /// Tile pixels and boxes (images whose sources can be read).
    pub fn tiles(&self) -> Option<&Arc<images::Tiles>> {
        match &self.payload {
            Payload::Images(i) => i.tiles.as_ref(),
            _ => None,
        }
    }
}

/// How the embedding was made.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum EmbeddingSource {
    /// Read as given from a table or array.
    Precomputed,
    /// log1p-CP10k → HVG → scale → PCA from counts.
    PcaBaseline { n_genes_used: usize },
    /// An `obsm` matrix of an .h5ad, used as given.
    Obsm { key: String },
    /// The posterior mean of the scVI-style count model.
    Scvi { n_genes_used: usize, epochs: usize },
    /// Canonical k-mer spectrum → centred log-ratio → PCA.
    KmerBaseline { k: usize },
    /// A model's representation (DNA encoder, ViT, CNN), described.
    Encoder { model: String },
    /// Colour, stain (HED), texture (LBP) and thumbnail features of image tiles → PCA.
    ImageBaseline { tile: u32 },
}

impl EmbeddingSource {
    pub fn describe(&self) -> String {
        match self {
            EmbeddingSource::Precomputed => "precomputed".into(),
            EmbeddingSource::PcaBaseline { n_genes_used } => format!(
                "pca-baseline (CP10k, log1p, {n_genes_used} HVG seurat flavour, scale, PCA-50)"
            ),
            EmbeddingSource::Obsm { key } => format!("obsm {key}"),
            EmbeddingSource::Scvi {
                n_genes_used,
                epochs,
            } => format!("scvi-vae latent mean ({n_genes_used} HVG seurat_v3, {epochs} epochs)"),
            EmbeddingSource::KmerBaseline { k } => {
                format!("k-mer baseline (canonical {k}-mers, centred log-ratio, PCA-50)")
            }
            EmbeddingSource::Encoder { model } => model.clone(),
            EmbeddingSource::ImageBaseline { tile } => format!(
                "image baseline ({tile}-px tiles: RGB/grey statistics, HED stains, uniform LBP, 8×8 thumbnail; standardised, PCA-50)"
            ),
        }
    }
}

/// A model trained or loaded by the embed stage, kept so a session can save it.
#[derive(Debug, Clone)]
pub enum Model {
    Cells(Arc<cells::model::CellModel>),
    Dna(Arc<dna::model::DnaEncoder>),
    Images(Arc<images::model::TrainedCnn>),
}

/// The `n × d` representation of a dataset's items, and what made it.
#[derive(Debug, Clone)]
pub struct Embedding {
    pub matrix: Arc<Matrix>,
    pub source: EmbeddingSource,
    pub model: Option<Model>,
    /// The model's per-item anomaly score (`Modality::model_score_name`), when it has one.
    pub anomaly_model: Option<Arc<Vec<f32>>>,
}

impl Embedding {
    pub fn given(matrix: Matrix, source: EmbeddingSource) -> Self {
        Self {
            matrix: Arc::new(matrix),
            source,
            model: None,
            anomaly_model: None,
        }
    }
}

/// How inputs are read and embedded, per modality.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Options {
    /// A CSV of metadata aligned by id (first column or `id`) or, failing that, by row.
    pub meta: Option<PathBuf>,
    /// Two numeric metadata columns that hold each item's position on the tissue: copied to
    /// `spatial_x`, `spatial_y`, which the tissue view and the statistics of space read.
    pub spatial: Option<(String, String)>,
    pub cells: cells::Options,
    pub dna: dna::Options,
    pub images: images::Options,
}

impl Options {
    /// Checks every modality's options before any input is read.
    pub fn check(&self) -> Result<(), String> {
        self.cells.check()?;
        self.dna.check()?;
        self.images.check()
    }

    /// Refuses a modality's option that none of `paths` would use, rather than ignoring it.
    pub fn check_inputs(&self, paths: &[PathBuf]) -> Result<(), String> {
        if self.dna.motifs.is_some() && !paths.iter().any(|p| dna::is_dna_input(p)) {
            return Err(
                "--motifs applies to DNA inputs (FASTA/FASTQ, for matching discovered \
                        motifs); none of the inputs is one"
                    .into(),
            );
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Data(#[from] DataError),
    #[error("{path}: duplicate id '{id}' (records {first} and {second}); ids must be unique")]
    DuplicateId {
        path: PathBuf,
        id: String,
        first: usize,
        second: usize,
    },
}

/// "45 s", "12 min", "1 h 20 min": for estimates, where seconds would be false precision.
fn duration_words(s: f64) -> String {
    let s = s.max(0.0).round() as u64;
    match s {
        0..=89 => format!("{s} s"),
        90..=5399 => format!("{} min", (s + 30) / 60),
        _ => format!("{} h {} min", s / 3600, (s % 3600 + 30) / 60),
    }
}

/// Detects the format from the path and reads it. Nothing is embedded here.
pub fn read(path: &Path, opts: &Options) -> Result<Dataset, LoadError> {
    read_with(path, opts, &|_, _| {})
}

/// The same, telling `progress` (stage, fraction) as a large input is read.
pub fn read_with(
    path: &Path,
    opts: &Options,
    progress: &(dyn Fn(&'static str, f64) + Sync),
) -> Result<Dataset, LoadError> {
    if !path.exists() {
        return Err(LoadError::Data(DataError::Io {
            path: path.to_path_buf(),
            error: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file or directory"),
        }));
    }
    let name = path
        .file_name()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_else(|| path.display().to_string());
    let lower = name.to_lowercase();
    let table = |t: crate::io::tables::EmbeddingTable| {
        let inputs = vec![path.to_path_buf()];
        (
            t.ids,
            t.meta,
            Payload::Table(Arc::new(t.matrix)),
            inputs,
            vec![],
        )
    };
    let (ids, mut meta, payload, mut inputs, mut notes) = if cells::is_cells_input(path) {
        let r = cells::read_with(path, &opts.cells, &|f| progress("reading", f))?;
        (r.ids, r.meta, Payload::Cells(r.data), r.inputs, r.notes)
    } else if images::is_images_input(path) {
        let r = images::read(path, &opts.images, &|f| progress("reading tiles", f))?;
        (r.ids, r.meta, Payload::Images(r.data), r.inputs, r.notes)
    } else if path.is_dir() {
        return Err(LoadError::Data(DataError::file(
            path,
            "folder has no matrix.mtx or matrix.mtx.gz (a 10x Matrix Market folder) and no PNG, JPEG, TIFF or SVS images",
        )));
    } else if dna::is_dna_input(path) {
        let r = dna::read(path, &opts.dna)?;
        (r.ids, r.meta, Payload::Dna(r.data), r.inputs, r.notes)
    } else if lower.ends_with(".csv") || lower.ends_with(".tsv") || lower.ends_with(".csv.gz") {
        table(crate::io::tables::read_embedding_csv(path)?)
    } else if crate::io::frame::is_columnar(path) {
        table(crate::io::tables::read_embedding_columnar(path)?)
    } else if lower.ends_with(".npy") {
        table(crate::io::npy::read_embedding_npy(path)?)
    } else {
        return Err(LoadError::Data(DataError::Unrecognised {
            path: path.to_path_buf(),
        }));
    };
    if let Some(m) = &opts.meta {
        notes.extend(crate::io::tables::attach_csv(&ids, &mut meta, m)?);
        inputs.push(m.clone());
    }
    if let Some((x, y)) = &opts.spatial {
        let position = |name: &str| -> Result<Vec<f64>, LoadError> {
            match meta.iter().find(|c| c.name == *name).map(|c| &c.values) {
                Some(MetaValues::Number(v)) => Ok(v.clone()),
                Some(MetaValues::Text(_)) => Err(LoadError::Data(DataError::file(
                    path,
                    format!("--spatial: column '{name}' is not numeric"),
                ))),
                None => Err(LoadError::Data(DataError::file(
                    path,
                    format!(
                        "--spatial: no column '{name}' (columns: {})",
                        meta.iter()
                            .map(|c| c.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ))),
            }
        };
        let (xs, ys) = (position(x)?, position(y)?);
        meta.retain(|c| c.name != "spatial_x" && c.name != "spatial_y");
        for (name, v) in [("spatial_x", xs), ("spatial_y", ys)] {
            meta.push(MetaColumn {
                name: name.into(),
                values: MetaValues::Number(v),
            });
        }
        notes.push(format!(
            "positions on the tissue from columns {x}, {y} (as spatial_x, spatial_y)"
        ));
    }
    let ds = Dataset {
        name,
        path: path.to_path_buf(),
        ids,
        meta,
        inputs,
        notes,
        payload,
    };
    check_ids(&ds)?;
    Ok(ds)
}

fn check_ids(ds: &Dataset) -> Result<(), LoadError> {
    let mut seen = std::collections::HashMap::with_capacity(ds.ids.len());
    for (i, id) in ds.ids.iter().enumerate() {
        if let Some(&first) = seen.get(id.as_str()) {
            return Err(LoadError::DuplicateId {
                path: ds.inputs.first().cloned().unwrap_or_default(),
                id: id.clone(),
                first: first + 1,
                second: i + 1,
            });
        }
        seen.insert(id.as_str(), i);
    }
    Ok(())
}

/// Why a dataset could not be embedded.
#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    #[error("{path}: {error}")]
    Baseline {
        path: PathBuf,
        error: crate::analysis::pca::BaselineError,
    },
    #[error(transparent)]
    Data(#[from] DataError),
    #[error("{name}: {error}")]
    Cells {
        name: String,
        error: cells::vae::ScviError,
    },
    #[error("{name}: the DNA encoder: {error}")]
    Dna {
        name: String,
        error: dna::encoder::EncoderError,
    },
    #[error("{name}: {error}")]
    Images {
        name: String,
        error: images::model::ImageModelError,
    },
}

/// The embedding every dataset gets first, without a model.
pub fn baseline(ds: &Dataset, opts: &Options) -> Result<Embedding, EmbedError> {
    let pca_err = |error| EmbedError::Baseline {
        path: ds.path.clone(),
        error,
    };
    Ok(match &ds.payload {
        Payload::Cells(d) => {
            let (m, genes) =
                cells::baseline(&ds.path, &ds.ids, d, &opts.cells).map_err(|e| match e {
                    cells::BaselineFailure::Data(e) => EmbedError::Data(e),
                    cells::BaselineFailure::Pca(e) => pca_err(e),
                })?;
            let source = match (&opts.cells.obsm, genes) {
                (Some(key), _) => EmbeddingSource::Obsm { key: key.clone() },
                (None, n) => EmbeddingSource::PcaBaseline {
                    n_genes_used: n.unwrap_or(0),
                },
            };
            Embedding::given(m, source)
        }
        Payload::Dna(d) => Embedding::given(
            dna::baseline(d, &opts.dna).map_err(pca_err)?,
            EmbeddingSource::KmerBaseline { k: opts.dna.kmer.k },
        ),
        Payload::Images(d) => Embedding::given(
            images::baseline(d).map_err(pca_err)?,
            EmbeddingSource::ImageBaseline {
                tile: opts.images.tiles.tile,
            },
        ),
        Payload::Table(m) => Embedding {
            matrix: m.clone(),
            source: EmbeddingSource::Precomputed,
            model: None,
            anomaly_model: None,
        },
    })
}

/// Whether the model stage has work for this dataset (a model to train or load, or a
/// model-based anomaly score); an error when a model was asked for that the data cannot feed.
pub fn has_model_stage(ds: &Dataset, opts: &Options) -> Result<bool, EmbedError> {
    Ok(match &ds.payload {
        Payload::Cells(d) => cells::trains(d, &opts.cells).map_err(|error| EmbedError::Cells {
            name: ds.name.clone(),
            error,
        })?,
        Payload::Dna(_) => dna::trains(&opts.dna),
        Payload::Images(d) => {
            d.tiles.is_some() && (images::trains(&opts.images) || opts.images.ae_epochs > 0)
        }
        Payload::Table(_) => false,
    })
}

/// What the model stage tells its caller while it runs.
pub enum ModelEvent {
    Progress {
        stage: &'static str,
        fraction: f64,
    },
    /// A line worth showing (a held-out loss after an epoch).
    Note(String),
}

/// The model stage: trains or loads the modality's model and embeds with it, and computes
/// the model's anomaly scores. `base` is the baseline embedding, kept where no model
/// replaces it. None when cancelled (`events` returned false).
pub fn model_stage(
    ds: &Dataset,
    base: Embedding,
    opts: &Options,
    events: &mut dyn FnMut(ModelEvent) -> bool,
) -> Result<Option<Embedding>, EmbedError> {
    let name = || ds.name.clone();
    match &ds.payload {
        Payload::Cells(d) => {
            let device = opts.cells.params.device;
            let out = cells::model::train(&d.expression, &opts.cells.params, &mut |ev| match ev {
                cells::vae::TrainEvent::Estimate { seconds, epochs } => {
                    events(ModelEvent::Note(format!(
                        "count model: {epochs} epochs on {}, about {} at the speed of the first mini-batches (early stopping may end it sooner)",
                        device.as_str(),
                        duration_words(seconds)
                    )))
                }
                cells::vae::TrainEvent::Epoch(r) => events(ModelEvent::Progress {
                    stage: "training vae",
                    fraction: r.epoch as f64 / r.max_epochs as f64,
                }),
            })
            .map_err(|error| EmbedError::Cells {
                name: name(),
                error,
            })?;
            Ok(Some(Embedding {
                source: EmbeddingSource::Scvi {
                    n_genes_used: out.model.genes.len(),
                    epochs: out.model.summary.epochs_run,
                },
                matrix: Arc::new(out.latent),
                model: Some(Model::Cells(out.model)),
                anomaly_model: Some(Arc::new(out.nll)),
            }))
        }
        Payload::Dna(d) => {
            let out = dna::model::run(&d.sequences.seqs, &opts.dna, &mut |stage, f, r| {
                if let Some(r) = r
                    && r.validation_loss.is_finite()
                {
                    events(ModelEvent::Note(format!(
                        "epoch {}: held-out masked-token loss {:.3}, accuracy {:.3} ({:.0} training tokens/s)",
                        r.epoch, r.validation_loss, r.validation_accuracy, r.tokens_per_second
                    )));
                }
                events(ModelEvent::Progress { stage, fraction: f })
            })
            .map_err(|error| EmbedError::Dna {
                name: name(),
                error,
            })?;
            Ok(out.map(|out| Embedding {
                source: EmbeddingSource::Encoder {
                    model: dna::model::describe(&out.model.summary),
                },
                matrix: Arc::new(out.embedding),
                model: Some(Model::Dna(out.model)),
                anomaly_model: Some(Arc::new(out.perplexity)),
            }))
        }
        Payload::Images(d) => {
            let Some(tiles) = &d.tiles else {
                return Ok(Some(base));
            };
            let o = &opts.images;
            let err = |error| EmbedError::Images {
                name: name(),
                error,
            };
            let mut emb = base;
            if let Some(dir) = &o.vit {
                let out = images::model::embed_vit(tiles, dir, o.vit_size, o.device, &mut |f| {
                    events(ModelEvent::Progress {
                        stage: "vit embedding",
                        fraction: f,
                    })
                })
                .map_err(err)?;
                let Some((m, about)) = out else {
                    return Ok(None);
                };
                emb = Embedding::given(m, EmbeddingSource::Encoder { model: about });
            } else if let Some(p) = &o.ssl {
                let out = images::model::train_cnn(&tiles.pixels, p, o.device, &mut |f| {
                    events(ModelEvent::Progress {
                        stage: "training cnn",
                        fraction: f,
                    })
                })
                .map_err(err)?;
                let Some((m, cnn)) = out else {
                    return Ok(None);
                };
                emb = Embedding {
                    matrix: Arc::new(m),
                    source: EmbeddingSource::Encoder {
                        model: cnn.describe(),
                    },
                    model: Some(Model::Images(Arc::new(cnn))),
                    anomaly_model: None,
                };
            }
            if o.ae_epochs > 0 {
                let scores = images::model::anomaly_scores(
                    &tiles.pixels,
                    o.ae_epochs,
                    o.seed,
                    o.device,
                    &mut |f| {
                        events(ModelEvent::Progress {
                            stage: "autoencoder",
                            fraction: f,
                        })
                    },
                )
                .map_err(err)?;
                let Some(scores) = scores else {
                    return Ok(None);
                };
                emb.anomaly_model = Some(Arc::new(scores));
            }
            Ok(Some(emb))
        }
        Payload::Table(_) => Ok(Some(base)),
    }
}

/// A line describing the trained model, for the command line's log.
pub fn describe_model(m: &Model) -> String {
    match m {
        Model::Cells(m) => {
            let s = &m.summary;
            format!(
                "scVI-style VAE, {} genes, {} epochs{} ({:.3} s/epoch), held-out ELBO {:.1} per cell (reconstruction {:.1})",
                s.n_genes_used,
                s.epochs_run,
                if s.stopped_early {
                    format!(", stopped early, best epoch {}", s.best_epoch)
                } else {
                    String::new()
                },
                s.seconds_per_epoch,
                s.heldout_elbo,
                s.heldout_reconstruction
            )
        }
        Model::Dna(m) => {
            let s = &m.summary;
            format!(
                "{}{}, {:.1}s{}",
                dna::model::describe(s),
                if s.unigram_loss.is_finite() {
                    format!(", unigram baseline loss {:.3}", s.unigram_loss)
                } else {
                    String::new()
                },
                s.seconds,
                if s.truncated_sequences > 0 {
                    format!(
                        "; {} sequences truncated to {} tokens",
                        s.truncated_sequences, s.config.max_tokens
                    )
                } else {
                    String::new()
                }
            )
        }
        Model::Images(m) => m.describe(),
    }
}

/// Characterises the clusters of `ds` in the modality's own terms: marker genes (cells),
/// motifs (DNA); None for a modality without findings of its own.
pub fn characterise(
    ds: &Dataset,
    clusters: &[u32],
    motif_params: &dna::motifs::MotifParams,
    progress: &(dyn Fn(&'static str, f64) + Sync),
    cancelled: &(dyn Fn() -> bool + Sync),
) -> Result<Option<Findings>, Cancelled> {
    match &ds.payload {
        Payload::Cells(d) => {
            progress("marker genes", 0.0);
            let m = cells::markers::cluster_markers(&d.expression, clusters);
            Ok(Some(Findings::Markers(Arc::new(m))))
        }
        Payload::Dna(d) => {
            let s = &d.sequences;
            let (name, db) = s.motif_database();
            let m = dna::motifs::discover(
                &s.seqs,
                clusters,
                db,
                name,
                s.motif_background.as_ref(),
                motif_params,
                &|f| progress("motifs", f),
                cancelled,
            )
            .ok_or(Cancelled)?;
            Ok(Some(Findings::Motifs(Arc::new(m))))
        }
        Payload::Images(_) | Payload::Table(_) => Ok(None),
    }
}

/// Scans the tab's sequences for motif `key`: an id or name in the `--motifs` database, or a
/// discovered motif's id (`c2-m1`, `all-m1`). Returns the columns it adds (each sequence's
/// best-site strength and position) and a line saying what was found; an error says why not.
pub fn scan(
    ds: &Dataset,
    findings: Option<&Findings>,
    key: &str,
) -> Result<(Vec<MetaColumn>, String), String> {
    let Payload::Dna(d) = &ds.payload else {
        return Err("scanning needs DNA sequences; this tab has none".into());
    };
    let discovered: Vec<dna::motif_db::Motif> = findings
        .and_then(|f| f.motifs())
        .map(|m| {
            m.runs()
                .flat_map(|r| r.motifs.iter())
                .map(|f| dna::motif_db::Motif {
                    name: f.motif.id.clone(),
                    ..f.motif.clone()
                })
                .collect()
        })
        .unwrap_or_default();
    let motif = match discovered.iter().find(|m| m.id == key) {
        Some(m) => m.clone(),
        None => {
            let (name, db) = d.sequences.motif_database();
            if db.is_empty() {
                let ids: Vec<&str> = discovered.iter().map(|m| m.id.as_str()).take(12).collect();
                return Err(format!(
                    "no motif '{key}': there is no --motifs database, and the discovered motifs \
                     are {}",
                    if ids.is_empty() {
                        "none yet".to_string()
                    } else {
                        ids.join(", ")
                    }
                ));
            }
            dna::scan::find_motif(&db, key)
                .map_err(|e| format!("{}: {e}", name.unwrap_or_default()))?
                .clone()
        }
    };
    Ok(dna::scan::scan_columns(&d.sequences.seqs, &motif, 1e-4))
}

// Beside `Dataset` rather than in `findings.rs`, which then imports nothing of this file.
impl Findings {
    /// The export table `what` (one of `tables()`) of dataset `ds`; None for another kind.
    pub fn table(&self, what: &str, ds: &Dataset) -> Option<crate::io::parquet::Table> {
        match (self, what) {
            (Findings::Markers(m), "markers") => {
                let e = ds.expression()?;
                Some(cells::markers::markers_table(
                    &ds.name,
                    e,
                    &m.tables,
                    usize::MAX,
                ))
            }
            (Findings::Motifs(m), "motifs") => Some(dna::tables::motifs_table(&ds.name, m)),
            (Findings::Motifs(m), "sites") => Some(dna::tables::sites_table(&ds.name, &ds.ids, m)),
            _ => None,
        }
    }
}

pub use images::pictures::{PlacedPicture, SlidePictures};

/// Pictures of the slides or images `ds`'s tiles were cut from, each placed at its x offset
/// (`placed`: index among the tiles' sources, offset); None when `ds` has no tiles.
pub fn slide_pictures(
    ds: &Dataset,
    placed: &[(usize, f32)],
    cancelled: &dyn Fn() -> bool,
) -> Option<Result<SlidePictures, String>> {
    Some(images::pictures::slide_pictures(
        ds.tiles()?,
        placed,
        cancelled,
    ))
}

/// The metadata column clusters are labelled by: the first text column.
pub fn label_column(ds: &Dataset) -> Option<&MetaColumn> {
    let modality = ds.modality();
    // A sequence's record id and description are per item, not labels.
    ds.meta.iter().find(|c| {
        c.is_text()
            && !(modality == Modality::Dna
                && matches!(c.name.as_str(), "record" | "description"))
            // An image tile's source file is not a grouping worth showing either.
            && !(modality == Modality::Images && c.name == "source")
    })
}

/// Per cluster, the most common value of the label column and how many members carry it
/// (empty and 0 without a label column).
pub fn cluster_labels(ds: &Dataset, clusters: &[u32]) -> Vec<(String, usize)> {
    let k = clusters.iter().max().map_or(0, |m| *m as usize + 1);
    let Some(crate::core::MetaValues::Text(v)) = label_column(ds).map(|c| &c.values) else {
        return vec![(String::new(), 0); k];
    };
    let mut counts: Vec<std::collections::BTreeMap<&str, usize>> = vec![Default::default(); k];
    for (i, &c) in clusters.iter().enumerate() {
        *counts[c as usize].entry(v[i].as_str()).or_default() += 1;
    }
    counts
        .iter()
        .map(|m| {
            m.iter()
                .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
                .map(|(s, n)| (s.to_string(), *n))
                .unwrap_or_default()
        })
        .collect()
}

/// What distinguishes items `a` from items `b` in the modality's own terms: marker genes
/// (cells, Wilcoxon), motifs of A's sequences with B's as the background (DNA); None for a
/// modality without findings of its own.
pub fn compare(
    ds: &Dataset,
    a: &[usize],
    b: &[usize],
    label: &str,
    motif_params: &dna::motifs::MotifParams,
    progress: &(dyn Fn(&'static str, f64) + Sync),
    cancelled: &(dyn Fn() -> bool + Sync),
) -> Result<Option<Findings>, Cancelled> {
    match &ds.payload {
        Payload::Cells(d) => {
            progress("wilcoxon", 0.0);
            let m = cells::markers::compare(&d.expression, a, b, label);
            Ok(Some(Findings::Markers(Arc::new(cells::markers::Markers {
                tables: vec![m],
            }))))
        }
        Payload::Dna(d) => {
            let s = &d.sequences;
            let (name, db) = s.motif_database();
            let fg: Vec<Vec<u8>> = a.iter().map(|&i| s.seqs[i].clone()).collect();
            let bg = dna::motifs::UserBackground {
                name: label
                    .split_once(" vs ")
                    .map_or("group B", |(_, b)| b)
                    .to_string(),
                seqs: Arc::new(b.iter().map(|&i| s.seqs[i].clone()).collect()),
            };
            let params = dna::motifs::MotifParams {
                groups: dna::motifs::Groups::All,
                ..motif_params.clone()
            };
            let mut m = dna::motifs::discover(
                &fg,
                &vec![0; fg.len()],
                db,
                name,
                Some(&bg),
                &params,
                &|f| progress("motifs", f),
                cancelled,
            )
            .ok_or(Cancelled)?;
            // Sites were found in A's sequences; number them as the dataset does.
            for f in &mut m.motifs {
                for site in &mut f.sites {
                    site.item = a[site.item as usize] as u32;
                }
            }
            Ok(Some(Findings::Motifs(Arc::new(m))))
        }
        Payload::Images(_) | Payload::Table(_) => Ok(None),
    }
}

/// What each modality wrote into a session: the manifest keeps it flattened into the
/// dataset's entry (keys `cells`, `dna`, `images`), so a new modality's entry needs no change
/// to the manifest.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ModalityEntries {
    /// Expression, model and markers of a cells dataset, in the folder `cells.folder`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cells: Option<cells::session::CellsEntry>,
    /// Sequences, motifs and encoder of a DNA dataset, in the folder `dna.folder`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dna: Option<dna::session::DnaEntry>,
    /// The CNN trained on an images dataset's tiles, in the folder `images.folder`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub images: Option<images::session::ImagesEntry>,
}

/// Writes the modality's own part of session item `index` (expression and count model;
/// sequences, motifs and encoder; the trained CNN) into its folder under `tmp`.
pub fn write_parts(
    tmp: &Path,
    index: usize,
    ds: &Dataset,
    emb: &Embedding,
    findings: Option<&Findings>,
) -> Result<ModalityEntries, FileError> {
    let mut e = ModalityEntries::default();
    match (&ds.payload, &emb.model) {
        (Payload::Cells(d), model) => {
            let model = match model {
                Some(Model::Cells(m)) => Some(m.as_ref()),
                _ => None,
            };
            e.cells = Some(cells::session::write(
                tmp,
                index,
                &ds.name,
                &d.expression,
                model,
                findings.and_then(Findings::markers).map(|m| m.as_ref()),
            )?);
        }
        (Payload::Dna(d), model) => {
            let encoder = match model {
                Some(Model::Dna(m)) => Some(m.as_ref()),
                _ => None,
            };
            e.dna = Some(dna::session::write(
                tmp,
                index,
                &ds.name,
                &ds.ids,
                &d.sequences,
                findings.and_then(Findings::motifs).map(|m| m.as_ref()),
                encoder,
            )?);
        }
        (Payload::Images(_), Some(Model::Images(cnn))) => {
            e.images = Some(images::session::write(tmp, index, cnn)?);
        }
        (Payload::Images(_) | Payload::Table(_), _) => {}
    }
    Ok(e)
}

/// A session item's modality data, read back.
pub struct DatasetParts {
    pub payload: Payload,
    pub model: Option<Model>,
    pub findings: Option<Findings>,
}

/// Reads the modality's part of a session item with `n` items. `meta` is the item table's
/// metadata (images re-read their tiles by the boxes kept there); `embedding` is what the
/// session holds (a table input's data is its embedding).
pub fn read_parts(
    dir: &Path,
    modality: Modality,
    entries: &ModalityEntries,
    n: usize,
    meta: &[MetaColumn],
    embedding: &Arc<Matrix>,
) -> Result<DatasetParts, FileError> {
    let missing = |what: &str| {
        bad(
            dir,
            format!("the manifest lists a {what} dataset without its {what} part"),
        )
    };
    Ok(match modality {
        Modality::Cells => {
            let c = entries.cells.as_ref().ok_or_else(|| missing("cells"))?;
            let (expression, model, markers) = cells::session::read(dir, c, n)?;
            DatasetParts {
                payload: Payload::Cells(CellsData {
                    expression,
                    obsm: Vec::new(),
                }),
                model: model.map(Model::Cells),
                findings: markers.map(Findings::Markers),
            }
        }
        Modality::Dna => {
            let d = entries.dna.as_ref().ok_or_else(|| missing("dna"))?;
            let (sequences, motifs, encoder) = dna::session::read(dir, d, n)?;
            DatasetParts {
                payload: Payload::Dna(DnaData { sequences }),
                model: encoder.map(Model::Dna),
                findings: motifs.map(Findings::Motifs),
            }
        }
        Modality::Images => DatasetParts {
            payload: Payload::Images(ImagesData {
                tiles: images::tiles::tiles_from_meta(meta).map(Arc::new),
            }),
            model: None,
            findings: None,
        },
        Modality::Table => DatasetParts {
            payload: Payload::Table(embedding.clone()),
            model: None,
            findings: None,
        },
    })
}
