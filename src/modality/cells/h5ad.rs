//! AnnData `.h5ad` files through hdf5-pure (no C HDF5 library): X dense, CSR or CSC,
//! `layers/counts`, `raw/X`, obs/var data frames (string, numeric, categorical, nullable),
//! `obsm` matrices, gzip and LZF chunks, and the legacy layout old anndata wrote (compound
//! obs/var tables, `raw.X` h5sparse groups, categories under `uns/<column>_categories`).

use crate::core::DataError;
use crate::core::matrix::Matrix;
use crate::core::meta::MetaColumn;
use crate::core::meta::MetaValues;
use crate::io::h5chunks::Chunked1d;
use crate::modality::cells::expression::ByGene;
use crate::modality::cells::h5ad_sparse::{SparseError, SparseParts, read_by_gene};
use crate::modality::cells::mtx::SparseCounts;
pub use crate::modality::cells::values::{LOG_SCALE_MAX, ValueKind};
use hdf5_pure::{AttrValue, DType, File, Group};
use std::collections::HashMap;
use std::path::Path;

/// An AnnData file as read.
#[derive(Debug, Clone)]
pub struct H5ad {
    pub obs_names: Vec<String>,
    pub var_names: Vec<String>,
    pub obs: Vec<MetaColumn>,
    /// Cells × genes, from `layers/counts`, `raw/X` or `X`, the first holding integers; with
    /// no counts, `raw/X` when present (what scanpy's `rank_genes_groups` uses), else `X`.
    pub matrix: ByGene,
    /// Where `matrix` came from, e.g. "layers/counts".
    pub matrix_source: String,
    pub kind: ValueKind,
    /// `obsm` entries that are 2-D numeric matrices.
    pub obsm: Vec<(String, Matrix)>,
}

pub(super) struct Ctx<'a> {
    pub(super) path: &'a Path,
    pub(super) file: File,
}

impl Ctx<'_> {
    pub(super) fn err(&self, object: &str, e: impl std::fmt::Display) -> DataError {
        let msg = e.to_string();
        let hint = if msg.to_lowercase().contains("filter") {
            " (this HDF5 filter is not supported; re-save with gzip, e.g. \
             adata.write_h5ad(path, compression=\"gzip\"), or `h5repack -f GZIP=4 in.h5ad out.h5ad`)"
        } else {
            ""
        };
        DataError::file(self.path, format!("{object}: {msg}{hint}"))
    }
    pub(super) fn bad(&self, object: &str, reason: impl Into<String>) -> DataError {
        DataError::file(self.path, format!("{object}: {}", reason.into()))
    }
    pub(super) fn group(&self, p: &str) -> Option<Group> {
        self.file.group(p).ok()
    }
    pub(super) fn has_dataset(&self, p: &str) -> bool {
        self.file.dataset(p).is_ok()
    }
    pub(super) fn floats(&self, p: &str) -> Result<Vec<f32>, DataError> {
        let d = self.file.dataset(p).map_err(|e| self.err(p, e))?;
        d.read_f32().map_err(|e| self.err(p, e))
    }
    pub(super) fn f64s(&self, p: &str) -> Result<Vec<f64>, DataError> {
        let d = self.file.dataset(p).map_err(|e| self.err(p, e))?;
        d.read_f64().map_err(|e| self.err(p, e))
    }
    pub(super) fn ints(&self, p: &str) -> Result<Vec<i64>, DataError> {
        let d = self.file.dataset(p).map_err(|e| self.err(p, e))?;
        let dt = d.dtype().map_err(|e| self.err(p, e))?;
        let v = match dt {
            DType::I8 => d.read_i8().map(|v| v.into_iter().map(i64::from).collect()),
            DType::I16 => d.read_i16().map(|v| v.into_iter().map(i64::from).collect()),
            DType::I32 => d.read_i32().map(|v| v.into_iter().map(i64::from).collect()),
            DType::U8 => d.read_u8().map(|v| v.into_iter().map(i64::from).collect()),
            DType::U16 => d.read_u16().map(|v| v.into_iter().map(i64::from).collect()),
            DType::U32 => d.read_u32().map(|v| v.into_iter().map(i64::from).collect()),
            DType::I64 | DType::U64 => d.read_i64(),
            other => return Err(self.bad(p, format!("expected integers, found {other:?}"))),
        };
        v.map_err(|e| self.err(p, e))
    }
    pub(super) fn strings(&self, p: &str) -> Result<Vec<String>, DataError> {
        let d = self.file.dataset(p).map_err(|e| self.err(p, e))?;
        d.read_string().map_err(|e| self.err(p, e))
    }
    pub(super) fn shape(&self, p: &str) -> Result<Vec<u64>, DataError> {
        let d = self.file.dataset(p).map_err(|e| self.err(p, e))?;
        d.shape().map_err(|e| self.err(p, e))
    }
    pub(super) fn group_attrs(&self, p: &str) -> HashMap<String, AttrValue> {
        self.group(p)
            .and_then(|g| g.attrs().ok())
            .unwrap_or_default()
    }
    pub(super) fn dataset_attrs(&self, p: &str) -> HashMap<String, AttrValue> {
        self.file
            .dataset(p)
            .ok()
            .and_then(|d| d.attrs().ok())
            .unwrap_or_default()
    }
}

