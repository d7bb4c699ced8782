//! Describing groups of items by their metadata: a cluster × column count table
//! (`:crosstab`, polars group-by over the points frame) and the metadata half of `:compare`
//! (numbers: medians and a rank-sum test; categories: composition and a chi-square test).

use crate::analysis::stats::{chi_square, rank_sum};
use crate::core::MetaValues;
use crate::modality::Dataset;
use crate::pipeline::Partial;
use crate::pipeline::select::points_frame;
use polars::prelude::*;

/// Counts of items per cluster (rows) and value of a column (columns).
#[derive(Debug, Clone, PartialEq)]
pub struct Crosstab {
    pub column: String,
    /// Column values, commonest first.
    pub values: Vec<String>,
    /// Cluster ids, ascending.
    pub clusters: Vec<u32>,
    /// `counts[row][col]`.
    pub counts: Vec<Vec<u64>>,
    /// Chi-square test of independence of cluster and value: statistic, dof, p.
    pub chi2: (f64, f64, f64),
}

impl Crosstab {
    pub fn total(&self) -> u64 {
        self.counts.iter().flatten().sum()
    }
}

/// Renumbers clusters `new` so that each keeps the id of the previous cluster it shares the
/// most items with (greedy by overlap, largest first), as far as contiguous ids 0..k allow:
/// clusters are put in the order of the previous ids they matched, those matching none last
/// (largest first). With as many clusters as before and each matched, every matched cluster
/// keeps its old number exactly.
pub fn renumber_by_overlap(previous: &[u32], new: &[u32]) -> Vec<u32> {
    let k_new = new.iter().max().map_or(0, |m| *m as usize + 1);
    let id = overlap_ids(previous, new, k_new);
    new.iter().map(|&b| id[b as usize]).collect()
}

/// The id `renumber_by_overlap` gives each of `k_new` new clusters, from the items both
/// labelings cover (`previous[i]` and `new[i]` label the same item): a version of a live run
/// shares only some items with the one before.
pub fn overlap_ids(previous: &[u32], new: &[u32], k_new: usize) -> Vec<u32> {
    let k_old = previous.iter().max().map_or(0, |m| *m as usize + 1);
    let mut overlap = vec![0usize; k_old * k_new];
    let mut size = vec![0usize; k_new];
    for (&a, &b) in previous.iter().zip(new) {
        overlap[b as usize * k_old + a as usize] += 1;
        size[b as usize] += 1;
    }
    let mut pairs: Vec<(usize, usize, usize)> = (0..k_new)
        .flat_map(|b| (0..k_old).map(move |a| (b, a)))
        .map(|(b, a)| (overlap[b * k_old + a], b, a))
        .filter(|p| p.0 > 0)
        .collect();
    // Largest overlap first; ties by the smaller ids, so the result is deterministic.
    pairs.sort_by(|x, y| y.0.cmp(&x.0).then(x.1.cmp(&y.1)).then(x.2.cmp(&y.2)));
    let mut matched: Vec<Option<usize>> = vec![None; k_new];
    let mut taken = vec![false; k_old];
    for (_, b, a) in pairs {
        if matched[b].is_none() && !taken[a] {
            matched[b] = Some(a);
            taken[a] = true;
        }
    }
    let mut order: Vec<usize> = (0..k_new).collect();
    order.sort_by_key(|&b| {
        (
            matched[b].unwrap_or(usize::MAX),
            std::cmp::Reverse(size[b]),
            b,
        )
    });
    let mut id = vec![0u32; k_new];
    // Where there are at least as many new clusters as old, a matched cluster's place in the
    // order is its old id; the unmatched ones fill the ids no cluster kept.
    if k_new >= k_old {
        let mut free = (0..k_new as u32).filter(|i| !matched.contains(&Some(*i as usize)));
        for &b in &order {
            id[b] = match matched[b] {
                Some(a) => a as u32,
                None => free.next().unwrap_or(0),
            };
        }
    } else {
        for (rank, &b) in order.iter().enumerate() {
            id[b] = rank as u32;
        }
    }
    id
}

