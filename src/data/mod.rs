//! Loaders and the `Dataset` type. One file per format family; every reader reports bad input
//! with the file and, where it applies, the line or record.

pub mod h5ad;
pub mod images;
pub mod meta;
pub mod motif_db;
pub mod mtx;
pub mod npy;
pub mod seq;
pub mod tables;

use crate::matrix::Matrix;
pub use meta::{MetaColumn, MetaValues};
use std::path::{Path, PathBuf};

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
}

/// Bad input, always naming the file and (where known) the line or record.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("{path}: cannot read: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}: {reason}")]
    BadLine {
        path: PathBuf,
        line: usize,
        reason: String,
    },
    #[error("{path}: {reason}")]
    BadFile { path: PathBuf, reason: String },
    #[error(
        "{path}: not a recognised input (expected a 10x Matrix Market folder, .h5ad, FASTA/FASTQ (.fa, .fasta, .fq, .fastq, optionally .gz), PNG/JPEG/TIFF images or a folder of them, .csv, .parquet or .npy)"
    )]
    Unrecognised { path: PathBuf },
}

impl DataError {
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        DataError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
    pub fn file(path: &Path, reason: impl Into<String>) -> Self {
        DataError::BadFile {
            path: path.to_path_buf(),
            reason: reason.into(),
        }
    }
    pub fn line(path: &Path, line: usize, reason: impl Into<String>) -> Self {
        DataError::BadLine {
            path: path.to_path_buf(),
            line,
            reason: reason.into(),
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
    /// Mean-pooled last hidden state of a DNA encoder (trained here or loaded from a folder).
    Encoder { model: String },
    /// Colour, stain (HED), texture (LBP) and thumbnail features of image tiles → PCA.
    ImageBaseline { tile: u32 },
}

/// Expression values of a cells dataset: what gene colouring, markers and the count model use.
#[derive(Debug, Clone)]
pub struct Expression {
    /// Cells × genes, CSR by cell, rows aligned with the dataset's ids.
    pub matrix: mtx::SparseCounts,
    /// The same values by gene: gene `g` has cells `by_gene_cells[by_gene_ptr[g]..by_gene_ptr[g+1]]`.
    pub by_gene_ptr: Vec<usize>,
    pub by_gene_cells: Vec<u32>,
    pub by_gene_values: Vec<f32>,
    /// Per-cell total of the stored values (the library size for counts).
    pub totals: Vec<f64>,
    pub genes: Vec<String>,
    pub kind: h5ad::ValueKind,
    /// Where the values came from (a file, or an .h5ad object such as `layers/counts`).
    pub source: String,
}

impl Expression {
    pub fn new(
        matrix: mtx::SparseCounts,
        genes: Vec<String>,
        kind: h5ad::ValueKind,
        source: String,
    ) -> Self {
        let (ptr, cells, values) = crate::matrix::sparse_transpose(
            &matrix.indptr,
            &matrix.genes,
            &matrix.values,
            matrix.n_genes,
        );
        let totals = matrix.totals();
        Self {
            matrix,
            by_gene_ptr: ptr,
            by_gene_cells: cells,
            by_gene_values: values,
            totals,
            genes,
            kind,
            source,
        }
    }

    pub fn gene_index(&self, name: &str) -> Option<usize> {
        self.genes
            .iter()
            .position(|g| g == name)
            .or_else(|| self.genes.iter().position(|g| g.eq_ignore_ascii_case(name)))
    }

    /// The value markers and gene colouring use for a stored entry of `cell`: log1p(CP10k)
    /// for counts, the value as it is for already normalised data.
    pub fn normalised(&self, cell: usize, v: f32) -> f64 {
        match self.kind {
            h5ad::ValueKind::Counts if self.totals[cell] > 0.0 => {
                (v as f64 * 1e4 / self.totals[cell]).ln_1p()
            }
            _ => v as f64,
        }
    }

    /// `normalised` values of gene `g` for every cell.
    pub fn normalised_gene(&self, g: usize) -> Vec<f32> {
        let mut out = vec![0f32; self.matrix.n_cells];
        for k in self.by_gene_ptr[g]..self.by_gene_ptr[g + 1] {
            let i = self.by_gene_cells[k] as usize;
            out[i] = self.normalised(i, self.by_gene_values[k]) as f32;
        }
        out
    }

    /// Keeps the given cells (in order).
    pub fn subset_cells(&self, keep: &[usize]) -> Self {
        Self::new(
            self.matrix.select_rows(keep),
            self.genes.clone(),
            self.kind,
            self.source.clone(),
        )
    }
}

/// One modality's items: ids, metadata columns and their `n × d` embedding.
#[derive(Debug, Clone)]
pub struct Dataset {
    pub name: String,
    pub modality: Modality,
    pub ids: Vec<String>,
    pub meta: Vec<MetaColumn>,
    pub embedding: Matrix,
    pub embedding_source: EmbeddingSource,
    /// The files read, for the manifest.
    pub inputs: Vec<PathBuf>,
    /// Expression values (cells only).
    pub expression: Option<std::sync::Arc<Expression>>,
    /// Things the loader did that the user should know (filters applied).
    pub notes: Vec<String>,
    /// The count model whose latent is the embedding (cells with `--model scvi`).
    pub model: Option<std::sync::Arc<crate::cells::CellModel>>,
    /// The sequences (DNA only), aligned with the ids.
    pub sequences: Option<std::sync::Arc<seq::Sequences>>,
    /// The DNA encoder whose embedding this is (DNA with an encoder).
    pub dna_model: Option<std::sync::Arc<crate::dna::DnaEncoder>>,
    /// Tile pixels and boxes (images only), aligned with the ids.
    pub tiles: Option<std::sync::Arc<images::Tiles>>,
    /// The CNN trained on the tiles whose representation is the embedding.
    pub image_model: Option<std::sync::Arc<crate::tiles::TrainedCnn>>,
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
}

/// Options shared by the loaders.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// A CSV of metadata aligned by id (first column or `id`) or, failing that, by row.
    pub meta: Option<PathBuf>,
    pub baseline: crate::analysis::preprocess::BaselineParams,
    /// Use this `obsm` matrix of an .h5ad as the embedding.
    pub obsm: Option<String>,
    /// QC: drop cells with fewer detected genes (0 keeps all but zero-count cells).
    pub min_genes: usize,
    /// How FASTA/FASTQ records are cut into items.
    pub window: seq::WindowParams,
    pub kmer: crate::analysis::kmer::KmerParams,
    /// JASPAR or MEME file that discovered DNA motifs are compared with.
    pub motifs: Option<PathBuf>,
    /// How images are cut into tiles.
    pub tiles: images::TileParams,
}

/// Detects the format from the path and loads it.
pub fn load(path: &Path, opts: &LoadOptions) -> Result<Dataset, LoadError> {
    let meta_err = |e| LoadError::Data(e);
    if !path.exists() {
        return Err(LoadError::Data(DataError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file or directory"),
        }));
    }
    let name = path
        .file_name()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_else(|| path.display().to_string());
    let lower = name.to_lowercase();
    let mut ds = if path.is_dir() {
        if mtx::find_matrix(path).is_some() {
            let tenx = mtx::read_10x_folder(path).map_err(meta_err)?;
            let kind = h5ad::ValueKind::of(&tenx.counts.values);
            let source = path.display().to_string();
            let expr = Expression::new(tenx.counts, tenx.gene_names, kind, source);
            cells_dataset(
                path,
                name,
                tenx.barcodes,
                tenx.meta,
                expr,
                tenx.files,
                opts,
                vec![],
            )?
        } else if images::is_image_folder(path) {
            images_dataset(path, name, opts)?
        } else {
            return Err(LoadError::Data(DataError::file(
                path,
                "folder has no matrix.mtx or matrix.mtx.gz (a 10x Matrix Market folder) and no PNG, JPEG or TIFF images",
            )));
        }
    } else if h5ad::is_h5ad(path) {
        let a = h5ad::read_h5ad(path).map_err(meta_err)?;
        let expr = Expression::new(
            a.matrix,
            a.var_names,
            a.kind,
            format!("{}:{}", path.display(), a.matrix_source),
        );
        cells_dataset(
            path,
            name,
            a.obs_names,
            a.obs,
            expr,
            vec![path.to_path_buf()],
            opts,
            a.obsm,
        )?
    } else if images::is_image_file(path) {
        images_dataset(path, name, opts)?
    } else if seq::is_sequence_file(path) {
        dna_dataset(path, name, opts)?
    } else if lower.ends_with(".csv") || lower.ends_with(".tsv") || lower.ends_with(".csv.gz") {
        tables::read_embedding_csv(path, &name).map_err(meta_err)?
    } else if lower.ends_with(".parquet") {
        tables::read_embedding_parquet(path, &name).map_err(meta_err)?
    } else if lower.ends_with(".npy") {
        npy::read_embedding_npy(path, &name).map_err(meta_err)?
    } else {
        return Err(LoadError::Data(DataError::Unrecognised {
            path: path.to_path_buf(),
        }));
    };
    if let Some(m) = &opts.meta {
        meta::attach_csv(&mut ds, m).map_err(meta_err)?;
        ds.inputs.push(m.clone());
    }
    check_ids(&ds)?;
    Ok(ds)
}