pub fn attr_str(a: Option<&AttrValue>) -> Option<String> {
    match a? {
        AttrValue::String(s)
        | AttrValue::AsciiString(s)
        | AttrValue::VarLenString(s)
        | AttrValue::VarLenAsciiString(s) => Some(s.clone()),
        AttrValue::StringSized { value, .. } | AttrValue::AsciiStringSized { value, .. } => {
            Some(value.clone())
        }
        _ => None,
    }
}

pub fn attr_strings(a: Option<&AttrValue>) -> Option<Vec<String>> {
    match a? {
        AttrValue::StringArray(v)
        | AttrValue::AsciiStringArray(v)
        | AttrValue::VarLenStringArray(v)
        | AttrValue::VarLenAsciiStringArray(v)
        | AttrValue::VarLenAsciiCharArray(v) => Some(v.clone()),
        AttrValue::StringArraySized { values, .. }
        | AttrValue::AsciiStringArraySized { values, .. } => Some(values.clone()),
        other => attr_str(Some(other)).map(|s| vec![s]),
    }
}

fn attr_ints(a: Option<&AttrValue>) -> Option<Vec<i64>> {
    match a? {
        AttrValue::I64Array(v) => Some(v.clone()),
        AttrValue::I32Array(v) => Some(v.iter().map(|&x| x as i64).collect()),
        AttrValue::U64Array(v) => Some(v.iter().map(|&x| x as i64).collect()),
        AttrValue::U32Array(v) => Some(v.iter().map(|&x| x as i64).collect()),
        AttrValue::I64(x) => Some(vec![*x]),
        _ => None,
    }
}

pub fn is_h5ad(path: &Path) -> bool {
    let name = path
        .file_name()
        .map(|s| s.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    name.ends_with(".h5ad") || name.ends_with(".h5")
}

/// Which matrix of an AnnData file to read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum MatrixChoice {
    /// `layers/counts`, `raw/X`, `X`: the first holding counts; else `raw/X`, then `X`.
    #[default]
    Auto,
    /// `layers/NAME` (`--layer NAME`).
    Layer(String),
    /// `raw/X` (`--raw`).
    Raw,
}

/// Reads an AnnData file: names, obs metadata, the best expression matrix and obsm.
pub fn read_h5ad(path: &Path) -> Result<H5ad, DataError> {
    read_h5ad_with(path, &MatrixChoice::Auto, &|_| {})
}

/// The same with the matrix `choice`, telling `progress` the fraction of it read.
pub fn read_h5ad_with(
    path: &Path,
    choice: &MatrixChoice,
    progress: &(dyn Fn(f64) + Sync),
) -> Result<H5ad, DataError> {
    read_h5ad_impl(path, choice, progress, true)
}

/// Reads every matrix with hdf5-pure's whole-dataset read instead of the chunk reader:
/// slower, ~2.5× the memory, and the reference the chunk reader is tested against.
pub fn read_h5ad_whole(path: &Path) -> Result<H5ad, DataError> {
    read_h5ad_impl(path, &MatrixChoice::Auto, &|_| {}, false)
}

/// "groups obs, var; datasets X": what the top level of a file holds, for a message.
fn top_level(cx: &Ctx) -> String {
    let root = cx.file.root();
    let list = |v: Vec<String>| {
        if v.is_empty() {
            "none".to_string()
        } else {
            v.join(", ")
        }
    };
    format!(
        "groups: {}; datasets: {}",
        list(root.groups().unwrap_or_default()),
        list(root.datasets().unwrap_or_default())
    )
}

