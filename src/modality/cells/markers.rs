//! Marker genes by the Wilcoxon rank-sum test (scanpy `rank_genes_groups(method="wilcoxon")`):
//! each group against the rest, or any set of cells against another, on log1p-CP10k values
//! of counts, or on the values as they are when the file holds no counts (see [`effect`]).
//! z-scores use the normal approximation with the tie correction (most values are tied zeros,
//! so the uncorrected variance overstates it); two-sided p-values; Benjamini–Hochberg within
//! each comparison; log2 fold change of the mean expression as scanpy computes it
//! (log2((expm1(mean_in) + 1e-9) / (expm1(mean_out) + 1e-9))); share of cells expressing.

use crate::analysis::stats::normal_sf2;
use crate::io::parquet::{Column, Table};
use crate::modality::cells::expression::Expression;
use crate::modality::cells::h5ad::ValueKind;

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Marker {
    pub gene: usize,
    pub score: f64,
    pub log2_fc: f64,
    pub pval: f64,
    pub padj: f64,
    pub pct_in: f64,
    pub pct_out: f64,
}

/// One comparison's genes, best first (by z-score).
#[derive(Debug, Clone, PartialEq)]
pub struct MarkerTable {
    /// A name for the comparison, e.g. "3" (cluster 3 vs rest) or "3 vs 5".
    pub group: String,
    pub n_in: usize,
    pub n_out: usize,
    pub markers: Vec<Marker>,
}

/// Every cluster's markers, in cluster order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Markers {
    pub tables: Vec<MarkerTable>,
}

/// z, mean inside, mean outside, share expressing inside, outside.
type GeneStats = (f64, f64, f64, f64, f64);

