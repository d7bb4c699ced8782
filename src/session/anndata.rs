//! AnnData write-back (`biolens export S anndata -o out.h5ad`): a session's results in the
//! layout anndata ≥ 0.8 reads (encoding-type / encoding-version attributes on every element),
//! written with the pure-Rust HDF5 writer. X as the session holds it (CSC, cells × genes),
//! obs with the metadata plus `biolens_cluster` (categorical), the anomaly scores and one
//! boolean column per selection, obsm `X_umap` and the model's latent (`X_scVI` or
//! `X_pca`), obsp `connectivities` and `distances` with uns `neighbors` (the graph, as
//! `sc.pp.neighbors` leaves it), and uns `rank_genes_groups` in scanpy's structure (record
//! arrays with one field per group) plus `biolens` (the run's parameters as TOML).

use super::SessionDataset;
use crate::core::MetaValues;
use crate::io::{FileError, bad};
use crate::modality::EmbeddingSource;
use hdf5_pure::{AttrValue, FileBuilder};
use std::path::Path;

/// What goes into the file besides the session's own tables.
pub struct Extras<'a> {
    /// Selections and their members (item indices), one boolean obs column each.
    pub selections: &'a [(String, Vec<u32>)],
    /// The run's parameters, stored as `uns/biolens/params` (TOML text).
    pub params_toml: String,
    /// How the embedding was made, as the manifest says (`pca-baseline …`, `scvi-vae …`):
    /// names its obsm key.
    pub embedding: String,
}

/// The obsm key scanpy users expect for an embedding described as `d`.
pub fn latent_key(d: &str) -> String {
    if d.starts_with("scvi") {
        "X_scVI".into()
    } else if d.starts_with("pca-baseline") || d.contains("baseline") {
        "X_pca".into()
    } else if let Some(k) = d.strip_prefix("obsm ").filter(|k| *k != "X_umap") {
        k.to_string()
    } else {
        "X_biolens".into()
    }
}

type Group = hdf5_pure::GroupBuilder;

fn enc(g: &mut Group, kind: &str, version: &str) {
    g.set_attr("encoding-type", AttrValue::String(kind.into()));
    g.set_attr("encoding-version", AttrValue::String(version.into()));
}

fn set_enc(d: &mut hdf5_pure::DatasetBuilder, kind: &str, version: &str) {
    d.set_attr("encoding-type", AttrValue::String(kind.into()));
    d.set_attr("encoding-version", AttrValue::String(version.into()));
}

/// Text as fixed-width UTF-8 (h5py's `asstr()`, which anndata reads strings with, decodes
/// it): a variable-length dataset holds heap addresses, which hdf5-pure cannot copy into
/// another file, and `--into` copies. A value fixed width cannot hold (a NUL) falls back to
/// variable length.
fn strings(g: &mut Group, name: &str, values: &[String]) {
    let v: Vec<&str> = values.iter().map(|s| s.as_str()).collect();
    let d = g.create_dataset(name);
    if d.with_strings(&v).is_err() {
        d.with_vlen_strings(&v);
    }
    set_enc(d, "string-array", "0.2.0");
}

fn scalar_string(g: &mut Group, name: &str, value: &str) {
    let d = g.create_dataset(name);
    match d.with_strings(&[value]) {
        Ok(d) => d.with_shape(&[]),
        Err(_) => d.with_vlen_strings(&[value]).with_shape(&[]),
    };
    set_enc(d, "string", "0.2.0");
}

fn f32_array(g: &mut Group, name: &str, v: &[f32], shape: &[u64]) {
    let d = g.create_dataset(name);
    d.with_f32_data(v).with_shape(shape);
    set_enc(d, "array", "0.2.0");
}

fn f64_array(g: &mut Group, name: &str, v: &[f64]) {
    let d = g.create_dataset(name);
    d.with_f64_data(v);
    set_enc(d, "array", "0.2.0");
}