/// A cells dataset: QC filters, then the embedding (an obsm matrix or the PCA baseline).
#[allow(clippy::too_many_arguments)]
fn cells_dataset(
    path: &Path,
    name: String,
    mut ids: Vec<String>,
    mut meta: Vec<MetaColumn>,
    mut expr: Expression,
    inputs: Vec<PathBuf>,
    opts: &LoadOptions,
    mut obsm: Vec<(String, Matrix)>,
) -> Result<Dataset, LoadError> {
    let mut notes = Vec::new();
    let n = expr.matrix.n_cells;
    let keep: Vec<usize> = (0..n)
        .filter(|&i| {
            let detected = expr.matrix.row(i).1.iter().filter(|&&x| x != 0.0).count();
            detected > 0 && detected >= opts.min_genes
        })
        .collect();
    if keep.len() < n {
        notes.push(format!(
            "{}: dropped {} of {n} cells with zero counts{} (QC filter)",
            path.display(),
            n - keep.len(),
            if opts.min_genes > 0 {
                format!(" or fewer than {} detected genes", opts.min_genes)
            } else {
                String::new()
            }
        ));
        expr = expr.subset_cells(&keep);
        ids = keep.iter().map(|&i| ids[i].clone()).collect();
        for c in &mut meta {
            c.values = match &c.values {
                MetaValues::Text(v) => {
                    MetaValues::Text(keep.iter().map(|&i| v[i].clone()).collect())
                }
                MetaValues::Number(v) => MetaValues::Number(keep.iter().map(|&i| v[i]).collect()),
            };
        }
        for (_, m) in &mut obsm {
            *m = m.select_rows(&keep);
        }
    }
    if ids.is_empty() {
        return Err(LoadError::Data(DataError::file(
            path,
            "no cell has a non-zero count",
        )));
    }
    let (embedding, embedding_source) =
        match &opts.obsm {
            Some(key) => {
                let Some((_, m)) = obsm.into_iter().find(|(k, _)| k == key) else {
                    return Err(LoadError::Data(DataError::file(
                        path,
                        format!("--obsm {key}: no such obsm matrix in this file"),
                    )));
                };
                check_finite(path, &m, &ids)?;
                (m, EmbeddingSource::Obsm { key: key.clone() })
            }
            None => {
                let emb = crate::analysis::preprocess::baseline_for(&expr, &opts.baseline)
                    .map_err(|e| LoadError::Baseline {
                        path: path.to_path_buf(),
                        source: e,
                    })?;
                let n_genes_used = expr.matrix.n_genes.min(opts.baseline.n_top_genes);
                (emb, EmbeddingSource::PcaBaseline { n_genes_used })
            }
        };
    Ok(Dataset {
        name,
        modality: Modality::Cells,
        ids,
        meta,
        embedding,
        embedding_source,
        inputs,
        expression: Some(std::sync::Arc::new(expr)),
        notes,
        model: None,
        sequences: None,
        dna_model: None,
        tiles: None,
        image_model: None,
    })
}

