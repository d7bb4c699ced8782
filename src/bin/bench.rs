//! Speed, memory and quality of each stage, on the same files the Python peers get
//! (`bench/peers/make_scaled.py`, `bench/peers/peers.py`). Prints one JSON line.
//!
//!     cargo run --release --bin biolens-bench -- target/bench-data/scaled_100000.npy \
//!         --labels target/bench-data/scaled_100000_labels.csv --repeats 3

use biolens::analysis::anomaly;
use biolens::analysis::fuzzy;
use biolens::analysis::kmeans;
use biolens::analysis::knn;
use biolens::analysis::leiden;
use biolens::analysis::metrics;
use biolens::analysis::umap;
use biolens::core::MetaValues;
use biolens::modality::Options;
use biolens::modality::cells::Expression;
use biolens::pipeline::{self, Analysis, ClusterMethod, PipelineParams};
use biolens::tui::raster::Coloring;
use biolens::tui::raster::Viewport;
use biolens::tui::raster::rasterize;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn time<T>(repeats: usize, mut f: impl FnMut() -> T) -> (T, Vec<f64>) {
    let mut times = Vec::new();
    let mut out = None;
    for _ in 0..repeats.max(1) {
        let t = Instant::now();
        out = Some(f());
        times.push(t.elapsed().as_secs_f64());
    }
    (out.expect("at least one repeat"), times)
}

struct Args {
    input: PathBuf,
    labels: Option<PathBuf>,
    repeats: usize,
    threads: usize,
    steps: Vec<String>,
    /// Time the count model instead: epochs to train.
    vae_epochs: Option<usize>,
    /// Time the DNA stages instead (the input is FASTA/FASTQ).
    dna: bool,
    motifs: Option<PathBuf>,
    /// Time the image stages instead (the input is an image or a folder).
    images: bool,
    slide: bool,
    /// Time reopening a session and colouring its map by this gene instead.
    session_gene: Option<String>,
    session_select: Option<String>,
    /// The projection's epochs (0: the default rule).
    umap_epochs: usize,
    /// Write the fuzzy graph as an nnz × 3 float32 .npy of (row, column, weight), both
    /// directions, so a peer can cluster the very same graph.
    graph_out: Option<PathBuf>,
    /// Cluster and project this graph (same layout) instead of biolens' own.
    graph_in: Option<PathBuf>,
    /// Leiden's seed and passes (defaults: the pipeline's).
    leiden: leiden::LeidenParams,
}