/// A categorical column: codes (−1 = missing) and categories in the given order.
fn categorical(g: &mut Group, name: &str, codes: &[i32], categories: &[String]) {
    let mut c = g.create_group(name);
    enc(&mut c, "categorical", "0.2.0");
    c.set_attr("ordered", AttrValue::U8(0));
    let d = c.create_dataset("codes");
    d.with_i32_data(codes);
    set_enc(d, "array", "0.2.0");
    strings(&mut c, "categories", categories);
    g.add_group(c.finish());
}

/// A boolean column as h5py writes numpy bools: an 8-bit enum FALSE = 0, TRUE = 1.
fn boolean(g: &mut Group, name: &str, v: &[bool]) -> Result<(), String> {
    let dt = hdf5_pure::EnumTypeBuilder::with_base(hdf5_pure::make_i8_type())
        .raw_value("FALSE", &[0u8])
        .raw_value("TRUE", &[1u8])
        .build()
        .map_err(|e| e.to_string())?;
    let bytes: Vec<u8> = v.iter().map(|&b| b as u8).collect();
    let d = g.create_dataset(name);
    d.with_enum_u8_data(dt, &bytes);
    set_enc(d, "array", "0.2.0");
    Ok(())
}

/// A text column as a categorical, categories sorted (as pandas does).
fn text_categorical(g: &mut Group, name: &str, v: &[String]) {
    let mut cats: Vec<String> = v.iter().filter(|s| !s.is_empty()).cloned().collect();
    cats.sort();
    cats.dedup();
    let codes: Vec<i32> = v
        .iter()
        .map(|s| {
            if s.is_empty() {
                -1
            } else {
                cats.binary_search(s).map_or(-1, |i| i as i32)
            }
        })
        .collect();
    categorical(g, name, &codes, &cats);
}

fn dataframe(mut g: Group, index: &[String], columns: &[String]) -> Group {
    enc(&mut g, "dataframe", "0.2.0");
    g.set_attr("_index", AttrValue::String("_index".into()));
    g.set_attr("column-order", AttrValue::StringArray(columns.to_vec()));
    strings(&mut g, "_index", index);
    g
}

fn dict(name: &str, b: &mut FileBuilder) -> Group {
    let mut g = b.create_group(name);
    enc(&mut g, "dict", "0.1.0");
    g
}

/// A sparse matrix's `indices` and `indptr`, both 32-bit while the stored values fit (as
/// scipy makes them), else both 64-bit: scipy refuses to convert a matrix whose two index
/// arrays differ in width.
fn sparse_index(g: &mut Group, indices: &[usize], indptr: &[usize]) {
    if indptr.last().is_none_or(|&n| n <= i32::MAX as usize) && indices.len() <= i32::MAX as usize {
        let i: Vec<i32> = indices.iter().map(|&x| x as i32).collect();
        let p: Vec<i32> = indptr.iter().map(|&x| x as i32).collect();
        g.create_dataset("indices").with_i32_data(&i);
        g.create_dataset("indptr").with_i32_data(&p);
    } else {
        let i: Vec<i64> = indices.iter().map(|&x| x as i64).collect();
        let p: Vec<i64> = indptr.iter().map(|&x| x as i64).collect();
        g.create_dataset("indices").with_i64_data(&i);
        g.create_dataset("indptr").with_i64_data(&p);
    }
}

/// One record array of `rank_genes_groups`: a field per group, rows best first.
fn recarray(
    g: &mut Group,
    name: &str,
    groups: &[String],
    rows: usize,
    value: &dyn Fn(usize, usize) -> Field,
) -> Result<(), String> {
    let sample = (!groups.is_empty() && rows > 0).then(|| value(0, 0));
    let mut builder = hdf5_pure::CompoundTypeBuilder::new();
    let width = match sample {
        Some(Field::Text(_)) => (0..groups.len())
            .flat_map(|k| (0..rows).map(move |r| (k, r)))
            .map(|(k, r)| match value(k, r) {
                Field::Text(s) => s.len(),
                Field::Number(_) | Field::Wide(_) => 0,
            })
            .max()
            .unwrap_or(1)
            .max(1),
        _ => 0,
    };
    for gname in groups {
        builder = match sample {
            Some(Field::Wide(_)) => builder.f64_field(gname),
            Some(Field::Text(_)) => builder.field(
                gname,
                hdf5_pure::Datatype::String {
                    size: width as u32,
                    padding: hdf5_pure::StringPadding::NullPad,
                    // anndata decodes fixed-width ASCII fields of a record array, not UTF-8
                    // ones (h5py hands those over as objects it then cannot cast).
                    charset: hdf5_pure::CharacterSet::Ascii,
                },
            ),
            _ => builder.f32_field(gname),
        };
    }
    let dt = builder.build().map_err(|e| e.to_string())?;
    let mut bytes = Vec::new();
    for r in 0..rows {
        for k in 0..groups.len() {
            match value(k, r) {
                Field::Text(s) => {
                    let mut b = s.into_bytes();
                    b.resize(width, 0);
                    bytes.extend(b);
                }
                Field::Number(x) => bytes.extend((x as f32).to_le_bytes()),
                Field::Wide(x) => bytes.extend(x.to_le_bytes()),
            }
        }
    }
    let d = g.create_dataset(name);
    d.with_compound_data(dt, bytes, rows as u64);
    set_enc(d, "rec-array", "0.2.0");
    Ok(())
}