/// Compares groups: `group_of[i]` is cell i's group (None: in no group). Each group is tested
/// against the union of the others (`rest` = all other assigned cells) — with two groups this
/// is "A vs B". Returns one table per group index in `0..n_groups`.
pub fn wilcoxon(
    e: &Expression,
    group_of: &[Option<u32>],
    n_groups: usize,
    names: &[String],
) -> Vec<MarkerTable> {
    let n_genes = e.n_genes();
    let mut size = vec![0usize; n_groups];
    for &g in group_of.iter().flatten() {
        size[g as usize] += 1;
    }
    let n: usize = size.iter().sum();
    // Per gene and group: z, mean inside, mean outside, share expressing inside, outside.
    let per_gene: Vec<Vec<GeneStats>> = {
        use rayon::prelude::*;
        (0..n_genes)
            .into_par_iter()
            .map(|g| {
                let (cells, values) = e.gene(g);
                // Nonzero values among assigned cells, sorted, with their group.
                let mut nz: Vec<(f64, u32)> = cells
                    .iter()
                    .zip(values)
                    .filter_map(|(&i, &v)| {
                        let i = i as usize;
                        group_of[i].map(|grp| (e.normalised(i, v), grp))
                    })
                    .filter(|(v, _)| *v != 0.0)
                    .collect();
                nz.sort_by(|p, q| p.0.total_cmp(&q.0));
                let n_zero = n - nz.len();
                // Absent entries are zeros; they rank between the negative stored values
                // (scaled data) and the positive ones, never simply lowest.
                let n_neg = nz.partition_point(|p| p.0 < 0.0);
                let mut rank_sum = vec![0.0f64; n_groups];
                let mut sum = vec![0.0f64; n_groups];
                let mut det = vec![0usize; n_groups];
                let mut tie_term = (n_zero as f64).powi(3) - n_zero as f64;
                let zero_rank = n_neg as f64 + (n_zero as f64 + 1.0) / 2.0;
                let mut zeros_in = size.clone();
                let mut k = 0;
                while k < nz.len() {
                    let mut j = k;
                    while j < nz.len() && nz[j].0 == nz[k].0 {
                        j += 1;
                    }
                    let t = (j - k) as f64;
                    tie_term += t * t * t - t;
                    let before = if k >= n_neg { n_zero } else { 0 };
                    let avg = before as f64 + (k + 1 + j) as f64 / 2.0;
                    for &(v, grp) in &nz[k..j] {
                        rank_sum[grp as usize] += avg;
                        sum[grp as usize] += v;
                        if v > 0.0 {
                            det[grp as usize] += 1;
                        }
                        zeros_in[grp as usize] -= 1;
                    }
                    k = j;
                }
                let total_sum: f64 = sum.iter().sum();
                let total_det: usize = det.iter().sum();
                let nf = n as f64;
                let tie = 1.0 - tie_term / (nf * nf * nf - nf).max(1.0);
                (0..n_groups)
                    .map(|grp| {
                        let n1 = size[grp] as f64;
                        let n2 = nf - n1;
                        let r1 = rank_sum[grp] + zeros_in[grp] as f64 * zero_rank;
                        let var = n1 * n2 * (nf + 1.0) / 12.0 * tie;
                        let z = if var > 0.0 {
                            (r1 - n1 * (nf + 1.0) / 2.0) / var.sqrt()
                        } else {
                            0.0
                        };
                        let mean_in = sum[grp] / n1.max(1.0);
                        let mean_out = (total_sum - sum[grp]) / n2.max(1.0);
                        let pct_in = det[grp] as f64 / n1.max(1.0);
                        let pct_out = (total_det - det[grp]) as f64 / n2.max(1.0);
                        (z, mean_in, mean_out, pct_in, pct_out)
                    })
                    .collect()
            })
            .collect()
    };
    (0..n_groups)
        .map(|grp| {
            let pvals: Vec<f64> = (0..n_genes)
                .map(|g| normal_sf2(per_gene[g][grp].0))
                .collect();
            let padj = crate::analysis::stats::bh(&pvals);
            let mut markers: Vec<Marker> = (0..n_genes)
                .map(|g| {
                    let (z, mi, mo, pi, po) = per_gene[g][grp];
                    let (log2_fc, pi, po) = effect(e.kind, mi, mo, pi, po);
                    Marker {
                        gene: g,
                        score: z,
                        log2_fc,
                        pval: pvals[g],
                        padj: padj[g],
                        pct_in: pi,
                        pct_out: po,
                    }
                })
                .collect();
            markers.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.gene.cmp(&b.gene)));
            MarkerTable {
                group: names.get(grp).cloned().unwrap_or_else(|| grp.to_string()),
                n_in: size[grp],
                n_out: n - size[grp],
                markers,
            }
        })
        .collect()
}

/// Fold change and shares expressing, as each kind of value allows: counts are compared on
/// log1p-CP10k means as scanpy does (`expm1` back to the linear scale), log-normalised values
/// the same way, linear values (TPM/FPKM-like) by the ratio of their means, and scaled values
/// by the difference of their means in standard deviations, with no share expressing (a scaled
/// zero is the gene's mean, not absence): NaN.
fn effect(kind: ValueKind, mi: f64, mo: f64, pi: f64, po: f64) -> (f64, f64, f64) {
    match kind {
        ValueKind::Counts | ValueKind::Normalised => {
            (((mi.exp_m1() + 1e-9) / (mo.exp_m1() + 1e-9)).log2(), pi, po)
        }
        ValueKind::Linear => (((mi + 1e-9) / (mo + 1e-9)).log2(), pi, po),
        ValueKind::Scaled => (mi - mo, f64::NAN, f64::NAN),
    }
}

/// What a marker table's effect column holds for values of `kind`: its column name in
/// exports and sessions, and the short label panes show.
pub fn effect_name(kind: ValueKind) -> (&'static str, &'static str) {
    match kind {
        ValueKind::Scaled => ("mean_diff", "Δmean"),
        _ => ("logfc", "log2FC"),
    }
}

