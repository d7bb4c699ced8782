//! Exports of per-item results to CSV or Parquet (by extension), written to a temporary file
//! and renamed so a failed export leaves nothing half-written.

use crate::data::Dataset;
use crate::table_io::{Column, Table, write_parquet};
use std::io::Write;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("{path}: {reason}")]
    Write { path: String, reason: String },
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

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Writes discovered motifs in MEME minimal format (for the MEME suite), atomically.
pub fn write_meme(
    path: &Path,
    r: &crate::analysis::motifs::MotifResults,
) -> Result<usize, ExportError> {
    let motifs: Vec<crate::data::motif_db::Motif> =
        r.motifs.iter().map(|m| m.motif.clone()).collect();
    let tmp = tmp_path(path);
    std::fs::write(&tmp, crate::data::motif_db::meme_text(&motifs))
        .and_then(|_| std::fs::rename(&tmp, path))
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            werr(path, e)
        })?;
    Ok(motifs.len())
}

/// Writes a table as CSV or, for a `.parquet` path, Parquet; atomically.
pub fn write_table(path: &Path, t: &Table) -> Result<(), ExportError> {
    let tmp = tmp_path(path);
    let result = if path.extension().is_some_and(|e| e == "parquet") {
        write_parquet(&tmp, t).map_err(|e| werr(path, e))
    } else {
        (|| -> std::io::Result<()> {
            let mut w = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
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
                        Column::F32(v) => v[i].to_string(),
                        Column::F64(v) => v[i].to_string(),
                        Column::I32(v) => v[i].to_string(),
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

/// id, cluster for every item.
/// Marker genes as one long table (DESIGN's columns after `dataset`), `keep` genes per group.
pub fn markers_table(
    dataset: &str,
    genes: &[String],
    tables: &[crate::analysis::markers::MarkerTable],
    keep: usize,
) -> Table {
    use crate::analysis::markers::Marker;
    let rows: Vec<(&str, usize, &Marker)> = tables
        .iter()
        .flat_map(|t| {
            t.markers
                .iter()
                .take(keep)
                .enumerate()
                .map(move |(r, m)| (t.group.as_str(), r + 1, m))
        })
        .collect();
    let stat = |f: fn(&Marker) -> f64| Column::F64(rows.iter().map(|r| f(r.2)).collect());
    let mut t = Table::default();
    t.push(
        "dataset",
        Column::Str(vec![dataset.to_string(); rows.len()]),
    );
    t.push(
        "group",
        Column::Str(rows.iter().map(|r| r.0.to_string()).collect()),
    );
    t.push(
        "rank",
        Column::I32(rows.iter().map(|r| r.1 as i32).collect()),
    );
    t.push(
        "gene",
        Column::Str(rows.iter().map(|r| genes[r.2.gene].clone()).collect()),
    );
    t.push("score", stat(|m| m.score));
    t.push("logfc", stat(|m| m.log2_fc));
    t.push("pvalue", stat(|m| m.pval));
    t.push("padj", stat(|m| m.padj));
    t.push("pct_in", stat(|m| m.pct_in));
    t.push("pct_out", stat(|m| m.pct_out));
    t
}

/// Discovered motifs, one row each: held-out enrichment, best database match and the
/// probability matrix (`probs`, width × A C G T, row-major).
pub fn motifs_table(dataset: &str, r: &crate::analysis::motifs::MotifResults) -> Table {
    let m = &r.motifs;
    let best = |f: &dyn Fn(&crate::analysis::tomtom::Match) -> String| -> Column {
        Column::Str(
            m.iter()
                .map(|x| x.matches.first().map(f).unwrap_or_default())
                .collect(),
        )
    };
    let num = |f: &dyn Fn(&crate::analysis::motifs::FoundMotif) -> f64| -> Column {
        Column::F64(m.iter().map(f).collect())
    };
    let int = |f: &dyn Fn(&crate::analysis::motifs::FoundMotif) -> usize| -> Column {
        Column::I32(m.iter().map(|x| f(x) as i32).collect())
    };
    let mut t = Table::default();
    t.push("dataset", Column::Str(vec![dataset.to_string(); m.len()]));
    t.push("cluster", int(&|x| x.cluster as usize));
    t.push("rank", int(&|x| x.rank));
    t.push(
        "motif",
        Column::Str(m.iter().map(|x| x.motif.id.clone()).collect()),
    );
    t.push(
        "consensus",
        Column::Str(m.iter().map(|x| x.motif.consensus()).collect()),
    );
    t.push(
        "seed",
        Column::Str(m.iter().map(|x| x.seed.clone()).collect()),
    );
    t.push("width", int(&|x| x.motif.width()));
    t.push("sites", int(&|x| x.sites.len()));
    t.push("test_fg_hits", int(&|x| x.test_fg.0));
    t.push("test_fg_n", int(&|x| x.test_fg.1));
    t.push("test_bg_hits", int(&|x| x.test_bg.0));
    t.push("test_bg_n", int(&|x| x.test_bg.1));
    t.push("pvalue", num(&|x| x.pvalue));
    t.push("evalue", num(&|x| x.evalue));
    t.push("train_pvalue", num(&|x| x.train_pvalue));
    t.push("threshold", num(&|x| x.threshold));
    t.push("match_id", best(&|b| r.database[b.target].id.clone()));
    t.push("match_name", best(&|b| r.database[b.target].name.clone()));
    t.push(
        "match_evalue",
        Column::F64(
            m.iter()
                .map(|x| x.matches.first().map_or(f64::NAN, |b| b.evalue))
                .collect(),
        ),
    );
    t.push(
        "match_qvalue",
        Column::F64(
            m.iter()
                .map(|x| x.matches.first().map_or(f64::NAN, |b| b.qvalue))
                .collect(),
        ),
    );
    t.push(
        "strand",
        best(&|b| if b.reverse { "-" } else { "+" }.to_string()),
    );
    let mut offsets = vec![0usize];
    let mut values = Vec::new();
    for x in m {
        for c in &x.motif.probs {
            values.extend(c.iter().map(|&v| v as f32));
        }
        offsets.push(values.len());
    }
    t.push("probs", Column::ListF32 { offsets, values });
    t
}

/// Every site of every motif: the item, 1-based start/end, strand and log-odds score.
pub fn sites_table(ds: &Dataset, r: &crate::analysis::motifs::MotifResults) -> Table {
    let rows: Vec<(
        &crate::analysis::motifs::FoundMotif,
        &crate::analysis::motifs::Site,
    )> = r
        .motifs
        .iter()
        .flat_map(|m| m.sites.iter().map(move |s| (m, s)))
        .collect();
    let mut t = Table::default();
    t.push("dataset", Column::Str(vec![ds.name.clone(); rows.len()]));
    t.push(
        "motif",
        Column::Str(rows.iter().map(|(m, _)| m.motif.id.clone()).collect()),
    );
    t.push(
        "id",
        Column::Str(
            rows.iter()
                .map(|(_, s)| ds.ids[s.item as usize].clone())
                .collect(),
        ),
    );
    t.push(
        "item",
        Column::I32(rows.iter().map(|(_, s)| s.item as i32).collect()),
    );
    t.push(
        "start",
        Column::I32(rows.iter().map(|(_, s)| s.pos as i32 + 1).collect()),
    );
    t.push(
        "end",
        Column::I32(
            rows.iter()
                .map(|(m, s)| (s.pos as usize + m.motif.width()) as i32)
                .collect(),
        ),
    );
    t.push(
        "strand",
        Column::Str(
            rows.iter()
                .map(|(_, s)| if s.reverse { "-" } else { "+" }.to_string())
                .collect(),
        ),
    );
    t.push(
        "score",
        Column::F32(rows.iter().map(|(_, s)| s.score).collect()),
    );
    t
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

/// Items ranked by kNN-distance anomaly score, with both scores and the cluster.
/// Items ranked by kNN-distance score, with every score and, for cells, library size and
/// detected genes beside the model's reconstruction score (so depth effects are visible).
pub fn anomalies_table(
    ds: &Dataset,
    knn: &[f32],
    iforest: &[f32],
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
    if let Some(r) = recon {
        t.push(
            "anomaly_recon",
            Column::F32(order.iter().map(|&i| r[i]).collect()),
        );
    }
    for name in ["total_counts", "n_genes"] {
        if let Some(crate::data::MetaValues::Number(v)) = ds.meta_column(name).map(|c| &c.values) {
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