/// A record-array cell: scanpy keeps scores and fold changes as float32, p-values as
/// float64 (they reach 1e-300).
enum Field {
    Text(String),
    Number(f64),
    Wide(f64),
}

/// Where each row of the file being written comes from in the session: the identity for a
/// fresh file, the input's obs order for `--into` (`None`: a cell the session does not hold,
/// e.g. one its QC removed).
struct Rows<'a> {
    n: usize,
    of: Option<&'a [Option<usize>]>,
}

impl Rows<'_> {
    fn get(&self, r: usize) -> Option<usize> {
        match self.of {
            Some(m) => m[r],
            None => Some(r),
        }
    }

    /// `width` values per row, NaN for rows the session lacks.
    fn f32s(&self, v: &[f32], width: usize) -> Vec<f32> {
        if self.of.is_none() {
            return v.to_vec();
        }
        let mut out = Vec::with_capacity(self.n * width);
        for r in 0..self.n {
            match self.get(r) {
                Some(i) => out.extend_from_slice(&v[i * width..(i + 1) * width]),
                None => out.extend(std::iter::repeat_n(f32::NAN, width)),
            }
        }
        out
    }
}

/// biolens' obs columns: cluster, anomaly scores, one boolean per selection.
fn biolens_obs(
    obs: &mut Group,
    sd: &SessionDataset,
    x: &Extras,
    rows: &Rows,
) -> Result<Vec<String>, String> {
    let a = &sd.analysis;
    let mut names = Vec::new();
    let k = a.clusters.iter().max().map_or(0, |&m| m as usize + 1);
    let codes: Vec<i32> = (0..rows.n)
        .map(|r| rows.get(r).map_or(-1, |i| a.clusters[i] as i32))
        .collect();
    let cats: Vec<String> = (0..k).map(|c| c.to_string()).collect();
    categorical(obs, "biolens_cluster", &codes, &cats);
    names.push("biolens_cluster".into());
    let mut scores: Vec<(&str, &[f32])> = vec![
        ("biolens_anomaly_knn", &a.anomaly_knn),
        ("biolens_anomaly_iforest", &a.anomaly_iforest),
    ];
    if let Some(m) = &a.anomaly_model {
        scores.push(("biolens_anomaly_model", m));
    }
    for (name, v) in scores {
        let d = obs.create_dataset(name);
        d.with_f32_data(&rows.f32s(v, 1));
        set_enc(d, "array", "0.2.0");
        names.push(name.into());
    }
    for (name, members) in x.selections {
        let mut member = vec![false; sd.dataset.len()];
        for &i in members {
            if let Some(m) = member.get_mut(i as usize) {
                *m = true;
            }
        }
        let v: Vec<bool> = (0..rows.n)
            .map(|r| rows.get(r).is_some_and(|i| member[i]))
            .collect();
        let col = format!("biolens_sel_{name}");
        boolean(obs, &col, &v)?;
        names.push(col);
    }
    Ok(names)
}

