//! Single cells: count matrices from `.h5ad` (AnnData), Cell Ranger's `.h5` or a 10x Matrix
//! Market folder, the scanpy-style PCA baseline, the scVI-style count model, Wilcoxon marker
//! genes and the cells part of a session. Imports nothing of `modality/mod.rs`, `pipeline`, `session` or
//! `tui`: `modality/mod.rs` composes these pieces.

pub mod baseline;
pub mod expression;
pub mod h5ad;
pub mod h5ad_sparse;
pub mod markers;
pub mod model;
pub mod mtx;
pub mod options;
pub mod session;
pub mod store;
pub mod tenx_h5;
pub mod vae;
pub mod values;

use crate::core::matrix::{Matrix, check_finite};
use crate::core::{DataError, ItemsRead, MetaColumn, MetaValues};
pub use expression::Expression;
pub use options::{ModelChoice, Options};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What a cells dataset holds beyond its ids and metadata.
#[derive(Debug, Clone)]
pub struct CellsData {
    pub expression: Arc<Expression>,
    /// The `.h5ad`'s `obsm` matrices (2-D, numeric), by key: candidates for `--obsm`.
    pub obsm: Vec<(String, Arc<Matrix>)>,
}

/// True when `path` is a cells input this module reads.
pub fn is_cells_input(path: &Path) -> bool {
    (path.is_dir() && mtx::find_matrix(path).is_some()) || h5ad::is_h5ad(path)
}

/// Reads a 10x folder or an `.h5ad`, then applies the QC filter of `o`.
pub fn read(path: &Path, o: &Options) -> Result<ItemsRead<CellsData>, DataError> {
    read_with(path, o, &|_| {})
}

/// The same, telling `progress` the fraction of the expression matrix read.
pub fn read_with(
    path: &Path,
    o: &Options,
    progress: &(dyn Fn(f64) + Sync),
) -> Result<ItemsRead<CellsData>, DataError> {
    if path.is_dir() {
        let tenx = mtx::read_10x_folder(path)?;
        let kind = h5ad::ValueKind::of(&tenx.counts.values);
        let source = path.display().to_string();
        let expr = Expression::new(tenx.counts, tenx.gene_names, kind, source);
        qc(path, tenx.barcodes, tenx.meta, expr, tenx.files, o, vec![])
    } else if tenx_h5::is_tenx_h5(path) {
        if o.matrix != h5ad::MatrixChoice::Auto {
            return Err(DataError::file(
                path,
                "--layer and --raw choose a matrix of an .h5ad; this is a Cell Ranger matrix \
                 (one matrix)",
            ));
        }
        let t = tenx_h5::read_tenx_h5(path, progress)?;
        let expr = Expression::from_by_gene(
            t.matrix,
            t.gene_names,
            t.kind,
            format!("{}:{}", path.display(), t.source),
        );
        let mut meta: Vec<MetaColumn> = expr.qc_columns().into();
        meta.extend(t.feature_columns);
        qc(
            path,
            t.barcodes,
            meta,
            expr,
            vec![path.to_path_buf()],
            o,
            vec![],
        )
        .map(|mut r| {
            r.notes.splice(0..0, t.notes);
            r
        })
    } else {
        let a = h5ad::read_h5ad_with(path, &o.matrix, progress)?;
        let note = (a.kind != h5ad::ValueKind::Counts).then(|| {
            format!(
                "{}: no matrix holds counts; markers and gene colours use {} ({}), as scanpy does",
                path.display(),
                a.matrix_source,
                a.kind.describe()
            )
        });
        let expr = Expression::from_by_gene(
            a.matrix,
            a.var_names,
            a.kind,
            format!("{}:{}", path.display(), a.matrix_source),
        );
        let mut obs = a.obs;
        if a.kind == h5ad::ValueKind::Counts {
            // Our own QC columns replace the file's, so they describe the counts we use.
            obs.retain(|c| c.name != "total_counts" && c.name != "n_genes");
            obs.splice(0..0, expr.qc_columns());
        }
        qc(
            path,
            a.obs_names,
            obs,
            expr,
            vec![path.to_path_buf()],
            o,
            a.obsm,
        )
        .map(|mut r| {
            r.notes.extend(note);
            r
        })
    }
}

