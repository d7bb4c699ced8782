//! Exports: one function from (what, dataset, analysis) to a table, used by `biolens export`
//! and the interface's `:export`, and the writers (CSV or Parquet by extension, MEME for
//! motifs), each writing a temporary file and renaming it so a failed export leaves nothing
//! half-written.

use crate::io::parquet::{Column, Table, write_parquet};
use crate::modality::{Dataset, Findings};
use crate::pipeline::Analysis;
use std::io::Write;
use std::path::Path;

/// What can be exported (also the values of `biolens export WHAT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum What {
    /// Every item with its cluster.
    Clusters,
    /// Marker genes per cluster (cells; a session keeps the top 200 per cluster; the
    /// interface's `:export compare` writes a `:compare` result instead).
    Markers,
    /// Discovered DNA motifs (table, or MEME format with --format meme).
    Motifs,
    /// Every site of every discovered motif (DNA).
    Sites,
    /// Every item ranked by anomaly score.
    Anomalies,
    /// One saved selection (name it after WHAT): ids for .txt, full rows for .csv, .tsv,
    /// .parquet, .arrow.
    Selection,
    /// The whole result as an AnnData .h5ad for scanpy (cells: X, obs with clusters,
    /// anomaly scores and selections, obsm X_umap and the latent, uns rank_genes_groups).
    Anndata,
}

impl What {
    /// The value `biolens export` takes, as `Findings::tables` names the kinds.
    pub fn key(&self) -> &'static str {
        match self {
            What::Clusters => "clusters",
            What::Markers => "markers",
            What::Motifs => "motifs",
            What::Sites => "sites",
            What::Anomalies => "anomalies",
            What::Selection => "selection",
            What::Anndata => "anndata",
        }
    }

    /// The kind `key` names (`Findings::tables` gives a modality's).
    pub fn from_key(key: &str) -> Option<What> {
        <What as clap::ValueEnum>::value_variants()
            .iter()
            .find(|w| w.key() == key)
            .copied()
    }

    pub fn name(&self) -> &'static str {
        match self {
            What::Clusters => "clusters",
            What::Markers => "marker genes",
            What::Motifs => "motifs",
            What::Sites => "motif sites",
            What::Anomalies => "anomaly scores",
            What::Selection => "selection",
            What::Anndata => "AnnData",
        }
    }
}

/// One dataset's results, as an export reads them.
pub struct Source<'a> {
    pub dataset: &'a Dataset,
    pub analysis: &'a Analysis,
    /// A `:compare` result's findings, exported instead of the clusters'.
    pub comparison: Option<&'a Findings>,
}

/// The table of `what` for one dataset; None when it does not apply to the dataset's
/// modality (markers of DNA, motifs of cells).
pub fn table(what: What, s: &Source) -> Option<Table> {
    let (ds, a) = (s.dataset, s.analysis);
    match what {
        What::Clusters => Some(clusters_table(ds, &a.clusters)),
        // The modality's findings answer the kinds they know (`Findings::tables`).
        What::Markers | What::Motifs | What::Sites => {
            s.comparison.or(a.findings.as_ref())?.table(what.key(), ds)
        }
        What::Anomalies => Some(anomalies_table(
            ds,
            &a.anomaly_knn,
            &a.anomaly_iforest,
            a.anomaly_depth.as_deref().map(|v| v.as_slice()),
            a.anomaly_model.as_deref().map(|v| v.as_slice()),
            &a.clusters,
        )),
        // Files of their own, written by `write_rows` and `session::anndata`.
        What::Selection | What::Anndata => None,
    }
}