/// The names under `layers/`, for a message.
fn layer_names(cx: &Ctx) -> Vec<String> {
    let Some(g) = cx.group("layers") else {
        return Vec::new();
    };
    let mut v = g.groups().unwrap_or_default();
    v.extend(g.datasets().unwrap_or_default());
    v.sort();
    v
}

/// Opens an AnnData file streaming: metadata and chunks are read as needed, never the whole
/// file at once.
fn open(path: &Path) -> Result<Ctx<'_>, DataError> {
    let file = File::open_streaming(path).map_err(|e| {
        DataError::file(
            path,
            format!("not a readable HDF5/AnnData file ({e}); expected an .h5ad written by anndata"),
        )
    })?;
    Ok(Ctx { path, file })
}

fn has_object(cx: &Ctx, p: &str) -> bool {
    cx.group(p).is_some() || cx.has_dataset(p)
}

/// The obs names (index) of an AnnData file, without reading anything else.
pub fn obs_names(path: &Path) -> Result<Vec<String>, DataError> {
    let cx = open(path)?;
    if cx.group("obs").is_none() {
        let why = if cx.has_dataset("obs") {
            "the legacy layout of anndata < 0.7 (a compound dataset); re-save the file with a \
             current anndata (anndata.read_h5ad(F).write_h5ad(F2)) to add to it"
        } else {
            "missing group (expected an anndata ≥ 0.7 data frame)"
        };
        return Err(cx.bad("obs", why));
    }
    let attrs = cx.group_attrs("obs");
    let index_col = attr_str(attrs.get("_index")).unwrap_or_else(|| "_index".into());
    cx.strings(&format!("obs/{index_col}"))
}

fn read_h5ad_impl(
    path: &Path,
    choice: &MatrixChoice,
    progress: &(dyn Fn(f64) + Sync),
    chunked: bool,
) -> Result<H5ad, DataError> {
    let cx = open(path)?;
    if !has_object(&cx, "obs") {
        return Err(cx.bad(
            "/",
            format!(
                "neither an AnnData file (no obs) nor a Cell Ranger matrix (no /matrix, no \
                 /<genome>/barcodes); the top level holds {}",
                top_level(&cx)
            ),
        ));
    }
    let legacy = cx.group("obs").is_none() && cx.has_dataset("obs");
    let (obs_names, obs) = if legacy {
        legacy_frame(&cx, "obs")?
    } else {
        frame(&cx, "obs")?
    };
    let (var_names, _) = if legacy {
        legacy_frame(&cx, "var")?
    } else {
        frame(&cx, "var")?
    };
    let n_obs = obs_names.len();

    // Counts from the first candidate holding non-negative integers; else, as scanpy's
    // `use_raw` default, `raw` when present (log-normalised, every gene), then the main X
    // (often scaled, highly variable genes only).
    let mut candidates: Vec<(String, String)> = Vec::new();
    let raw = if has_object(&cx, "raw/X") {
        Some(("raw/X".to_string(), "raw/var".to_string()))
    } else if cx.group("raw.X").is_some() {
        Some(("raw.X".to_string(), "raw.var".to_string()))
    } else {
        None
    };
    let layers_hint = || {
        let layers = layer_names(&cx);
        if layers.is_empty() {
            "it has no layers".to_string()
        } else {
            format!("its layers: {}", layers.join(", "))
        }
    };
    match choice {
        MatrixChoice::Auto => {
            if has_object(&cx, "layers/counts") {
                candidates.push(("layers/counts".into(), "var".into()));
            }
            candidates.extend(raw);
            if has_object(&cx, "X") {
                candidates.push(("X".into(), "var".into()));
            } else if candidates.is_empty() {
                return Err(cx.bad(
                    "X",
                    format!(
                        "absent (anndata writes such files when only layers are kept), and no \
                         raw/X; {}: choose one with --layer NAME",
                        layers_hint()
                    ),
                ));
            }
        }
        MatrixChoice::Layer(name) => {
            let p = format!("layers/{name}");
            if !has_object(&cx, &p) {
                return Err(cx.bad(
                    &p,
                    format!("--layer {name}: no such layer; {}", layers_hint()),
                ));
            }
            candidates.push((p, "var".into()));
        }
        MatrixChoice::Raw => match raw {
            Some(r) => candidates.push(r),
            None => {
                return Err(cx.bad(
                    "raw/X",
                    format!("--raw: this file has no raw matrix; {}", layers_hint()),
                ));
            }
        },
    }
    let chosen_explicitly = *choice != MatrixChoice::Auto;
    // Candidates are read in order until one holds counts; one that cannot be read is
    // reported, not silently skipped. A matrix that is neither counts nor the first fallback
    // is dropped after its first pass, so at most two are ever held.
    let mut fallback = None;
    let mut chosen = None;
    for (obj, var_frame) in &candidates {
        let names = match var_frame.as_str() {
            "var" => var_names.clone(),
            "raw/var" => frame(&cx, "raw/var")?.0,
            _ => legacy_frame(&cx, "raw.var")?.0,
        };
        let keep_fallback = chosen_explicitly || (obj != "layers/counts" && fallback.is_none());
        let want = |k: ValueKind| k == ValueKind::Counts || keep_fallback;
        let Some((m, kind)) = read_candidate(&cx, obj, n_obs, &want, progress, chunked)? else {
            continue;
        };
        if names.len() != m.n_genes() {
            return Err(cx.bad(
                obj,
                format!(
                    "{} columns but {var_frame} names {} genes",
                    m.n_genes(),
                    names.len()
                ),
            ));
        }
        if kind == ValueKind::Counts {
            chosen = Some((m, obj.to_string(), kind, names));
            break;
        }
        fallback = Some((m, obj.to_string(), kind, names));
    }
    let Some((matrix, matrix_source, kind, gene_names)) = chosen.or(fallback) else {
        return Err(cx.bad("X", "no expression matrix found"));
    };

    let obsm = read_obsm(&cx, n_obs, legacy)?;
    Ok(H5ad {
        obs_names,
        var_names: gene_names,
        obs,
        matrix,
        matrix_source,
        kind,
        obsm,
    })
}

