//! Session folders (`NAME.biolens/`, DESIGN §3): `manifest.toml`, `points.parquet`,
//! `neighbors.parquet` and `clusters.parquet`. Written into a temporary folder beside the
//! target and renamed into place, so a failed or interrupted run leaves no partial session.
//! Reading never recomputes anything.

use crate::analysis::knn::KnnGraph;
use crate::data::{Dataset, EmbeddingSource, MetaColumn, MetaValues, Modality};
use crate::matrix::Matrix;
use crate::pipeline::{Analysis, ClusterMethod, PipelineParams};
use crate::table_io::{Column, Table, TableError, read_parquet, write_parquet};
use sha2::Digest;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

mod dna;
pub use dna::DnaEntry;

pub const FORMAT_VERSION: u32 = 1;

/// Columns of points.parquet that are not metadata.
const FIXED: [&str; 10] = [
    "id",
    "dataset",
    "modality",
    "x",
    "y",
    "cluster",
    "anomaly_knn",
    "anomaly_iforest",
    "anomaly_recon",
    "embedding",
];

/// Marker genes kept per group in a session (exports of a live session have them all).
pub const MARKERS_KEPT: usize = 200;

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("{path}: {reason}")]
    Bad { path: PathBuf, reason: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Table(#[from] TableError),
}

fn bad(path: &Path, reason: impl Into<String>) -> SessionError {
    SessionError::Bad {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SessionError + '_ {
    move |source| SessionError::Io {
        path: path.to_path_buf(),
        source,
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct InputFile {
    pub path: String,
    pub size: u64,
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DatasetEntry {
    pub name: String,
    pub modality: Modality,
    pub n_items: usize,
    pub embedding_dim: usize,
    pub embedding: String,
    pub cluster: ClusterMethod,
    pub inputs: Vec<InputFile>,
    /// Seconds per stage.
    pub timings: std::collections::BTreeMap<String, f64>,
    /// Expression, model and markers of a cells dataset, in the folder `cells.folder`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cells: Option<CellsEntry>,
    /// Sequences, motifs and encoder of a DNA dataset, in the folder `dna.folder`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dna: Option<DnaEntry>,
    /// The CNN trained on an images dataset's tiles, in the folder `images.folder`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub images: Option<ImagesEntry>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ImagesEntry {
    pub folder: String,
    /// SimCLR settings and the mean NT-Xent loss of each epoch; weights in `cnn.safetensors`.
    pub params: crate::models::ssl::SslParams,
    pub losses: Vec<f64>,
}

/// Writes an images dataset's trained CNN into `images-INDEX/cnn.safetensors`.
fn write_images(
    tmp: &Path,
    index: usize,
    sd: &SessionDataset,
) -> Result<Option<ImagesEntry>, SessionError> {
    let Some(m) = &sd.dataset.image_model else {
        return Ok(None);
    };
    let folder = format!("images-{index}");
    let dir = tmp.join(&folder);
    std::fs::create_dir(&dir).map_err(io(&dir))?;
    let p = dir.join("cnn.safetensors");
    m.varmap
        .save(&p)
        .map_err(|e| bad(&p, format!("cannot write the CNN's weights: {e}")))?;
    Ok(Some(ImagesEntry {
        folder,
        params: m.params.clone(),
        losses: m.losses.clone(),
    }))
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CellsEntry {
    pub folder: String,
    pub expression_kind: crate::data::h5ad::ValueKind,
    pub expression_source: String,
    pub n_genes: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<crate::cells::ModelSummary>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Manifest {
    pub format_version: u32,
    pub biolens_version: String,
    pub seed: u64,
    pub threads: usize,
    pub device: String,
    pub params: PipelineParams,
    pub datasets: Vec<DatasetEntry>,
}

/// A dataset and its analysis, as stored in or read from a session.
#[derive(Debug, Clone)]
pub struct SessionDataset {
    pub dataset: Dataset,
    pub analysis: Analysis,
}

pub fn describe_embedding(src: &EmbeddingSource) -> String {
    match src {
        EmbeddingSource::Precomputed => "precomputed".into(),
        EmbeddingSource::PcaBaseline { n_genes_used } => {
            format!("pca-baseline (CP10k, log1p, {n_genes_used} HVG seurat flavour, scale, PCA-50)")
        }
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

/// SHA-256 and size of a file.
pub fn checksum(path: &Path) -> Result<InputFile, SessionError> {
    let mut f = std::fs::File::open(path).map_err(io(path))?;
    let mut h = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut size = 0u64;
    loop {
        let n = f.read(&mut buf).map_err(io(path))?;
        if n == 0 {
            break;
        }
        size += n as u64;
        h.update(&buf[..n]);
    }
    let sha256 = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    Ok(InputFile {
        path: path.display().to_string(),
        size,
        sha256,
    })
}

/// The metadata column clusters are labelled by: the first text column.
pub fn label_column(ds: &Dataset) -> Option<&MetaColumn> {
    // A sequence's record id and description are per item, not labels.
    ds.meta.iter().find(|c| {
        c.is_text()
            && !(ds.modality == Modality::Dna
                && matches!(c.name.as_str(), "record" | "description"))
            // An image tile's source file is not a grouping worth showing either.
            && !(ds.modality == Modality::Images && c.name == "source")
    })
}

/// Per cluster, the most common value of the label column and how many members carry it
/// (empty and 0 without a label column).
pub fn cluster_labels(ds: &Dataset, clusters: &[u32]) -> Vec<(String, usize)> {
    let k = clusters.iter().max().map_or(0, |m| *m as usize + 1);
    let Some(MetaValues::Text(v)) = label_column(ds).map(|c| &c.values) else {
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

fn points_table(items: &[SessionDataset]) -> Table {
    let mut meta_names: Vec<(String, bool)> = Vec::new();
    for sd in items {
        for c in &sd.dataset.meta {
            if !meta_names.iter().any(|(n, _)| n == &c.name) && !FIXED.contains(&c.name.as_str()) {
                meta_names.push((c.name.clone(), c.is_text()));
            }
        }
    }
    let mut t = Table::default();
    let mut id = Vec::new();
    let mut dsn = Vec::new();
    let mut modality = Vec::new();
    let (mut x, mut y, mut cl, mut ak, mut ai, mut am) = (
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
    );
    let mut emb_off = vec![0usize];
    let mut emb = Vec::new();
    for sd in items {
        let (d, a) = (&sd.dataset, &sd.analysis);
        id.extend(d.ids.iter().cloned());
        dsn.extend(std::iter::repeat_n(d.name.clone(), d.len()));
        modality.extend(std::iter::repeat_n(
            d.modality.as_str().to_string(),
            d.len(),
        ));
        x.extend(a.layout.iter().map(|p| p[0]));
        y.extend(a.layout.iter().map(|p| p[1]));
        cl.extend(a.clusters.iter().map(|&c| c as i32));
        ak.extend(a.anomaly_knn.iter().copied());
        ai.extend(a.anomaly_iforest.iter().copied());
        match &a.anomaly_model {
            Some(v) => am.extend(v.iter().copied()),
            None => am.extend(std::iter::repeat_n(f32::NAN, d.len())),
        }
        for i in 0..d.len() {
            emb.extend_from_slice(d.embedding.row(i));
            emb_off.push(emb.len());
        }
    }
    t.push("id", Column::Str(id));
    t.push("dataset", Column::Str(dsn));
    t.push("modality", Column::Str(modality));
    t.push("x", Column::F32(x));
    t.push("y", Column::F32(y));
    t.push("cluster", Column::I32(cl));
    t.push("anomaly_knn", Column::F32(ak));
    t.push("anomaly_iforest", Column::F32(ai));
    t.push("anomaly_recon", Column::F32(am));
    for (name, text) in &meta_names {
        if *text {
            let mut v = Vec::new();
            for sd in items {
                match sd.dataset.meta_column(name) {
                    Some(c) => v.extend((0..c.len()).map(|i| c.display(i))),
                    None => v.extend(std::iter::repeat_n(String::new(), sd.dataset.len())),
                }
            }
            t.push(name, Column::Str(v));
        } else {
            let mut v = Vec::new();
            for sd in items {
                match sd.dataset.meta_column(name).map(|c| &c.values) {
                    Some(MetaValues::Number(n)) => v.extend(n.iter().copied()),
                    Some(MetaValues::Text(s)) => {
                        v.extend(s.iter().map(|x| x.parse().unwrap_or(f64::NAN)))
                    }
                    None => v.extend(std::iter::repeat_n(f64::NAN, sd.dataset.len())),
                }
            }
            t.push(name, Column::F64(v));
        }
    }
    t.push(
        "embedding",
        Column::ListF32 {
            offsets: emb_off,
            values: emb,
        },
    );
    t
}

fn neighbors_table(items: &[SessionDataset]) -> Table {
    let mut t = Table::default();
    let mut nb = Vec::new();
    let mut dist = Vec::new();
    let mut off = vec![0usize];
    for sd in items {
        let g = &sd.analysis.knn;
        nb.extend(g.indices.iter().map(|&i| i as i32));
        dist.extend(g.distances.iter().copied());
        for _ in 0..g.n {
            off.push(off.last().copied().unwrap_or(0) + g.k);
        }
    }
    t.push(
        "neighbors",
        Column::ListI32 {
            offsets: off.clone(),
            values: nb,
        },
    );
    t.push(
        "distances",
        Column::ListF32 {
            offsets: off,
            values: dist,
        },
    );
    t
}

fn clusters_table(items: &[SessionDataset]) -> Table {
    let mut t = Table::default();
    let (mut dsn, mut id, mut size, mut share, mut label, mut cx, mut cy) = (
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
    );
    for sd in items {
        let c = &sd.analysis.clusters;
        let k = c.iter().max().map_or(0, |m| *m as usize + 1);
        let labels = cluster_labels(&sd.dataset, c);
        let mut n = vec![0usize; k];
        let mut sx = vec![0.0f64; k];
        let mut sy = vec![0.0f64; k];
        for (i, &ci) in c.iter().enumerate() {
            n[ci as usize] += 1;
            sx[ci as usize] += sd.analysis.layout[i][0] as f64;
            sy[ci as usize] += sd.analysis.layout[i][1] as f64;
        }
        for j in 0..k {
            dsn.push(sd.dataset.name.clone());
            id.push(j as i32);
            size.push(n[j] as i64);
            share.push(n[j] as f64 / c.len().max(1) as f64);
            label.push(labels[j].0.clone());
            cx.push((sx[j] / n[j].max(1) as f64) as f32);
            cy.push((sy[j] / n[j].max(1) as f64) as f32);
        }
    }
    t.push("dataset", Column::Str(dsn));
    t.push("cluster", Column::I32(id));
    t.push("size", Column::I64(size));
    t.push("share", Column::F64(share));
    t.push("label", Column::Str(label));
    t.push("centroid_x", Column::F32(cx));
    t.push("centroid_y", Column::F32(cy));
    t
}

/// Writes a cells dataset's expression, model weights and markers into `cells-INDEX/`.
fn write_cells(
    tmp: &Path,
    index: usize,
    sd: &SessionDataset,
) -> Result<Option<CellsEntry>, SessionError> {
    let Some(e) = &sd.dataset.expression else {
        return Ok(None);
    };
    let folder = format!("cells-{index}");
    let dir = tmp.join(&folder);
    std::fs::create_dir(&dir).map_err(io(&dir))?;
    let mut model_index = vec![-1i32; e.genes.len()];
    if let Some(m) = &sd.dataset.model {
        for (j, &g) in m.genes.iter().enumerate() {
            model_index[g] = j as i32;
        }
        let p = dir.join("model.safetensors");
        m.vae
            .save(&p)
            .map_err(|err| bad(&p, format!("cannot write model weights: {err}")))?;
    }
    let mut genes = Table::default();
    genes.push("gene", Column::Str(e.genes.clone()));
    genes.push("model_index", Column::I32(model_index));
    write_parquet(&dir.join("genes.parquet"), &genes)?;
    let m = &e.matrix;
    let mut cell = Vec::with_capacity(m.values.len());
    for i in 0..m.n_cells {
        cell.extend(std::iter::repeat_n(i as i32, m.indptr[i + 1] - m.indptr[i]));
    }
    let mut expr = Table::default();
    expr.push("cell", Column::I32(cell));
    expr.push(
        "gene",
        Column::I32(m.genes.iter().map(|&g| g as i32).collect()),
    );
    expr.push("value", Column::F32(m.values.clone()));
    write_parquet(&dir.join("expression.parquet"), &expr)?;
    if let Some(mk) = &sd.analysis.markers {
        write_parquet(
            &dir.join("markers.parquet"),
            &crate::export::markers_table(&sd.dataset.name, &e.genes, &mk.tables, MARKERS_KEPT),
        )?;
    }
    Ok(Some(CellsEntry {
        folder,
        expression_kind: e.kind,
        expression_source: e.source.clone(),
        n_genes: e.genes.len(),
        model: sd.dataset.model.as_ref().map(|m| m.summary.clone()),
    }))
}

type CellsParts = (
    Option<Arc<crate::data::Expression>>,
    Option<Arc<crate::cells::CellModel>>,
    Option<Arc<crate::analysis::markers::Markers>>,
);

fn read_cells(dir: &Path, entry: &DatasetEntry, n: usize) -> Result<CellsParts, SessionError> {
    let Some(c) = &entry.cells else {
        return Ok((None, None, None));
    };
    let cdir = dir.join(&c.folder);
    let gpath = cdir.join("genes.parquet");
    let gt = read_parquet(&gpath)?;
    let (Column::Str(genes), Column::I32(model_index)) = (
        column(&gt, "gene", &gpath)?,
        column(&gt, "model_index", &gpath)?,
    ) else {
        return Err(bad(&gpath, "unexpected column types"));
    };
    let epath = cdir.join("expression.parquet");
    let et = read_parquet(&epath)?;
    let (Column::I32(cell), Column::I32(gene), Column::F32(value)) = (
        column(&et, "cell", &epath)?,
        column(&et, "gene", &epath)?,
        column(&et, "value", &epath)?,
    ) else {
        return Err(bad(&epath, "unexpected column types"));
    };
    let mut indptr = vec![0usize; n + 1];
    for (k, &i) in cell.iter().enumerate() {
        if i < 0 || i as usize >= n || gene[k] < 0 || gene[k] as usize >= genes.len() {
            return Err(bad(
                &epath,
                format!("row {}: cell or gene out of range", k + 1),
            ));
        }
        indptr[i as usize + 1] += 1;
    }
    for i in 0..n {
        indptr[i + 1] += indptr[i];
    }
    let matrix = crate::data::mtx::SparseCounts {
        n_cells: n,
        n_genes: genes.len(),
        indptr,
        genes: gene.iter().map(|&g| g as u32).collect(),
        values: value.clone(),
    };
    let expr = Arc::new(crate::data::Expression::new(
        matrix,
        genes.clone(),
        c.expression_kind,
        c.expression_source.clone(),
    ));
    let model = match &c.model {
        Some(summary) => {
            let mut used: Vec<(i32, usize)> = model_index
                .iter()
                .enumerate()
                .filter(|(_, j)| **j >= 0)
                .map(|(g, &j)| (j, g))
                .collect();
            used.sort_unstable();
            let mgenes: Vec<usize> = used.into_iter().map(|(_, g)| g).collect();
            let wpath = cdir.join("model.safetensors");
            let dev = candle_core::Device::Cpu;
            let vae = crate::models::scvi::Vae::load(&wpath, &summary.params, mgenes.len(), &dev)
                .map_err(|e| bad(&wpath, e.to_string()))?;
            Some(Arc::new(crate::cells::CellModel {
                vae,
                genes: mgenes,
                summary: summary.clone(),
                history: Vec::new(),
            }))
        }
        None => None,
    };
    let mpath = cdir.join("markers.parquet");
    let markers = if mpath.exists() {
        let mt = read_parquet(&mpath)?;
        let index: std::collections::HashMap<&str, usize> = genes
            .iter()
            .enumerate()
            .map(|(i, g)| (g.as_str(), i))
            .collect();
        let col = |name: &str| -> Result<Vec<f64>, SessionError> {
            column(&mt, name, &mpath)?
                .as_f64()
                .ok_or_else(|| bad(&mpath, format!("column '{name}' is not numeric")))
        };
        let (Column::Str(group), Column::Str(gname)) =
            (column(&mt, "group", &mpath)?, column(&mt, "gene", &mpath)?)
        else {
            return Err(bad(&mpath, "unexpected column types"));
        };
        let (score, lfc, p, q, pi, po) = (
            col("score")?,
            col("logfc")?,
            col("pvalue")?,
            col("padj")?,
            col("pct_in")?,
            col("pct_out")?,
        );
        let mut tables: Vec<crate::analysis::markers::MarkerTable> = Vec::new();
        for k in 0..group.len() {
            if tables.last().is_none_or(|t| t.group != group[k]) {
                tables.push(crate::analysis::markers::MarkerTable {
                    group: group[k].clone(),
                    n_in: 0,
                    n_out: 0,
                    markers: Vec::new(),
                });
            }
            let g = *index
                .get(gname[k].as_str())
                .ok_or_else(|| bad(&mpath, format!("unknown gene '{}'", gname[k])))?;
            if let Some(t) = tables.last_mut() {
                t.markers.push(crate::analysis::markers::Marker {
                    gene: g,
                    score: score[k],
                    log2_fc: lfc[k],
                    pval: p[k],
                    padj: q[k],
                    pct_in: pi[k],
                    pct_out: po[k],
                });
            }
        }
        Some(Arc::new(crate::analysis::markers::Markers { tables }))
    } else {
        None
    };
    Ok((Some(expr), model, markers))
}

/// Writes a session folder atomically. Replaces an existing session at `out` only after the
/// new one is complete.
pub fn write(
    out: &Path,
    params: &PipelineParams,
    threads: usize,
    items: &[SessionDataset],
) -> Result<Manifest, SessionError> {
    let parent = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(io(parent))?;
    let name = out
        .file_name()
        .ok_or_else(|| bad(out, "output path has no folder name"))?
        .to_string_lossy()
        .to_string();
    let tmp = parent.join(format!(".{name}.tmp-{}", std::process::id()));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(io(&tmp))?;
    }
    std::fs::create_dir(&tmp).map_err(io(&tmp))?;
    let result = (|| {
        let mut datasets = Vec::new();
        for sd in items {
            let inputs = sd
                .dataset
                .inputs
                .iter()
                .map(|p| checksum(p))
                .collect::<Result<Vec<_>, _>>()?;
            datasets.push(DatasetEntry {
                name: sd.dataset.name.clone(),
                modality: sd.dataset.modality,
                n_items: sd.dataset.len(),
                embedding_dim: sd.dataset.embedding.cols,
                embedding: describe_embedding(&sd.dataset.embedding_source),
                cluster: sd.analysis.cluster_method.clone(),
                inputs,
                timings: sd.analysis.timings.iter().cloned().collect(),
                cells: write_cells(&tmp, datasets.len(), sd)?,
                dna: dna::write(&tmp, datasets.len(), sd)?,
                images: write_images(&tmp, datasets.len(), sd)?,
            });
        }
        let manifest = Manifest {
            format_version: FORMAT_VERSION,
            biolens_version: crate::VERSION.to_string(),
            seed: params.seed,
            threads,
            device: "cpu".into(),
            params: params.clone(),
            datasets,
        };
        let text = toml::to_string_pretty(&manifest)
            .map_err(|e| bad(out, format!("cannot encode manifest: {e}")))?;
        std::fs::write(tmp.join("manifest.toml"), text).map_err(io(&tmp))?;
        write_parquet(&tmp.join("points.parquet"), &points_table(items))?;
        write_parquet(&tmp.join("neighbors.parquet"), &neighbors_table(items))?;
        write_parquet(&tmp.join("clusters.parquet"), &clusters_table(items))?;
        Ok(manifest)
    })();
    let manifest = match result {
        Ok(m) => m,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(e);
        }
    };
    if out.exists() {
        if !out.join("manifest.toml").exists() {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(bad(
                out,
                "exists and is not a biolens session; not replacing it",
            ));
        }
        let old = parent.join(format!(".{name}.old-{}", std::process::id()));
        std::fs::rename(out, &old).map_err(io(out))?;
        std::fs::rename(&tmp, out).map_err(io(out))?;
        let _ = std::fs::remove_dir_all(&old);
    } else {
        std::fs::rename(&tmp, out).map_err(io(out))?;
    }
    Ok(manifest)
}

/// True when `path` looks like a session folder.
pub fn is_session(path: &Path) -> bool {
    path.is_dir() && path.join("manifest.toml").is_file()
}

fn column<'a>(t: &'a Table, name: &str, path: &Path) -> Result<&'a Column, SessionError> {
    t.get(name)
        .ok_or_else(|| bad(path, format!("missing column '{name}'")))
}

/// Reads a session folder back: no recomputation.
pub fn read(dir: &Path) -> Result<(Manifest, Vec<SessionDataset>), SessionError> {
    read_with(dir, true)
}

/// Reads a session for viewing: everything but the embedding vectors (the largest part of a
/// session), which `read_embedding` fetches when a k-means recluster needs them. The returned
/// datasets have `embedding.cols == 0`.
pub fn read_for_view(dir: &Path) -> Result<(Manifest, Vec<SessionDataset>), SessionError> {
    read_with(dir, false)
}

/// The embedding matrix of dataset `index` of a session.
pub fn read_embedding(dir: &Path, index: usize) -> Result<Matrix, SessionError> {
    let mpath = dir.join("manifest.toml");
    let text = std::fs::read_to_string(&mpath).map_err(io(&mpath))?;
    let manifest: Manifest =
        toml::from_str(&text).map_err(|e| bad(&mpath, format!("not a valid manifest: {e}")))?;
    let entry = manifest
        .datasets
        .get(index)
        .ok_or_else(|| bad(&mpath, format!("no dataset {index}")))?;
    let start: usize = manifest.datasets[..index].iter().map(|d| d.n_items).sum();
    let ppath = dir.join("points.parquet");
    let t = crate::table_io::read_parquet_columns(&ppath, Some(&["embedding"]))?;
    let Some(Column::ListF32 { offsets, values }) = t.get("embedding") else {
        return Err(bad(
            &ppath,
            "column 'embedding' is missing or not a list of float",
        ));
    };
    let (a, b) = (offsets[start], offsets[start + entry.n_items]);
    if b - a != entry.n_items * entry.embedding_dim {
        return Err(bad(
            &ppath,
            format!(
                "dataset {}: embedding has {} values, expected {} × {}",
                entry.name,
                b - a,
                entry.n_items,
                entry.embedding_dim
            ),
        ));
    }
    Ok(Matrix::from_vec(
        entry.n_items,
        entry.embedding_dim,
        values[a..b].to_vec(),
    ))
}

fn read_with(
    dir: &Path,
    with_embedding: bool,
) -> Result<(Manifest, Vec<SessionDataset>), SessionError> {
    let mpath = dir.join("manifest.toml");
    let text = std::fs::read_to_string(&mpath).map_err(io(&mpath))?;
    let manifest: Manifest =
        toml::from_str(&text).map_err(|e| bad(&mpath, format!("not a valid manifest: {e}")))?;
    if manifest.format_version > FORMAT_VERSION {
        return Err(bad(
            &mpath,
            format!(
                "format version {} is newer than this biolens reads ({FORMAT_VERSION}); upgrade biolens",
                manifest.format_version
            ),
        ));
    }
    let ppath = dir.join("points.parquet");
    let read_points = || -> Result<Table, SessionError> {
        if with_embedding {
            return Ok(read_parquet(&ppath)?);
        }
        let names = crate::table_io::parquet_column_names(&ppath)?;
        let keep: Vec<&str> = names
            .iter()
            .map(String::as_str)
            .filter(|n| *n != "embedding")
            .collect();
        Ok(crate::table_io::read_parquet_columns(&ppath, Some(&keep))?)
    };
    let npath = dir.join("neighbors.parquet");
    // The two files decode independently: read them on two cores.
    let (pts, nbt) = rayon::join(read_points, || read_parquet(&npath));
    let (pts, nbt) = (pts?, nbt?);
    let n_total: usize = manifest.datasets.iter().map(|d| d.n_items).sum();
    if pts.n_rows() != n_total || nbt.n_rows() != n_total {
        return Err(bad(
            dir,
            format!(
                "manifest lists {n_total} items but points.parquet has {} and neighbors.parquet {}",
                pts.n_rows(),
                nbt.n_rows()
            ),
        ));
    }
    let (
        Column::Str(ids),
        Column::F32(x),
        Column::F32(y),
        Column::I32(cl),
        Column::F32(ak),
        Column::F32(ai),
    ) = (
        column(&pts, "id", &ppath)?,
        column(&pts, "x", &ppath)?,
        column(&pts, "y", &ppath)?,
        column(&pts, "cluster", &ppath)?,
        column(&pts, "anomaly_knn", &ppath)?,
        column(&pts, "anomaly_iforest", &ppath)?,
    )
    else {
        return Err(bad(&ppath, "a fixed column has an unexpected type"));
    };
    let empty = (vec![0usize; n_total + 1], Vec::new());
    let (eo, ev) = match pts.get("embedding") {
        Some(Column::ListF32 { offsets, values }) => (offsets, values),
        Some(_) => return Err(bad(&ppath, "column 'embedding' is not a list of float")),
        None if with_embedding => return Err(bad(&ppath, "missing column 'embedding'")),
        None => (&empty.0, &empty.1),
    };
    let (
        Column::ListI32 {
            offsets: no,
            values: nv,
        },
        Column::ListF32 { values: dv, .. },
    ) = (
        column(&nbt, "neighbors", &npath)?,
        column(&nbt, "distances", &npath)?,
    )
    else {
        return Err(bad(&npath, "unexpected column types"));
    };
    let mut out = Vec::new();
    let mut start = 0usize;
    for entry in &manifest.datasets {
        let n = entry.n_items;
        let r = start..start + n;
        let d = if with_embedding {
            entry.embedding_dim
        } else {
            0
        };
        if eo[r.end] - eo[r.start] != n * d {
            return Err(bad(
                &ppath,
                format!(
                    "dataset {}: embedding has {} values, expected {n} × {d}",
                    entry.name,
                    eo[r.end] - eo[r.start]
                ),
            ));
        }
        let embedding = Matrix::from_vec(n, d, ev[eo[r.start]..eo[r.end]].to_vec());
        let k = if n > 0 { no[start + 1] - no[start] } else { 0 };
        let knn = KnnGraph {
            n,
            k,
            indices: nv[no[r.start]..no[r.end]]
                .iter()
                .map(|&v| v as u32)
                .collect(),
            distances: dv[no[r.start]..no[r.end]].to_vec(),
        };
        if knn.indices.len() != n * k || knn.indices.iter().any(|&j| j as usize >= n) {
            return Err(bad(
                &npath,
                format!("dataset {}: neighbour lists are inconsistent", entry.name),
            ));
        }
        let meta = pts
            .names
            .iter()
            .zip(&pts.columns)
            .filter(|(name, _)| !FIXED.contains(&name.as_str()))
            .map(|(name, c)| MetaColumn {
                name: name.clone(),
                values: match c {
                    Column::Str(v) => MetaValues::Text(v[r.clone()].to_vec()),
                    other => MetaValues::Number(
                        other
                            .as_f64()
                            .map(|v| v[r.clone()].to_vec())
                            .unwrap_or_default(),
                    ),
                },
            })
            .collect();
        let (expression, model, markers) = read_cells(dir, entry, n)?;
        let (sequences, motifs, dna_model) = dna::read(dir, entry.dna.as_ref(), n)?;
        let anomaly_model = match pts.get("anomaly_recon") {
            Some(Column::F32(v)) if v[r.clone()].iter().any(|x| !x.is_nan()) => {
                Some(Arc::new(v[r.clone()].to_vec()))
            }
            _ => None,
        };
        let dataset = Dataset {
            name: entry.name.clone(),
            modality: entry.modality,
            ids: ids[r.clone()].to_vec(),
            meta,
            embedding,
            embedding_source: EmbeddingSource::Precomputed,
            inputs: entry
                .inputs
                .iter()
                .map(|i| PathBuf::from(&i.path))
                .collect(),
            expression,
            notes: Vec::new(),
            model,
            sequences,
            dna_model,
            tiles: None,
            image_model: None,
        };
        let mut dataset = dataset;
        if dataset.modality == Modality::Images {
            dataset.tiles = crate::data::images::tiles_from_meta(&dataset.meta).map(Arc::new);
        }
        let analysis = Analysis {
            knn: Arc::new(knn),
            graph: None,
            layout: Arc::new(r.clone().map(|i| [x[i], y[i]]).collect()),
            clusters: Arc::new(cl[r.clone()].iter().map(|&c| c.max(0) as u32).collect()),
            cluster_method: entry.cluster.clone(),
            anomaly_knn: Arc::new(ak[r.clone()].to_vec()),
            anomaly_iforest: Arc::new(ai[r.clone()].to_vec()),
            anomaly_model,
            markers,
            motifs,
            timings: entry.timings.iter().map(|(k, v)| (k.clone(), *v)).collect(),
        };
        out.push(SessionDataset { dataset, analysis });
        start += n;
    }
    Ok((manifest, out))
}