/// The obsm entries: the map as `X_umap` and the embedding under its scanpy name. Returns
/// the keys and how the embedding was described.
fn biolens_obsm(obsm: &mut Group, sd: &SessionDataset, x: &Extras, rows: &Rows) -> String {
    let (a, emb) = (&sd.analysis, &sd.embedding);
    let umap: Vec<f32> = a.layout.iter().flat_map(|p| [p[0], p[1]]).collect();
    f32_array(obsm, "X_umap", &rows.f32s(&umap, 2), &[rows.n as u64, 2]);
    let described = match &emb.source {
        EmbeddingSource::Precomputed if !x.embedding.is_empty() => x.embedding.clone(),
        s => s.describe(),
    };
    let m = &emb.matrix;
    f32_array(
        obsm,
        &latent_key(&described),
        &rows.f32s(&m.data, m.cols),
        &[rows.n as u64, m.cols as u64],
    );
    described
}

/// Where the graph goes: scanpy's names in a fresh file; `biolens_…` names when `--into` meets
/// a file that already has a neighbour graph (uns `neighbors` names its obsp keys, so ours
/// must not take the input's names, nor be renamed after the fact).
struct GraphKeys {
    neighbors: String,
    connectivities: String,
    distances: String,
}

impl GraphKeys {
    fn scanpy() -> Self {
        Self {
            neighbors: "neighbors".into(),
            connectivities: "connectivities".into(),
            distances: "distances".into(),
        }
    }
    fn prefixed() -> Self {
        Self {
            neighbors: "biolens_neighbors".into(),
            connectivities: "biolens_connectivities".into(),
            distances: "biolens_distances".into(),
        }
    }
}

/// An n × n CSR matrix (file rows and columns) from per-session-item rows of (item, value).
fn square_csr(
    g: &mut Group,
    name: &str,
    rows: &Rows,
    n_items: usize,
    row: &dyn Fn(usize) -> Vec<(usize, f32)>,
) {
    // File row of each of the session's `n_items` items (None: not in the file).
    let mut file_row = vec![None; n_items];
    for r in 0..rows.n {
        if let Some(i) = rows.get(r) {
            file_row[i] = Some(r);
        }
    }
    let (mut indptr, mut indices, mut data) = (vec![0usize], Vec::new(), Vec::new());
    for r in 0..rows.n {
        if let Some(i) = rows.get(r) {
            let mut entries: Vec<(usize, f32)> = row(i)
                .into_iter()
                .filter_map(|(j, v)| Some((file_row[j]?, v)))
                .collect();
            entries.sort_unstable_by_key(|e| e.0);
            entries.dedup_by_key(|e| e.0);
            indices.extend(entries.iter().map(|e| e.0));
            data.extend(entries.iter().map(|e| e.1));
        }
        indptr.push(indices.len());
    }
    let mut m = g.create_group(name);
    enc(&mut m, "csr_matrix", "0.1.0");
    m.set_attr(
        "shape",
        AttrValue::I64Array(vec![rows.n as i64, rows.n as i64]),
    );
    m.create_dataset("data").with_f32_data(&data);
    sparse_index(&mut m, &indices, &indptr);
    g.add_group(m.finish());
}

/// obsp `connectivities` (the fuzzy graph the map and Leiden used) and `distances` (each
/// item's k − 1 nearest neighbours, itself left out, as scanpy stores them).
fn biolens_obsp(obsp: &mut Group, sd: &SessionDataset, rows: &Rows, keys: &GraphKeys) {
    let (a, n) = (&sd.analysis, sd.dataset.len());
    let fuzzy;
    let graph = match &a.graph {
        Some(g) => g.as_ref(),
        None => {
            fuzzy = crate::analysis::fuzzy::fuzzy_simplicial_set(&a.knn);
            &fuzzy
        }
    };
    square_csr(obsp, &keys.connectivities, rows, n, &|i| {
        let (lo, hi) = (graph.indptr[i], graph.indptr[i + 1]);
        (lo..hi)
            .map(|k| (graph.indices[k] as usize, graph.weights[k]))
            .collect()
    });
    let knn = &a.knn;
    square_csr(obsp, &keys.distances, rows, n, &|i| {
        let (nb, d) = (knn.neighbors(i), &knn.distances[i * knn.k..(i + 1) * knn.k]);
        nb.iter()
            .zip(d)
            .filter(|&(&j, _)| j as usize != i)
            .map(|(&j, &d)| (j as usize, d))
            .collect()
    });
}