/// One candidate matrix, gene-major, or None when `want` turns its kind of values down.
fn read_candidate(
    cx: &Ctx,
    obj: &str,
    n_obs: usize,
    want: &dyn Fn(ValueKind) -> bool,
    progress: &(dyn Fn(f64) + Sync),
    chunked: bool,
) -> Result<Option<(ByGene, ValueKind)>, DataError> {
    if let Some(parts) = chunked
        .then(|| sparse_group(cx, obj, n_obs))
        .transpose()?
        .flatten()
    {
        let (data, indices, indptr, csr, r, c) = parts;
        check_fits(cx, obj, data.len(), r)?;
        let p = SparseParts {
            data: &data,
            indices: &indices,
            indptr: &indptr,
            csr,
            n_cells: r,
            n_genes: c,
            block: crate::modality::cells::h5ad_sparse::BLOCK,
        };
        return match read_by_gene(&p, want, progress) {
            Ok(got) => Ok(Some(got)),
            Err(SparseError::Unwanted(_)) => Ok(None),
            Err(SparseError::Bad(part, msg)) => Err(cx.bad(&format!("{obj}/{part}"), msg)),
        };
    }
    // Dense matrices, legacy h5sparse groups and filters the chunk reader leaves alone.
    let m = read_matrix(cx, obj, n_obs)?;
    let kind = ValueKind::of(&m.values);
    if !want(kind) {
        return Ok(None);
    }
    progress(1.0);
    Ok(Some((ByGene::from_csr(&m), kind)))
}

type SparseGroup = (Chunked1d, Chunked1d, Vec<i64>, bool, usize, usize);

/// A CSR/CSC group whose `data` and `indices` the chunk reader handles, its offsets checked.
fn sparse_group(cx: &Ctx, obj: &str, n_obs: usize) -> Result<Option<SparseGroup>, DataError> {
    if cx.has_dataset(obj) {
        return Ok(None);
    }
    let attrs = cx.group_attrs(obj);
    let Some(enc) = attr_str(attrs.get("encoding-type")) else {
        return Ok(None);
    };
    let csr = match enc.as_str() {
        "csr_matrix" => true,
        "csc_matrix" => false,
        _ => return Ok(None),
    };
    let Some(shape) = attr_ints(attrs.get("shape")).filter(|s| s.len() == 2) else {
        return Ok(None);
    };
    if shape.iter().any(|&x| x < 0) {
        return Err(cx.bad(obj, format!("negative shape {shape:?}")));
    }
    let (r, c) = (shape[0] as usize, shape[1] as usize);
    if r != n_obs {
        return Err(cx.bad(obj, format!("{r} rows but obs has {n_obs} cells")));
    }
    let open = |part: &str| -> Result<Option<Chunked1d>, DataError> {
        let p = format!("{obj}/{part}");
        let d = cx.file.dataset(&p).map_err(|e| cx.err(&p, e))?;
        Chunked1d::open(cx.path, &d).map_err(|e| cx.err(&p, e))
    };
    let (Some(data), Some(indices)) = (open("data")?, open("indices")?) else {
        return Ok(None);
    };
    check_lengths(cx, obj, data.len(), indices.len())?;
    let indptr = cx.ints(&format!("{obj}/indptr"))?;
    let n_major = if csr { r } else { c };
    check_indptr(cx, obj, &indptr, n_major, data.len())?;
    Ok(Some((data, indices, indptr, csr, r, c)))
}