/// The previous clusters (columns) against the new ones (rows), as `:crosstab` shows a
/// column: how a recluster split and merged.
pub fn versus_previous(previous: &[u32], new: &[u32]) -> Crosstab {
    let k_old = previous.iter().max().map_or(0, |m| *m as usize + 1);
    let k_new = new.iter().max().map_or(0, |m| *m as usize + 1);
    let mut counts = vec![vec![0u64; k_old]; k_new];
    for (&a, &b) in previous.iter().zip(new) {
        counts[b as usize][a as usize] += 1;
    }
    Crosstab {
        column: "previous cluster".into(),
        values: (0..k_old).map(|a| a.to_string()).collect(),
        clusters: (0..k_new as u32).collect(),
        chi2: chi_square(
            &counts
                .iter()
                .map(|r| r.iter().map(|&c| c as f64).collect())
                .collect::<Vec<Vec<f64>>>(),
        ),
        counts,
    }
}

/// Most distinct values a numeric column may have to be cross-tabulated as categories.
const MAX_NUMERIC_LEVELS: usize = 30;

/// The cluster × `column` table. Numeric columns with few distinct values are taken as
/// categories; missing values count as `(missing)`.
pub fn crosstab(ds: &Dataset, r: &Partial, column: &str) -> Result<Crosstab, String> {
    let err = |e: PolarsError| e.to_string().lines().next().unwrap_or("").to_string();
    if r.clusters.is_none() {
        return Err("no clusters yet".into());
    }
    let df = points_frame(ds, r).map_err(err)?;
    let Ok(c) = df.column(column) else {
        let names: Vec<String> = df
            .get_column_names()
            .iter()
            .map(|s| s.to_string())
            .filter(|s| s != crate::pipeline::select::ROW)
            .collect();
        return Err(format!(
            "no column '{column}'; columns are {}",
            names.join(", ")
        ));
    };
    if c.dtype().is_float() {
        let levels = c.n_unique().map_err(err)?;
        if levels > MAX_NUMERIC_LEVELS {
            return Err(format!(
                "'{column}' is numeric with {levels} distinct values; crosstab takes a \
                 categorical column (or one with at most {MAX_NUMERIC_LEVELS} values)"
            ));
        }
    }
    let value = col(column)
        .cast(DataType::String)
        .fill_null(lit("(missing)"))
        .alias("value");
    let g = df
        .lazy()
        .group_by([col("cluster"), value])
        .agg([len().alias("n")])
        .collect()
        .map_err(err)?;
    let cl: Vec<u32> = g
        .column("cluster")
        .and_then(|c| c.u32().map(|c| c.into_no_null_iter().collect()))
        .map_err(err)?;
    let val: Vec<String> = g
        .column("value")
        .and_then(|c| {
            c.str().map(|c| {
                (0..c.len())
                    .map(|i| c.get(i).unwrap_or("").to_string())
                    .collect()
            })
        })
        .map_err(err)?;
    let n: Vec<u64> = g
        .column("n")
        .and_then(|c| c.cast(&DataType::UInt64))
        .and_then(|c| c.u64().map(|c| c.into_no_null_iter().collect()))
        .map_err(err)?;
    let mut clusters: Vec<u32> = cl.clone();
    clusters.sort_unstable();
    clusters.dedup();
    let mut totals: std::collections::HashMap<&str, u64> = Default::default();
    for (v, k) in val.iter().zip(&n) {
        *totals.entry(v.as_str()).or_default() += k;
    }
    let mut values: Vec<(&str, u64)> = totals.into_iter().collect();
    values.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let values: Vec<String> = values.into_iter().map(|(v, _)| v.to_string()).collect();
    let mut counts = vec![vec![0u64; values.len()]; clusters.len()];
    for ((c, v), k) in cl.iter().zip(&val).zip(&n) {
        let (Ok(i), Some(j)) = (
            clusters.binary_search(c),
            values.iter().position(|x| x == v),
        ) else {
            continue;
        };
        counts[i][j] += k;
    }
    let table: Vec<Vec<f64>> = counts
        .iter()
        .map(|r| r.iter().map(|&x| x as f64).collect())
        .collect();
    Ok(Crosstab {
        column: column.to_string(),
        values,
        clusters,
        counts,
        chi2: chi_square(&table),
    })
}

/// Two groups of items compared: the modality's characterisation of A against B and the
/// metadata.
#[derive(Debug, Clone)]
pub struct Comparison {
    /// "A vs B", as typed.
    pub label: String,
    pub n_a: usize,
    pub n_b: usize,
    /// What the modality finds in A against B: marker genes (cells), A's motifs with B as
    /// the background (DNA); None for a modality without findings of its own.
    pub findings: Option<crate::modality::Findings>,
    /// Every metadata column, most significant first.
    pub meta: Vec<MetaDiff>,
}