/// uns `neighbors` as `sc.pp.neighbors` leaves it, so `sc.tl.leiden` and `sc.tl.umap` take
/// the graph as it is.
fn neighbors_uns(uns: &mut Group, sd: &SessionDataset, keys: &GraphKeys, latent: &str) {
    let mut g = uns.create_group(&keys.neighbors);
    enc(&mut g, "dict", "0.1.0");
    scalar_string(&mut g, "connectivities_key", &keys.connectivities);
    scalar_string(&mut g, "distances_key", &keys.distances);
    let mut p = g.create_group("params");
    enc(&mut p, "dict", "0.1.0");
    let d = p.create_dataset("n_neighbors");
    d.with_i64_data(&[sd.analysis.knn.k as i64]).with_shape(&[]);
    set_enc(d, "numeric-scalar", "0.2.0");
    scalar_string(&mut p, "method", "umap");
    scalar_string(&mut p, "metric", "euclidean");
    scalar_string(&mut p, "use_rep", latent);
    g.add_group(p.finish());
    uns.add_group(g.finish());
}

/// uns `rank_genes_groups` as scanpy leaves it, and `biolens` (version, parameters).
fn biolens_uns(
    uns: &mut Group,
    sd: &SessionDataset,
    x: &Extras,
    described: &str,
) -> Result<(), String> {
    let findings = sd.analysis.findings.as_ref();
    if let (Some(mk), Some(e)) = (
        findings.and_then(crate::modality::Findings::markers),
        sd.dataset.expression(),
    ) {
        let tables = &mk.tables;
        let groups: Vec<String> = tables.iter().map(|t| t.group.clone()).collect();
        let rows = tables.iter().map(|t| t.markers.len()).min().unwrap_or(0);
        let mut r = uns.create_group("rank_genes_groups");
        enc(&mut r, "dict", "0.1.0");
        let mut p = r.create_group("params");
        enc(&mut p, "dict", "0.1.0");
        scalar_string(&mut p, "groupby", "biolens_cluster");
        scalar_string(&mut p, "reference", "rest");
        scalar_string(&mut p, "method", "wilcoxon");
        scalar_string(&mut p, "corr_method", "benjamini-hochberg");
        r.add_group(p.finish());
        let at = |k: usize, row: usize| &tables[k].markers[row];
        recarray(&mut r, "names", &groups, rows, &|k, row| {
            Field::Text(e.genes[at(k, row).gene].clone())
        })?;
        recarray(&mut r, "scores", &groups, rows, &|k, row| {
            Field::Number(at(k, row).score)
        })?;
        recarray(&mut r, "pvals", &groups, rows, &|k, row| {
            Field::Wide(at(k, row).pval)
        })?;
        recarray(&mut r, "pvals_adj", &groups, rows, &|k, row| {
            Field::Wide(at(k, row).padj)
        })?;
        recarray(&mut r, "logfoldchanges", &groups, rows, &|k, row| {
            Field::Number(at(k, row).log2_fc)
        })?;
        uns.add_group(r.finish());
    } else if let Some(f) = findings {
        // Other findings (motifs) as their main export table, `uns/biolens_<kind>`.
        let main = f.tables()[0];
        if let Some(t) = f.table(main, &sd.dataset) {
            table_frame(uns, &format!("biolens_{main}"), &t);
        }
    }
    let mut bl = uns.create_group("biolens");
    enc(&mut bl, "dict", "0.1.0");
    scalar_string(&mut bl, "version", crate::VERSION);
    scalar_string(&mut bl, "params", &x.params_toml);
    scalar_string(&mut bl, "embedding", described);
    uns.add_group(bl.finish());
    Ok(())
}