/// Peak memory of a whole run per stored value, measured: 2.13 GB for 222M values (100k
/// cells), 4.22 GB for 442M (200k), `/usr/bin/time -v biolens run … --model pca`.
const BYTES_PER_VALUE: u64 = 10;

/// Refuses, before reading, a matrix whose run would not fit in the memory left.
pub(super) fn check_fits(cx: &Ctx, obj: &str, nnz: usize, n_cells: usize) -> Result<(), DataError> {
    let need = nnz as u64 * BYTES_PER_VALUE + n_cells as u64 * 1024;
    match crate::core::memory::available_bytes() {
        Some(avail) if need > avail => Err(cx.bad(
            obj,
            format!(
                "{nnz} stored values in {n_cells} cells need about {} of memory to analyse \
                 (measured ~{BYTES_PER_VALUE} bytes a value), but {} is available{}; free \
                 memory, subset the cells (e.g. adata[::2].write_h5ad(...)), or use a larger \
                 machine",
                crate::core::memory::gb(need),
                crate::core::memory::gb(avail),
                if std::env::var_os(crate::core::memory::BUDGET_VAR).is_some() {
                    format!(" (within {})", crate::core::memory::BUDGET_VAR)
                } else {
                    String::new()
                }
            ),
        )),
        _ => Ok(()),
    }
}

pub(super) fn check_lengths(
    cx: &Ctx,
    obj: &str,
    data: usize,
    indices: usize,
) -> Result<(), DataError> {
    if data != indices {
        return Err(cx.bad(
            obj,
            format!("data has {data} entries but indices {indices}"),
        ));
    }
    Ok(())
}

pub(super) fn check_indptr(
    cx: &Ctx,
    obj: &str,
    indptr: &[i64],
    n_major: usize,
    nnz: usize,
) -> Result<(), DataError> {
    if indptr.len() != n_major + 1
        || indptr[0] != 0
        || indptr.windows(2).any(|w| w[1] < w[0])
        || *indptr.last().unwrap_or(&0) as usize != nnz
    {
        return Err(cx.bad(
            &format!("{obj}/indptr"),
            format!(
                "expected {} non-decreasing offsets from 0 to {nnz} (the number of stored values)",
                n_major + 1,
            ),
        ));
    }
    Ok(())
}

/// Reads a matrix object (dense dataset, CSR/CSC group, or legacy h5sparse group) into CSR.
fn read_matrix(cx: &Ctx, obj: &str, n_obs: usize) -> Result<SparseCounts, DataError> {
    if cx.has_dataset(obj) {
        let shape = cx.shape(obj)?;
        if shape.len() != 2 {
            return Err(cx.bad(obj, format!("expected a 2-D matrix, shape is {shape:?}")));
        }
        let (r, c) = (shape[0] as usize, shape[1] as usize);
        if r != n_obs {
            return Err(cx.bad(obj, format!("{r} rows but obs has {n_obs} cells")));
        }
        let v = cx.floats(obj)?;
        let mut indptr = Vec::with_capacity(r + 1);
        indptr.push(0);
        let (mut genes, mut values) = (Vec::new(), Vec::new());
        for i in 0..r {
            for j in 0..c {
                let x = v[i * c + j];
                if x != 0.0 {
                    genes.push(j as u32);
                    values.push(x);
                }
            }
            indptr.push(genes.len());
        }
        return Ok(SparseCounts {
            n_cells: r,
            n_genes: c,
            indptr,
            genes,
            values,
        });
    }
    let attrs = cx.group_attrs(obj);
    let enc = attr_str(attrs.get("encoding-type"))
        .or_else(|| attr_str(attrs.get("h5sparse_format")).map(|f| format!("{f}_matrix")))
        .ok_or_else(|| cx.bad(obj, "group without an encoding-type attribute"))?;
    let shape = attr_ints(attrs.get("shape"))
        .or_else(|| attr_ints(attrs.get("h5sparse_shape")))
        .filter(|s| s.len() == 2)
        .ok_or_else(|| cx.bad(obj, "sparse matrix without a 2-element shape attribute"))?;
    let (r, c) = (shape[0] as usize, shape[1] as usize);
    if r != n_obs {
        return Err(cx.bad(obj, format!("{r} rows but obs has {n_obs} cells")));
    }
    let csr = match enc.as_str() {
        "csr_matrix" => true,
        "csc_matrix" => false,
        other => {
            return Err(cx.bad(
                obj,
                format!("unsupported encoding-type '{other}' (expected csr_matrix or csc_matrix)"),
            ));
        }
    };
    read_sparse_whole(cx, obj, csr, r, c)
}