/// An images dataset: tiles with a foreground mask, embedded by the baseline features.
fn images_dataset(path: &Path, name: String, opts: &LoadOptions) -> Result<Dataset, LoadError> {
    let r = images::read_images(path, &opts.tiles)?;
    let embedding = images::baseline_embedding(&r.tiles, 50).map_err(|e| LoadError::Baseline {
        path: path.to_path_buf(),
        source: e,
    })?;
    Ok(Dataset {
        name,
        modality: Modality::Images,
        ids: r.ids,
        meta: r.meta,
        embedding,
        embedding_source: EmbeddingSource::ImageBaseline {
            tile: opts.tiles.tile,
        },
        inputs: r.tiles.sources.clone(),
        expression: None,
        notes: r.notes,
        model: None,
        sequences: None,
        dna_model: None,
        tiles: Some(std::sync::Arc::new(r.tiles)),
        image_model: None,
    })
}

/// A DNA dataset: records cut into windows, embedded by the k-mer baseline.
fn dna_dataset(path: &Path, name: String, opts: &LoadOptions) -> Result<Dataset, LoadError> {
    let mut r = seq::read_sequences(path, &opts.window)?;
    if let Some(m) = &opts.motifs {
        let db = motif_db::read_motifs(m)?;
        let name = m.file_name().map_or_else(
            || m.display().to_string(),
            |s| s.to_string_lossy().to_string(),
        );
        r.sequences.motif_db = Some((name, std::sync::Arc::new(db)));
    }
    if !(1..=8).contains(&opts.kmer.k) {
        return Err(LoadError::Data(DataError::file(
            path,
            format!("k-mer length {} is out of range (1 to 8)", opts.kmer.k),
        )));
    }
    let embedding =
        crate::analysis::kmer::kmer_embedding(&r.sequences.seqs, &opts.kmer).map_err(|e| {
            LoadError::Baseline {
                path: path.to_path_buf(),
                source: e,
            }
        })?;
    Ok(Dataset {
        name,
        modality: Modality::Dna,
        ids: r.ids,
        meta: r.meta,
        embedding,
        embedding_source: EmbeddingSource::KmerBaseline { k: opts.kmer.k },
        inputs: vec![path.to_path_buf()],
        expression: None,
        notes: r.notes,
        model: None,
        sequences: Some(std::sync::Arc::new(r.sequences)),
        dna_model: None,
        tiles: None,
        image_model: None,
    })
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Data(#[from] DataError),
    #[error("{path}: {source}")]
    Baseline {
        path: PathBuf,
        #[source]
        source: crate::analysis::preprocess::BaselineError,
    },
    #[error("{path}: duplicate id '{id}' (records {first} and {second}); ids must be unique")]
    DuplicateId {
        path: PathBuf,
        id: String,
        first: usize,
        second: usize,
    },
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

/// Opens a file for buffered reading, transparently decompressing `.gz`.
pub fn open_text(path: &Path) -> Result<Box<dyn std::io::BufRead>, DataError> {
    let f = std::fs::File::open(path).map_err(|e| DataError::io(path, e))?;
    if path.extension().is_some_and(|e| e == "gz") {
        Ok(Box::new(std::io::BufReader::new(
            flate2::read::MultiGzDecoder::new(std::io::BufReader::new(f)),
        )))
    } else {
        Ok(Box::new(std::io::BufReader::new(f)))
    }
}

/// Checks every value of an embedding is finite; names the record and column otherwise.
pub fn check_finite(path: &Path, m: &Matrix, ids: &[String]) -> Result<(), DataError> {
    for i in 0..m.rows {
        if let Some(c) = m.row(i).iter().position(|v| !v.is_finite()) {
            return Err(DataError::file(
                path,
                format!(
                    "record {} (id '{}'), column {}: value {} is not a finite number",
                    i + 1,
                    ids.get(i).map(String::as_str).unwrap_or("?"),
                    c + 1,
                    m.row(i)[c]
                ),
            ));
        }
    }
    Ok(())
}