/// Writes `what` of every source into one file at `path`: MEME minimal format when `meme`
/// (motifs only), else CSV or, for a `.parquet` path, Parquet. Returns the rows (or motifs)
/// written; an error names what is missing when no source has it.
pub fn export(
    path: &Path,
    what: What,
    meme: bool,
    sources: &[Source],
) -> Result<usize, ExportError> {
    if meme {
        if what != What::Motifs {
            return Err(ExportError::NotApplicable(
                "MEME format applies to motifs only".into(),
            ));
        }
        let motifs = |s: &Source<'_>| {
            s.analysis
                .findings
                .as_ref()
                .and_then(Findings::motifs)
                .cloned()
        };
        let mut all = crate::modality::dna::motifs::MotifResults::default();
        for s in sources {
            if let Some(m) = motifs(s) {
                all.motifs.extend(m.motifs.iter().cloned());
            }
        }
        if sources.iter().all(|s| motifs(s).is_none()) {
            return Err(ExportError::NotApplicable(
                "no motifs (DNA only, once clusters land)".into(),
            ));
        }
        return write_meme(path, &all);
    }
    match path.extension().and_then(|e| e.to_str()) {
        Some(e) if e.eq_ignore_ascii_case("csv") || e.eq_ignore_ascii_case("parquet") => {}
        other => {
            return Err(werr(
                path,
                format!(
                    "cannot write {} as {}: expected a .csv or .parquet path",
                    what.name(),
                    other.map_or("a file without an extension".into(), |e| format!(".{e}"))
                ),
            ));
        }
    }
    let mut out: Option<Table> = None;
    for s in sources {
        let Some(t) = table(what, s) else {
            continue;
        };
        match &mut out {
            None => out = Some(t),
            Some(o) => o.append(t).map_err(|e| werr(path, e))?,
        }
    }
    let t = out.ok_or_else(|| {
        ExportError::NotApplicable(format!(
            "no {} here ({})",
            what.name(),
            match what {
                What::Markers => "cells only",
                What::Motifs | What::Sites => "DNA only, once clusters land",
                What::Clusters | What::Anomalies => "nothing computed yet",
                What::Selection | What::Anndata => "not a table: see biolens export --help",
            }
        ))
    })?;
    write_table(path, &t)?;
    Ok(t.n_rows())
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("{path}: {reason}")]
    Write { path: String, reason: String },
    #[error("{0}")]
    NotApplicable(String),
}

fn werr(path: &Path, e: impl std::fmt::Display) -> ExportError {
    ExportError::Write {
        path: path.display().to_string(),
        reason: e.to_string(),
    }
}

fn tmp_path(path: &Path) -> std::path::PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

/// The shorter of a float's plain and scientific forms (both round-trip exactly): p-values of
/// 1e-120 are not written as 120 digits.
fn shortest(plain: String, scientific: String) -> String {
    if scientific.len() < plain.len() {
        scientific
    } else {
        plain
    }
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// A neighbourhood enrichment as a long table: one row per ordered pair of groups (`group`,
/// `neighbour`, sizes, kNN edge count, z), for `write_table` (CSV or Parquet).
pub fn nhood_table(n: &crate::pipeline::spatial::Neighbourhood) -> Table {
    let k = n.names.len();
    let pairs = || (0..k).flat_map(|a| (0..k).map(move |b| (a, b)));
    let mut t = Table::default();
    t.push(
        &n.by,
        Column::Str(pairs().map(|(a, _)| n.names[a].clone()).collect()),
    );
    t.push(
        "neighbour",
        Column::Str(pairs().map(|(_, b)| n.names[b].clone()).collect()),
    );
    t.push(
        &format!("n_{}", n.by),
        Column::I64(pairs().map(|(a, _)| n.sizes[a] as i64).collect()),
    );
    t.push(
        "n_neighbour",
        Column::I64(pairs().map(|(_, b)| n.sizes[b] as i64).collect()),
    );
    let e = &n.enrichment;
    t.push(
        "edges",
        Column::I64(pairs().map(|(a, b)| e.counts[a][b] as i64).collect()),
    );
    t.push("z", Column::F64(pairs().map(|(a, b)| e.z[a][b]).collect()));
    t
}

/// Writes discovered motifs in MEME minimal format (for the MEME suite), atomically.
pub fn write_meme(
    path: &Path,
    r: &crate::modality::dna::motifs::MotifResults,
) -> Result<usize, ExportError> {
    let motifs: Vec<(&crate::modality::dna::motif_db::Motif, Option<f64>)> = r
        .motifs
        .iter()
        .map(|m| (&m.motif, Some(m.evalue)))
        .collect();
    let tmp = tmp_path(path);
    std::fs::write(
        &tmp,
        crate::modality::dna::motif_db::meme_text_scored(&motifs),
    )
    .and_then(|_| std::fs::rename(&tmp, path))
    .map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        werr(path, e)
    })?;
    Ok(motifs.len())
}

