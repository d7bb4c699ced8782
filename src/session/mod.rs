//! Session folders (`NAME.biolens/`, DESIGN §3): `manifest.toml`, `points.parquet`,
//! `neighbors.parquet`, `clusters.parquet` and each modality's folder. Written into a
//! temporary folder beside the target and renamed into place, so a failed or interrupted run
//! leaves no partial session. Reading never recomputes anything.

pub mod anndata;
mod dataset;
mod manifest;
mod points;

use crate::analysis::knn::KnnGraph;
use crate::core::matrix::Matrix;
use crate::core::selection::SelectionFile;
use crate::core::{MetaColumn, MetaValues};
pub use crate::io::FileError as SessionError;
use crate::io::parquet::{Column, Table, read_parquet, write_parquet};
use crate::io::{bad, column, io_err};
use crate::modality::{Dataset, Embedding, EmbeddingSource};
use crate::pipeline::{Analysis, PipelineParams};
pub use dataset::SessionDataset;
pub use manifest::{DatasetEntry, FORMAT_VERSION, InputFile, Manifest, ModelScore, checksum};
use points::{FIXED, clusters_table, write_neighbors, write_points};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Writes a session folder atomically. Replaces an existing session at `out` only after the
/// new one is complete.
pub fn write(
    out: &Path,
    params: &PipelineParams,
    threads: usize,
    device: crate::core::nn::DeviceKind,
    items: &[SessionDataset],
    selections: &SelectionFile,
) -> Result<Manifest, SessionError> {
    let inputs = items
        .iter()
        .map(|sd| sd.dataset.inputs.iter().map(|p| checksum(p)).collect())
        .collect::<Result<Vec<Vec<InputFile>>, _>>()?;
    write_with_inputs(out, params, threads, device, items, &inputs, selections)
}

/// `write`, with each item's input files already checksummed: a live run's earlier versions
/// may since have been deleted by the trainer, and are not read again.
pub fn write_with_inputs(
    out: &Path,
    params: &PipelineParams,
    threads: usize,
    device: crate::core::nn::DeviceKind,
    items: &[SessionDataset],
    inputs: &[Vec<InputFile>],
    selections: &SelectionFile,
) -> Result<Manifest, SessionError> {
    let (parent, name) = place(out)?;
    let parent = parent.as_path();
    sweep_stale(parent, &name);
    let tmp = parent.join(format!(".{name}.tmp-{}", std::process::id()));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(io_err(&tmp))?;
    }
    std::fs::create_dir(&tmp).map_err(io_err(&tmp))?;
    crate::core::scratch::hold(&tmp);
    let manifest = write_into(
        &tmp, out, parent, &name, params, threads, device, items, inputs, selections,
    );
    crate::core::scratch::release(&tmp);
    manifest
}

/// `write`, once the scratch folder `tmp` exists.
#[allow(clippy::too_many_arguments)]
fn write_into(
    tmp: &Path,
    out: &Path,
    parent: &Path,
    name: &str,
    params: &PipelineParams,
    threads: usize,
    device: crate::core::nn::DeviceKind,
    items: &[SessionDataset],
    inputs: &[Vec<InputFile>],
    selections: &SelectionFile,
) -> Result<Manifest, SessionError> {
    let tmp = tmp.to_path_buf();
    let result = (|| {
        let mut datasets = Vec::new();
        for (k, sd) in items.iter().enumerate() {
            let inputs = inputs.get(k).cloned().unwrap_or_default();
            let parts = crate::modality::write_parts(
                &tmp,
                datasets.len(),
                &sd.dataset,
                &sd.embedding,
                sd.analysis.findings.as_ref(),
            )?;
            datasets.push(DatasetEntry {
                name: sd.dataset.name.clone(),
                modality: sd.dataset.modality(),
                n_items: sd.dataset.len(),
                embedding_dim: sd.embedding.matrix.cols,
                embedding: sd.embedding.source.describe(),
                cluster: sd.analysis.cluster_method.clone(),
                inputs,
                timings: sd.analysis.timings.iter().cloned().collect(),
                anomaly_model: sd.analysis.anomaly_model.as_ref().map(|_| {
                    let (name, definition) = sd.dataset.modality().model_score();
                    ModelScore {
                        name: name.into(),
                        definition: definition.into(),
                    }
                }),
                parts,
            });
        }
        let manifest = Manifest {
            format_version: FORMAT_VERSION,
            biolens_version: crate::VERSION.to_string(),
            seed: params.seed,
            threads,
            device: device.as_str().into(),
            params: params.clone(),
            datasets,
        };
        let text = toml::to_string_pretty(&manifest)
            .map_err(|e| bad(out, format!("cannot encode manifest: {e}")))?;
        write_points(&tmp.join("points.parquet"), items)?;
        write_neighbors(&tmp.join("neighbors.parquet"), items)?;
        write_parquet(&tmp.join("clusters.parquet"), &clusters_table(items))?;
        if !selections.selections.is_empty() {
            let path = tmp.join(SELECTIONS);
            std::fs::write(&path, selections.to_toml()).map_err(io_err(&path))?;
        }
        // The manifest last: a folder cut short has none, so nothing takes it for a session.
        std::fs::write(tmp.join("manifest.toml"), text).map_err(io_err(&tmp))?;
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
        std::fs::rename(out, &old).map_err(io_err(out))?;
        std::fs::rename(&tmp, out).map_err(io_err(out))?;
        let _ = std::fs::remove_dir_all(&old);
    } else {
        std::fs::rename(&tmp, out).map_err(io_err(out))?;
    }
    Ok(manifest)
}

/// The selections file of a session folder.
pub const SELECTIONS: &str = "selections.toml";

/// A session's selections (none when it has no `selections.toml`).
pub fn read_selections(dir: &Path) -> Result<SelectionFile, SessionError> {
    let path = dir.join(SELECTIONS);
    match std::fs::read_to_string(&path) {
        Ok(text) => SelectionFile::from_toml(&text).map_err(|e| bad(&path, e)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(SelectionFile::default()),
        Err(e) => Err(io_err(&path)(e)),
    }
}

/// Replaces a session's selections (a temporary file renamed into place).
pub fn save_selections(dir: &Path, f: &SelectionFile) -> Result<(), SessionError> {
    let path = dir.join(SELECTIONS);
    let tmp = dir.join(format!(".{SELECTIONS}.tmp-{}", std::process::id()));
    std::fs::write(&tmp, f.to_toml())
        .and_then(|_| std::fs::rename(&tmp, &path))
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            io_err(&path)(e)
        })
}

