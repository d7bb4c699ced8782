//! Cells on real data: AnnData fixtures written by anndata itself, the count model's quality on
//! pbmc68k_reduced against biolens' PCA baseline, reconstruction anomalies, markers and sessions.

#![allow(clippy::unwrap_used)]

mod common;

use biolens::analysis::metrics::{ari, neighbour_label_agreement, nmi};
use biolens::core::MetaValues;
use biolens::modality::cells::h5ad::{ValueKind, read_h5ad};
use biolens::modality::cells::markers as cells_markers;
use biolens::modality::cells::model::{self as cells, CellsParams};
use biolens::modality::{Dataset, Embedding, Options};
use biolens::pipeline::{self, CancelToken, PipelineParams};
use common::{asset, fixture};

fn labels(ds: &Dataset, col: &str) -> Vec<String> {
    match &ds.meta_column(col).expect("label column").values {
        MetaValues::Text(v) => v.clone(),
        MetaValues::Number(_) => panic!("{col} is numeric"),
    }
}

fn total(m: &biolens::modality::cells::expression::ByGene) -> f64 {
    m.values.iter().map(|&v| v as f64).sum()
}

// Reference sums of obsm matrices from h5py 3.16 on the same files.
const LOGNORM_PCA_SUM: f64 = 26_859.722_408;