/// How one metadata column differs between two groups.
#[derive(Debug, Clone, PartialEq)]
pub enum MetaDiff {
    Number {
        column: String,
        median_a: f64,
        median_b: f64,
        /// Rank-sum z (positive: A higher) and two-sided p.
        z: f64,
        p: f64,
    },
    Category {
        column: String,
        /// The value whose share differs most, with its share in A and in B.
        top: String,
        share_a: f64,
        share_b: f64,
        chi2: f64,
        p: f64,
    },
}

impl MetaDiff {
    pub fn column(&self) -> &str {
        match self {
            MetaDiff::Number { column, .. } | MetaDiff::Category { column, .. } => column,
        }
    }

    pub fn p(&self) -> f64 {
        match self {
            MetaDiff::Number { p, .. } | MetaDiff::Category { p, .. } => *p,
        }
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.retain(|x| !x.is_nan());
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

/// Every metadata column compared between items `a` and `b`, most significant first.
/// Text columns with as many values as items (ids, barcodes) are left out.
pub fn compare_meta(ds: &Dataset, a: &[usize], b: &[usize]) -> Vec<MetaDiff> {
    let mut out = Vec::new();
    for m in &ds.meta {
        match &m.values {
            MetaValues::Number(v) => {
                let va: Vec<f64> = a.iter().map(|&i| v[i]).collect();
                let vb: Vec<f64> = b.iter().map(|&i| v[i]).collect();
                let Some((z, p)) = rank_sum(&va, &vb) else {
                    continue;
                };
                out.push(MetaDiff::Number {
                    column: m.name.clone(),
                    median_a: median(va),
                    median_b: median(vb),
                    z,
                    p,
                });
            }
            MetaValues::Text(v) => {
                let mut levels: Vec<&str> = a.iter().chain(b).map(|&i| v[i].as_str()).collect();
                levels.sort_unstable();
                levels.dedup();
                if levels.len() < 2 || levels.len() * 2 > a.len() + b.len() {
                    continue;
                }
                let count = |set: &[usize]| {
                    let mut c = vec![0f64; levels.len()];
                    for &i in set {
                        if let Ok(k) = levels.binary_search(&v[i].as_str()) {
                            c[k] += 1.0;
                        }
                    }
                    c
                };
                let (ca, cb) = (count(a), count(b));
                let (chi2, _, p) = chi_square(&[ca.clone(), cb.clone()]);
                let (na, nb) = (a.len().max(1) as f64, b.len().max(1) as f64);
                let top = (0..levels.len())
                    .max_by(|&x, &y| {
                        let d = |k: usize| (ca[k] / na - cb[k] / nb).abs();
                        d(x).total_cmp(&d(y)).then(y.cmp(&x))
                    })
                    .unwrap_or(0);
                out.push(MetaDiff::Category {
                    column: m.name.clone(),
                    top: levels[top].to_string(),
                    share_a: ca[top] / na,
                    share_b: cb[top] / nb,
                    chi2,
                    p,
                });
            }
        }
    }
    out.sort_by(|x, y| x.p().total_cmp(&y.p()).then(x.column().cmp(y.column())));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_relabelled_clustering_gets_its_old_numbers_back() {
        let old = [0, 0, 0, 1, 1, 2, 2, 2, 2];
        // The same partition, numbered otherwise (Leiden numbers by size).
        let new = [1, 1, 1, 2, 2, 0, 0, 0, 0];
        assert_eq!(renumber_by_overlap(&old, &new), old);
    }

    #[test]
    fn a_split_keeps_the_larger_part_on_the_old_number_and_ids_stay_contiguous() {
        let old = [0, 0, 0, 0, 1, 1, 1];
        // Old cluster 0 split into new 2 (three items) and new 0 (one); old 1 is new 1.
        let new = [2, 2, 2, 0, 1, 1, 1];
        let r = renumber_by_overlap(&old, &new);
        assert_eq!(r, [0, 0, 0, 2, 1, 1, 1]);
        // A merge: fewer clusters than before, ids 0..k, order of the old ids kept.
        let merged = renumber_by_overlap(&[0, 1, 2, 2], &[0, 0, 0, 0]);
        assert_eq!(merged, [0, 0, 0, 0]);
        let x = versus_previous(&old, &r);
        assert_eq!(x.total(), 7);
        assert_eq!(x.counts, vec![vec![3, 0], vec![0, 3], vec![1, 0]]);
    }
}