/// Clusterings kept with `:save-clusters`, beside the session's own (long: dataset, column,
/// id, cluster), so a reopened session has them as metadata columns.
pub const CLUSTERINGS: &str = "clusterings.parquet";

/// Keeps `clusters` (one per id of dataset `dataset`) in the session as column `name`,
/// replacing a clustering of that name; a temporary file renamed into place.
pub fn save_clustering(
    dir: &Path,
    dataset: &str,
    name: &str,
    ids: &[String],
    clusters: &[u32],
) -> Result<(), SessionError> {
    let path = dir.join(CLUSTERINGS);
    let mut rows: (Vec<String>, Vec<String>, Vec<String>, Vec<i32>) = Default::default();
    if path.exists() {
        let (d, c, i, k) = read_clusterings(&path)?;
        for r in 0..d.len() {
            if !(d[r] == dataset && c[r] == name) {
                rows.0.push(d[r].clone());
                rows.1.push(c[r].clone());
                rows.2.push(i[r].clone());
                rows.3.push(k[r]);
            }
        }
    }
    rows.0
        .extend(std::iter::repeat_n(dataset.to_string(), ids.len()));
    rows.1
        .extend(std::iter::repeat_n(name.to_string(), ids.len()));
    rows.2.extend(ids.iter().cloned());
    rows.3.extend(clusters.iter().map(|&c| c as i32));
    let mut t = Table::default();
    t.push("dataset", Column::Str(rows.0));
    t.push("column", Column::Str(rows.1));
    t.push("id", Column::Str(rows.2));
    t.push("cluster", Column::I32(rows.3));
    let tmp = dir.join(format!(".{CLUSTERINGS}.tmp-{}", std::process::id()));
    write_parquet(&tmp, &t)
        .map_err(SessionError::from)
        .and_then(|_| std::fs::rename(&tmp, &path).map_err(io_err(&path)))
        .inspect_err(|_| {
            let _ = std::fs::remove_file(&tmp);
        })
}

/// The columns of a clusterings file: dataset, column, id, cluster.
type Clusterings = (Vec<String>, Vec<String>, Vec<String>, Vec<i32>);

fn read_clusterings(path: &Path) -> Result<Clusterings, SessionError> {
    let t = read_parquet(path)?;
    let (Column::Str(d), Column::Str(c), Column::Str(i), Column::I32(k)) = (
        column(&t, "dataset", path)?,
        column(&t, "column", path)?,
        column(&t, "id", path)?,
        column(&t, "cluster", path)?,
    ) else {
        return Err(bad(
            path,
            "expected text columns dataset, column, id and an integer column cluster",
        ));
    };
    Ok((d.clone(), c.clone(), i.clone(), k.clone()))
}