/// A sparse group's `data`, `indices` and `indptr` read whole (layouts and filters the chunk
/// reader leaves alone), checked, into cells × genes CSR.
pub(super) fn read_sparse_whole(
    cx: &Ctx,
    obj: &str,
    csr: bool,
    r: usize,
    c: usize,
) -> Result<SparseCounts, DataError> {
    let data = cx.floats(&format!("{obj}/data"))?;
    let indices = cx.ints(&format!("{obj}/indices"))?;
    let indptr = cx.ints(&format!("{obj}/indptr"))?;
    check_lengths(cx, obj, data.len(), indices.len())?;
    let (n_major, n_minor) = if csr { (r, c) } else { (c, r) };
    check_indptr(cx, obj, &indptr, n_major, data.len())?;
    if let Some(k) = indices.iter().position(|&i| i < 0 || i as usize >= n_minor) {
        return Err(cx.bad(
            &format!("{obj}/indices"),
            format!(
                "entry {} is {} but the matrix has {n_minor} {}",
                k + 1,
                indices[k],
                if csr { "columns" } else { "rows" }
            ),
        ));
    }
    // Stored zeros dropped, minor indices sorted within each major slice.
    let mut ptr = Vec::with_capacity(n_major + 1);
    ptr.push(0);
    let (mut minor, mut values) = (
        Vec::with_capacity(data.len()),
        Vec::with_capacity(data.len()),
    );
    for m in 0..n_major {
        let (a, b) = (indptr[m] as usize, indptr[m + 1] as usize);
        let mut slice: Vec<(u32, f32)> = (a..b)
            .filter(|&k| data[k] != 0.0)
            .map(|k| (indices[k] as u32, data[k]))
            .collect();
        slice.sort_unstable_by_key(|e| e.0);
        minor.extend(slice.iter().map(|e| e.0));
        values.extend(slice.iter().map(|e| e.1));
        ptr.push(minor.len());
    }
    let (indptr, genes, values) = if csr {
        (ptr, minor, values)
    } else {
        crate::core::matrix::sparse_transpose(&ptr, &minor, &values, r)
    };
    Ok(SparseCounts {
        n_cells: r,
        n_genes: c,
        indptr,
        genes,
        values,
    })
}

/// An anndata data frame group: index names and columns in `column-order`.
fn frame(cx: &Ctx, g: &str) -> Result<(Vec<String>, Vec<MetaColumn>), DataError> {
    let attrs = cx.group_attrs(g);
    if cx.group(g).is_none() {
        return Err(cx.bad(g, "missing group (expected an anndata data frame)"));
    }
    let index_col = attr_str(attrs.get("_index")).unwrap_or_else(|| "_index".into());
    let index_path = format!("{g}/{index_col}");
    let names = if cx.has_dataset(&index_path) {
        cx.strings(&index_path)?
    } else {
        return Err(cx.bad(g, format!("no index column '{index_col}'")));
    };
    let order = attr_strings(attrs.get("column-order")).unwrap_or_default();
    let mut cols = Vec::new();
    for name in order {
        let p = format!("{g}/{name}");
        if let Some(col) = column(cx, &p, &name, names.len())? {
            cols.push(col);
        }
    }
    Ok((names, cols))
}

