//! Cell Ranger's HDF5 feature-barcode matrix (`filtered_feature_bc_matrix.h5`): the v3
//! layout (`/matrix` with a `features` group of `id`, `name`, `feature_type`, `genome`) and
//! the v2 layout (one group per genome with `genes` and `gene_names`). Both store genes ×
//! cells as CSC, which is cells × genes CSR: each barcode's column is read as a cell's row by
//! the `.h5ad` chunk reader, in parallel and after the same memory check.
//!
//! As `scanpy.read_10x_h5` does by default, only `Gene Expression` features go into the
//! expression matrix; the others (antibody capture, CRISPR guides, custom) become numeric
//! metadata columns, so they can colour the map and enter predicates.

use super::expression::ByGene;
use super::h5ad::{Ctx, check_fits, check_indptr, check_lengths, read_sparse_whole};
use super::h5ad_sparse::{BLOCK, SparseError, SparseParts, read_by_gene};
use super::values::ValueKind;
use crate::core::DataError;
use crate::core::meta::{MetaColumn, MetaValues};
use crate::io::h5chunks::Chunked1d;
use hdf5_pure::File;
use std::collections::HashMap;
use std::path::Path;

/// The feature type scanpy keeps by default.
const GENE_EXPRESSION: &str = "Gene Expression";
/// At most this many features other than genes become metadata columns (a CRISPR screen can
/// have thousands of guides; each column costs 8 bytes a cell).
const MAX_FEATURE_COLUMNS: usize = 256;
/// The datasets every matrix group of either layout holds.
const MATRIX_PARTS: [&str; 5] = ["barcodes", "data", "indices", "indptr", "shape"];

/// Which layout a Cell Ranger file has.
#[derive(Debug, Clone, PartialEq)]
pub enum Layout {
    /// Cell Ranger ≥ 3: `/matrix` with `features/`.
    V3,
    /// Cell Ranger 2: one group per genome, named here.
    V2(Vec<String>),
}

/// A Cell Ranger matrix as read.
#[derive(Debug, Clone)]
pub struct TenxH5 {
    pub barcodes: Vec<String>,
    /// Gene symbols, made unique as anndata's `var_names_make_unique` does (`-1`, `-2`, …).
    pub gene_names: Vec<String>,
    /// Ensembl ids, aligned with `gene_names`.
    pub gene_ids: Vec<String>,
    /// Cells × genes (gene expression features only), by gene.
    pub matrix: ByGene,
    pub kind: ValueKind,
    /// Features other than gene expression, one numeric column of counts each.
    pub feature_columns: Vec<MetaColumn>,
    /// What was set aside or renamed, for the user.
    pub notes: Vec<String>,
    /// "Cell Ranger v3 matrix" or "Cell Ranger v2 matrix (GRCh38)".
    pub source: String,
}

fn has_matrix_parts(cx: &Ctx, g: &str) -> bool {
    MATRIX_PARTS
        .iter()
        .all(|p| cx.has_dataset(&format!("{g}/{p}")))
}

/// The layout of an open HDF5 file, or None when it is not a Cell Ranger matrix.
pub(super) fn layout_of(cx: &Ctx) -> Option<Layout> {
    if has_matrix_parts(cx, "matrix") && cx.group("matrix/features").is_some() {
        return Some(Layout::V3);
    }
    let groups = cx.file.root().groups().ok()?;
    let genomes: Vec<String> = groups
        .into_iter()
        .filter(|g| has_matrix_parts(cx, g) && cx.has_dataset(&format!("{g}/genes")))
        .collect();
    (!genomes.is_empty()).then_some(Layout::V2(genomes))
}

/// True when `path` is an HDF5 file in a Cell Ranger matrix layout.
pub fn is_tenx_h5(path: &Path) -> bool {
    File::open_streaming(path)
        .ok()
        .is_some_and(|file| layout_of(&Ctx { path, file }).is_some())
}

