//! A cells dataset's part of a session, in `cells-INDEX/`: `expression.bin` (gene-major and
//! compact, see `store`; older sessions' `expression.parquet` rows still read), `genes.parquet` (gene, model_index), `model.safetensors` (the count
//! model's weights: reopening never retrains) and `markers.parquet` (top 200 per cluster).

use crate::io::parquet::{Column, Table, read_parquet, write_parquet};
use crate::io::{FileError, bad, column, io_err};
use crate::modality::cells::expression::Expression;
use crate::modality::cells::markers::{Marker, MarkerTable, Markers, markers_table};
use crate::modality::cells::model::CellModel;
use std::path::Path;
use std::sync::Arc;

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CellsEntry {
    pub folder: String,
    pub expression_kind: crate::modality::cells::h5ad::ValueKind,
    pub expression_source: String,
    pub n_genes: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<crate::modality::cells::model::ModelSummary>,
}

/// Marker genes kept per group in a session (exports of a live session have them all).
pub const MARKERS_KEPT: usize = 200;

/// Writes a cells dataset's expression, model weights and markers into `cells-INDEX/`.
pub fn write(
    tmp: &Path,
    index: usize,
    name: &str,
    e: &Expression,
    model: Option<&CellModel>,
    markers: Option<&Markers>,
) -> Result<CellsEntry, FileError> {
    let folder = format!("cells-{index}");
    let dir = tmp.join(&folder);
    std::fs::create_dir(&dir).map_err(io_err(&dir))?;
    let mut model_index = vec![-1i32; e.genes.len()];
    if let Some(m) = model {
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
    crate::modality::cells::store::write(&dir.join(EXPRESSION_FILE), &e.by_gene)?;
    if let Some(mk) = markers {
        write_parquet(
            &dir.join("markers.parquet"),
            &markers_table(name, e, &mk.tables, MARKERS_KEPT),
        )?;
    }
    Ok(CellsEntry {
        folder,
        expression_kind: e.kind,
        expression_source: e.source.clone(),
        n_genes: e.genes.len(),
        model: model.map(|m| m.summary.clone()),
    })
}

/// The gene-major expression file (see `store`); sessions before it have `expression.parquet`.
const EXPRESSION_FILE: &str = "expression.bin";

/// A cells dataset's part of a session, read back.
pub type CellsParts = (
    Arc<Expression>,
    Option<Arc<CellModel>>,
    Option<Arc<Markers>>,
);

pub fn read(dir: &Path, c: &CellsEntry, n: usize) -> Result<CellsParts, FileError> {
    let cdir = dir.join(&c.folder);
    let gpath = cdir.join("genes.parquet");
    let gt = read_parquet(&gpath)?;
    let (Column::Str(genes), Column::I32(model_index)) = (
        column(&gt, "gene", &gpath)?,
        column(&gt, "model_index", &gpath)?,
    ) else {
        return Err(bad(&gpath, "unexpected column types"));
    };
    let bin = cdir.join(EXPRESSION_FILE);
    let by_gene = if bin.exists() {
        crate::modality::cells::store::read(&bin, n, genes.len())?
    } else {
        read_expression_parquet(&cdir.join("expression.parquet"), n, genes.len())?
    };
    let expr = Arc::new(Expression::from_by_gene(
        by_gene,
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
            let vae =
                crate::modality::cells::vae::Vae::load(&wpath, &summary.params, mgenes.len(), &dev)
                    .map_err(|e| bad(&wpath, e.to_string()))?;
            Some(Arc::new(CellModel {
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
        let col = |name: &str| -> Result<Vec<f64>, FileError> {
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
            col(crate::modality::cells::markers::effect_name(c.expression_kind).0)?,
            col("pvalue")?,
            col("padj")?,
            col("pct_in")?,
            col("pct_out")?,
        );
        let mut tables: Vec<MarkerTable> = Vec::new();
        for k in 0..group.len() {
            if tables.last().is_none_or(|t| t.group != group[k]) {
                tables.push(MarkerTable {
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
                t.markers.push(Marker {
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
        Some(Arc::new(Markers { tables }))
    } else {
        None
    };
    Ok((expr, model, markers))
}

/// Expression as sessions before `expression.bin` stored it: (cell, gene, value) rows.
fn read_expression_parquet(
    epath: &Path,
    n: usize,
    n_genes: usize,
) -> Result<crate::modality::cells::expression::ByGene, FileError> {
    let et = read_parquet(epath)?;
    let (Column::I32(cell), Column::I32(gene), Column::F32(value)) = (
        column(&et, "cell", epath)?,
        column(&et, "gene", epath)?,
        column(&et, "value", epath)?,
    ) else {
        return Err(bad(epath, "unexpected column types"));
    };
    // Older sessions wrote the rows by cell: that is CSR, transposed as any CSR input is.
    let mut indptr = vec![0usize; n + 1];
    for (k, (&i, &g)) in cell.iter().zip(gene.iter()).enumerate() {
        if i < 0 || i as usize >= n || g < 0 || g as usize >= n_genes {
            return Err(bad(
                epath,
                format!("row {}: cell or gene out of range", k + 1),
            ));
        }
        if k > 0 && i < cell[k - 1] {
            return Err(bad(
                epath,
                format!("row {}: rows not ordered by cell", k + 1),
            ));
        }
        indptr[i as usize + 1] += 1;
    }
    for i in 0..n {
        indptr[i + 1] += indptr[i];
    }
    Ok(crate::modality::cells::expression::ByGene::from_csr(
        &crate::modality::cells::mtx::SparseCounts {
            n_cells: n,
            n_genes,
            indptr,
            genes: gene.iter().map(|&g| g as u32).collect(),
            values: value.clone(),
        },
    ))
}