fn column(cx: &Ctx, p: &str, name: &str, n: usize) -> Result<Option<MetaColumn>, DataError> {
    let values = if cx.group(p).is_some() {
        let attrs = cx.group_attrs(p);
        match attr_str(attrs.get("encoding-type")).as_deref() {
            Some("categorical") => {
                let cats_path = format!("{p}/categories");
                let codes = cx.ints(&format!("{p}/codes"))?;
                let cats = categories(cx, &cats_path)?;
                MetaValues::Text(decode_codes(cx, p, &codes, &cats)?)
            }
            Some("nullable-integer") | Some("nullable-boolean") => {
                let v = cx.f64s(&format!("{p}/values"))?;
                let mask = cx.ints(&format!("{p}/mask")).unwrap_or_default();
                MetaValues::Number(
                    v.iter()
                        .enumerate()
                        .map(|(i, &x)| {
                            if mask.get(i).is_some_and(|&m| m != 0) {
                                f64::NAN
                            } else {
                                x
                            }
                        })
                        .collect(),
                )
            }
            // Unknown encodings (e.g. nullable strings) are skipped, not fatal.
            _ => return Ok(None),
        }
    } else {
        let d = cx.file.dataset(p).map_err(|e| cx.err(p, e))?;
        match d.dtype().map_err(|e| cx.err(p, e))? {
            DType::String | DType::VariableLengthString => MetaValues::Text(cx.strings(p)?),
            // numpy bools, as h5py stores them: an 8-bit enum FALSE = 0, TRUE = 1.
            DType::Enum(_) if d.read_u8().is_ok() => MetaValues::Number(
                d.read_u8()
                    .map_err(|e| cx.err(p, e))?
                    .into_iter()
                    .map(f64::from)
                    .collect(),
            ),
            DType::Compound(_)
            | DType::Array(..)
            | DType::ObjectReference
            | DType::Enum(_)
            | DType::Other(_) => {
                let enc = attr_str(cx.dataset_attrs(p).get("encoding-type"));
                if enc.as_deref() == Some("string-array") {
                    MetaValues::Text(cx.strings(p)?)
                } else {
                    return Ok(None);
                }
            }
            _ => MetaValues::Number(cx.f64s(p)?),
        }
    };
    let col = MetaColumn {
        name: name.to_string(),
        values,
    };
    if col.len() != n {
        return Err(cx.bad(
            p,
            format!("{} values but the index has {n} entries", col.len()),
        ));
    }
    Ok(Some(col))
}

fn categories(cx: &Ctx, p: &str) -> Result<Vec<String>, DataError> {
    let d = cx.file.dataset(p).map_err(|e| cx.err(p, e))?;
    match d.dtype().map_err(|e| cx.err(p, e))? {
        DType::String | DType::VariableLengthString => cx.strings(p),
        _ => Ok(cx.f64s(p)?.iter().map(|x| format!("{x}")).collect()),
    }
}

fn decode_codes(
    cx: &Ctx,
    p: &str,
    codes: &[i64],
    cats: &[String],
) -> Result<Vec<String>, DataError> {
    codes
        .iter()
        .enumerate()
        .map(|(i, &c)| {
            if c < 0 {
                Ok(String::new())
            } else {
                cats.get(c as usize).cloned().ok_or_else(|| {
                    cx.bad(
                        p,
                        format!(
                            "record {}: code {c} but only {} categories",
                            i + 1,
                            cats.len()
                        ),
                    )
                })
            }
        })
        .collect()
}

