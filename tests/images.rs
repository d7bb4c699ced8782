//! Images on real data (`assets/images`, `tests/data/images`): nuclei tiles scored against the label image, H&E
//! tissue against background. Every figure a threshold rests on is printed.
#![allow(clippy::unwrap_used)]

mod common;

use biolens::analysis::metrics::{ari, neighbour_label_agreement};
use biolens::core::MetaValues;
use biolens::modality::images::tiles::TileParams;
use biolens::modality::{Dataset, Embedding, Options};
use biolens::pipeline::{self, CancelToken, PipelineParams};
use common::{asset, fixture};

fn purity(labels: &[String], clusters: &[u32]) -> f64 {
    let mut by: std::collections::HashMap<u32, std::collections::HashMap<&str, usize>> =
        Default::default();
    for (l, &c) in labels.iter().zip(clusters) {
        *by.entry(c).or_default().entry(l.as_str()).or_default() += 1;
    }
    by.values()
        .map(|m| *m.values().max().unwrap())
        .sum::<usize>() as f64
        / labels.len() as f64
}

/// The nuclei image in 32-px tiles, background kept (the labels need both classes).
fn nuclei_tiles() -> (Dataset, Embedding) {
    let mut opts = Options::default();
    opts.images.tiles = TileParams {
        tile: 32,
        keep_background: true,
        ..Default::default()
    };
    pipeline::load(&asset("images/nuclei_dsb2018.png"), &opts).unwrap()
}

fn num(ds: &Dataset, name: &str) -> Vec<f64> {
    match &ds.meta_column(name).unwrap().values {
        MetaValues::Number(v) => v.clone(),
        _ => panic!("{name} is not numeric"),
    }
}

#[test]
fn nuclei_tiles_cluster_by_nucleus_and_background() {
    let (ds, emb) = nuclei_tiles();
    assert_eq!(ds.len(), 256);
    let lab = image::open(fixture("images/nuclei_dsb2018_labels.png"))
        .unwrap()
        .to_luma16();
    let (xs, ys) = (num(&ds, "tile_x"), num(&ds, "tile_y"));
    // A tile is "nucleus" when over 20 % of its pixels belong to a nucleus, "background"
    // when none does; tiles in between are left out of the scores.
    let mut keep = Vec::new();
    let mut labels = Vec::new();
    for i in 0..ds.len() {
        let (x0, y0) = (xs[i] as u32, ys[i] as u32);
        let mut n = 0;
        for y in y0..y0 + 32 {
            for x in x0..x0 + 32 {
                n += (lab.get_pixel(x, y).0[0] > 0) as usize;
            }
        }
        let share = n as f64 / 1024.0;
        if share > 0.2 || n == 0 {
            keep.push(i);
            labels.push(if n == 0 { "background" } else { "nucleus" }.to_string());
        }
    }
    let params = PipelineParams::default().with_seed(0);
    let a = pipeline::with_threads(2, || {
        pipeline::analyse(&ds, &emb, &params, &|_| {}, &CancelToken::default())
    })
    .unwrap();
    let cl: Vec<u32> = keep.iter().map(|&i| a.clusters[i]).collect();
    let all_labels: Vec<String> = (0..ds.len())
        .map(|i| {
            keep.iter()
                .position(|&k| k == i)
                .map_or("ambiguous".to_string(), |p| labels[p].clone())
        })
        .collect();
    let p = purity(&labels, &cl);
    let r = ari(&labels, &cl);
    let acc = neighbour_label_agreement(&a.knn, &all_labels);
    println!(
        "nuclei, baseline features: {} scored tiles ({} nucleus), {} clusters: purity {p:.3}, ARI {r:.3}, neighbour label agreement (3 classes incl. ambiguous) {acc:.3}",
        labels.len(),
        labels.iter().filter(|l| *l == "nucleus").count(),
        a.clusters.iter().max().unwrap() + 1
    );
    // Measured (seed 0, 32-px tiles): purity 0.988, ARI 0.253 (9 clusters split both classes
    // further), neighbour label agreement 0.684 over three classes.
    assert!(p > 0.95, "purity {p}");
}