/// Dataset `dataset`'s saved clusterings (`saved`, the session's file as read once, at
/// `path`) as text columns aligned to `ids` (an item the clustering did not cover gets an
/// empty value).
fn saved_clusterings(
    path: &Path,
    saved: &Clusterings,
    dataset: &str,
    ids: &[String],
) -> Result<Vec<MetaColumn>, SessionError> {
    let (d, c, i, k) = saved;
    let row: HashMap<&str, usize> = ids
        .iter()
        .enumerate()
        .map(|(r, x)| (x.as_str(), r))
        .collect();
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for r in (0..d.len()).filter(|&r| d[r] == dataset) {
        let at = match out.iter().position(|(n, _)| *n == c[r]) {
            Some(at) => at,
            None => {
                out.push((c[r].clone(), vec![String::new(); ids.len()]));
                out.len() - 1
            }
        };
        let Some(&item) = row.get(i[r].as_str()) else {
            return Err(bad(
                path,
                format!(
                    "row {}: id '{}' is not an item of dataset {dataset}",
                    r + 1,
                    i[r]
                ),
            ));
        };
        out[at].1[item] = k[r].to_string();
    }
    Ok(out
        .into_iter()
        .map(|(name, v)| MetaColumn {
            name,
            values: MetaValues::Text(v),
        })
        .collect())
}

/// True when `path` looks like a session folder.
pub fn is_session(path: &Path) -> bool {
    path.is_dir() && path.join("manifest.toml").is_file() && scratch_pid(path).is_none()
}

/// The process id in the name of a scratch folder this module writes (`.NAME.tmp-PID`,
/// `.NAME.old-PID`), or None for any other path.
fn scratch_pid(path: &Path) -> Option<u32> {
    let name = path.file_name()?.to_str()?;
    let rest = name.strip_prefix('.')?;
    let (_, pid) = rest
        .rsplit_once(".tmp-")
        .or_else(|| rest.rsplit_once(".old-"))?;
    pid.parse().ok()
}

/// Removes scratch folders of `name` left in `dir` by runs that were interrupted (their
/// process is gone), so none is ever mistaken for a session or piles up.
fn sweep_stale(dir: &Path, name: &str) {
    // Whether a process lives is read from /proc; where there is none (not Linux), a folder
    // of a run still writing could not be told from a stale one, so nothing is swept.
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    if !Path::new("/proc/self").is_dir() {
        return;
    }
    for e in entries.flatten() {
        let p = e.path();
        let Some(pid) = scratch_pid(&p) else { continue };
        let ours = p
            .file_name()
            .and_then(|f| f.to_str())
            .is_some_and(|f| f.starts_with(&format!(".{name}.")));
        let alive = pid == std::process::id() || Path::new(&format!("/proc/{pid}")).exists();
        if ours && !alive && p.is_dir() {
            let _ = std::fs::remove_dir_all(&p);
        }
    }
}

/// The folder a session goes into (created if missing) and its name.
fn place(out: &Path) -> Result<(PathBuf, String), SessionError> {
    let parent = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(io_err(parent))?;
    let name = out
        .file_name()
        .ok_or_else(|| bad(out, "output path has no folder name"))?
        .to_string_lossy()
        .to_string();
    Ok((parent.to_path_buf(), name))
}

