//! A small convolutional autoencoder for image tiles whose per-tile reconstruction error is
//! an anomaly score (methods.md §5.4): tiles unlike the bulk reconstruct worse. Encoder:
//! three 3×3 convolutions (16, 32, 64 channels, ReLU, 2×2 average pooling) to a 4×4×64
//! code for 32-px input; decoder: nearest-neighbour ×2 upsampling and 3×3 convolutions back
//! to 3 channels, sigmoid. Mean squared error, AdamW; host-seeded weights and batch order.

use candle_core::{D, DType, Device, Module, Tensor};
use candle_nn::{Conv2d, Conv2dConfig, Optimizer, VarBuilder, VarMap};
use image::RgbImage;
use rand::{SeedableRng, seq::SliceRandom};

pub struct Autoencoder {
    enc: Vec<Conv2d>,
    dec: Vec<Conv2d>,
}

impl Autoencoder {
    pub fn new(vb: VarBuilder) -> candle_core::Result<Self> {
        let cfg = Conv2dConfig {
            padding: 1,
            ..Default::default()
        };
        let conv = |i: usize, o: usize, name: String| candle_nn::conv2d(i, o, 3, cfg, vb.pp(name));
        Ok(Self {
            enc: vec![
                conv(3, 16, "enc0".into())?,
                conv(16, 32, "enc1".into())?,
                conv(32, 64, "enc2".into())?,
            ],
            dec: vec![
                conv(64, 32, "dec0".into())?,
                conv(32, 16, "dec1".into())?,
                conv(16, 3, "dec2".into())?,
            ],
        })
    }

    pub fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let mut h = x.clone();
        for c in &self.enc {
            h = c.forward(&h)?.relu()?.avg_pool2d(2)?;
        }
        for (k, c) in self.dec.iter().enumerate() {
            let (_, _, hh, ww) = h.dims4()?;
            h = c.forward(&h.upsample_nearest2d(2 * hh, 2 * ww)?)?;
            h = if k + 1 < self.dec.len() {
                h.relu()?
            } else {
                // Sigmoid from differentiable ops: 1 / (1 + e^−x).
                (h.neg()?.exp()? + 1.0)?.recip()?
            };
        }
        Ok(h)
    }
}

fn pixels(tiles: &[&RgbImage], s: u32) -> Vec<f32> {
    let n = (s * s) as usize;
    let mut out = vec![0f32; tiles.len() * 3 * n];
    for (b, t) in tiles.iter().enumerate() {
        let r = image::imageops::resize(*t, s, s, image::imageops::FilterType::Triangle);
        for (i, p) in r.pixels().enumerate() {
            for c in 0..3 {
                out[(b * 3 + c) * n + i] = p.0[c] as f32 / 255.0;
            }
        }
    }
    out
}

/// Trains on every tile and returns each tile's mean squared reconstruction error; None when
/// cancelled.
pub fn reconstruction_scores(
    tiles: &[RgbImage],
    epochs: usize,
    seed: u64,
    device: &Device,
    progress: &mut dyn FnMut(f64) -> bool,
) -> candle_core::Result<Option<Vec<f32>>> {
    const S: u32 = 32;
    let varmap = VarMap::new();
    let model = Autoencoder::new(VarBuilder::from_varmap(&varmap, DType::F32, device))?;
    crate::core::nn::seeded_uniform_init(&varmap, seed ^ 0xae, device)?;
    let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(seed ^ 0xaf);
    let mut opt = candle_nn::AdamW::new(
        varmap.all_vars(),
        candle_nn::ParamsAdamW {
            lr: 2e-3,
            weight_decay: 0.0,
            ..Default::default()
        },
    )?;
    // Resized once: every epoch reads the same input.
    let refs: Vec<&RgbImage> = tiles.iter().collect();
    let all_x = Tensor::from_vec(
        pixels(&refs, S),
        (tiles.len(), 3, S as usize, S as usize),
        device,
    )?;
    let batch = |idx: &[usize]| -> candle_core::Result<Tensor> {
        let ids: Vec<u32> = idx.iter().map(|&i| i as u32).collect();
        all_x.index_select(&Tensor::from_vec(ids, idx.len(), device)?, 0)
    };
    let mut order: Vec<usize> = (0..tiles.len()).collect();
    for epoch in 0..epochs {
        order.shuffle(&mut rng);
        for chunk in order.chunks(64) {
            let x = batch(chunk)?;
            let loss = (model.forward(&x)? - &x)?.sqr()?.mean_all()?;
            opt.backward_step(&loss)?;
        }
        if !progress((epoch + 1) as f64 / epochs.max(1) as f64) {
            return Ok(None);
        }
    }
    let all: Vec<usize> = (0..tiles.len()).collect();
    let mut out = Vec::with_capacity(tiles.len());
    for chunk in all.chunks(128) {
        let x = batch(chunk)?;
        let err = (model.forward(&x)?.detach() - &x)?
            .sqr()?
            .flatten_from(1)?
            .mean(D::Minus1)?;
        out.extend(err.to_vec1::<f32>()?);
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_weight_gets_a_gradient_and_an_odd_tile_scores_highest() {
        let varmap = VarMap::new();
        let m =
            Autoencoder::new(VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu)).unwrap();
        let x = Tensor::rand(0f32, 1f32, (2, 3, 32, 32), &Device::Cpu).unwrap();
        let loss = (m.forward(&x).unwrap() - &x)
            .unwrap()
            .sqr()
            .unwrap()
            .mean_all()
            .unwrap();
        let g = loss.backward().unwrap();
        let vars = varmap.data().lock().unwrap();
        assert_eq!(vars.len(), 12);
        crate::core::nn::assert_gradients(&g, vars.iter().map(|(k, v)| (k.clone(), v)));
        drop(vars);
        // 40 smooth grey tiles and one checkerboard: the checkerboard reconstructs worst.
        let mut tiles: Vec<RgbImage> = (0..40)
            .map(|k| RgbImage::from_pixel(32, 32, image::Rgb([(k * 5) as u8 + 40; 3])))
            .collect();
        tiles.push(RgbImage::from_fn(32, 32, |x, y| {
            image::Rgb([if (x + y) % 2 == 0 { 255 } else { 0 }; 3])
        }));
        let s = reconstruction_scores(&tiles, 8, 0, &Device::Cpu, &mut |_| true)
            .unwrap()
            .unwrap();
        let top = (0..s.len()).max_by(|&a, &b| s[a].total_cmp(&s[b])).unwrap();
        assert_eq!(top, 40, "{s:?}");
    }
}
