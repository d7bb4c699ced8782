//! Science on real data: pbmc68k_reduced counts through biolens' own baseline (CP10k, log1p,
//! HVG, scale, PCA-50), then kNN, UMAP-like layout and Leiden. Thresholds are measured facts;
//! each test prints its figure. scanpy's standard pipeline on the same counts gets Leiden ARI
//! 0.508 and trustworthiness 0.932 (scanpy 1.11's `pp.normalize_total`, `log1p`, `highly_variable_genes`, `scale`, `pca`,
//! `neighbors`, `tl.leiden`, `tl.umap` with defaults).

#![allow(clippy::unwrap_used)]

use biolens::analysis::metrics::{ari, nmi, trustworthiness};
use biolens::core::MetaValues;
use biolens::modality::Options;
use biolens::pipeline::{self, CancelToken, PipelineParams};

mod common;
use common::asset;

#[test]
fn pbmc68k_baseline_leiden_ari_and_umap_trustworthiness() {
    let (ds, emb) = pipeline::load(&asset("pbmc68k_reduced"), &Options::default()).expect("load");
    assert_eq!(ds.len(), 700);
    assert_eq!(emb.matrix.cols, 50);
    let params = PipelineParams::default().with_seed(0);
    let a = pipeline::with_threads(2, || {
        pipeline::analyse(&ds, &emb, &params, &|_| {}, &CancelToken::default())
    })
    .expect("pipeline");
    let Some(MetaValues::Text(labels)) = ds.meta_column("bulk_labels").map(|c| c.values.clone())
    else {
        panic!("bulk_labels missing")
    };
    let ari_v = ari(&labels, &a.clusters);
    let nmi_v = nmi(&labels, &a.clusters);
    let k = a.clusters.iter().max().map_or(0, |m| m + 1);
    let t = trustworthiness(&emb.matrix, &a.layout, 15, 5000);
    println!(
        "pbmc68k_reduced (PCA baseline): Leiden ARI {ari_v:.4}, NMI {nmi_v:.4}, {k} clusters; UMAP trustworthiness(15) {t:.4}"
    );
    assert!(ari_v >= 0.48, "Leiden ARI {ari_v}");
    assert!(t >= 0.91, "trustworthiness {t}");
}