/// Reads a Cell Ranger `.h5` matrix.
pub fn read_tenx_h5(path: &Path, progress: &(dyn Fn(f64) + Sync)) -> Result<TenxH5, DataError> {
    let file = File::open_streaming(path).map_err(|e| {
        DataError::file(
            path,
            format!("not a readable HDF5 file ({e}); expected Cell Ranger's matrix .h5"),
        )
    })?;
    let cx = Ctx { path, file };
    match layout_of(&cx) {
        Some(Layout::V3) => read_v3(&cx, progress),
        Some(Layout::V2(genomes)) => read_v2(&cx, &genomes, progress),
        None => Err(cx.bad(
            "/",
            "neither Cell Ranger's v3 layout (/matrix with features/) nor its v2 layout \
             (/<genome>/ with barcodes, data, indices, indptr, shape, genes)",
        )),
    }
}

fn read_v3(cx: &Ctx, progress: &(dyn Fn(f64) + Sync)) -> Result<TenxH5, DataError> {
    let (barcodes, m) = read_block(cx, "matrix", progress)?;
    let n = m.n_genes();
    let ids = feature_strings(cx, "matrix/features/id", n)?;
    let names = feature_strings(cx, "matrix/features/name", n)?;
    // Cell Ranger always writes feature_type; a file without it holds genes only.
    let types = if cx.has_dataset("matrix/features/feature_type") {
        feature_strings(cx, "matrix/features/feature_type", n)?
    } else {
        vec![GENE_EXPRESSION.to_string(); n]
    };
    let mut notes = Vec::new();
    let genes: Vec<usize> = (0..n).filter(|&f| types[f] == GENE_EXPRESSION).collect();
    let (matrix, gene_idx, feature_columns) = if genes.is_empty() {
        notes.push(format!(
            "{}: no '{GENE_EXPRESSION}' features; all {n} features ({}) are used as the matrix",
            cx.path.display(),
            type_counts(&types, &(0..n).collect::<Vec<_>>())
        ));
        (m, (0..n).collect(), Vec::new())
    } else if genes.len() == n {
        (m, genes, Vec::new())
    } else {
        let others: Vec<usize> = (0..n).filter(|&f| types[f] != GENE_EXPRESSION).collect();
        let columns: Vec<MetaColumn> = others
            .iter()
            .take(MAX_FEATURE_COLUMNS)
            .map(|&f| feature_column(&m, f, &column_name(&types[f], &names[f])))
            .collect();
        notes.push(format!(
            "{}: {} features other than gene expression ({}) set aside from the expression \
             model; {} kept as metadata columns (counts){}",
            cx.path.display(),
            others.len(),
            type_counts(&types, &others),
            columns.len(),
            if others.len() > columns.len() {
                format!(", the first {MAX_FEATURE_COLUMNS} in the file's order")
            } else {
                String::new()
            }
        ));
        (m.select_genes(&genes), genes, columns)
    };
    let gene_names = unique_names(cx, gene_idx.iter().map(|&f| names[f].clone()), &mut notes);
    let kind = ValueKind::of(&matrix.values);
    Ok(TenxH5 {
        barcodes,
        gene_names,
        gene_ids: gene_idx.iter().map(|&f| ids[f].clone()).collect(),
        matrix,
        kind,
        feature_columns,
        notes,
        source: "Cell Ranger v3 matrix".into(),
    })
}