/// Checks that a session can be written at `out` (its folder can be created and written),
/// so a run fails before computing rather than after.
pub fn check_writable(out: &Path) -> Result<(), SessionError> {
    let (parent, name) = place(out)?;
    let parent = parent.as_path();
    let probe = parent.join(format!(".{name}.probe-{}", std::process::id()));
    std::fs::write(&probe, b"")
        .map_err(|e| bad(out, format!("cannot write a session here: {e}")))?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// Reads a session folder back: no recomputation.
pub fn read(dir: &Path) -> Result<(Manifest, Vec<SessionDataset>), SessionError> {
    read_with(dir, true, None)
}

/// Reads a session for viewing: everything but the embedding vectors (the largest part of a
/// session), which `read_embedding` fetches when a k-means recluster needs them. The returned
/// datasets have `embedding.cols == 0`.
pub fn read_for_view(dir: &Path) -> Result<(Manifest, Vec<SessionDataset>), SessionError> {
    read_with(dir, false, None)
}

/// The embedding matrix of dataset `index` of a session.
pub fn read_embedding(dir: &Path, index: usize) -> Result<Matrix, SessionError> {
    let mpath = dir.join("manifest.toml");
    let text = std::fs::read_to_string(&mpath).map_err(io_err(&mpath))?;
    let manifest: Manifest =
        toml::from_str(&text).map_err(|e| bad(&mpath, format!("not a valid manifest: {e}")))?;
    let entry = manifest
        .datasets
        .get(index)
        .ok_or_else(|| bad(&mpath, format!("no dataset {index}")))?;
    let start: usize = manifest.datasets[..index].iter().map(|d| d.n_items).sum();
    let ppath = dir.join("points.parquet");
    let t = crate::io::parquet::read_parquet_columns(&ppath, Some(&["embedding"]))?;
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

/// The manifest alone (small): what the interface needs to lay out a session's tabs before
/// their data is read in the background.
pub fn read_manifest(dir: &Path) -> Result<Manifest, SessionError> {
    let mpath = dir.join("manifest.toml");
    let text = std::fs::read_to_string(&mpath).map_err(io_err(&mpath))?;
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
    Ok(manifest)
}

/// Dataset `index` of a session, as `read_for_view` reads it, without reading the other
/// datasets' expression, sequences or models (one interface tab loads one dataset).
pub fn read_one_for_view(dir: &Path, index: usize) -> Result<SessionDataset, SessionError> {
    let (_, mut items) = read_with(dir, false, Some(index))?;
    items
        .pop()
        .ok_or_else(|| bad(dir, format!("the session has no dataset {}", index + 1)))
}

fn read_with(
    dir: &Path,
    with_embedding: bool,
    only: Option<usize>,
) -> Result<(Manifest, Vec<SessionDataset>), SessionError> {
    let manifest = read_manifest(dir)?;
    let ppath = dir.join("points.parquet");
    let read_points = || -> Result<Table, SessionError> {
        if with_embedding {
            return Ok(read_parquet(&ppath)?);
        }
        let names = crate::io::parquet::parquet_column_names(&ppath)?;
        let keep: Vec<&str> = names
            .iter()
            .map(String::as_str)
            .filter(|n| *n != "embedding")
            .collect();
        Ok(crate::io::parquet::read_parquet_columns(
            &ppath,
            Some(&keep),
        )?)
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
    // Clusterings kept with `:save-clusters`, read once for every dataset.
    let cpath = dir.join(CLUSTERINGS);
    let saved = if cpath.exists() {
        read_clusterings(&cpath)?
    } else {
        Default::default()
    };
    let mut out = Vec::new();
    let mut start = 0usize;
    for (di, entry) in manifest.datasets.iter().enumerate() {
        let n = entry.n_items;
        if only.is_some_and(|i| i != di) {
            start += n;
            continue;
        }
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
        let embedding = Arc::new(Matrix::from_vec(n, d, ev[eo[r.start]..eo[r.end]].to_vec()));
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
        let meta: Vec<MetaColumn> = pts
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
        let parts =
            crate::modality::read_parts(dir, entry.modality, &entry.parts, n, &meta, &embedding)?;
        let anomaly_model = match pts
            .get("anomaly_model")
            .or_else(|| pts.get("anomaly_recon"))
        {
            Some(Column::F32(v)) if v[r.clone()].iter().any(|x| !x.is_nan()) => {
                Some(Arc::new(v[r.clone()].to_vec()))
            }
            _ => None,
        };
        let mut meta = meta;
        for m in saved_clusterings(&cpath, &saved, &entry.name, &ids[r.clone()])? {
            if !meta.iter().any(|x| x.name == m.name) {
                meta.push(m);
            }
        }
        let dataset = Dataset {
            name: entry.name.clone(),
            path: dir.to_path_buf(),
            ids: ids[r.clone()].to_vec(),
            meta,
            inputs: entry
                .inputs
                .iter()
                .map(|i| PathBuf::from(&i.path))
                .collect(),
            notes: Vec::new(),
            payload: parts.payload,
        };
        let embedding = Embedding {
            matrix: embedding,
            source: EmbeddingSource::Precomputed,
            model: parts.model,
            anomaly_model: anomaly_model.clone(),
        };
        let analysis = Analysis {
            knn: Arc::new(knn),
            graph: None,
            layout: Arc::new(r.clone().map(|i| [x[i], y[i]]).collect()),
            clusters: Arc::new(cl[r.clone()].iter().map(|&c| c.max(0) as u32).collect()),
            cluster_method: entry.cluster.clone(),
            anomaly_knn: Arc::new(ak[r.clone()].to_vec()),
            anomaly_iforest: Arc::new(ai[r.clone()].to_vec()),
            // Derived from the kNN score and the library size, so computed, not stored.
            anomaly_depth: crate::pipeline::depth_adjusted(&dataset, &ak[r.clone()]).map(Arc::new),
            anomaly_model,
            findings: parts.findings,
            timings: entry.timings.iter().map(|(k, v)| (k.clone(), *v)).collect(),
        };
        out.push(SessionDataset {
            dataset,
            embedding,
            analysis,
        });
        start += n;
    }
    Ok((manifest, out))
}