/// A table as CSV (floats in the shorter of plain and scientific notation).
pub fn write_csv_to(w: &mut impl Write, t: &Table) -> std::io::Result<()> {
    writeln!(
        w,
        "{}",
        t.names
            .iter()
            .map(|n| csv_field(n))
            .collect::<Vec<_>>()
            .join(",")
    )?;
    for i in 0..t.n_rows() {
        let cells: Vec<String> = t
            .columns
            .iter()
            .map(|c| match c {
                Column::Str(v) => csv_field(&v[i]),
                Column::F32(v) => shortest(v[i].to_string(), format!("{:e}", v[i])),
                Column::F64(v) => shortest(v[i].to_string(), format!("{:e}", v[i])),
                Column::I32(v) => v[i].to_string(),
                Column::OptI32(v) => v[i].map_or(String::new(), |x| x.to_string()),
                Column::I64(v) => v[i].to_string(),
                Column::ListF32 { offsets, values } => {
                    csv_field(&format!("{:?}", &values[offsets[i]..offsets[i + 1]]))
                }
                Column::ListI32 { offsets, values } => {
                    csv_field(&format!("{:?}", &values[offsets[i]..offsets[i + 1]]))
                }
            })
            .collect();
        writeln!(w, "{}", cells.join(","))?;
    }
    Ok(())
}

/// Writes a table as CSV or, for a `.parquet` path, Parquet; atomically.
pub fn write_table(path: &Path, t: &Table) -> Result<(), ExportError> {
    let tmp = tmp_path(path);
    let result = if path.extension().is_some_and(|e| e == "parquet") {
        write_parquet(&tmp, t).map_err(|e| werr(path, e))
    } else {
        (|| -> std::io::Result<()> {
            let mut w = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
            write_csv_to(&mut w, t)?;
            w.flush()
        })()
        .map_err(|e| werr(path, e))
    };
    match result {
        Ok(()) => std::fs::rename(&tmp, path).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            werr(path, e)
        }),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

pub fn clusters_table(ds: &Dataset, clusters: &[u32]) -> Table {
    let mut t = Table::default();
    t.push("id", Column::Str(ds.ids.clone()));
    t.push(
        "cluster",
        Column::I32(clusters.iter().map(|&c| c as i32).collect()),
    );
    t
}

/// Items ranked by kNN-distance score, with every score and, for cells, library size and
/// detected genes beside the model's reconstruction score (so depth effects are visible).
pub fn anomalies_table(
    ds: &Dataset,
    knn: &[f32],
    iforest: &[f32],
    depth: Option<&[f32]>,
    recon: Option<&[f32]>,
    clusters: &[u32],
) -> Table {
    let mut order: Vec<usize> = (0..ds.len()).collect();
    order.sort_by(|&a, &b| knn[b].total_cmp(&knn[a]).then(a.cmp(&b)));
    let mut t = Table::default();
    t.push("rank", Column::I32((1..=order.len() as i32).collect()));
    t.push(
        "id",
        Column::Str(order.iter().map(|&i| ds.ids[i].clone()).collect()),
    );
    t.push(
        "anomaly_knn",
        Column::F32(order.iter().map(|&i| knn[i]).collect()),
    );
    t.push(
        "anomaly_iforest",
        Column::F32(order.iter().map(|&i| iforest[i]).collect()),
    );
    if let Some(d) = depth {
        t.push(
            crate::pipeline::DEPTH_SCORE,
            Column::F32(order.iter().map(|&i| d[i]).collect()),
        );
    }
    if let Some(r) = recon {
        t.push(
            &format!("anomaly_{}", ds.modality().model_score().0),
            Column::F32(order.iter().map(|&i| r[i]).collect()),
        );
    }
    for name in ["total_counts", "n_genes"] {
        if let Some(crate::core::meta::MetaValues::Number(v)) =
            ds.meta_column(name).map(|c| &c.values)
        {
            t.push(name, Column::F64(order.iter().map(|&i| v[i]).collect()));
        }
    }
    t.push(
        "cluster",
        Column::I32(order.iter().map(|&i| clusters[i] as i32).collect()),
    );
    t
}