/// A table as an anndata data frame (rows numbered from 0), its scalar columns only: list
/// columns (a motif's probabilities) stay in biolens' own exports.
fn table_frame(g: &mut Group, name: &str, t: &crate::io::parquet::Table) {
    use crate::io::parquet::Column;
    let mut f = g.create_group(name);
    let mut names = Vec::new();
    for (n, c) in t.names.iter().zip(&t.columns) {
        match c {
            Column::Str(v) => strings(&mut f, n, v),
            Column::F32(v) => f32_array(&mut f, n, v, &[v.len() as u64]),
            Column::F64(v) => f64_array(&mut f, n, v),
            // pandas' float with NaN for a missing integer, which every reader understands.
            Column::OptI32(v) => {
                let x: Vec<f64> = v.iter().map(|x| x.map_or(f64::NAN, f64::from)).collect();
                f64_array(&mut f, n, &x)
            }
            Column::I32(v) => {
                let d = f.create_dataset(n);
                d.with_i32_data(v);
                set_enc(d, "array", "0.2.0");
            }
            Column::I64(v) => {
                let d = f.create_dataset(n);
                d.with_i64_data(v);
                set_enc(d, "array", "0.2.0");
            }
            _ => continue,
        }
        names.push(n.clone());
    }
    let rows = t.columns.first().map_or(0, |c| c.len());
    let index: Vec<String> = (0..rows).map(|r| r.to_string()).collect();
    let f = dataframe(f, &index, &names);
    g.add_group(f.finish());
}

/// A temporary name beside `out` for writing before the rename.
fn tmp_beside(out: &Path, tag: &str) -> std::path::PathBuf {
    let name = out
        .file_name()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_default();
    out.with_file_name(format!(".{name}.{tag}-{}", std::process::id()))
}

fn write_builder(b: FileBuilder, path: &Path) -> Result<(), String> {
    b.write(path).map_err(|e| {
        let _ = std::fs::remove_file(path);
        format!("cannot write the AnnData file: {e}")
    })
}

/// Writes `sd` as an AnnData file at `out` (a temporary file renamed into place).
pub fn write_anndata(out: &Path, sd: &SessionDataset, x: &Extras) -> Result<usize, FileError> {
    let ds = &sd.dataset;
    let n = ds.len();
    let rows = Rows { n, of: None };
    let fail = |e: String| bad(out, e);
    let mut b = FileBuilder::new();
    b.set_attr("encoding-type", AttrValue::String("anndata".into()));
    b.set_attr("encoding-version", AttrValue::String("0.1.0".into()));

    // X: the values as held, genes as columns. ByGene is CSC already.
    let genes: Vec<String> = match ds.expression() {
        Some(e) => {
            let m = &e.by_gene;
            let mut g = b.create_group("X");
            enc(&mut g, "csc_matrix", "0.1.0");
            g.set_attr(
                "shape",
                AttrValue::I64Array(vec![n as i64, e.n_genes() as i64]),
            );
            g.create_dataset("data").with_f32_data(&m.values);
            let idx: Vec<usize> = m.cells.iter().map(|&c| c as usize).collect();
            sparse_index(&mut g, &idx, &m.ptr);
            b.add_group(g.finish());
            e.genes.clone()
        }
        None => Vec::new(),
    };

    // obs: metadata as read, then biolens' columns.
    let mut names: Vec<String> = Vec::new();
    let mut obs = b.create_group("obs");
    let reserved = |s: &str| s == "_index" || s.starts_with("biolens_");
    for m in &ds.meta {
        if reserved(&m.name) || names.contains(&m.name) {
            continue;
        }
        match &m.values {
            MetaValues::Number(v) => f64_array(&mut obs, &m.name, v),
            MetaValues::Text(v) => text_categorical(&mut obs, &m.name, v),
        }
        names.push(m.name.clone());
    }
    names.extend(biolens_obs(&mut obs, sd, x, &rows).map_err(fail)?);
    let obs = dataframe(obs, &ds.ids, &names);
    b.add_group(obs.finish());

    let var = b.create_group("var");
    let var = dataframe(var, &genes, &[]);
    b.add_group(var.finish());

    let mut obsm = dict("obsm", &mut b);
    let described = biolens_obsm(&mut obsm, sd, x, &rows);
    b.add_group(obsm.finish());
    let keys = GraphKeys::scanpy();
    let mut obsp = dict("obsp", &mut b);
    biolens_obsp(&mut obsp, sd, &rows, &keys);
    b.add_group(obsp.finish());
    for name in ["layers", "varm", "varp"] {
        let g = dict(name, &mut b);
        b.add_group(g.finish());
    }
    let mut uns = dict("uns", &mut b);
    biolens_uns(&mut uns, sd, x, &described).map_err(fail)?;
    neighbors_uns(&mut uns, sd, &keys, &latent_key(&described));
    b.add_group(uns.finish());

    let tmp = tmp_beside(out, "tmp");
    write_builder(b, &tmp).map_err(fail)?;
    std::fs::rename(&tmp, out).map_err(crate::io::io_err(out))?;
    Ok(n)
}