#[test]
fn he_tissue_and_background_tiles_land_in_different_clusters() {
    let mut opts = Options::default();
    opts.images.tiles = TileParams {
        tile: 128,
        keep_background: true,
        ..Default::default()
    };
    let (ds, emb) = pipeline::load(&fixture("images/cmu1_small_region.jpg"), &opts).unwrap();
    let fg = num(&ds, "foreground");
    let params = PipelineParams::default().with_seed(0);
    let a = pipeline::with_threads(2, || {
        pipeline::analyse(&ds, &emb, &params, &|_| {}, &CancelToken::default())
    })
    .unwrap();
    // Tissue: over half the tile saturated; background: under 5 % (the mask's own cut).
    let (mut labels, mut cl) = (Vec::new(), Vec::new());
    for (&f, &c) in fg.iter().zip(a.clusters.iter()) {
        if !(0.05..=0.5).contains(&f) {
            labels.push(if f > 0.5 { "tissue" } else { "background" }.to_string());
            cl.push(c);
        }
    }
    let p = purity(&labels, &cl);
    println!(
        "H&E, {} tiles ({} tissue, {} background scored), {} clusters: purity {p:.3}, ARI {:.3}",
        ds.len(),
        labels.iter().filter(|l| *l == "tissue").count(),
        labels.iter().filter(|l| *l == "background").count(),
        a.clusters.iter().max().unwrap() + 1,
        ari(&labels, &cl)
    );
    // Measured (seed 0, 128-px tiles): purity 0.988, ARI 0.271 over 9 clusters.
    assert!(p > 0.95, "purity {p}");
    // And by default the mask drops the background tiles.
    opts.images.tiles = TileParams {
        tile: 128,
        ..Default::default()
    };
    let ds2 = biolens::modality::read(&fixture("images/cmu1_small_region.jpg"), &opts).unwrap();
    println!("{:?}", ds2.notes);
    assert!(ds2.len() < ds.len());
}

/// A tiny random DINOv2 checkpoint in the Hugging Face layout, written by the test.
fn write_tiny_vit(dir: &std::path::Path) {
    use candle_core::{Device, Tensor};
    use rand::{Rng, SeedableRng};
    let cfg = biolens::modality::images::vit::VitConfig {
        hidden_size: 24,
        num_hidden_layers: 2,
        num_attention_heads: 3,
        mlp_ratio: 4,
        patch_size: 8,
        image_size: 32,
        layer_norm_eps: 1e-6,
    };
    let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(3);
    let mut m = std::collections::HashMap::new();
    for (name, shape) in cfg.expected_tensors() {
        let n: usize = shape.iter().product();
        let v: Vec<f32> = (0..n).map(|_| rng.gen_range(-0.2..0.2)).collect();
        m.insert(
            name,
            Tensor::from_vec(v, shape.as_slice(), &Device::Cpu).unwrap(),
        );
    }
    candle_core::safetensors::save(&m, dir.join("model.safetensors")).unwrap();
    std::fs::write(
        dir.join("config.json"),
        serde_json::to_string(&cfg).unwrap(),
    )
    .unwrap();
}