/// One id per line, for the members of cluster `c`.
pub fn write_ids(
    path: &Path,
    ds: &Dataset,
    clusters: &[u32],
    c: u32,
) -> Result<usize, ExportError> {
    let ids: Vec<&str> = ds
        .ids
        .iter()
        .zip(clusters)
        .filter(|(_, k)| **k == c)
        .map(|(id, _)| id.as_str())
        .collect();
    let tmp = tmp_path(path);
    let mut text = ids.join("\n");
    text.push('\n');
    std::fs::write(&tmp, text).map_err(|e| werr(path, e))?;
    std::fs::rename(&tmp, path).map_err(|e| werr(path, e))?;
    Ok(ids.len())
}

/// Writes the rows `rows` of the points table (`id`, map position, cluster, anomaly scores,
/// metadata) through polars: CSV for `.csv`, tab-separated for `.tsv`, Parquet for
/// `.parquet`, Arrow IPC for `.arrow`, `.ipc` or `.feather`; any other extension gets the
/// ids, one per line. Atomically; returns the rows written.
pub fn write_rows(
    path: &Path,
    ds: &Dataset,
    r: &crate::pipeline::Partial,
    rows: &[u32],
) -> Result<usize, ExportError> {
    use polars::prelude::*;
    use polars_io::prelude::{CsvWriter, IpcWriter, ParquetWriter, SerWriter};
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let tmp = tmp_path(path);
    let result = (|| -> Result<(), String> {
        if !["csv", "tsv", "parquet", "arrow", "ipc", "feather"].contains(&ext.as_str()) {
            let mut text = String::new();
            for &i in rows {
                text.push_str(&ds.ids[i as usize]);
                text.push('\n');
            }
            return std::fs::write(&tmp, text).map_err(|e| e.to_string());
        }
        let df = crate::pipeline::select::points_frame(ds, r).map_err(|e| e.to_string())?;
        let idx = IdxCa::from_vec("idx".into(), rows.to_vec());
        let mut df = df
            .take(&idx)
            .and_then(|d| d.drop(crate::pipeline::select::ROW))
            .map_err(|e| e.to_string())?;
        let file = std::fs::File::create(&tmp).map_err(|e| e.to_string())?;
        let w = std::io::BufWriter::new(file);
        match ext.as_str() {
            "csv" => CsvWriter::new(w).finish(&mut df),
            "tsv" => CsvWriter::new(w).with_separator(b'\t').finish(&mut df),
            "parquet" => ParquetWriter::new(w).finish(&mut df).map(|_| ()),
            _ => IpcWriter::new(w).finish(&mut df),
        }
        .map_err(|e| e.to_string())
    })();
    match result {
        Ok(()) => {
            std::fs::rename(&tmp, path).map_err(|e| {
                let _ = std::fs::remove_file(&tmp);
                werr(path, e)
            })?;
            Ok(rows.len())
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(werr(path, e))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_floats_are_short_and_exact() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("t.csv");
        let mut t = Table::default();
        t.push("p", Column::F64(vec![6.1e-124, 0.25, 1234.5, f64::NAN]));
        t.push("x", Column::F32(vec![1e-30, 0.5, 3.0, 2e10]));
        write_table(&p, &t).unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        assert_eq!(
            text, "p,x\n6.1e-124,1e-30\n0.25,0.5\n1234.5,3\nNaN,2e10\n",
            "{text}"
        );
        for line in text.lines().skip(1) {
            for v in line.split(',') {
                assert!(v.parse::<f64>().is_ok(), "{v}");
            }
        }
    }
}