/// `obsm` keys that hold each cell's position on the tissue (squidpy's, then others seen).
const SPATIAL_KEYS: [&str; 3] = ["spatial", "X_spatial", "spatial_coords"];

/// Drops cells with zero counts (or fewer than `min_genes` detected genes), noting it.
fn qc(
    path: &Path,
    mut ids: Vec<String>,
    mut meta: Vec<MetaColumn>,
    mut expr: Expression,
    inputs: Vec<PathBuf>,
    o: &Options,
    mut obsm: Vec<(String, Matrix)>,
) -> Result<ItemsRead<CellsData>, DataError> {
    let mut notes = Vec::new();
    let n = expr.n_cells();
    let keep: Vec<usize> = (0..n)
        .filter(|&i| {
            let detected = expr.detected[i] as usize;
            detected > 0 && detected >= o.min_genes
        })
        .collect();
    if keep.len() < n {
        notes.push(format!(
            "{}: dropped {} of {n} cells with zero counts{} (QC filter)",
            path.display(),
            n - keep.len(),
            if o.min_genes > 0 {
                format!(" or fewer than {} detected genes", o.min_genes)
            } else {
                String::new()
            }
        ));
        expr.retain_cells(&keep);
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
        return Err(DataError::file(path, "no cell has a non-zero count"));
    }
    // Spatial data (Visium, Xenium, MERFISH…) keeps each cell's position in obsm: two columns
    // the map's tissue view draws (`:map tissue`), colour and predicates read.
    if let Some((key, m)) = obsm
        .iter()
        .find(|(k, m)| SPATIAL_KEYS.contains(&k.as_str()) && m.cols >= 2)
        && !meta
            .iter()
            .any(|c| c.name == "spatial_x" || c.name == "spatial_y")
    {
        for (j, name) in ["spatial_x", "spatial_y"].iter().enumerate() {
            meta.push(MetaColumn {
                name: name.to_string(),
                values: MetaValues::Number((0..m.rows).map(|i| m.row(i)[j] as f64).collect()),
            });
        }
        notes.push(format!(
            "{}: positions from obsm['{key}'] as spatial_x, spatial_y (:map tissue shows them)",
            path.display()
        ));
    }
    Ok(ItemsRead {
        ids,
        meta,
        data: CellsData {
            expression: Arc::new(expr),
            obsm: obsm.into_iter().map(|(k, m)| (k, Arc::new(m))).collect(),
        },
        inputs,
        notes,
    })
}

/// The embedding without a model: the `--obsm` matrix when one is named, the PCA baseline
/// otherwise. Returns the matrix and, for the baseline, the number of genes it used.
pub fn baseline(
    path: &Path,
    ids: &[String],
    d: &CellsData,
    o: &Options,
) -> Result<(Matrix, Option<usize>), BaselineFailure> {
    match &o.obsm {
        Some(key) => {
            let Some((_, m)) = d.obsm.iter().find(|(k, _)| k == key) else {
                return Err(BaselineFailure::Data(DataError::file(
                    path,
                    format!("--obsm {key}: no such obsm matrix in this file"),
                )));
            };
            check_finite(path, m, ids).map_err(BaselineFailure::Data)?;
            Ok(((**m).clone(), None))
        }
        None => {
            let e = &d.expression;
            let m = baseline::baseline_for(e, &o.baseline).map_err(BaselineFailure::Pca)?;
            Ok((m, Some(e.n_genes().min(o.baseline.n_top_genes))))
        }
    }
}

/// Why the cells baseline could not be computed.
#[derive(Debug, thiserror::Error)]
pub enum BaselineFailure {
    #[error(transparent)]
    Data(DataError),
    #[error(transparent)]
    Pca(crate::analysis::pca::BaselineError),
}

/// Whether the count model trains under `o`: an error when it was asked for and the data is
/// not raw counts.
pub fn trains(d: &CellsData, o: &Options) -> Result<bool, vae::ScviError> {
    match o.model {
        ModelChoice::Pca => Ok(false),
        ModelChoice::Auto => Ok(o.obsm.is_none() && model::has_counts(&d.expression)),
        ModelChoice::Scvi => model::counts_of(&d.expression).map(|_| true),
    }
}
