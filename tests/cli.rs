//! The command line end to end: run → open round trip, determinism, metrics, and every kind of
//! bad input (one-line error naming the file, non-zero exit, no partial session folder).

#![allow(clippy::unwrap_used)]

mod common;
use common::*;
use std::path::Path;
use std::process::Command;

fn run(args: &[&str]) -> (i32, String, String) {
    run_env(args, &[])
}

fn run_env(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let out = Command::new(bin())
        .args(args)
        .env("XDG_STATE_HOME", std::env::temp_dir())
        .envs(env.iter().copied())
        .output()
        .expect("spawn biolens");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn run_then_read_back_without_recomputing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("p.biolens");
    let (code, stdout, stderr) = run(&[
        "run",
        pbmc().to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--labels",
        "bulk_labels",
        "--threads",
        "2",
        "--model",
        "pca",
    ]);
    assert_eq!(code, 0, "{stderr}");
    println!("{stdout}");
    assert!(stdout.contains("ARI 0.5"), "{stdout}");
    // The share of same-label neighbours is called what it is, not a classifier's accuracy.
    assert!(
        stdout.contains("neighbour label agreement(14)") && !stdout.contains("accuracy"),
        "{stdout}"
    );
    let (manifest, items) = biolens::session::read(&out).unwrap();
    assert_eq!(manifest.datasets[0].n_items, 700);
    assert_eq!(manifest.threads, 2);
    assert_eq!(manifest.datasets[0].inputs.len(), 4);
    assert!(
        manifest.datasets[0]
            .inputs
            .iter()
            .all(|i| i.sha256.len() == 64)
    );
    let sd = &items[0];
    assert_eq!(sd.dataset.ids.len(), 700);
    assert_eq!(sd.embedding.matrix.cols, 50);
    assert_eq!(sd.analysis.knn.k, 15);
    assert!(sd.dataset.meta_column("bulk_labels").is_some());
    // Reading it again gives the same thing: nothing is recomputed or random.
    let (_, again) = biolens::session::read(&out).unwrap();
    assert_eq!(again[0].analysis.layout, sd.analysis.layout);
    // Export from the session.
    let csv = dir.path().join("clusters.csv");
    let (code, _, stderr) = run(&[
        "export",
        out.to_str().unwrap(),
        "clusters",
        "-o",
        csv.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    let text = std::fs::read_to_string(&csv).unwrap();
    assert_eq!(text.lines().count(), 701);
    assert!(text.starts_with("id,cluster\n"));
}

#[test]
fn same_inputs_seed_give_byte_identical_points_across_thread_counts() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.biolens");
    let b = dir.path().join("b.biolens");
    assert_eq!(
        run(&[
            "run",
            pbmc().to_str().unwrap(),
            "-o",
            a.to_str().unwrap(),
            "--threads",
            "1",
            "--epochs",
            "4"
        ])
        .0,
        0
    );
    assert_eq!(
        run(&[
            "run",
            pbmc().to_str().unwrap(),
            "-o",
            b.to_str().unwrap(),
            "--threads",
            "2",
            "--epochs",
            "4"
        ])
        .0,
        0
    );
    for f in [
        "points.parquet",
        "neighbors.parquet",
        "clusters.parquet",
        "cells-0/model.safetensors",
        "cells-0/markers.parquet",
    ] {
        assert!(
            std::fs::read(a.join(f)).unwrap() == std::fs::read(b.join(f)).unwrap(),
            "{f} differs"
        );
    }
    // A different seed gives a different layout.
    let c = dir.path().join("c.biolens");
    assert_eq!(
        run(&[
            "run",
            pbmc().to_str().unwrap(),
            "-o",
            c.to_str().unwrap(),
            "--seed",
            "7",
            "--epochs",
            "4"
        ])
        .0,
        0
    );
    assert!(
        std::fs::read(a.join("points.parquet")).unwrap()
            != std::fs::read(c.join("points.parquet")).unwrap()
    );
}

#[test]
fn embedding_tables_csv_parquet_npy_with_meta() {
    let dir = tempfile::tempdir().unwrap();
    let (_, items) = biolens::session::read(&pbmc_session()).unwrap();
    let ds = &items[0].dataset;
    let emb = &items[0].embedding.matrix;
    // NPY + --meta aligned by row.
    let npy = dir.path().join("emb.npy");
    biolens::io::npy::write_npy_f32(&npy, emb).unwrap();
    let meta = dir.path().join("meta.csv");
    let labels = ds.meta_column("bulk_labels").unwrap();
    let mut text = String::from("id,bulk_labels\n");
    for i in 0..ds.len() {
        text.push_str(&format!("{},{}\n", ds.ids[i], labels.display(i)));
    }
    std::fs::write(&meta, text).unwrap();
    let out = dir.path().join("npy.biolens");
    let (code, stdout, stderr) = run(&[
        "run",
        npy.to_str().unwrap(),
        "--meta",
        meta.to_str().unwrap(),
        "--labels",
        "bulk_labels",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("ARI"), "{stdout}");
    // CSV with numeric columns.
    let csv = dir.path().join("emb.csv");
    let mut text = String::from("id");
    for j in 0..emb.cols {
        text.push_str(&format!(",pc{j}"));
    }
    text.push_str(",bulk_labels\n");
    for i in 0..ds.len() {
        text.push_str(&ds.ids[i]);
        for v in emb.row(i) {
            text.push_str(&format!(",{v}"));
        }
        text.push_str(&format!(",\"{}\"\n", labels.display(i)));
    }
    std::fs::write(&csv, text).unwrap();
    let out2 = dir.path().join("csv.biolens");
    let (code, stdout, stderr) = run(&[
        "run",
        csv.to_str().unwrap(),
        "--labels",
        "bulk_labels",
        "-o",
        out2.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("ARI"), "{stdout}");
    // Parquet with a list column: the session's own points.parquet is such a table.
    let out3 = dir.path().join("pq.biolens");
    let pq = pbmc_session().join("points.parquet");
    let (code, stdout, stderr) = run(&[
        "run",
        pq.to_str().unwrap(),
        "--labels",
        "bulk_labels",
        "-o",
        out3.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("ARI"), "{stdout}");
    let (_, a) = biolens::session::read(&out3).unwrap();
    assert_eq!(a[0].embedding.matrix, *emb);
}

/// Runs with `input` and checks: non-zero exit, one line on stderr containing `expect`, and no
/// session folder (or temporary folder) left behind.
fn fails(dir: &Path, args: &[&str], expect: &str) {
    let out = dir.join("bad.biolens");
    let mut all: Vec<&str> = vec!["run"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["-o", out.to_str().unwrap()]);
    let (code, _, stderr) = run(&all);
    println!("{args:?} -> {}", stderr.trim());
    assert_ne!(code, 0);
    assert!(stderr.contains(expect), "expected '{expect}' in: {stderr}");
    assert_eq!(
        stderr
            .trim()
            .lines()
            .filter(|l| l.starts_with("error:"))
            .count(),
        1,
        "{stderr}"
    );
    assert!(!out.exists(), "partial session left behind");
    let leftovers: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}

fn tenx(dir: &Path, name: &str, matrix: &[u8], gz: bool) -> std::path::PathBuf {
    let d = dir.join(name);
    std::fs::create_dir_all(&d).unwrap();
    let src = pbmc();
    for f in ["barcodes.tsv.gz", "features.tsv.gz"] {
        std::fs::copy(src.join(f), d.join(f)).unwrap();
    }
    std::fs::write(
        d.join(if gz { "matrix.mtx.gz" } else { "matrix.mtx" }),
        matrix,
    )
    .unwrap();
    d
}

#[test]
fn bad_inputs_are_reported_precisely() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let s = |p: &Path| p.to_str().unwrap().to_string();

    fails(
        dir,
        &[&s(&dir.join("missing.csv"))],
        "missing.csv: cannot read: no such file or directory",
    );

    let unreadable = dir.join("x.bin");
    std::fs::write(&unreadable, b"abc").unwrap();
    fails(dir, &[&s(&unreadable)], "not a recognised input");

    // Truncated gzip.
    let full = std::fs::read(pbmc().join("matrix.mtx.gz")).unwrap();
    let d = tenx(dir, "trunc", &full[..full.len() / 2], true);
    fails(dir, &[&s(&d)], "truncated");

    // Malformed header.
    let d = tenx(
        dir,
        "hdr",
        b"%%MatrixMarket matrix array real general\n2 2\n1\n2\n3\n4\n",
        false,
    );
    fails(
        dir,
        &[&s(&d)],
        "matrix.mtx:1: only 'coordinate' matrices are supported",
    );

    // Entry outside the stated dimensions.
    let d = tenx(
        dir,
        "dims",
        b"%%MatrixMarket matrix coordinate integer general\n765 700 2\n1 1 3\n766 2 1\n",
        false,
    );
    fails(
        dir,
        &[&s(&d)],
        "matrix.mtx:4: entry (766, 2) is outside the stated 765 × 700 matrix",
    );

    // Barcodes that do not match the matrix.
    let d = tenx(
        dir,
        "bc",
        b"%%MatrixMarket matrix coordinate integer general\n765 699 1\n1 1 3\n",
        false,
    );
    fails(dir, &[&s(&d)], "700 barcodes but the matrix has 699 cells");

    // Non-numeric, NaN and infinite embedding values.
    let csv = dir.join("nonnum.csv");
    std::fs::write(&csv, "id,pc1,pc2\na,1,2\nb,x,3\n").unwrap();
    fails(
        dir,
        &[&s(&csv)],
        "nonnum.csv:3: column 'pc1': 'x' is not a number",
    );
    let csv = dir.join("nan.csv");
    std::fs::write(&csv, "id,pc1,pc2\na,1,2\nb,NaN,3\nc,1,1\n").unwrap();
    fails(
        dir,
        &[&s(&csv)],
        "record 2 (id 'b'), column 1: value NaN is not a finite number",
    );
    let csv = dir.join("inf.csv");
    std::fs::write(&csv, "id,pc1,pc2\na,1,2\nb,2,inf\n").unwrap();
    fails(dir, &[&s(&csv)], "value inf is not a finite number");

    // Duplicate ids.
    let csv = dir.join("dup.csv");
    std::fs::write(&csv, "id,pc1,pc2\na,1,2\nb,2,3\na,3,4\n").unwrap();
    fails(
        dir,
        &[&s(&csv)],
        "dup.csv: duplicate id 'a' (records 1 and 3)",
    );

    // Metadata that does not align.
    let mut rows = String::from("id,pc1,pc2\n");
    for i in 0..20 {
        rows.push_str(&format!("c{i},{},{}\n", i, i * 2));
    }
    let good = dir.join("good.csv");
    std::fs::write(&good, rows).unwrap();
    let meta = dir.join("meta.csv");
    std::fs::write(&meta, "id,group\nc0,a\nc1,b\n").unwrap();
    fails(
        dir,
        &[&s(&good), "--meta", &s(&meta)],
        "meta.csv: metadata does not align: 2 of 20 items",
    );
    // A DNA option with no DNA input is refused, not ignored.
    fails(
        dir,
        &[&s(&good), "--motifs", "db.meme"],
        "--motifs applies to DNA inputs",
    );

    // 0 items, 1 item, k ≥ n.
    let csv = dir.join("empty.csv");
    std::fs::write(&csv, "id,pc1,pc2\n").unwrap();
    fails(dir, &[&s(&csv)], "empty.csv: no data rows");
    let csv = dir.join("one.csv");
    std::fs::write(&csv, "id,pc1,pc2\na,1,2\n").unwrap();
    fails(dir, &[&s(&csv)], "1 item(s)");
    fails(
        dir,
        &[&s(&good), "-k", "20"],
        "k = 20 neighbours need at least k + 1 = 21 items, got 20",
    );

    // Labels column that does not exist.
    fails(
        dir,
        &[&s(&good), "-k", "5", "--labels", "nope"],
        "--labels nope: no such metadata column",
    );
    // ... and says so as soon as the input is read, before any analysis stage.
    let out = dir.join("labels.biolens");
    let (_, _, stderr) = run(&[
        "run",
        &s(&good),
        "-k",
        "5",
        "--labels",
        "nope",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(
        !stderr.contains("projection") && !stderr.contains("clustering"),
        "{stderr}"
    );
}

#[test]
fn existing_non_session_output_is_not_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("precious");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("data.txt"), "keep me").unwrap();
    let (code, _, stderr) = run(&["run", pbmc().to_str().unwrap(), "-o", out.to_str().unwrap()]);
    assert_ne!(code, 0);
    assert!(stderr.contains("is not a biolens session"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(out.join("data.txt")).unwrap(),
        "keep me"
    );
}

#[test]
fn a_cells_session_keeps_model_markers_and_expression() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("v.biolens");
    let (code, _, stderr) = run(&[
        "run",
        pbmc().to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--epochs",
        "3",
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("scVI-style VAE") && stderr.contains("held-out ELBO"),
        "{stderr}"
    );
    let (manifest, items) = biolens::session::read(&out).unwrap();
    let entry = manifest.datasets[0]
        .parts
        .cells
        .as_ref()
        .expect("cells entry");
    let summary = entry.model.as_ref().expect("model summary");
    assert_eq!(summary.epochs_run, 3);
    assert!(manifest.datasets[0].embedding.starts_with("scvi-vae"));
    let sd = &items[0];
    assert_eq!(sd.embedding.matrix.cols, 10);
    let Some(biolens::modality::Model::Cells(model)) = &sd.embedding.model else {
        panic!("weights reloaded")
    };
    let expr = sd.dataset.expression().expect("expression");
    assert_eq!((expr.n_cells(), expr.genes.len()), (700, 765));
    // Gene colours on the reopened session are those of a fresh read, for every gene.
    let (fresh, _) =
        biolens::pipeline::load(&pbmc(), &biolens::modality::Options::default()).unwrap();
    let fresh = fresh.expression().unwrap();
    assert_eq!(fresh.totals, expr.totals);
    for g in 0..fresh.genes.len() {
        assert_eq!(
            fresh.normalised_gene(g),
            expr.normalised_gene(g),
            "gene {g}"
        );
    }
    assert!(out.join("cells-0/expression.bin").exists());
    // A session from before expression.bin (cell-major Parquet rows) reopens the same.
    let all: Vec<usize> = (0..fresh.genes.len()).collect();
    let csr = fresh.rows_of(&all, |_, v| v);
    let mut rows = biolens::io::parquet::Table::default();
    let cells: Vec<i32> = (0..csr.n_cells)
        .flat_map(|i| std::iter::repeat_n(i as i32, csr.indptr[i + 1] - csr.indptr[i]))
        .collect();
    rows.push("cell", biolens::io::parquet::Column::I32(cells));
    rows.push(
        "gene",
        biolens::io::parquet::Column::I32(csr.genes.iter().map(|&g| g as i32).collect()),
    );
    rows.push(
        "value",
        biolens::io::parquet::Column::F32(csr.values.clone()),
    );
    biolens::io::parquet::write_parquet(&out.join("cells-0/expression.parquet"), &rows).unwrap();
    std::fs::remove_file(out.join("cells-0/expression.bin")).unwrap();
    let (_, old) = biolens::session::read(&out).unwrap();
    assert_eq!(
        old[0].dataset.expression().unwrap().by_gene,
        fresh.by_gene,
        "an old session's expression"
    );
    // The reloaded weights reproduce the stored latent exactly: reopening never retrains.
    let (latent, nll) = biolens::modality::cells::model::score(model, expr).unwrap();
    assert_eq!(latent.data, sd.embedding.matrix.data);
    let stored = sd.analysis.anomaly_model.as_ref().expect("anomaly_model");
    assert_eq!(&nll, stored.as_ref());
    let markers = sd
        .analysis
        .findings
        .as_ref()
        .and_then(|f| f.markers())
        .expect("markers");
    let k = sd.analysis.clusters.iter().max().unwrap() + 1;
    assert_eq!(markers.tables.len(), k as usize);
    let csv = dir.path().join("markers.csv");
    let (code, _, stderr) = run(&[
        "export",
        out.to_str().unwrap(),
        "markers",
        "-o",
        csv.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    let text = std::fs::read_to_string(&csv).unwrap();
    assert!(
        text.starts_with("dataset,group,rank,gene,score,logfc,pvalue,padj,pct_in,pct_out,values\n"),
        "{}",
        &text[..200.min(text.len())]
    );
    let anomalies = dir.path().join("anomalies.csv");
    let (code, _, _) = run(&[
        "export",
        out.to_str().unwrap(),
        "anomalies",
        "-o",
        anomalies.to_str().unwrap(),
    ]);
    assert_eq!(code, 0);
    let head = std::fs::read_to_string(&anomalies).unwrap();
    assert!(
        head.lines()
            .next()
            .unwrap()
            .contains("anomaly_recon_nll,total_counts,n_genes")
    );
    // A format it cannot write is refused, not written as CSV under another name.
    let xlsx = dir.path().join("c.xlsx");
    let (code, _, stderr) = run(&[
        "export",
        out.to_str().unwrap(),
        "clusters",
        "-o",
        xlsx.to_str().unwrap(),
    ]);
    assert_ne!(code, 0);
    assert!(
        stderr.contains("c.xlsx") && stderr.contains(".csv or .parquet"),
        "{stderr}"
    );
    assert!(!xlsx.exists());
    // The manifest says which score the points' anomaly_model column holds.
    let score = manifest.datasets[0]
        .anomaly_model
        .as_ref()
        .expect("model score");
    assert_eq!(score.name, "recon_nll");
    assert!(score.definition.contains("negative log-likelihood"));
}

#[test]
fn the_count_model_refuses_non_counts_and_names_the_source() {
    let dir = tempfile::tempdir().unwrap();
    let fpkm = fixture("cells/hsmm_myoblast_fpkm");
    let out = dir.path().join("x.biolens");
    let (code, _, stderr) = run(&[
        "run",
        fpkm.to_str().unwrap(),
        "--model",
        "scvi",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_ne!(code, 0);
    assert!(
        stderr.contains("raw integer counts") && stderr.contains("hsmm_myoblast_fpkm"),
        "{stderr}"
    );
    assert!(!out.exists());
    // Not HDF5 at all, and a truncated h5ad: one error line each, naming the file.
    let fake = dir.path().join("fake.h5ad");
    std::fs::write(&fake, b"not hdf5").unwrap();
    let (code, _, stderr) = run(&["run", fake.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    assert_ne!(code, 0);
    assert!(
        stderr.contains("fake.h5ad") && stderr.contains("HDF5"),
        "{stderr}"
    );
    let full = std::fs::read(fixture("cells/h5ad_variants/counts_csr.h5ad")).unwrap();
    let cut = dir.path().join("cut.h5ad");
    std::fs::write(&cut, &full[..full.len() / 2]).unwrap();
    let (code, _, stderr) = run(&["run", cut.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    assert_ne!(code, 0);
    assert!(
        stderr.starts_with("error:") && stderr.contains("cut.h5ad"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!out.exists());
}

#[test]
fn the_manifest_records_the_device_the_run_used() {
    let dir = tempfile::tempdir().unwrap();
    let (m, items) = biolens::session::read(&pbmc_session()).unwrap();
    assert_eq!(m.device, "cpu");
    let out = dir.path().join("cuda.biolens");
    let m = biolens::session::write(
        &out,
        &m.params,
        2,
        biolens::core::nn::DeviceKind::Cuda,
        &items,
        &Default::default(),
    )
    .unwrap();
    assert_eq!(m.device, "cuda");
    let text = std::fs::read_to_string(out.join("manifest.toml")).unwrap();
    assert!(text.contains("device = \"cuda\""), "{text}");
}

#[test]
fn an_interrupted_write_is_never_taken_for_a_session_and_is_swept() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("p.biolens");
    // What a run killed while writing could leave: a scratch folder, even with a manifest.
    let stale = dir.path().join(".p.biolens.tmp-999999999");
    std::fs::create_dir(&stale).unwrap();
    std::fs::write(stale.join("manifest.toml"), "format_version = 1\n").unwrap();
    assert!(!biolens::session::is_session(&stale));
    let (m, items) = biolens::session::read(&pbmc_session()).unwrap();
    biolens::session::write(
        &out,
        &m.params,
        2,
        biolens::core::nn::DeviceKind::Cpu,
        &items,
        &Default::default(),
    )
    .unwrap();
    assert!(biolens::session::is_session(&out));
    assert!(!stale.exists(), "the stale scratch folder was swept");
}

#[test]
fn options_out_of_range_and_unwritable_output_fail_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.biolens");
    let p = pbmc();
    for (args, expect) in [
        (vec!["--motif-k", "20"], "--motif-k must be from 4 to 12"),
        (vec!["--motif-k", "0"], "--motif-k must be from 4 to 12"),
        (vec!["--epochs", "0"], "--epochs must be at least 1"),
        (vec!["--kmer", "9"], "--kmer must be from 1 to 8"),
        (vec!["--threads", "100000"], "--threads must be at most"),
    ] {
        let mut a = vec!["run", p.to_str().unwrap(), "-o", out.to_str().unwrap()];
        a.extend(args.iter().copied());
        let (code, _, stderr) = run(&a);
        assert_ne!(code, 0, "{args:?}");
        assert!(stderr.contains(expect), "{args:?}: {stderr}");
        assert!(!out.exists());
    }
    let (code, _, stderr) = run(&[
        "run",
        p.to_str().unwrap(),
        "-o",
        "/proc/biolens-test.biolens",
    ]);
    assert_ne!(code, 0);
    assert!(
        stderr.contains("/proc/biolens-test.biolens") && stderr.contains("cannot"),
        "{stderr}"
    );
    // Checked before computing: nothing was run, so no progress was printed.
    assert!(!stderr.contains("embedding"), "{stderr}");
}

/// A table dataset holding `m` as given, ids "0", "1", ….
fn table_dataset(name: &str, m: &biolens::core::matrix::Matrix) -> biolens::modality::Dataset {
    biolens::modality::Dataset {
        name: name.into(),
        path: format!("{name}.csv").into(),
        ids: (0..m.rows).map(|i| i.to_string()).collect(),
        meta: Vec::new(),
        inputs: Vec::new(),
        notes: Vec::new(),
        payload: biolens::modality::Payload::Table(std::sync::Arc::new(m.clone())),
    }
}

#[test]
fn an_embedding_without_dimensions_is_an_error_not_a_panic() {
    use biolens::modality::{Embedding, EmbeddingSource};
    let m = biolens::core::matrix::Matrix::zeros(30, 0);
    let ds = table_dataset("empty", &m);
    let emb = Embedding::given(m, EmbeddingSource::Precomputed);
    let e = biolens::pipeline::analyse(
        &ds,
        &emb,
        &biolens::pipeline::PipelineParams::default(),
        &|_| {},
        &biolens::pipeline::CancelToken::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("no dimensions"), "{e}");
}

#[test]
fn identical_rows_give_one_cluster_a_finite_map_and_zero_scores() {
    use biolens::modality::{Embedding, EmbeddingSource};
    // Every item the same point: the neighbour distances are all zero.
    let m = biolens::core::matrix::Matrix::from_vec(120, 3, [1.5f32, 2.0, -3.0].repeat(120));
    let ds = table_dataset("same", &m);
    let emb = Embedding::given(m, EmbeddingSource::Precomputed);
    let a = biolens::pipeline::analyse(
        &ds,
        &emb,
        &biolens::pipeline::PipelineParams::default(),
        &|_| {},
        &biolens::pipeline::CancelToken::default(),
    )
    .unwrap();
    assert!(a.clusters.iter().all(|&c| c == 0), "one cluster");
    assert!(
        a.layout
            .iter()
            .all(|p| p[0].is_finite() && p[1].is_finite())
    );
    assert!(a.anomaly_knn.iter().all(|&s| s == 0.0));
    assert!(a.anomaly_iforest.iter().all(|s| s.is_finite()));
}

#[test]
fn ctrl_c_during_a_run_exits_130_and_leaves_nothing() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.biolens");
    let mut child = Command::new(bin())
        .args([
            "run",
            common::pbmc().to_str().unwrap(),
            "--model",
            "scvi",
            "-o",
            out.to_str().unwrap(),
        ])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = std::io::BufReader::new(stderr).lines();
    // Interrupt once the model is training (the handler is installed before any work).
    for line in lines.by_ref() {
        if line.unwrap().contains("training") {
            break;
        }
    }
    let killed = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{rest:?}");
    assert!(rest.iter().any(|l| l.contains("interrupted")), "{rest:?}");
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn an_h5ad_too_large_for_the_memory_budget_is_refused_before_reading() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("m.biolens");
    let input = common::fixture("cells/h5ad_variants/counts_csr.h5ad");
    let (code, _, stderr) = run_env(
        &["run", input.to_str().unwrap(), "-o", out.to_str().unwrap()],
        &[("BIOLENS_MAX_MEMORY", "1M")],
    );
    assert_ne!(code, 0);
    assert!(
        stderr.contains("counts_csr.h5ad")
            && stderr.contains("174400 stored values")
            && stderr.contains("BIOLENS_MAX_MEMORY"),
        "{stderr}"
    );
    assert!(!out.exists());
}

#[test]
fn a_mistyped_command_gets_did_you_mean() {
    let (code, _, err) = run(&["opne", "x.h5ad"]);
    assert_ne!(code, 0);
    assert!(
        err.contains("opne: no such file or directory; did you mean the command 'open'?"),
        "{err}"
    );
    // A path that is plainly a path gets no command suggested.
    let (_, _, err) = run(&["no/such/dir.h5ad"]);
    assert!(
        err.contains("no such file") && !err.contains("did you mean"),
        "{err}"
    );
}