#[test]
fn a_pretrained_vit_folder_embeds_the_tiles() {
    let d = tempfile::tempdir().unwrap();
    let vit = d.path().join("vit");
    std::fs::create_dir(&vit).unwrap();
    write_tiny_vit(&vit);
    let out = d.path().join("n.biolens");
    let img = asset("images/nuclei_dsb2018.png");
    let status = std::process::Command::new(common::bin())
        .args([
            "run",
            img.to_str().unwrap(),
            "--image-encoder",
            vit.to_str().unwrap(),
            "--vit-size",
            "40",
            "-o",
            out.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&status.stderr);
    assert!(status.status.success(), "{err}");
    let (m, items) = biolens::session::read(&out).unwrap();
    assert_eq!(items[0].embedding.matrix.cols, 24);
    // The autoencoder's reconstruction error is the model score of every tile.
    let recon = items[0]
        .analysis
        .anomaly_model
        .as_ref()
        .expect("reconstruction error");
    assert!(recon.iter().all(|v| v.is_finite() && *v >= 0.0));
    assert!(
        m.datasets[0].embedding.contains("ViT 2 layers × 24"),
        "{}",
        m.datasets[0].embedding
    );
    // A missing tensor is named with its expected shape.
    let t =
        candle_core::safetensors::load(vit.join("model.safetensors"), &candle_core::Device::Cpu)
            .unwrap();
    let mut t: std::collections::HashMap<_, _> = t.into_iter().collect();
    t.remove("encoder.layer.0.mlp.fc2.bias");
    candle_core::safetensors::save(&t, vit.join("model.safetensors")).unwrap();
    let o = std::process::Command::new(common::bin())
        .args([
            "run",
            img.to_str().unwrap(),
            "--image-encoder",
            vit.to_str().unwrap(),
            "-o",
            d.path().join("bad.biolens").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(
        err.contains("encoder.layer.0.mlp.fc2.bias' is missing (expected shape [24])"),
        "{err}"
    );
}

/// Nucleus/background labels of the nuclei image's 32-px tiles (ambiguous ones: None).
fn nuclei_labels(ds: &Dataset) -> Vec<Option<String>> {
    let lab = image::open(fixture("images/nuclei_dsb2018_labels.png"))
        .unwrap()
        .to_luma16();
    let (xs, ys) = (num(ds, "tile_x"), num(ds, "tile_y"));
    (0..ds.len())
        .map(|i| {
            let (x0, y0) = (xs[i] as u32, ys[i] as u32);
            let n: usize = (y0..y0 + 32)
                .flat_map(|y| (x0..x0 + 32).map(move |x| (x, y)))
                .filter(|&(x, y)| lab.get_pixel(x, y).0[0] > 0)
                .count();
            match n {
                0 => Some("background".to_string()),
                n if n as f64 / 1024.0 > 0.2 => Some("nucleus".to_string()),
                _ => None,
            }
        })
        .collect()
}

/// Leave-one-out 15-NN accuracy over the labelled items only.
fn knn_accuracy(m: &biolens::core::matrix::Matrix, labels: &[Option<String>]) -> f64 {
    let idx: Vec<usize> = (0..labels.len()).filter(|&i| labels[i].is_some()).collect();
    let mut ok = 0;
    for &i in &idx {
        let mut d: Vec<(f32, usize)> = idx
            .iter()
            .filter(|&&j| j != i)
            .map(|&j| (biolens::core::matrix::sq_dist(m.row(i), m.row(j)), j))
            .collect();
        d.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let votes = d
            .iter()
            .take(15)
            .filter(|x| labels[x.1] == labels[i])
            .count();
        ok += (votes > 7) as usize;
    }
    ok as f64 / idx.len() as f64
}

#[test]
fn simclr_cnn_on_nuclei_tiles_against_the_baseline_features() {
    use biolens::modality::images::ssl;
    let (ds, emb) = nuclei_tiles();
    let labels = nuclei_labels(&ds);
    let tiles = &ds.tiles().unwrap().pixels;
    let dev = candle_core::Device::Cpu;
    // Ten epochs keep the test short; the default is 30.
    let p = ssl::SslParams {
        epochs: 10,
        ..Default::default()
    };
    let (model, _, history) = ssl::train(tiles, &p, &dev, &mut |_| true).unwrap().unwrap();
    println!(
        "SimCLR loss by epoch: first {:.3}, last {:.3}",
        history[0],
        history[history.len() - 1]
    );
    let ssl_emb = ssl::embed(&model, tiles, p.input, &dev).unwrap();
    // The same network untrained: what a learned model must beat.
    let untrained = ssl::SslParams {
        epochs: 0,
        ..p.clone()
    };
    let (random, _, _) = ssl::train(tiles, &untrained, &dev, &mut |_| true)
        .unwrap()
        .unwrap();
    let random_emb = ssl::embed(&random, tiles, p.input, &dev).unwrap();
    let (a_base, a_ssl, a_rand) = (
        knn_accuracy(&emb.matrix, &labels),
        knn_accuracy(&ssl_emb, &labels),
        knn_accuracy(&random_emb, &labels),
    );
    println!(
        "nuclei nucleus/background, leave-one-out 15-NN accuracy: baseline features {a_base:.3}, SimCLR CNN {a_ssl:.3}, untrained CNN {a_rand:.3}"
    );
    // Measured (30 epochs): baseline 0.975, SimCLR 1.000, untrained CNN 1.000 — nucleus vs
    // background is easy enough that any convolutional feature separates it, so it cannot
    // show that training did anything.
    assert!(history[history.len() - 1] < history[0]);
    assert!(a_ssl >= a_base, "{a_ssl} < {a_base}");
    // What contrastive training claims: a tile's augmented views find each other among all
    // tiles' views. An untrained network must fail where the trained one succeeds.
    let (r_ssl, r_rand) = (
        ssl::view_retrieval(&model, tiles, p.input, 11, &dev).unwrap(),
        ssl::view_retrieval(&random, tiles, p.input, 11, &dev).unwrap(),
    );
    println!(
        "augmented-view retrieval (top-1 among {} tiles, chance {:.4}): SimCLR CNN {r_ssl:.3}, untrained CNN {r_rand:.3}",
        tiles.len(),
        1.0 / tiles.len() as f64
    );
    // Measured (10 epochs, seed 0): SimCLR 0.020, untrained 0.012, chance 0.004. Training
    // helps, but little: many background tiles are near-identical, and ten epochs on 256
    // tiles teach the CNN little beyond its random features (reported in issue 11's note).
    assert!(
        r_ssl > r_rand,
        "trained {r_ssl:.3} vs untrained {r_rand:.3}"
    );
}
