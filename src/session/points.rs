//! The item tables of a session: `points.parquet` (one row per item: id, dataset, modality,
//! map position, cluster, anomaly scores, metadata, embedding), `neighbors.parquet` and
//! `clusters.parquet`.

use super::dataset::SessionDataset;
use crate::core::meta::MetaValues;
use crate::io::parquet::{Column, Table, TableError, write_parquet_batched};
use crate::modality::cluster_labels;
use std::ops::Range;
use std::path::Path;

/// Columns of points.parquet that are not metadata.
pub const FIXED: [&str; 11] = [
    "id",
    "dataset",
    "modality",
    "x",
    "y",
    "cluster",
    "anomaly_knn",
    "anomaly_iforest",
    "anomaly_model",
    // Sessions before 0.3 named the model score so.
    "anomaly_recon",
    "embedding",
];

/// Items per row group of points.parquet and neighbors.parquet: 65,536 items with 50-D
/// embeddings are ~13 MB, so a million-item session is written without a second copy of its
/// embedding.
const ROWS_PER_GROUP: usize = 65_536;

/// Items of all the datasets together: the rows of the item tables.
fn n_rows(items: &[SessionDataset]) -> usize {
    items.iter().map(|sd| sd.dataset.len()).sum()
}

/// Writes points.parquet batch by batch (the caller places it atomically).
pub fn write_points(path: &Path, items: &[SessionDataset]) -> Result<(), TableError> {
    let names = meta_names(items);
    write_parquet_batched(path, n_rows(items), ROWS_PER_GROUP, |rows| {
        points_rows(items, &names, rows)
    })
}

/// Metadata columns of every dataset, in order of first appearance, and whether each is text.
fn meta_names(items: &[SessionDataset]) -> Vec<(String, bool)> {
    let mut names: Vec<(String, bool)> = Vec::new();
    for sd in items {
        for c in &sd.dataset.meta {
            if !names.iter().any(|(n, _)| n == &c.name) && !FIXED.contains(&c.name.as_str()) {
                names.push((c.name.clone(), c.is_text()));
            }
        }
    }
    names
}

/// Each dataset's share of `rows` (numbered across the datasets in order), in its own row
/// numbers.
fn shares(items: &[SessionDataset], rows: Range<usize>) -> Vec<(&SessionDataset, Range<usize>)> {
    split_rows(items.iter().map(|sd| sd.dataset.len()), rows)
        .into_iter()
        .map(|(i, r)| (&items[i], r))
        .collect()
}

/// `rows` of a table that stacks parts of lengths `lens`: (part, rows within it), in order.
fn split_rows(lens: impl Iterator<Item = usize>, rows: Range<usize>) -> Vec<(usize, Range<usize>)> {
    let mut parts = Vec::new();
    let mut base = 0;
    for (i, len) in lens.enumerate() {
        let (a, b) = (rows.start.max(base), rows.end.min(base + len));
        if a < b {
            parts.push((i, a - base..b - base));
        }
        base += len;
    }
    parts
}