fn read_v2(
    cx: &Ctx,
    genomes: &[String],
    progress: &(dyn Fn(f64) + Sync),
) -> Result<TenxH5, DataError> {
    let mut barcodes: Option<Vec<String>> = None;
    let mut parts = Vec::new();
    let (mut ids, mut names) = (Vec::new(), Vec::new());
    for (k, g) in genomes.iter().enumerate() {
        let step = |f: f64| progress((k as f64 + f) / genomes.len() as f64);
        let (b, m) = read_block(cx, g, &step)?;
        match &barcodes {
            None => barcodes = Some(b),
            Some(first) if *first != b => {
                return Err(cx.bad(
                    g,
                    format!(
                        "its barcodes differ from those of /{} (genomes of one library share \
                         barcodes)",
                        genomes[0]
                    ),
                ));
            }
            Some(_) => {}
        }
        let n = m.n_genes();
        ids.extend(feature_strings(cx, &format!("{g}/genes"), n)?);
        if cx.has_dataset(&format!("{g}/gene_names")) {
            names.extend(feature_strings(cx, &format!("{g}/gene_names"), n)?);
        } else {
            names.extend(ids[ids.len() - n..].iter().cloned());
        }
        parts.push(m);
    }
    let barcodes = barcodes.unwrap_or_default();
    let matrix = ByGene::concat_genes(parts);
    let mut notes = Vec::new();
    let gene_names = unique_names(cx, names.into_iter(), &mut notes);
    let kind = ValueKind::of(&matrix.values);
    Ok(TenxH5 {
        barcodes,
        gene_names,
        gene_ids: ids,
        matrix,
        kind,
        feature_columns: Vec::new(),
        notes,
        source: format!("Cell Ranger v2 matrix ({})", genomes.join(", ")),
    })
}

/// One matrix group: its barcodes and the features × barcodes matrix as cells × genes.
fn read_block(
    cx: &Ctx,
    g: &str,
    progress: &(dyn Fn(f64) + Sync),
) -> Result<(Vec<String>, ByGene), DataError> {
    let shape = cx.ints(&format!("{g}/shape"))?;
    if shape.len() != 2 || shape.iter().any(|&x| x < 0 || x > u32::MAX as i64) {
        return Err(cx.bad(
            &format!("{g}/shape"),
            format!("expected [features, barcodes], found {shape:?}"),
        ));
    }
    let (n_features, n_cells) = (shape[0] as usize, shape[1] as usize);
    let barcodes = cx.strings(&format!("{g}/barcodes"))?;
    if barcodes.len() != n_cells {
        return Err(cx.bad(
            &format!("{g}/barcodes"),
            format!("{} barcodes but shape says {n_cells}", barcodes.len()),
        ));
    }
    let open = |part: &str| -> Result<Option<Chunked1d>, DataError> {
        let p = format!("{g}/{part}");
        let d = cx.file.dataset(&p).map_err(|e| cx.err(&p, e))?;
        Chunked1d::open(cx.path, &d).map_err(|e| cx.err(&p, e))
    };
    let m = match (open("data")?, open("indices")?) {
        (Some(data), Some(indices)) => {
            check_lengths(cx, g, data.len(), indices.len())?;
            let indptr = cx.ints(&format!("{g}/indptr"))?;
            check_indptr(cx, g, &indptr, n_cells, data.len())?;
            check_fits(cx, g, data.len(), n_cells)?;
            let p = SparseParts {
                data: &data,
                indices: &indices,
                indptr: &indptr,
                csr: true,
                n_cells,
                n_genes: n_features,
                block: BLOCK,
            };
            match read_by_gene(&p, |_| true, progress) {
                Ok((m, _)) => m,
                Err(SparseError::Bad(part, msg)) => {
                    return Err(cx.bad(&format!("{g}/{part}"), msg));
                }
                Err(SparseError::Unwanted(k)) => {
                    return Err(cx.bad(g, format!("values ({}) refused", k.describe())));
                }
            }
        }
        _ => {
            let m = read_sparse_whole(cx, g, true, n_cells, n_features)?;
            progress(1.0);
            ByGene::from_csr(&m)
        }
    };
    Ok((barcodes, m))
}

/// A per-feature string dataset, checked against the matrix's feature count.
fn feature_strings(cx: &Ctx, p: &str, n: usize) -> Result<Vec<String>, DataError> {
    let v = cx.strings(p)?;
    if v.len() != n {
        return Err(cx.bad(
            p,
            format!("{} entries but the matrix has {n} features", v.len()),
        ));
    }
    Ok(v)
}