/// Counts for the model benchmark: `synthetic:CELLSxGENES` draws Poisson counts from 5 cell
/// types with log-normal gene means and varying depth (seeded); anything else is loaded as a
/// cells input.
fn vae_input(spec: &str) -> Result<Arc<Expression>, String> {
    use rand::{Rng, SeedableRng};
    let Some(dims) = spec.strip_prefix("synthetic:") else {
        let ds = biolens::modality::read(std::path::Path::new(spec), &Options::default())
            .map_err(|e| e.to_string())?;
        return ds
            .expression()
            .cloned()
            .ok_or_else(|| format!("{spec}: not a cells input"));
    };
    let (n, g) = dims
        .split_once('x')
        .and_then(|(a, b)| Some((a.parse::<usize>().ok()?, b.parse::<usize>().ok()?)))
        .ok_or("synthetic:CELLSxGENES")?;
    let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(1);
    let base: Vec<f64> = (0..g)
        .map(|_| (rng.r#gen::<f64>() * 6.0 - 4.0).exp())
        .collect();
    let types: Vec<Vec<f64>> = (0..5)
        .map(|_| {
            (0..g)
                .map(|_| (rng.r#gen::<f64>() * 2.0 - 1.0).exp())
                .collect()
        })
        .collect();
    let mut indptr = vec![0];
    let (mut genes, mut values) = (Vec::new(), Vec::new());
    for i in 0..n {
        let depth = 0.5 + rng.r#gen::<f64>();
        for j in 0..g {
            let mu = base[j] * types[i % 5][j] * depth;
            // Poisson by inversion (means here are small).
            let (mut k, mut p, u) = (0u32, (-mu).exp(), rng.r#gen::<f64>());
            let mut cdf = p;
            while u > cdf && k < 10_000 {
                k += 1;
                p *= mu / k as f64;
                cdf += p;
            }
            if k > 0 {
                genes.push(j as u32);
                values.push(k as f32);
            }
        }
        indptr.push(genes.len());
    }
    let m = biolens::modality::cells::mtx::SparseCounts {
        n_cells: n,
        n_genes: g,
        indptr,
        genes,
        values,
    };
    Ok(Arc::new(Expression::new(
        m,
        (0..g).map(|j| format!("g{j}")).collect(),
        biolens::modality::cells::h5ad::ValueKind::Counts,
        spec.to_string(),
    )))
}

fn bench_vae(spec: &str, epochs: usize, threads: usize) -> Result<(), String> {
    let expr = vae_input(spec)?;
    let p = biolens::modality::cells::model::CellsParams {
        scvi: biolens::modality::cells::vae::ScviParams {
            max_epochs: Some(epochs),
            patience: 0,
            ..Default::default()
        },
        ..Default::default()
    };
    let mut per_epoch = Vec::new();
    let out = pipeline::with_threads(threads, || {
        biolens::modality::cells::model::train(&expr, &p, &mut |ev| {
            match ev {
                biolens::modality::cells::vae::TrainEvent::Estimate { seconds, epochs } => {
                    eprintln!("estimate: {seconds:.1} s for {epochs} epochs")
                }
                biolens::modality::cells::vae::TrainEvent::Epoch(r) => {
                    eprintln!(
                        "epoch {}: {:.3} s, train loss {:.1}",
                        r.epoch, r.seconds, r.train_loss
                    );
                    per_epoch.push(r.seconds);
                }
            }
            true
        })
    })
    .map_err(|e| e.to_string())?;
    let s = &out.model.summary;
    println!(
        "{{\"tool\": \"biolens\", \"input\": \"{spec}\", \"cells\": {}, \"genes\": {}, \"epochs\": {epochs}, \"median_s_per_epoch\": {:.4}, \"mean_s_per_epoch\": {:.4}, \"heldout_elbo_per_cell\": {:.2}, \"peak_rss_mb\": {:.1}}}",
        expr.n_cells(),
        s.n_genes_used,
        median(&mut per_epoch.clone()),
        per_epoch.iter().sum::<f64>() / per_epoch.len().max(1) as f64,
        s.heldout_elbo,
        peak_rss_mb()
    );
    Ok(())
}

/// Edges as f32 triples: row and column numbers are exact in f32 below 2^24 items.
fn write_edges(
    path: &std::path::Path,
    g: &biolens::analysis::graph::CsrGraph,
) -> std::io::Result<()> {
    if g.n >= 1 << 24 {
        return Err(std::io::Error::other(
            "more than 2^24 items do not fit f32 triples",
        ));
    }
    let mut data = Vec::with_capacity(g.nnz() * 3);
    for i in 0..g.n {
        let (nb, w) = g.row(i);
        for (&j, &x) in nb.iter().zip(w) {
            data.extend_from_slice(&[i as f32, j as f32, x]);
        }
    }
    let m = biolens::core::matrix::Matrix::from_vec(g.nnz(), 3, data);
    biolens::io::npy::write_npy_f32(path, &m)
}

fn read_edges(
    path: &std::path::Path,
    n: usize,
) -> Result<biolens::analysis::graph::CsrGraph, String> {
    let f = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let m =
        biolens::io::npy::read_npy(std::io::BufReader::new(f), path).map_err(|e| e.to_string())?;
    if m.cols != 3 {
        return Err(format!(
            "{}: expected nnz × 3 (row, column, weight), got {} columns",
            path.display(),
            m.cols
        ));
    }
    let mut t = Vec::with_capacity(m.rows);
    for r in 0..m.rows {
        let e = m.row(r);
        let (i, j) = (e[0] as usize, e[1] as usize);
        if i >= n || j >= n || e[0].fract() != 0.0 || e[1].fract() != 0.0 {
            return Err(format!(
                "{}: edge {r} ({}, {}) is not a pair of item numbers below {n}",
                path.display(),
                e[0],
                e[1]
            ));
        }
        t.push((i as u32, j as u32, e[2]));
    }
    Ok(biolens::analysis::graph::CsrGraph::from_triples(n, t))
}

fn parse() -> Result<Args, String> {
    let mut a = std::env::args().skip(1);
    let mut input = None;
    let mut labels = None;
    let mut repeats = 1;
    let mut threads = 0;
    let mut steps = "knn,graph,umap,leiden,kmeans,anomaly,raster,session".to_string();
    let mut vae_epochs = None;
    let mut dna = false;
    let mut images = false;
    let mut slide = false;
    let mut motifs = None;
    let mut session_gene = None;
    let mut session_select = None;
    let mut umap_epochs = 0;
    let mut graph_out = None;
    let mut graph_in = None;
    let mut leiden_params = leiden::LeidenParams::default();
    while let Some(x) = a.next() {
        match x.as_str() {
            "--labels" => labels = a.next().map(PathBuf::from),
            "--repeats" => repeats = a.next().and_then(|v| v.parse().ok()).ok_or("--repeats N")?,
            "--threads" => threads = a.next().and_then(|v| v.parse().ok()).ok_or("--threads N")?,
            "--steps" => steps = a.next().ok_or("--steps a,b,c")?,
            "--vae-epochs" => {
                vae_epochs = Some(a.next().and_then(|v| v.parse().ok()).ok_or("--vae-epochs N")?)
            }
            "--umap-epochs" => {
                umap_epochs = a.next().and_then(|v| v.parse().ok()).ok_or("--umap-epochs N")?
            }
            "--graph-out" => graph_out = a.next().map(PathBuf::from),
            "--graph-in" => graph_in = a.next().map(PathBuf::from),
            "--leiden-seed" => {
                leiden_params.seed = a.next().and_then(|v| v.parse().ok()).ok_or("--leiden-seed S")?
            }
            "--leiden-iterations" => {
                leiden_params.max_iterations =
                    a.next().and_then(|v| v.parse().ok()).ok_or("--leiden-iterations N")?
            }
            "--dna" => dna = true,
            "--images" => images = true,
            "--slide" => slide = true,
            "--session-gene" => session_gene = a.next(),
            "--session-select" => session_select = a.next(),
            "--motifs" => motifs = a.next().map(PathBuf::from),
            "-h" | "--help" => return Err("usage: biolens-bench INPUT [--labels FILE.csv] [--repeats N] [--threads N] [--steps knn,graph,umap,leiden,kmeans,anomaly,iforest,raster,session] [--umap-epochs N] [--graph-out EDGES.npy] [--graph-in EDGES.npy] [--leiden-seed S] [--leiden-iterations N]\n       biolens-bench CELLS|synthetic:5000x2000 --vae-epochs N [--threads N]   (count model s/epoch)\n       biolens-bench SEQS.fa --dna [--motifs FILE.meme] [--threads N]   (DNA: k-mer baseline, motifs, encoder tokens/s)\n       biolens-bench IMAGES --images [--threads N]   (tiles/s: baseline features, a ViT-S/14-sized model)\n       biolens-bench SLIDE --slide [--threads N]   (whole slide: 448-px level-0 boxes read at 224 px, 1 thread and all; tissue + cut + features, peak memory)\n       biolens-bench SESSION.biolens --session-gene GENE [--repeats N]   (reopen, then colour the map by a gene)\n       biolens-bench SESSION.biolens --session-select PREDICATE [--repeats N]   (reopen, then evaluate `:select NAME where PREDICATE`)".into()),
            _ => input = Some(PathBuf::from(x)),
        }
    }
    Ok(Args {
        input: input.ok_or("missing INPUT")?,
        labels,
        repeats,
        threads,
        steps: steps.split(',').map(str::to_string).collect(),
        vae_epochs,
        dna,
        motifs,
        images,
        slide,
        session_gene,
        session_select,
        umap_epochs,
        graph_out,
        graph_in,
        leiden: leiden_params,
    })
}

fn main() {
    biolens::core::memory::keep_freed_blocks();
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    if let Some(epochs) = args.vae_epochs {
        if let Err(e) = bench_vae(&args.input.to_string_lossy(), epochs, args.threads) {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
        return;
    }
    if let Some(gene) = &args.session_gene {
        if let Err(e) = pipeline::with_threads(args.threads, || bench_session_gene(&args, gene)) {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
        return;
    }
    if let Some(pred) = &args.session_select {
        if let Err(e) = pipeline::with_threads(args.threads, || bench_session_select(&args, pred)) {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
        return;
    }
    if args.slide {
        if let Err(e) = pipeline::with_threads(args.threads, || bench_slide(&args)) {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
        return;
    }
    if args.images {
        if let Err(e) = pipeline::with_threads(args.threads, || bench_images(&args)) {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
        return;
    }
    if args.dna {
        if let Err(e) = pipeline::with_threads(args.threads, || bench_dna(&args)) {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
        return;
    }
    if std::env::var_os("BIOLENS_BENCH_TRACE").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_max_level(tracing::Level::DEBUG)
            .try_init();
    }
    if let Some(dir) = args.input.to_str().filter(|p| p.ends_with(".biolens")) {
        // Time opening an existing session only.
        let dir = PathBuf::from(dir);
        pipeline::with_threads(args.threads, || {
            let (_, t) = time(args.repeats, || {
                biolens::session::read_for_view(&dir).expect("read session")
            });
            let (_, t2) = time(args.repeats, || {
                biolens::session::read(&dir).expect("read session")
            });
            println!(
                "{{\"session\": \"{}\", \"session_open_s\": {:.3}, \"session_read_all_s\": {:.3}}}",
                dir.display(),
                median(&mut t.clone()),
                median(&mut t2.clone())
            );
        });
        return;
    }
    pipeline::with_threads(args.threads, || run(args));
}

fn run(args: Args) {
    let has = |s: &str| args.steps.iter().any(|x| x == s);
    let t0 = Instant::now();
    let opts = Options {
        meta: args.labels.clone(),
        ..Default::default()
    };
    let (ds, emb) = pipeline::load(&args.input, &opts).unwrap_or_else(|e| {
        eprintln!("error: {e}");
        std::process::exit(2)
    });
    let load_s = t0.elapsed().as_secs_f64();
    let labels: Option<Vec<String>> = ds
        .meta
        .iter()
        .find(|c| c.name == "label" || c.name == "bulk_labels")
        .map(|c| match &c.values {
            MetaValues::Text(v) => v.clone(),
            MetaValues::Number(_) => (0..c.len()).map(|i| c.display(i)).collect(),
        });
    let n = ds.len();
    let x = &*emb.matrix;
    let mut p = PipelineParams::default();
    p.umap.n_epochs = args.umap_epochs;
    let mut out: Vec<(String, String)> = vec![
        ("input".into(), format!("\"{}\"", args.input.display())),
        ("n".into(), n.to_string()),
        ("d".into(), x.cols.to_string()),
        ("threads".into(), rayon::current_num_threads().to_string()),
        ("load_s".into(), format!("{load_s:.3}")),
        (
            "peak_rss_mb_after_load".into(),
            format!("{:.0}", peak_rss_mb()),
        ),
    ];
    let push_times = |name: &str, mut t: Vec<f64>, out: &mut Vec<(String, String)>| {
        let m = median(&mut t);
        eprintln!("{name}: median {m:.3}s over {}", t.len());
        out.push((format!("{name}_s"), format!("{m:.3}")));
        m
    };
    let (g, t) = time(args.repeats, || {
        knn::knn_graph(x, &p.knn, &|_| {}, &|| false).expect("knn")
    });
    push_times("knn", t, &mut out);
    let knn = Arc::new(g);
    out.push((
        "peak_rss_mb_after_knn".into(),
        format!("{:.0}", peak_rss_mb()),
    ));
    let sample: Vec<usize> = (0..n).step_by((n / 1000).max(1)).take(1000).collect();
    let recall = knn::recall(x, &knn, &sample);
    out.push(("knn_recall15".into(), format!("{recall:.4}")));
    let graph = if let Some(path) = &args.graph_in {
        read_edges(path, n).unwrap_or_else(|e| {
            eprintln!("error: {e}");
            std::process::exit(2)
        })
    } else {
        let (graph, t) = time(args.repeats, || fuzzy::fuzzy_simplicial_set(&knn));
        push_times("graph", t, &mut out);
        graph
    };
    if let Some(path) = &args.graph_out {
        write_edges(path, &graph).unwrap_or_else(|e| {
            eprintln!("error: {}: {e}", path.display());
            std::process::exit(2)
        });
    }
    let graph = Arc::new(graph);
    out.push((
        "peak_rss_mb_after_graph".into(),
        format!("{:.0}", peak_rss_mb()),
    ));
    let mut clusters = Arc::new(vec![0u32; n]);
    if has("leiden") {
        let (c, t) = time(args.repeats, || {
            leiden::leiden(&graph, &args.leiden).expect("leiden")
        });
        push_times("leiden", t, &mut out);
        out.push((
            "leiden_clusters".into(),
            (c.iter().max().map_or(0, |m| m + 1)).to_string(),
        ));
        if let Some(l) = &labels {
            out.push(("leiden_ari".into(), format!("{:.4}", metrics::ari(l, &c))));
            out.push(("leiden_nmi".into(), format!("{:.4}", metrics::nmi(l, &c))));
        }
        out.push((
            "leiden_modularity".into(),
            format!("{:.4}", leiden::modularity(&graph, &c, 1.0)),
        ));
        clusters = Arc::new(c);
        out.push((
            "peak_rss_mb_after_leiden".into(),
            format!("{:.0}", peak_rss_mb()),
        ));
    }
    if has("kmeans") {
        let k = labels.as_ref().map_or(10, |l| {
            l.iter().collect::<std::collections::HashSet<_>>().len()
        });
        let kp = kmeans::KMeansParams {
            k,
            ..Default::default()
        };
        let (c, t) = time(args.repeats, || kmeans::kmeans(x, &kp).expect("kmeans"));
        push_times("kmeans", t, &mut out);
        if let Some(l) = &labels {
            out.push(("kmeans_ari".into(), format!("{:.4}", metrics::ari(l, &c))));
        }
    }
    let (mut a_knn, mut a_if) = (Arc::new(vec![0.0; n]), Arc::new(vec![0.0; n]));
    if has("anomaly") {
        let ((ak, ai), t) = time(args.repeats, || {
            (
                anomaly::knn_distance_score(&knn, 10),
                anomaly::isolation_forest(x, &p.anomaly),
            )
        });
        push_times("anomaly", t, &mut out);
        a_knn = Arc::new(ak);
        a_if = Arc::new(ai);
    }
    if has("iforest") {
        let (_, t) = time(args.repeats, || anomaly::isolation_forest(x, &p.anomaly));
        push_times("iforest", t, &mut out);
    }
    let mut layout = Arc::new(vec![[0.0f32; 2]; n]);
    if has("umap") {
        let (l, t) = time(args.repeats, || {
            umap::umap_layout(x, &graph, &p.umap, &|_| {}, &|| false).expect("umap")
        });
        push_times("umap", t, &mut out);
        let tr = metrics::trustworthiness(x, &l, 15, 5000);
        out.push(("umap_trust15".into(), format!("{tr:.4}")));
        layout = Arc::new(l);
    }
    let peak_pipeline = peak_rss_mb();
    out.push(("peak_rss_mb".into(), format!("{peak_pipeline:.0}")));
    if has("raster") {
        let vp = Viewport::fit(&layout);
        let (_, t) = time(args.repeats.max(20), || {
            rasterize(&layout, &vp, 160, 50, &Coloring::Category(&clusters))
        });
        let m = median(&mut t.clone());
        eprintln!("raster 160x50: median {:.2} ms", m * 1e3);
        out.push(("raster_ms".into(), format!("{:.2}", m * 1e3)));
    }
    if has("session") {
        let dir = std::env::temp_dir().join(format!("biolens-bench-{}", std::process::id()));
        let path = dir.join("bench.biolens");
        let analysis = Analysis {
            knn: knn.clone(),
            graph: None,
            layout: layout.clone(),
            clusters: clusters.clone(),
            cluster_method: ClusterMethod::default(),
            anomaly_knn: a_knn,
            anomaly_iforest: a_if,
            anomaly_depth: None,
            anomaly_model: None,
            findings: None,
            timings: Vec::new(),
        };
        let sd = biolens::session::SessionDataset {
            dataset: ds.clone(),
            embedding: emb.clone(),
            analysis,
        };
        let (_, t) = time(1, || {
            biolens::session::write(
                &path,
                &p,
                rayon::current_num_threads(),
                biolens::core::nn::DeviceKind::Cpu,
                std::slice::from_ref(&sd),
                &Default::default(),
            )
            .expect("write session")
        });
        push_times("session_write", t, &mut out);
        // What `biolens open` does: everything but the embedding vectors.
        let (_, t) = time(args.repeats, || {
            biolens::session::read_for_view(&path).expect("read session")
        });
        push_times("session_open", t, &mut out);
        let (_, t) = time(args.repeats, || {
            biolens::session::read(&path).expect("read session")
        });
        push_times("session_read_all", t, &mut out);
        let _ = std::fs::remove_dir_all(&dir);
    }
    out.push(("peak_rss_mb_all".into(), format!("{:.0}", peak_rss_mb())));
    let body: Vec<String> = out.iter().map(|(k, v)| format!("\"{k}\": {v}")).collect();
    println!("{{{}}}", body.join(", "));
}

/// DNA: reading, the k-mer baseline, the graph and clusters, motif discovery on every cluster,
/// and the encoder's forward pass in tokens per second for the default pre-training size and
/// for a DNABERT-2-117M-sized model (random weights; speed does not depend on them).
fn bench_dna(args: &Args) -> Result<(), String> {
    use biolens::modality::dna::encoder;
    use biolens::modality::dna::encoder::Encoder;
    use biolens::modality::dna::encoder::EncoderConfig;
    let t = Instant::now();
    let mut opts = Options::default();
    opts.dna.motifs = args.motifs.clone();
    let (ds, emb) = pipeline::load(&args.input, &opts).map_err(|e| e.to_string())?;
    let load_s = t.elapsed().as_secs_f64();
    let seqs = &ds.sequences().ok_or("not a DNA input")?.seqs;
    let params = PipelineParams::default();
    let t = Instant::now();
    let a = pipeline::analyse(
        &ds,
        &emb,
        &params,
        &|_| {},
        &pipeline::CancelToken::default(),
    )
    .map_err(|e| e.to_string())?;
    let pipeline_s = t.elapsed().as_secs_f64();
    let motifs_s = a
        .timings
        .iter()
        .find(|(k, _)| k == "motifs")
        .map_or(f64::NAN, |x| x.1);
    let n_motifs = a
        .findings
        .as_ref()
        .and_then(|f| f.motifs())
        .map_or(0, |m| m.motifs.len());
    let sample: Vec<Vec<u8>> = seqs.iter().take(64).cloned().collect();
    let mut tps = Vec::new();
    for (name, hidden, layers, heads, vocab) in [
        ("small_128x2", 128, 2, 4, 512),
        ("dnabert2_768x12", 768, 12, 12, 4096),
    ] {
        let tok = encoder::train_tokenizer(seqs, vocab).map_err(|e| e.to_string())?;
        let cfg = EncoderConfig {
            vocab_size: tok.get_vocab_size(true),
            hidden_size: hidden,
            num_hidden_layers: layers,
            num_attention_heads: heads,
            intermediate_size: 4 * hidden,
            layer_norm_eps: 1e-12,
            type_vocab_size: 2,
            max_tokens: 512,
        };
        let vm = candle_nn::VarMap::new();
        let enc = Encoder::new_trainable(&cfg, &vm, 0, &candle_core::Device::Cpu)
            .map_err(|e| e.to_string())?
            .detached();
        let tk = encoder::tokenize(&tok, &sample, 512).map_err(|e| e.to_string())?;
        let n_tokens: usize = tk.ids.iter().map(|v| v.len()).sum();
        let t = Instant::now();
        // Forward only: the embedding pass (pseudo-perplexity adds two more).
        for b in tk.ids.chunks(16) {
            let len = b.iter().map(|v| v.len()).max().unwrap_or(1);
            let lens: Vec<usize> = b.iter().map(|v| v.len()).collect();
            let mut ids = vec![tk.pad_id; b.len() * len];
            for (i, v) in b.iter().enumerate() {
                ids[i * len..i * len + v.len()].copy_from_slice(v);
            }
            let x = candle_core::Tensor::from_vec(ids, (b.len(), len), &candle_core::Device::Cpu)
                .map_err(|e| e.to_string())?;
            enc.forward(&x, &lens).map_err(|e| e.to_string())?;
        }
        let s = t.elapsed().as_secs_f64();
        tps.push(format!(
            "\"encoder_{name}_tokens_per_s\": {:.0}, \"encoder_{name}_tokens\": {n_tokens}",
            n_tokens as f64 / s
        ));
    }
    println!(
        "{{\"input\": \"{}\", \"items\": {}, \"load_kmer_s\": {load_s:.3}, \"pipeline_s\": {pipeline_s:.3}, \"motifs_s\": {motifs_s:.3}, \"motifs\": {n_motifs}, {}, \"peak_rss_mb\": {:.0}}}",
        args.input.display(),
        ds.len(),
        tps.join(", "),
        peak_rss_mb()
    );
    Ok(())
}

/// Whole slides: level-0 boxes of 448 pixels (224 at 0.5 µm/px on a 0.25 µm/px scan) over
/// the whole slide read and resized to 224, on one thread and on all; then the cut a run
/// makes (tissue, tiles over it, features, 64-pixel copies), with peak memory.
fn bench_slide(args: &Args) -> Result<(), String> {
    use biolens::modality::images::slide::Slide;
    use biolens::modality::images::slide::cut::{CutParams, cut};
    use rayon::prelude::*;
    let t = Instant::now();
    let s = Slide::open(&args.input).map_err(|e| e.to_string())?;
    let open_s = t.elapsed().as_secs_f64();
    let (w, h) = s.dimensions();
    let side = 448u64;
    let boxes: Vec<(u64, u64)> = (0..h as u64 / side)
        .flat_map(|y| (0..w as u64 / side).map(move |x| (x * side, y * side)))
        .collect();
    // 2000 boxes from the grid's middle row on, where a slide has its tissue.
    let boxes = boxes[(boxes.len() / 2).saturating_sub(1000)..].to_vec();
    let n = boxes.len().min(2000);
    // Fresh slide handles, so neither pass finds the other's chunks cached.
    let one = Slide::open(&args.input).map_err(|e| e.to_string())?;
    let t = Instant::now();
    for &(x, y) in &boxes[..n] {
        one.read_scaled(x, y, side, 224)?;
    }
    let seq = n as f64 / t.elapsed().as_secs_f64();
    let all = Slide::open(&args.input).map_err(|e| e.to_string())?;
    let t = Instant::now();
    boxes[..n]
        .par_iter()
        .map(|&(x, y)| all.read_scaled(x, y, side, 224).map(|_| ()))
        .collect::<Result<Vec<()>, String>>()?;
    let par = n as f64 / t.elapsed().as_secs_f64();
    let fresh = Slide::open(&args.input).map_err(|e| e.to_string())?;
    let t = Instant::now();
    let c = cut(
        &fresh,
        &CutParams {
            tile_px: 224,
            target_mpp: 0.5,
            stride_px: 0,
            min_foreground: 0.05,
            keep_background: false,
            mpp: None,
        },
        &|_| {},
        &biolens::modality::images::tiles::keep_slide_tile,
    )?;
    let cut_s = t.elapsed().as_secs_f64();
    println!(
        "{}",
        serde_json::json!({
            "slide": args.input.display().to_string(),
            "size": [w, h],
            "levels": s.levels.len(),
            "open_s": open_s,
            "boxes": n,
            "boxes_per_s_1_thread": seq,
            "boxes_per_s_all_threads": par,
            "threads": rayon::current_num_threads(),
            "cut_tiles": c.boxes.len(),
            "cut_s": cut_s,
            "cut_tiles_per_s": c.boxes.len() as f64 / cut_s,
            "peak_rss_mb": peak_rss_mb(),
        })
    );
    Ok(())
}

/// Images: tiles per second of reading + baseline features, and of a ViT-S/14-sized model
/// (12 layers × 384, 6 heads, random weights written to a temporary folder) at 224 px.
fn bench_images(args: &Args) -> Result<(), String> {
    use biolens::modality::images::vit::Vit;
    use biolens::modality::images::vit::VitConfig;
    let t = Instant::now();
    let (ds, _) = pipeline::load(&args.input, &Options::default()).map_err(|e| e.to_string())?;
    let baseline_s = t.elapsed().as_secs_f64();
    let tiles = ds.tiles().ok_or("not an images input")?;
    let cfg = VitConfig {
        hidden_size: 384,
        num_hidden_layers: 12,
        num_attention_heads: 6,
        mlp_ratio: 4,
        patch_size: 14,
        image_size: 518,
        layer_norm_eps: 1e-6,
    };
    let dir = std::env::temp_dir().join(format!("biolens-bench-vit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let mut m = std::collections::HashMap::new();
    for (name, shape) in cfg.expected_tensors() {
        m.insert(
            name,
            candle_core::Tensor::zeros(
                shape.as_slice(),
                candle_core::DType::F32,
                &candle_core::Device::Cpu,
            )
            .map_err(|e| e.to_string())?,
        );
    }
    candle_core::safetensors::save(&m, dir.join("model.safetensors")).map_err(|e| e.to_string())?;
    std::fs::write(
        dir.join("config.json"),
        serde_json::to_string(&cfg).map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())?;
    let vit = Vit::load(&dir, &candle_core::Device::Cpu).map_err(|e| e.to_string())?;
    let sample: Vec<image::RgbImage> = tiles.pixels.iter().take(32).cloned().collect();
    let t = Instant::now();
    vit.embed(&sample, 224, &mut |_| true)
        .map_err(|e| e.to_string())?;
    let vit_s = t.elapsed().as_secs_f64();
    let _ = std::fs::remove_dir_all(&dir);
    println!(
        "{{\"input\": \"{}\", \"tiles\": {}, \"baseline_tiles_per_s\": {:.0}, \"vit_s14_224px_tiles_per_s\": {:.2}, \"peak_rss_mb\": {:.0}}}",
        args.input.display(),
        ds.len(),
        ds.len() as f64 / baseline_s,
        sample.len() as f64 / vit_s,
        peak_rss_mb()
    );
    Ok(())
}

/// Reopening a session (everything `biolens open` reads), then what `:color gene GENE` does:
/// the gene's normalised values for every cell and the map rasterised with them.
fn bench_session_gene(args: &Args, gene: &str) -> Result<(), String> {
    let (read, read_s) = time(1, || biolens::session::read(&args.input));
    let (_, items) = read.map_err(|e| e.to_string())?;
    let item = items.first().ok_or("the session holds no dataset")?;
    let e = item
        .dataset
        .expression()
        .ok_or("the first dataset is not a cells dataset")?;
    let g = e
        .gene_index(gene)
        .ok_or_else(|| format!("no gene '{gene}'"))?;
    let layout = &item.analysis.layout;
    let vp = Viewport::fit(layout);
    let (_, color_s) = time(args.repeats, || {
        let v = e.normalised_gene(g);
        let hi = v.iter().fold(0f32, |m, &x| m.max(x));
        rasterize(
            layout,
            &vp,
            160,
            50,
            &Coloring::Value { v: &v, lo: 0.0, hi },
        )
    });
    println!(
        "{{\"tool\": \"biolens\", \"session\": \"{}\", \"cells\": {}, \"values\": {}, \"reopen_s\": {:.3}, \"color_gene_ms_median\": {:.2}, \"peak_rss_mb\": {:.1}}}",
        args.input.display(),
        e.n_cells(),
        e.nnz(),
        read_s[0],
        median(&mut color_s.clone()) * 1e3,
        peak_rss_mb()
    );
    Ok(())
}

/// Reopens a session and evaluates one predicate selection on its first dataset, as `:select
/// NAME where PREDICATE` does in the interface (the same function, on the same points frame).
fn bench_session_select(args: &Args, predicate: &str) -> Result<(), String> {
    use biolens::core::selection::{Definition, Selection};
    let (read, read_s) = time(1, || biolens::session::read(&args.input));
    let (_, items) = read.map_err(|e| e.to_string())?;
    let item = items.first().ok_or("the session holds no dataset")?;
    let r = biolens::pipeline::Partial::from(item.analysis.clone());
    let sel = Selection {
        name: "bench".into(),
        dataset: None,
        def: Definition::Where {
            predicate: predicate.into(),
        },
    };
    let all = [sel];
    let (m, t) = time(args.repeats, || {
        biolens::pipeline::select::members(&all, "bench", &item.dataset, &r)
    });
    let m = m?;
    println!(
        "{{\"tool\": \"biolens\", \"session\": \"{}\", \"items\": {}, \"predicate\": {:?}, \"members\": {}, \"reopen_s\": {:.3}, \"select_ms_median\": {:.2}, \"select_ms_max\": {:.2}, \"peak_rss_mb\": {:.1}}}",
        args.input.display(),
        item.dataset.len(),
        predicate,
        m.len(),
        read_s[0],
        median(&mut t.clone()) * 1e3,
        t.iter().fold(0f64, |a, &b| a.max(b)) * 1e3,
        peak_rss_mb()
    );
    Ok(())
}