/// What `write_into` added: (group, key as written); a key differs from biolens' name
/// when the input already had that name (nothing of the input is replaced).
pub type Added = Vec<(String, String)>;

/// Writes a copy of the AnnData file `input` at `out` with biolens' obs columns, obsm
/// entries and uns entries added; every element of the input stays as it was, except the
/// obs `column-order` attribute, which lists the new columns. Cells are matched by obs
/// name; cells the session lacks get missing values.
pub fn write_into(
    input: &Path,
    out: &Path,
    sd: &SessionDataset,
    x: &Extras,
) -> Result<Added, FileError> {
    let same = |a: &Path, b: &Path| {
        a.canonicalize()
            .ok()
            .is_some_and(|a| b.canonicalize().ok() == Some(a))
    };
    if same(input, out) {
        return Err(bad(
            out,
            "is the --into input itself: biolens writes a copy and never changes your file; name another output",
        ));
    }
    let names =
        crate::modality::cells::h5ad::obs_names(input).map_err(|e| bad(input, e.to_string()))?;
    let mut at = std::collections::HashMap::with_capacity(names.len());
    for (r, name) in names.iter().enumerate() {
        if at.insert(name.as_str(), r).is_some() {
            return Err(bad(
                input,
                format!("obs name '{name}' occurs twice: cells cannot be matched by name"),
            ));
        }
    }
    let mut of = vec![None; names.len()];
    for (i, id) in sd.dataset.ids.iter().enumerate() {
        match at.get(id.as_str()) {
            Some(&r) => of[r] = Some(i),
            None => {
                return Err(bad(
                    input,
                    format!(
                        "has no cell '{id}' (item {} of session dataset {}): the session was not made from this file",
                        i + 1,
                        sd.dataset.name
                    ),
                ));
            }
        }
    }
    let rows = Rows {
        n: names.len(),
        of: Some(&of),
    };
    let fail = |e: String| bad(out, e);

    // The additions, written as a small AnnData-shaped file and copied in object by object.
    let extras = tmp_beside(out, "extras");
    let mut b = FileBuilder::new();
    let mut obs = b.create_group("obs");
    let obs_names = biolens_obs(&mut obs, sd, x, &rows).map_err(fail)?;
    b.add_group(obs.finish());
    let mut obsm = dict("obsm", &mut b);
    let described = biolens_obsm(&mut obsm, sd, x, &rows);
    b.add_group(obsm.finish());
    let keys = graph_keys_for(input).map_err(|e| bad(input, e))?;
    let mut obsp = dict("obsp", &mut b);
    biolens_obsp(&mut obsp, sd, &rows, &keys);
    b.add_group(obsp.finish());
    let mut uns = dict("uns", &mut b);
    biolens_uns(&mut uns, sd, x, &described).map_err(fail)?;
    neighbors_uns(&mut uns, sd, &keys, &latent_key(&described));
    b.add_group(uns.finish());
    write_builder(b, &extras).map_err(fail)?;

    let tmp = tmp_beside(out, "tmp");
    let result = copy_into(input, &extras, &tmp, &obs_names);
    let _ = std::fs::remove_file(&extras);
    match result {
        Ok(added) => {
            std::fs::rename(&tmp, out).map_err(crate::io::io_err(out))?;
            Ok(added)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(bad(out, e))
        }
    }
}