/// Markers of every cluster against all other cells.
pub fn cluster_markers(e: &Expression, clusters: &[u32]) -> Markers {
    let k = clusters.iter().max().map_or(0, |m| *m as usize + 1);
    let group_of: Vec<Option<u32>> = clusters.iter().map(|&c| Some(c)).collect();
    let names: Vec<String> = (0..k).map(|c| c.to_string()).collect();
    Markers {
        tables: wilcoxon(e, &group_of, k, &names),
    }
}

/// Set `a` against set `b` (cells in both count for `a`).
pub fn compare(e: &Expression, a: &[usize], b: &[usize], label: &str) -> MarkerTable {
    let mut group_of = vec![None; e.n_cells()];
    for &i in b {
        group_of[i] = Some(1);
    }
    for &i in a {
        group_of[i] = Some(0);
    }
    let names = vec![label.to_string(), String::new()];
    wilcoxon(e, &group_of, 2, &names).swap_remove(0)
}

/// Marker genes as one long table (DESIGN's columns after `dataset`), `keep` genes per group.
pub fn markers_table(dataset: &str, e: &Expression, tables: &[MarkerTable], keep: usize) -> Table {
    let genes = &e.genes;
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
    t.push(effect_name(e.kind).0, stat(|m| m.log2_fc));
    t.push("pvalue", stat(|m| m.pval));
    t.push("padj", stat(|m| m.padj));
    t.push("pct_in", stat(|m| m.pct_in));
    t.push("pct_out", stat(|m| m.pct_out));
    t.push(
        "values",
        Column::Str(vec![e.value_label().to_string(); rows.len()]),
    );
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modality::cells::mtx::SparseCounts;

    fn expr(rows: &[&[f32]]) -> Expression {
        let g = rows[0].len();
        let mut indptr = vec![0];
        let (mut genes, mut values) = (Vec::new(), Vec::new());
        for r in rows {
            for (j, &v) in r.iter().enumerate() {
                if v != 0.0 {
                    genes.push(j as u32);
                    values.push(v);
                }
            }
            indptr.push(genes.len());
        }
        let m = SparseCounts {
            n_cells: rows.len(),
            n_genes: g,
            indptr,
            genes,
            values,
        };
        Expression::new(
            m,
            (0..g).map(|j| format!("g{j}")).collect(),
            ValueKind::Normalised,
            "test".into(),
        )
    }

    #[test]
    fn matches_scipy_ranksums_with_tie_correction() {
        // scipy 1.17 stats.mannwhitneyu(a, b, use_continuity=False, method="asymptotic") on
        // a = [0,0,1,2,3,3], b = [0,0,0,0,1,1]: U = 27, two-sided p = 0.12020605047087089
        // (tie-corrected; z = 1.55391).
        let a = [0.0, 0.0, 1.0, 2.0, 3.0, 3.0];
        let b = [0.0, 0.0, 0.0, 0.0, 1.0, 1.0];
        let rows: Vec<[f32; 1]> = a.iter().chain(&b).map(|&v| [v]).collect();
        let refs: Vec<&[f32]> = rows.iter().map(|r| &r[..]).collect();
        let e = expr(&refs);
        let t = compare(&e, &[0, 1, 2, 3, 4, 5], &[6, 7, 8, 9, 10, 11], "a vs b");
        let m = &t.markers[0];
        println!("z {} p {}", m.score, m.pval);
        assert!((m.score - 1.553_91).abs() < 1e-4, "z = {}", m.score);
        assert!(
            (m.pval - 0.120_206_050_470_870_89).abs() < 1e-12,
            "p = {}",
            m.pval
        );
        assert!((m.pct_in - 4.0 / 6.0).abs() < 1e-12 && (m.pct_out - 2.0 / 6.0).abs() < 1e-12);
    }

    #[test]
    fn scaled_values_rank_zeros_between_negatives_and_positives() {
        // Rank sum by definition (average ranks of the pooled values, tie-corrected variance):
        // a = [-1, 0, 2, 0.5, 0, 1.5], b = [-2, -1.5, 0, 0, -0.5, 0.25] gives R_a = 49,
        // z = 1.630032156406086, two-sided p = 0.1030947009127415. Ranking the absent zeros
        // lowest, as for counts, gives a different z.
        let a = [-1.0, 0.0, 2.0, 0.5, 0.0, 1.5];
        let b = [-2.0, -1.5, 0.0, 0.0, -0.5, 0.25];
        let rows: Vec<[f32; 1]> = a.iter().chain(&b).map(|&v| [v]).collect();
        let refs: Vec<&[f32]> = rows.iter().map(|r| &r[..]).collect();
        let mut e = expr(&refs);
        e.kind = ValueKind::Scaled;
        let t = compare(&e, &[0, 1, 2, 3, 4, 5], &[6, 7, 8, 9, 10, 11], "a vs b");
        let m = &t.markers[0];
        println!("scaled: z {} p {} mean diff {}", m.score, m.pval, m.log2_fc);
        assert!(
            (m.score - 1.630_032_156_406_086).abs() < 1e-9,
            "z = {}",
            m.score
        );
        assert!((m.pval - 0.103_094_700_912_741_5).abs() < 1e-9);
        // A scaled zero is the gene's mean, not absence: no share expressing, mean difference.
        assert!(m.pct_in.is_nan() && m.pct_out.is_nan());
        assert!((m.log2_fc - (0.5 - (-3.75 / 6.0))).abs() < 1e-6);
    }

    #[test]
    fn linear_values_get_finite_fold_changes() {
        // FPKM-like values where expm1 of the means overflows.
        let rows: Vec<[f32; 2]> = (0..20)
            .map(|i| {
                if i < 10 {
                    [5000.5 + i as f32, 1.5]
                } else {
                    [40.5, 2.5 + i as f32]
                }
            })
            .collect();
        let refs: Vec<&[f32]> = rows.iter().map(|r| &r[..]).collect();
        let mut e = expr(&refs);
        e.kind = ValueKind::of(e.values());
        assert_eq!(e.kind, ValueKind::Linear);
        let clusters: Vec<u32> = (0..20).map(|i| u32::from(i >= 10)).collect();
        let m = cluster_markers(&e, &clusters);
        let top = &m.tables[0].markers[0];
        assert_eq!(top.gene, 0);
        let want = (5005.0f64 / 40.5).log2();
        println!("linear: log2 fc {} (want {want})", top.log2_fc);
        assert!((top.log2_fc - want).abs() < 1e-3);
        assert!(
            m.tables
                .iter()
                .all(|t| t.markers.iter().all(|k| k.log2_fc.is_finite()))
        );
    }

    #[test]
    fn benjamini_hochberg_matches_reference() {
        // scipy.stats.false_discovery_control([0.01, 0.04, 0.03, 0.20]) (Benjamini–Hochberg)
        let q = crate::analysis::stats::bh(&[0.01, 0.04, 0.03, 0.20]);
        for (a, b) in q.iter().zip([0.04, 0.16 / 3.0, 0.16 / 3.0, 0.20]) {
            assert!((a - b).abs() < 1e-12, "{q:?}");
        }
    }

    #[test]
    fn cluster_markers_rank_the_planted_gene_first() {
        let mut rows = Vec::new();
        for i in 0..40 {
            let hot = i < 20;
            rows.push([
                if hot { 3.0 + (i % 3) as f32 } else { 0.0 },
                1.0 + (i % 2) as f32,
                if hot { 0.0 } else { 2.0 },
            ]);
        }
        let refs: Vec<&[f32]> = rows.iter().map(|r| &r[..]).collect();
        let e = expr(&refs);
        let clusters: Vec<u32> = (0..40).map(|i| if i < 20 { 0 } else { 1 }).collect();
        let m = cluster_markers(&e, &clusters);
        assert_eq!(m.tables[0].markers[0].gene, 0);
        assert_eq!(m.tables[1].markers[0].gene, 2);
        assert!(m.tables[0].markers[0].padj < 1e-6);
    }
}