/// Old anndata (< 0.7): obs/var are compound datasets; categorical columns are integer codes
/// whose categories live in `uns/<column>_categories`.
fn legacy_frame(cx: &Ctx, p: &str) -> Result<(Vec<String>, Vec<MetaColumn>), DataError> {
    let d = cx
        .file
        .dataset(p)
        .map_err(|_| cx.bad(p, "missing (expected an anndata data frame)"))?;
    let dt = d.datatype().map_err(|e| cx.err(p, e))?;
    let raw = d.read_raw().map_err(|e| cx.err(p, e))?;
    let hdf5_pure::Datatype::Compound { size, members } = dt else {
        return Err(cx.bad(p, "expected a compound table (legacy anndata layout)"));
    };
    let size = size as usize;
    if size == 0 || !raw.len().is_multiple_of(size) {
        return Err(cx.bad(p, "compound table size does not match its data"));
    }
    let n = raw.len() / size;
    let mut names = Vec::new();
    let mut cols = Vec::new();
    for m in &members {
        let off = m.byte_offset as usize;
        let field = |i: usize| &raw[i * size + off..];
        let vals: Option<MetaValues> = match &m.datatype {
            hdf5_pure::Datatype::String { size: w, .. } => {
                let w = *w as usize;
                Some(MetaValues::Text(
                    (0..n)
                        .map(|i| {
                            let b = &field(i)[..w];
                            let end = b.iter().position(|&x| x == 0).unwrap_or(w);
                            String::from_utf8_lossy(&b[..end]).trim_end().to_string()
                        })
                        .collect(),
                ))
            }
            hdf5_pure::Datatype::FixedPoint {
                size: w, layout, ..
            } => {
                let w = *w as usize;
                let signed = &layout.signed;
                Some(MetaValues::Number(
                    (0..n)
                        .map(|i| {
                            let b = &field(i)[..w];
                            let mut buf = [0u8; 8];
                            buf[..w].copy_from_slice(b);
                            let u = u64::from_le_bytes(buf);
                            if *signed && w < 8 && (u >> (w * 8 - 1)) & 1 == 1 {
                                (u as i64 - (1i64 << (w * 8))) as f64
                            } else {
                                u as i64 as f64
                            }
                        })
                        .collect(),
                ))
            }
            hdf5_pure::Datatype::FloatingPoint { size: 4, .. } => Some(MetaValues::Number(
                (0..n)
                    .map(|i| {
                        let b = field(i);
                        f32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64
                    })
                    .collect(),
            )),
            hdf5_pure::Datatype::FloatingPoint { size: 8, .. } => Some(MetaValues::Number(
                (0..n)
                    .map(|i| {
                        let b = field(i);
                        let mut a = [0u8; 8];
                        a.copy_from_slice(&b[..8]);
                        f64::from_le_bytes(a)
                    })
                    .collect(),
            )),
            _ => None,
        };
        let Some(vals) = vals else { continue };
        if m.name == "index" {
            if let MetaValues::Text(v) = vals {
                names = v;
            }
            continue;
        }
        let cats_path = format!("uns/{}_categories", m.name);
        let vals = match vals {
            MetaValues::Number(codes) if cx.has_dataset(&cats_path) => {
                let cats = categories(cx, &cats_path)?;
                let codes: Vec<i64> = codes.iter().map(|&c| c as i64).collect();
                MetaValues::Text(decode_codes(cx, p, &codes, &cats)?)
            }
            v => v,
        };
        cols.push(MetaColumn {
            name: m.name.clone(),
            values: vals,
        });
    }
    if names.is_empty() {
        names = (0..n).map(|i| i.to_string()).collect();
    }
    Ok((names, cols))
}

fn read_obsm(cx: &Ctx, n_obs: usize, legacy: bool) -> Result<Vec<(String, Matrix)>, DataError> {
    let mut out = Vec::new();
    if legacy {
        let Ok(d) = cx.file.dataset("obsm") else {
            return Ok(out);
        };
        let Ok(hdf5_pure::Datatype::Compound { size, members }) = d.datatype() else {
            return Ok(out);
        };
        let raw = d.read_raw().map_err(|e| cx.err("obsm", e))?;
        let size = size as usize;
        for m in members {
            if let hdf5_pure::Datatype::Array {
                base_type,
                dimensions: dims,
            } = &m.datatype
                && matches!(
                    **base_type,
                    hdf5_pure::Datatype::FloatingPoint { size: 4, .. }
                )
            {
                let k: usize = dims.iter().map(|&d| d as usize).product();
                let mut mat = Matrix::zeros(n_obs, k);
                for i in 0..n_obs {
                    let b = &raw[i * size + m.byte_offset as usize..];
                    for j in 0..k {
                        mat.data[i * k + j] = f32::from_le_bytes([
                            b[4 * j],
                            b[4 * j + 1],
                            b[4 * j + 2],
                            b[4 * j + 3],
                        ]);
                    }
                }
                out.push((m.name.clone(), mat));
            }
        }
        return Ok(out);
    }
    let Some(g) = cx.group("obsm") else {
        return Ok(out);
    };
    let mut names = g.datasets().unwrap_or_default();
    names.sort();
    for name in names {
        let p = format!("obsm/{name}");
        let shape = cx.shape(&p)?;
        if shape.len() != 2 || shape[0] as usize != n_obs {
            continue;
        }
        let Ok(v) = cx.floats(&p) else { continue };
        let mut m = Matrix::zeros(n_obs, shape[1] as usize);
        m.data = v;
        out.push((name, m));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_kind_of_counts_lognorm_and_scaled() {
        assert_eq!(ValueKind::of(&[0.0, 3.0, 12.0]), ValueKind::Counts);
        assert_eq!(ValueKind::of(&[0.0, 1.5]), ValueKind::Normalised);
        assert_eq!(ValueKind::of(&[0.5, -1.0]), ValueKind::Scaled);
    }
}