/// The graph's keys for `--into`: scanpy's when the input has no neighbour graph, else
/// `biolens_…` names it does not use.
fn graph_keys_for(input: &Path) -> Result<GraphKeys, String> {
    let f = hdf5_pure::File::open_streaming(input).map_err(|e| e.to_string())?;
    let children = |p: &str| -> Vec<String> {
        f.group(p)
            .map(|g| {
                let mut v = g.datasets().unwrap_or_default();
                v.extend(g.groups().unwrap_or_default());
                v
            })
            .unwrap_or_default()
    };
    let (obsp, uns) = (children("obsp"), children("uns"));
    let scanpy = GraphKeys::scanpy();
    if !obsp.contains(&scanpy.connectivities)
        && !obsp.contains(&scanpy.distances)
        && !uns.contains(&scanpy.neighbors)
    {
        return Ok(scanpy);
    }
    let p = GraphKeys::prefixed();
    Ok(GraphKeys {
        neighbors: free_name(&p.neighbors, &uns),
        connectivities: free_name(&p.connectivities, &obsp),
        distances: free_name(&p.distances, &obsp),
    })
}

/// A name not yet among `taken`: `name`, else `name_biolens`, `name_biolens2`, …
fn free_name(name: &str, taken: &[String]) -> String {
    let mut candidate = name.to_string();
    let mut k = 1;
    while taken.contains(&candidate) {
        candidate = if k == 1 {
            format!("{name}_biolens")
        } else {
            format!("{name}_biolens{k}")
        };
        k += 1;
    }
    candidate
}

fn copy_into(
    input: &Path,
    extras: &Path,
    tmp: &Path,
    obs_names: &[String],
) -> Result<Added, String> {
    let h5 = |e: hdf5_pure::Error| e.to_string();
    std::fs::copy(input, tmp).map_err(|e| format!("cannot copy {}: {e}", input.display()))?;
    let src = hdf5_pure::File::open(extras).map_err(h5)?;
    let f = hdf5_pure::File::open_rw(tmp)
        .map_err(|e| format!("{} cannot be opened for editing: {e}", input.display()))?;
    let children = |g: &hdf5_pure::Group| -> Result<Vec<String>, String> {
        let mut v = g.datasets().map_err(h5)?;
        v.extend(g.groups().map_err(h5)?);
        Ok(v)
    };
    let mut added = Added::new();
    let obs = f
        .group("obs")
        .map_err(|e| format!("{} has no obs group: {e}", input.display()))?;
    let attrs = obs.attrs().map_err(h5)?;
    if crate::modality::cells::h5ad::attr_str(attrs.get("encoding-type")).as_deref()
        != Some("dataframe")
    {
        return Err(format!(
            "{}: obs is not an anndata ≥ 0.7 data frame (no encoding-type = dataframe); export a fresh file instead of --into",
            input.display()
        ));
    }
    let mut order =
        crate::modality::cells::h5ad::attr_strings(attrs.get("column-order")).unwrap_or_default();
    let mut taken = children(&obs)?;
    for name in obs_names {
        let key = free_name(name, &taken);
        f.copy_from(&src, &format!("/obs/{name}"), &format!("/obs/{key}"))
            .map_err(h5)?;
        taken.push(key.clone());
        order.push(key.clone());
        added.push(("obs".into(), key));
    }
    obs.set_attr("column-order", AttrValue::VarLenStringArray(order))
        .map_err(h5)?;
    for group in ["obsm", "obsp", "uns"] {
        let ours = src.group(group).map_err(h5)?;
        let keys = children(&ours)?;
        match f.group(group) {
            Ok(g) => {
                let mut taken = children(&g)?;
                for k in keys {
                    let key = free_name(&k, &taken);
                    f.copy_from(&src, &format!("/{group}/{k}"), &format!("/{group}/{key}"))
                        .map_err(h5)?;
                    taken.push(key.clone());
                    added.push((group.into(), key));
                }
            }
            Err(_) => {
                f.copy_from(&src, &format!("/{group}"), &format!("/{group}"))
                    .map_err(h5)?;
                added.extend(keys.into_iter().map(|k| (group.to_string(), k)));
            }
        }
    }
    f.commit().map_err(h5)?;
    f.close().map_err(h5)?;
    Ok(added)
}