#[test]
fn every_anndata_fixture_opens_with_the_right_values() {
    let dir = fixture("cells/h5ad_variants");
    for (f, random2d_sum) in [
        ("counts_csr.h5ad", -25.716_054_88),
        ("counts_csc_gzip.h5ad", -60.148_902_52),
        ("counts_dense_gzip.h5ad", 41.666_090_97),
        ("counts_csr_lzf.h5ad", 30.853_051_28),
        ("lognorm_with_counts_layer.h5ad", 15.420_147_42),
    ] {
        let a = read_h5ad(&dir.join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
        println!(
            "{f}: {} cells × {} genes from {} ({:?}), sum {}, nnz {}, obsm {:?}",
            a.obs_names.len(),
            a.var_names.len(),
            a.matrix_source,
            a.kind,
            total(&a.matrix),
            a.matrix.values.len(),
            a.obsm.iter().map(|(k, m)| (k, m.cols)).collect::<Vec<_>>()
        );
        assert_eq!((a.matrix.n_cells, a.matrix.n_genes()), (700, 765), "{f}");
        assert_eq!(a.kind, ValueKind::Counts, "{f}");
        assert!((total(&a.matrix) - 486_651.0).abs() < 0.5, "{f}");
        assert_eq!(a.matrix.values.len(), 174_400, "{f}");
        let bl = a.obs.iter().find(|c| c.name == "bulk_labels").expect(f);
        let MetaValues::Text(v) = &bl.values else {
            panic!("{f}: bulk_labels not text")
        };
        let distinct: std::collections::BTreeSet<&String> = v.iter().collect();
        assert_eq!(distinct.len(), 10, "{f}");
        let r2 = a
            .obsm
            .iter()
            .find(|(k, _)| k == "X_random2d")
            .expect("obsm");
        let s: f64 = r2.1.data.iter().map(|&x| x as f64).sum();
        assert_eq!(r2.1.cols, 2, "{f}");
        assert!((s - random2d_sum).abs() < 1e-3, "{f}: X_random2d sum {s}");
        if f.starts_with("lognorm") {
            assert_eq!(a.matrix_source, "layers/counts");
            let pca = a.obsm.iter().find(|(k, _)| k == "X_pca").expect("X_pca");
            let s: f64 = pca.1.data.iter().map(|&x| x as f64).sum();
            assert!((s - LOGNORM_PCA_SUM).abs() < 1e-2, "X_pca sum {s}");
        }
    }
    // The original (legacy layout): compound obs, raw.X h5sparse, only log-normalised values.
    let legacy = read_h5ad(&fixture("cells/pbmc68k_reduced/10x_pbmc68k_reduced.h5ad")).unwrap();
    println!(
        "legacy: {} from {} ({:?}), obs columns {:?}",
        legacy.obs_names.len(),
        legacy.matrix_source,
        legacy.kind,
        legacy.obs.iter().map(|c| &c.name).collect::<Vec<_>>()
    );
    assert_eq!(legacy.obs_names.len(), 700);
    assert_ne!(legacy.kind, ValueKind::Counts);
    let bl = legacy.obs.iter().find(|c| c.name == "bulk_labels").unwrap();
    assert!(matches!(&bl.values, MetaValues::Text(v) if v.iter().any(|s| s == "CD14+ Monocyte")));
    assert!(
        legacy
            .obsm
            .iter()
            .any(|(k, m)| k == "X_pca" && m.cols == 50)
    );
}

#[test]
fn obsm_embeddings_and_the_baseline_work_on_non_count_data() {
    let legacy = fixture("cells/pbmc68k_reduced/10x_pbmc68k_reduced.h5ad");
    let (ds, emb) =
        pipeline::load(&legacy, &Options::default()).expect("PCA baseline on scaled data");
    assert_eq!(emb.matrix.rows, 700);
    let e = ds.expression().expect("expression");
    assert!(!cells::has_counts(e));
    let err = cells::counts_of(e).unwrap_err().to_string();
    assert!(
        err.contains("raw integer counts") && err.contains("--model pca"),
        "{err}"
    );
    let mut opts = Options::default();
    opts.cells.obsm = Some("X_pca".into());
    let (_, emb) = pipeline::load(&legacy, &opts).unwrap();
    assert_eq!(emb.matrix.cols, 50);
    opts.cells.obsm = Some("X_scVI".into());
    let e = pipeline::load(&legacy, &opts).unwrap_err().to_string();
    assert!(
        e.contains("X_scVI") && e.contains("10x_pbmc68k_reduced.h5ad"),
        "{e}"
    );
}

fn markers_of(ds: &Dataset, emb: &Embedding) -> std::sync::Arc<cells_markers::Markers> {
    let p = PipelineParams::default();
    let r = pipeline::analyse(ds, emb, &p, &|_| {}, &CancelToken::default()).unwrap();
    r.findings
        .as_ref()
        .and_then(|f| f.markers())
        .cloned()
        .expect("markers")
}

#[test]
fn markers_on_non_count_files_use_raw_and_their_own_scale() {
    // scanpy's legacy pbmc68k_reduced: X is scaled (negative values), raw.X log-normalised.
    // Markers must use raw.X, as scanpy's rank_genes_groups does by default.
    let legacy = fixture("cells/pbmc68k_reduced/10x_pbmc68k_reduced.h5ad");
    let a = read_h5ad(&legacy).unwrap();
    assert_eq!(
        (a.matrix_source.as_str(), a.kind),
        ("raw.X", ValueKind::Normalised)
    );
    let opts = Options::default();
    let (ds, emb) = pipeline::load(&legacy, &opts).unwrap();
    assert!(
        ds.notes
            .iter()
            .any(|n| n.contains("raw.X") && n.contains("scanpy")),
        "{:?}",
        ds.notes
    );
    let mk = markers_of(&ds, &emb);
    // On scaled X nearly every cell has a non-zero value, so the shares were ~1.0 everywhere.
    let mut pct_out = Vec::new();
    for t in &mk.tables {
        for m in t.markers.iter().take(5) {
            assert!(m.log2_fc.is_finite() && m.pct_in.is_finite());
            pct_out.push(m.pct_out);
        }
    }
    pct_out.sort_by(f64::total_cmp);
    let median = pct_out[pct_out.len() / 2];
    println!("legacy pbmc68k: median share expressing outside, top-5 markers: {median:.3}");
    // Measured: 0.084 (on scaled X it was ~1.0).
    assert!(median < 0.1, "{median}");

    // FPKM (not logged): fold changes from the ratio of means, all finite.
    let fpkm = fixture("cells/hsmm_myoblast_fpkm");
    let (ds, emb) = pipeline::load(&fpkm, &opts).unwrap();
    let e = ds.expression().unwrap();
    assert_eq!(e.kind, ValueKind::Linear);
    let mk = markers_of(&ds, &emb);
    let bad = mk
        .tables
        .iter()
        .flat_map(|t| &t.markers)
        .filter(|m| !m.log2_fc.is_finite())
        .count();
    println!("hsmm FPKM: {bad} non-finite fold changes");
    assert_eq!(bad, 0);
}

fn pbmc() -> (Dataset, Embedding) {
    pipeline::load(&asset("pbmc68k_reduced"), &Options::default()).expect("load")
}

/// pbmc68k with its baseline embedding, analysed with the default parameters.
fn pbmc_analysed() -> (Dataset, Embedding, pipeline::Analysis) {
    let (ds, emb) = pbmc();
    let a = pipeline::analyse(
        &ds,
        &emb,
        &PipelineParams::default(),
        &|_| {},
        &CancelToken::default(),
    )
    .unwrap();
    (ds, emb, a)
}

fn leiden_scores(ds: &Dataset, emb: &Embedding, lab: &[String]) -> (f64, f64, f64, usize) {
    let a = pipeline::analyse(
        ds,
        emb,
        &PipelineParams::default(),
        &|_| {},
        &CancelToken::default(),
    )
    .expect("pipeline");
    let k = a.clusters.iter().max().map_or(0, |m| *m as usize + 1);
    (
        ari(lab, &a.clusters),
        nmi(lab, &a.clusters),
        neighbour_label_agreement(&a.knn, lab),
        k,
    )
}

#[test]
fn vae_latent_clusters_at_least_as_well_as_the_pca_baseline() {
    let (ds, base) = pbmc();
    let lab = labels(&ds, "bulk_labels");
    let (pa, pn, pk, pc) = leiden_scores(&ds, &base, &lab);
    let p = CellsParams::default();
    let out = cells::train(ds.expression().unwrap(), &p, &mut |_| true).expect("train");
    let s = out.model.summary.clone();
    let latent = Embedding::given(out.latent, biolens::modality::EmbeddingSource::Precomputed);
    let (va, vn, vk, vc) = leiden_scores(&ds, &latent, &lab);
    println!(
        "pbmc68k_reduced, seed 0: PCA baseline Leiden ARI {pa:.4} NMI {pn:.4} neighbour label agreement {pk:.4} ({pc} clusters); \
         VAE ({} epochs{}, held-out ELBO {:.1}, reconstruction {:.1} per cell) ARI {va:.4} NMI {vn:.4} neighbour label agreement {vk:.4} ({vc} clusters)",
        s.epochs_run,
        if s.stopped_early { ", early stop" } else { "" },
        s.heldout_elbo,
        s.heldout_reconstruction
    );
    assert!(va >= pa, "VAE ARI {va:.4} below the PCA baseline {pa:.4}");
    // scvi-tools 1.4.2 on the same counts: 681.9 per cell on its own 10 % split
    // (docs/benchmarks.md); the bar is within 2 % (measured here: 692.9, +1.6 %).
    assert!(
        s.heldout_elbo.is_finite() && s.heldout_elbo <= 681.9 * 1.02,
        "held-out ELBO {:.1} per cell",
        s.heldout_elbo
    );
}

fn auroc(score: &[f64], positive: &[bool]) -> f64 {
    let mut idx: Vec<usize> = (0..score.len()).collect();
    idx.sort_by(|&a, &b| score[a].total_cmp(&score[b]));
    let (mut rank_sum, mut i) = (0.0, 0);
    while i < idx.len() {
        let mut j = i;
        while j < idx.len() && score[idx[j]] == score[idx[i]] {
            j += 1;
        }
        let avg = (i + j + 1) as f64 / 2.0;
        rank_sum += avg * idx[i..j].iter().filter(|&&k| positive[k]).count() as f64;
        i = j;
    }
    let np = positive.iter().filter(|&&p| p).count() as f64;
    let nn = positive.len() as f64 - np;
    (rank_sum - np * (np + 1.0) / 2.0) / (np * nn)
}

#[test]
fn reconstruction_flags_a_cell_type_the_model_never_saw() {
    let (ds, _) = pbmc();
    let lab = labels(&ds, "bulk_labels");
    let e = ds.expression().unwrap().clone();
    let totals = e.totals.clone();
    for held in ["CD19+ B", "CD14+ Monocyte"] {
        let keep: Vec<usize> = (0..ds.len()).filter(|&i| lab[i] != held).collect();
        let mut train = (*e).clone();
        train.retain_cells(&keep);
        let out = cells::train(&train, &CellsParams::default(), &mut |_| true).expect("train");
        let (_, nll) = cells::score(&out.model, &e).expect("score");
        let positive: Vec<bool> = lab.iter().map(|l| l == held).collect();
        let nll: Vec<f64> = nll.iter().map(|&v| v as f64).collect();
        let per_count: Vec<f64> = nll.iter().zip(&totals).map(|(a, t)| a / t).collect();
        let a_model = auroc(&nll, &positive);
        let a_per = auroc(&per_count, &positive);
        let a_lib = auroc(&totals, &positive);
        let a_lib_best = a_lib.max(1.0 - a_lib);
        println!(
            "held-out type {held} ({} cells): AUROC reconstruction NLL {a_model:.4}, NLL per count {a_per:.4}, library size {a_lib:.4} (either direction {a_lib_best:.4})",
            positive.iter().filter(|&&p| p).count()
        );
        // B cells have no look-alike among the other labels. CD14+ monocytes do: bulk_labels'
        // "Dendritic" cells here are mostly monocyte-like (FCGR3A, CFD, AIF1 markers), so the
        // model trained without monocytes still reconstructs them (measured 0.66, printed).
        if held == "CD19+ B" {
            assert!(a_model >= 0.75, "AUROC {a_model:.4}");
            assert!(
                a_model > a_lib_best,
                "{a_model:.4} vs library size {a_lib_best:.4}"
            );
        }
    }
}

#[test]
fn the_chunk_reader_reads_every_fixture_as_the_whole_dataset_reader_does() {
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(fixture("cells/h5ad_variants"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files.push(fixture("cells/pbmc68k_reduced/10x_pbmc68k_reduced.h5ad"));
    for f in &files {
        let fast = read_h5ad(f).unwrap();
        let whole = biolens::modality::cells::h5ad::read_h5ad_whole(f).unwrap();
        println!(
            "{}: {} from {}, {} values",
            f.display(),
            fast.matrix.n_cells,
            fast.matrix_source,
            fast.matrix.values.len()
        );
        assert_eq!(fast.matrix, whole.matrix, "{}", f.display());
        assert_eq!(
            (fast.kind, &fast.matrix_source, &fast.var_names),
            (whole.kind, &whole.matrix_source, &whole.var_names)
        );
    }
}

/// Principal angles between the column spaces of two n × k score matrices: the cosines are
/// the singular values of Q1ᵀQ2 for orthonormal bases Q1, Q2. Returns the largest angle in
/// degrees.
fn largest_principal_angle(
    a: &biolens::core::matrix::Matrix,
    b: &biolens::core::matrix::Matrix,
    k: usize,
) -> f64 {
    let n = a.rows;
    let basis = |m: &biolens::core::matrix::Matrix| -> Vec<Vec<f64>> {
        let mut q: Vec<Vec<f64>> = (0..k)
            .map(|c| (0..n).map(|i| m.data[i * m.cols + c] as f64).collect())
            .collect();
        for j in 0..k {
            let (done, rest) = q.split_at_mut(j);
            for u in done.iter() {
                let dot: f64 = u.iter().zip(rest[0].iter()).map(|(a, b)| a * b).sum();
                for (x, y) in rest[0].iter_mut().zip(u) {
                    *x -= dot * y;
                }
            }
            let norm = q[j].iter().map(|x| x * x).sum::<f64>().sqrt();
            q[j].iter_mut().for_each(|x| *x /= norm);
        }
        q
    };
    let (qa, qb) = (basis(a), basis(b));
    let m: Vec<f64> = (0..k * k)
        .map(|pq| {
            let (p, r) = (pq / k, pq % k);
            (0..n).map(|i| qa[p][i] * qb[r][i]).sum()
        })
        .collect();
    let mut mtm = vec![0f64; k * k];
    for p in 0..k {
        for r in 0..k {
            mtm[p * k + r] = (0..k).map(|t| m[t * k + p] * m[t * k + r]).sum();
        }
    }
    let (vals, _) = biolens::core::matrix::sym_eigen(&mtm, k);
    let smallest = vals.iter().fold(f64::INFINITY, |a, &v| a.min(v));
    smallest.clamp(0.0, 1.0).sqrt().acos().to_degrees()
}

#[test]
fn sparse_pca_matches_dense_pca_on_pbmc68k() {
    use biolens::analysis::pca::{SparseRows, pca, scale, sparse_pca};
    use biolens::modality::cells::baseline::highly_variable_genes;
    let (ds, _) = pbmc();
    let e = ds.expression().unwrap();
    let genes = highly_variable_genes(e, 2000, 1e4);
    let x = e.rows_of(&genes, |i, c| {
        ((c as f64 * 1e4 / e.totals[i]).ln_1p()) as f32
    });
    let mut dense = biolens::core::matrix::Matrix::zeros(x.n_cells, x.n_genes);
    for i in 0..x.n_cells {
        for k in x.indptr[i]..x.indptr[i + 1] {
            dense.data[i * x.n_genes + x.genes[k] as usize] = x.values[k];
        }
    }
    scale(&mut dense, 10.0);
    let exact = pca(&dense, 50).unwrap();
    let rows = SparseRows {
        n_cols: x.n_genes,
        indptr: &x.indptr,
        cols: &x.genes,
        values: &x.values,
    };
    let fast = sparse_pca(&rows, Some(10.0), 50, 0).unwrap();
    // Per component: the same direction up to sign.
    let corr = |c: usize| -> f64 {
        let (a, b): (Vec<f64>, Vec<f64>) = (0..x.n_cells)
            .map(|i| (exact.data[i * 50 + c] as f64, fast.data[i * 50 + c] as f64))
            .unzip();
        let dot: f64 = a.iter().zip(&b).map(|(p, q)| p * q).sum();
        let na = a.iter().map(|v| v * v).sum::<f64>().sqrt();
        let nb = b.iter().map(|v| v * v).sum::<f64>().sqrt();
        (dot / (na * nb)).abs()
    };
    let worst10 = (0..10).map(corr).fold(1f64, f64::min);
    let (a10, a30, a50) = (
        largest_principal_angle(&exact, &fast, 10),
        largest_principal_angle(&exact, &fast, 30),
        largest_principal_angle(&exact, &fast, 50),
    );
    // The variance the 50 components capture: the tail's eigenvalues are nearly equal, so
    // which 50-dimensional subspace is found there matters less than how much it holds.
    let captured = |m: &biolens::core::matrix::Matrix| -> f64 {
        m.data.iter().map(|&v| (v as f64).powi(2)).sum()
    };
    let ratio = captured(&fast) / captured(&exact);
    println!(
        "sparse vs dense PCA on pbmc68k ({} cells, {} genes): worst |corr| of PCs 1–10 {worst10:.6}, largest principal angle top-10 {a10:.3}°, top-30 {a30:.3}°, top-50 {a50:.3}°, variance captured by 50 PCs {ratio:.5} of linfa's",
        x.n_cells, x.n_genes
    );
    // Measured: 1.000000, 0.021°, 1.947°, 0.99989.
    assert!(worst10 > 0.9999, "{worst10}");
    assert!(a10 < 0.1 && a30 < 3.0, "{a10} {a30}");
    assert!(ratio > 0.9998, "{ratio}");
}

fn number_column(ds: &Dataset, name: &str) -> Vec<f64> {
    match &ds
        .meta_column(name)
        .unwrap_or_else(|| panic!("{name}"))
        .values
    {
        MetaValues::Number(v) => v.clone(),
        MetaValues::Text(_) => panic!("{name} is text"),
    }
}

#[test]
fn cell_ranger_h5_v3_and_v2_read_as_the_10x_folder_does() {
    let (folder, folder_emb) = pbmc();
    let fe = folder.expression().unwrap();
    for f in [
        "cells/h5_layouts/pbmc68k_v3_filtered_feature_bc_matrix.h5",
        "cells/h5_layouts/pbmc68k_v2_filtered_gene_bc_matrices_h5.h5",
    ] {
        let (ds, emb) = pipeline::load(&fixture(f), &Options::default()).unwrap();
        let e = ds.expression().unwrap();
        println!(
            "{f}: {} cells × {} genes; notes {:?}",
            e.n_cells(),
            e.n_genes(),
            ds.notes
        );
        assert_eq!(ds.ids, folder.ids, "{f}");
        assert_eq!(e.genes, fe.genes, "{f}");
        assert_eq!(e.by_gene, fe.by_gene, "{f}");
        assert_eq!(e.kind, ValueKind::Counts, "{f}");
        assert_eq!(
            emb.matrix.data, folder_emb.matrix.data,
            "{f}: the same embedding"
        );
        assert_eq!(
            number_column(&ds, "total_counts"),
            number_column(&folder, "total_counts")
        );
        if f.contains("v3") {
            // The fixture's antibody features are copies of these genes' counts.
            for (adt, gene) in [
                ("adt_CD3_TotalSeqB", "CD3E"),
                ("adt_CD20_TotalSeqB", "MS4A1"),
            ] {
                let g = e.genes.iter().position(|n| n == gene).unwrap();
                let mut want = vec![0.0; e.n_cells()];
                let (cells, values) = e.by_gene.gene(g);
                for (&c, &v) in cells.iter().zip(values) {
                    want[c as usize] = v as f64;
                }
                assert_eq!(number_column(&ds, adt), want, "{adt}");
            }
            assert!(
                ds.notes
                    .iter()
                    .any(|n| n.contains("3 features other than gene expression")
                        && n.contains("3 Antibody Capture")),
                "{:?}",
                ds.notes
            );
        }
    }
}

/// A copy of the v3 fixture with `edit` applied through h5py-free means: the bytes of the
/// file, so truncated and bit-flipped copies exercise the reader's errors.
fn cellranger_copy(
    dir: &std::path::Path,
    name: &str,
    edit: impl Fn(&mut Vec<u8>),
) -> std::path::PathBuf {
    let mut b = std::fs::read(fixture(
        "cells/h5_layouts/pbmc68k_v3_filtered_feature_bc_matrix.h5",
    ))
    .unwrap();
    edit(&mut b);
    let p = dir.join(name);
    std::fs::write(&p, b).unwrap();
    p
}

#[test]
fn damaged_cell_ranger_files_get_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let n = std::fs::metadata(fixture(
        "cells/h5_layouts/pbmc68k_v3_filtered_feature_bc_matrix.h5",
    ))
    .unwrap()
    .len() as usize;
    let mut cases = vec![cellranger_copy(dir.path(), "half.h5", |b| {
        b.truncate(n / 2)
    })];
    for k in 0..24 {
        let at = 512 + (n - 1024) * k / 24;
        cases.push(cellranger_copy(
            dir.path(),
            &format!("flip{k}.h5"),
            move |b| b[at] ^= 0x5a,
        ));
    }
    let mut errors = 0;
    for p in &cases {
        match std::panic::catch_unwind(|| pipeline::load(p, &Options::default())) {
            Err(_) => panic!("{}: panicked", p.display()),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                let msg = e.to_string();
                assert!(
                    !msg.contains('\n') && msg.contains(p.file_name().unwrap().to_str().unwrap()),
                    "{msg}"
                );
                errors += 1;
            }
        }
    }
    println!(
        "{errors} of {} damaged copies refused, the rest read",
        cases.len()
    );
    // Measured: 23 of 25 (two flips land in bytes nothing reads); the copies are fixed bytes.
    assert!(errors >= 23, "{errors} of {} refused", cases.len());
}

#[test]
fn the_matrix_of_an_h5ad_is_chosen_with_layer_and_raw() {
    let f = fixture("cells/h5ad_variants/lognorm_with_counts_layer.h5ad");
    let mut o = Options::default();
    let auto = pipeline::load(&f, &o).unwrap().0;
    assert!(auto.expression().unwrap().source.ends_with("layers/counts"));
    o.cells.matrix = biolens::modality::cells::h5ad::MatrixChoice::Raw;
    let raw = pipeline::load(&f, &o).unwrap().0;
    let e = raw.expression().unwrap();
    assert!(e.source.ends_with("raw/X"), "{}", e.source);
    assert_ne!(e.kind, ValueKind::Counts);
    o.cells.matrix = biolens::modality::cells::h5ad::MatrixChoice::Layer("spliced".into());
    let err = pipeline::load(&f, &o).unwrap_err().to_string();
    assert!(
        err.contains("--layer spliced") && err.contains("its layers: counts"),
        "{err}"
    );
    o.cells.matrix = biolens::modality::cells::h5ad::MatrixChoice::Layer("counts".into());
    let l = pipeline::load(&f, &o).unwrap().0;
    assert_eq!(
        l.expression().unwrap().by_gene,
        auto.expression().unwrap().by_gene
    );
}

#[test]
fn files_without_x_or_not_anndata_say_what_they_hold() {
    let f = fixture("cells/h5_layouts/layers_only_no_x.h5ad");
    let mut o = Options::default();
    let err = pipeline::load(&f, &o).unwrap_err().to_string();
    println!("{err}");
    assert!(
        err.contains("X: absent")
            && err.contains("its layers: doubled, umis")
            && err.contains("--layer"),
        "{err}"
    );
    o.cells.matrix = biolens::modality::cells::h5ad::MatrixChoice::Layer("umis".into());
    let (ds, _) = pipeline::load(&f, &o).unwrap();
    let e = ds.expression().unwrap();
    assert!(e.source.ends_with("layers/umis"));
    assert_eq!(e.kind, ValueKind::Counts);
    assert!((total(&e.by_gene) - 486_651.0).abs() < 0.5);
    let err = pipeline::load(
        &fixture("cells/h5_layouts/not_a_matrix.h5"),
        &Options::default(),
    )
    .unwrap_err()
    .to_string();
    println!("{err}");
    assert!(
        err.contains("neither an AnnData")
            && err.contains("groups: images")
            && err.contains("datasets: table"),
        "{err}"
    );
}

#[test]
fn a_recluster_cancelled_during_markers_changes_nothing() {
    use biolens::pipeline::{ClusterMethod, PipelineEvent};
    use std::sync::Mutex;
    let (ds, emb, a) = pbmc_analysed();
    let cancel = CancelToken::default();
    let results = Mutex::new(Vec::new());
    let emit = |ev: PipelineEvent| match ev {
        // The user presses x while marker genes run.
        PipelineEvent::Stage {
            name: "marker genes",
            ..
        } => cancel.cancel(),
        PipelineEvent::Stage { .. } => {}
        other => results
            .lock()
            .unwrap()
            .push(format!("{other:?}").chars().take(40).collect::<String>()),
    };
    let r = pipeline::recluster::recluster(
        &ds,
        &emb.matrix,
        &a.knn,
        a.graph.clone(),
        &ClusterMethod::default(),
        Some(a.clusters.as_slice()),
        &Default::default(),
        &emit,
        &cancel,
    );
    assert!(
        matches!(r, Err(pipeline::PipelineError::Cancelled)),
        "{r:?}"
    );
    let got = results.into_inner().unwrap();
    assert!(got.is_empty(), "a cancelled recluster emitted {got:?}");
}

fn pearson(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let cov: f64 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = a.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f64 = b.iter().map(|y| (y - mb).powi(2)).sum();
    cov / (va * vb).sqrt()
}

#[test]
fn the_depth_adjusted_anomaly_score_no_longer_follows_library_size() {
    let (ds, _, a) = pbmc_analysed();
    let depth: Vec<f64> = number_column(&ds, "total_counts")
        .iter()
        .map(|x| x.ln_1p())
        .collect();
    let knn: Vec<f64> = a.anomaly_knn.iter().map(|&x| x as f64).collect();
    let adj: Vec<f64> = a
        .anomaly_depth
        .as_ref()
        .expect("cells with total_counts get the depth-adjusted score")
        .iter()
        .map(|&x| x as f64)
        .collect();
    let (r_raw, r_adj) = (pearson(&knn, &depth), pearson(&adj, &depth));
    // The median library size of the 20 top-ranked cells, raw and adjusted, against all.
    let median_top = |s: &[f64]| {
        let mut o: Vec<usize> = (0..s.len()).collect();
        o.sort_by(|&x, &y| s[y].total_cmp(&s[x]));
        let mut t: Vec<f64> = o[..20].iter().map(|&i| depth[i].exp_m1()).collect();
        t.sort_by(f64::total_cmp);
        t[10]
    };
    let mut all: Vec<f64> = depth.iter().map(|d| d.exp_m1()).collect();
    all.sort_by(f64::total_cmp);
    println!(
        "pbmc68k: r(kNN score, log depth) {r_raw:.3}, after adjustment {r_adj:.3}; median \
         total_counts of the top 20: {:.0} raw, {:.0} adjusted, {:.0} overall",
        median_top(&knn),
        median_top(&adj),
        all[all.len() / 2]
    );
    assert!(r_adj.abs() < 0.02, "{r_adj}");
    // Measured: the raw score's top 20 are low-depth cells (median 510 against 653 overall);
    // adjusted, they are not (687).
    assert!(
        median_top(&adj) > median_top(&knn),
        "the adjustment did not lift the depth"
    );
}