/// Rows `rows` of the points table, numbered across the datasets in order.
fn points_rows(
    items: &[SessionDataset],
    meta_names: &[(String, bool)],
    rows: Range<usize>,
) -> Table {
    let parts = shares(items, rows.clone());
    let n = rows.len();
    let mut id = Vec::with_capacity(n);
    let mut dsn = Vec::with_capacity(n);
    let mut modality = Vec::with_capacity(n);
    let (mut x, mut y, mut cl) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut ak, mut ai, mut am) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let mut emb_off = Vec::with_capacity(n + 1);
    emb_off.push(0usize);
    let mut emb = Vec::new();
    for (sd, r) in &parts {
        let (d, a) = (&sd.dataset, &sd.analysis);
        id.extend(d.ids[r.clone()].iter().cloned());
        dsn.extend(std::iter::repeat_n(d.name.clone(), r.len()));
        modality.extend(std::iter::repeat_n(
            d.modality().as_str().to_string(),
            r.len(),
        ));
        x.extend(a.layout[r.clone()].iter().map(|p| p[0]));
        y.extend(a.layout[r.clone()].iter().map(|p| p[1]));
        cl.extend(a.clusters[r.clone()].iter().map(|&c| c as i32));
        ak.extend_from_slice(&a.anomaly_knn[r.clone()]);
        ai.extend_from_slice(&a.anomaly_iforest[r.clone()]);
        match &a.anomaly_model {
            Some(v) => am.extend_from_slice(&v[r.clone()]),
            None => am.extend(std::iter::repeat_n(f32::NAN, r.len())),
        }
        let m = &sd.embedding.matrix;
        emb.reserve(r.len() * m.cols);
        for i in r.clone() {
            emb.extend_from_slice(m.row(i));
            emb_off.push(emb.len());
        }
    }
    let mut t = Table::default();
    t.push("id", Column::Str(id));
    t.push("dataset", Column::Str(dsn));
    t.push("modality", Column::Str(modality));
    t.push("x", Column::F32(x));
    t.push("y", Column::F32(y));
    t.push("cluster", Column::I32(cl));
    t.push("anomaly_knn", Column::F32(ak));
    t.push("anomaly_iforest", Column::F32(ai));
    // One column for every dataset's model score; the manifest names each dataset's score.
    t.push("anomaly_model", Column::F32(am));
    for (name, text) in meta_names {
        if *text {
            let mut v = Vec::with_capacity(n);
            for (sd, r) in &parts {
                match sd.dataset.meta_column(name) {
                    Some(c) => v.extend(r.clone().map(|i| c.display(i))),
                    None => v.extend(std::iter::repeat_n(String::new(), r.len())),
                }
            }
            t.push(name, Column::Str(v));
        } else {
            let mut v = Vec::with_capacity(n);
            for (sd, r) in &parts {
                match sd.dataset.meta_column(name).map(|c| &c.values) {
                    Some(MetaValues::Number(x)) => v.extend_from_slice(&x[r.clone()]),
                    Some(MetaValues::Text(s)) => {
                        v.extend(s[r.clone()].iter().map(|x| x.parse().unwrap_or(f64::NAN)))
                    }
                    None => v.extend(std::iter::repeat_n(f64::NAN, r.len())),
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

/// Writes neighbors.parquet batch by batch (the caller places it atomically).
pub fn write_neighbors(path: &Path, items: &[SessionDataset]) -> Result<(), TableError> {
    write_parquet_batched(path, n_rows(items), ROWS_PER_GROUP, |rows| {
        neighbors_rows(items, rows)
    })
}

fn neighbors_rows(items: &[SessionDataset], rows: Range<usize>) -> Table {
    let mut nb = Vec::new();
    let mut dist = Vec::new();
    let mut off = Vec::with_capacity(rows.len() + 1);
    off.push(0usize);
    for (sd, r) in shares(items, rows) {
        let g = &sd.analysis.knn;
        let span = r.start * g.k..r.end * g.k;
        nb.extend(g.indices[span.clone()].iter().map(|&i| i as i32));
        dist.extend_from_slice(&g.distances[span]);
        for _ in r {
            off.push(off.last().copied().unwrap_or(0) + g.k);
        }
    }
    let mut t = Table::default();
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

pub fn clusters_table(items: &[SessionDataset]) -> Table {
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

#[cfg(test)]
mod tests {
    use super::split_rows;

    #[test]
    fn a_batch_of_rows_splits_across_the_datasets_it_spans() {
        let lens = [5, 0, 4, 3];
        assert_eq!(split_rows(lens.into_iter(), 0..3), vec![(0, 0..3)]);
        assert_eq!(
            split_rows(lens.into_iter(), 3..9),
            vec![(0, 3..5), (2, 0..4)]
        );
        assert_eq!(split_rows(lens.into_iter(), 9..12), vec![(3, 0..3)]);
        assert_eq!(split_rows(lens.into_iter(), 12..12), vec![]);
        // Every row once, in order, whatever the batch.
        for batch in 1..13 {
            let mut seen = Vec::new();
            let mut start = 0;
            while start < 12 {
                let end = (start + batch).min(12);
                for (i, r) in split_rows(lens.into_iter(), start..end) {
                    seen.extend(r.map(|j| (i, j)));
                }
                start = end;
            }
            let all: Vec<_> = lens
                .iter()
                .enumerate()
                .flat_map(|(i, &n)| (0..n).map(move |j| (i, j)))
                .collect();
            assert_eq!(seen, all, "batch {batch}");
        }
    }
}
