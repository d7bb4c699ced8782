//! The item tables of a session: `points.parquet` (one row per item: id, dataset, modality,
//! map position, cluster, anomaly scores, metadata, embedding), `neighbors.parquet` and
//! `clusters.parquet`.

use super::dataset::SessionDataset;
use crate::core::meta::MetaValues;
use crate::io::parquet::{Column, Table};
use crate::modality::cluster_labels;

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

pub fn points_table(items: &[SessionDataset]) -> Table {
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
            d.modality().as_str().to_string(),
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
            emb.extend_from_slice(sd.embedding.matrix.row(i));
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
    // One column for every dataset's model score; the manifest names each dataset's score.
    t.push("anomaly_model", Column::F32(am));
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

pub fn neighbors_table(items: &[SessionDataset]) -> Table {
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