/// "12 Antibody Capture, 3 CRISPR Guide Capture".
fn type_counts(types: &[String], of: &[usize]) -> String {
    let mut counts: Vec<(String, usize)> = Vec::new();
    for &f in of {
        match counts.iter_mut().find(|(t, _)| *t == types[f]) {
            Some((_, c)) => *c += 1,
            None => counts.push((types[f].clone(), 1)),
        }
    }
    counts
        .iter()
        .map(|(t, c)| format!("{c} {t}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The metadata name of a non-gene feature: `adt_CD3` for antibodies, `guide_…` for CRISPR
/// guides, the type in snake case otherwise; prefixed so it cannot shadow a gene or a column.
fn column_name(feature_type: &str, name: &str) -> String {
    let prefix = match feature_type {
        "Antibody Capture" => "adt".to_string(),
        "CRISPR Guide Capture" => "guide".to_string(),
        other => other
            .to_lowercase()
            .split(|c: char| !c.is_alphanumeric())
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join("_"),
    };
    format!("{prefix}_{name}")
}

/// Counts of feature `f` for every cell.
fn feature_column(m: &ByGene, f: usize, name: &str) -> MetaColumn {
    let mut v = vec![0f64; m.n_cells];
    let (cells, values) = m.gene(f);
    for (&c, &x) in cells.iter().zip(values) {
        v[c as usize] = x as f64;
    }
    MetaColumn {
        name: name.to_string(),
        values: MetaValues::Number(v),
    }
}

/// Gene symbols made unique, saying how many were renamed.
fn unique_names(
    cx: &Ctx,
    names: impl Iterator<Item = String>,
    notes: &mut Vec<String>,
) -> Vec<String> {
    let (names, renamed) = make_unique(names);
    if renamed > 0 {
        notes.push(format!(
            "{}: {renamed} repeated gene symbols made unique with -1, -2, … (as anndata's \
             var_names_make_unique)",
            cx.path.display()
        ));
    }
    names
}

/// Names made unique as anndata does: the second `X` becomes `X-1`, the third `X-2`.
/// Returns the names and how many were renamed.
pub fn make_unique(names: impl Iterator<Item = String>) -> (Vec<String>, usize) {
    let names: Vec<String> = names.collect();
    // A suffix never takes a name the file itself uses, nor one given already.
    let taken: std::collections::HashSet<&str> = names.iter().map(String::as_str).collect();
    let mut used: std::collections::HashSet<String> = std::collections::HashSet::new();
    let mut next: HashMap<&str, usize> = HashMap::new();
    let mut out = Vec::with_capacity(names.len());
    for n in &names {
        if used.insert(n.clone()) {
            out.push(n.clone());
            continue;
        }
        let k = next.entry(n.as_str()).or_insert(1);
        let mut name = format!("{n}-{k}");
        while taken.contains(name.as_str()) || used.contains(&name) {
            *k += 1;
            name = format!("{n}-{k}");
        }
        *k += 1;
        used.insert(name.clone());
        out.push(name);
    }
    let renamed = out.iter().zip(&names).filter(|(a, b)| a != b).count();
    (out, renamed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_names_get_suffixes_that_do_not_collide() {
        let v = ["A", "B", "A", "A-1", "A"].map(String::from);
        let (out, renamed) = make_unique(v.into_iter());
        assert_eq!(out, ["A", "B", "A-2", "A-1", "A-3"]);
        assert_eq!(renamed, 2);
    }

    #[test]
    fn feature_columns_are_prefixed_by_type() {
        assert_eq!(column_name("Antibody Capture", "CD3"), "adt_CD3");
        assert_eq!(column_name("CRISPR Guide Capture", "g1"), "guide_g1");
        assert_eq!(
            column_name("Multiplexing Capture", "CMO301"),
            "multiplexing_capture_CMO301"
        );
    }
}
