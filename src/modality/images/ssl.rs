//! A small CNN trained on the user's tiles with SimCLR (Chen et al. 2020; methods.md §3.3):
//! two augmented views per tile (random resized crop, flips, 90° rotations, brightness and
//! contrast jitter — no hue jitter, which would scramble stains), NT-Xent loss over the batch,
//! AdamW. Three 3×3 convolution blocks (16, 32, 64 channels, ReLU, 2×2 average pooling),
//! global average pooling → 64-d representation (the embedding); a 2-layer projector (64 →
//! 64 → 32) feeds the loss only. Every operation has a backward rule (a test checks that every
//! weight gets a gradient); all randomness is host-seeded, so runs are reproducible.

use candle_core::{D, DType, Device, Module, Tensor};
use candle_nn::{Conv2d, Conv2dConfig, Linear, Optimizer, VarBuilder, VarMap};
use image::RgbImage;
use rand::{Rng, SeedableRng, seq::SliceRandom};

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SslParams {
    /// Side the views are resized to.
    pub input: u32,
    pub epochs: usize,
    pub batch_size: usize,
    pub lr: f64,
    pub temperature: f64,
    pub seed: u64,
}

impl Default for SslParams {
    fn default() -> Self {
        Self {
            input: 32,
            epochs: 30,
            batch_size: 64,
            lr: 1e-3,
            temperature: 0.2,
            seed: 0,
        }
    }
}

pub struct Cnn {
    convs: Vec<Conv2d>,
    proj1: Linear,
    proj2: Linear,
}

impl Cnn {
    pub fn new(vb: VarBuilder) -> candle_core::Result<Self> {
        let cfg = Conv2dConfig {
            padding: 1,
            ..Default::default()
        };
        let chans = [3usize, 16, 32, 64];
        let convs = (0..3)
            .map(|i| candle_nn::conv2d(chans[i], chans[i + 1], 3, cfg, vb.pp(format!("conv{i}"))))
            .collect::<candle_core::Result<Vec<_>>>()?;
        Ok(Self {
            convs,
            proj1: candle_nn::linear(64, 64, vb.pp("proj1"))?,
            proj2: candle_nn::linear(64, 32, vb.pp("proj2"))?,
        })
    }

    /// The 64-d representation of images B × 3 × S × S.
    pub fn represent(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let mut h = x.clone();
        for c in &self.convs {
            h = c.forward(&h)?.relu()?.avg_pool2d(2)?;
        }
        h.mean(D::Minus1)?.mean(D::Minus1)
    }

    fn project(&self, r: &Tensor) -> candle_core::Result<Tensor> {
        self.proj2.forward(&self.proj1.forward(r)?.relu()?)
    }
}

/// One augmented view of a tile, as C × S × S floats in [0, 1].
fn view(t: &RgbImage, s: u32, rng: &mut impl Rng) -> Vec<f32> {
    let (w, h) = (t.width(), t.height());
    let scale: f64 = rng.gen_range(0.3..1.0);
    let side = ((w.min(h) as f64) * scale.sqrt()).round().max(2.0) as u32;
    let x0 = rng.gen_range(0..=w - side);
    let y0 = rng.gen_range(0..=h - side);
    let crop = image::imageops::crop_imm(t, x0, y0, side, side).to_image();
    let mut r = image::imageops::resize(&crop, s, s, image::imageops::FilterType::Triangle);
    if rng.gen_bool(0.5) {
        r = image::imageops::flip_horizontal(&r);
    }
    r = match rng.gen_range(0..4) {
        1 => image::imageops::rotate90(&r),
        2 => image::imageops::rotate180(&r),
        3 => image::imageops::rotate270(&r),
        _ => r,
    };
    let bright: f32 = rng.gen_range(-0.15..0.15);
    let contrast: f32 = rng.gen_range(0.8..1.2);
    let n = (s * s) as usize;
    let mut out = vec![0f32; 3 * n];
    for (i, p) in r.pixels().enumerate() {
        for c in 0..3 {
            let v = p.0[c] as f32 / 255.0;
            out[c * n + i] = ((v - 0.5) * contrast + 0.5 + bright).clamp(0.0, 1.0);
        }
    }
    out
}

fn plain(t: &RgbImage, s: u32) -> Vec<f32> {
    let r = image::imageops::resize(t, s, s, image::imageops::FilterType::Triangle);
    let n = (s * s) as usize;
    let mut out = vec![0f32; 3 * n];
    for (i, p) in r.pixels().enumerate() {
        for c in 0..3 {
            out[c * n + i] = p.0[c] as f32 / 255.0;
        }
    }
    out
}

/// NT-Xent over 2B projections (rows 0..B and B..2B are the two views of the same tiles).
pub fn nt_xent(z: &Tensor, temperature: f64) -> candle_core::Result<Tensor> {
    let n2 = z.dim(0)?;
    let b = n2 / 2;
    let norm = z.sqr()?.sum_keepdim(1)?.sqrt()?.clamp(1e-8, f64::MAX)?;
    let z = z.broadcast_div(&norm)?;
    let sim = (z.matmul(&z.t()?)? / temperature)?;
    // Remove self-similarity with a large negative on the diagonal.
    let eye: Vec<f32> = (0..n2 * n2)
        .map(|k| if k / n2 == k % n2 { -1e9 } else { 0.0 })
        .collect();
    let sim = (sim + Tensor::from_vec(eye, (n2, n2), z.device())?)?;
    let targets: Vec<u32> = (0..n2).map(|i| ((i + b) % n2) as u32).collect();
    let targets = Tensor::from_vec(targets, n2, z.device())?;
    candle_nn::loss::cross_entropy(&sim, &targets)
}

pub struct SslReport {
    pub epoch: usize,
    pub epochs: usize,
    pub loss: f64,
}

/// Trains on `tiles`; returns the model and the per-epoch mean loss. None when cancelled.
pub fn train(
    tiles: &[RgbImage],
    p: &SslParams,
    device: &Device,
    report: &mut dyn FnMut(&SslReport) -> bool,
) -> candle_core::Result<Option<(Cnn, VarMap, Vec<f64>)>> {
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, device);
    // candle's initialisers draw from its own generator; seed the weights from ours instead.
    let model = Cnn::new(vb)?;
    crate::core::nn::seeded_uniform_init(&varmap, p.seed, device)?;
    let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(p.seed ^ 0x55);
    let mut opt = candle_nn::AdamW::new(
        varmap.all_vars(),
        candle_nn::ParamsAdamW {
            lr: p.lr,
            weight_decay: 1e-4,
            ..Default::default()
        },
    )?;
    let s = p.input;
    let n = (s * s * 3) as usize;
    let mut history = Vec::new();
    let mut order: Vec<usize> = (0..tiles.len()).collect();
    for epoch in 1..=p.epochs {
        order.shuffle(&mut rng);
        let (mut sum, mut cnt) = (0.0, 0);
        for chunk in order.chunks(p.batch_size.max(2)) {
            if chunk.len() < 2 {
                continue;
            }
            let b = chunk.len();
            let mut x = Vec::with_capacity(2 * b * n);
            for &i in chunk {
                x.extend(view(&tiles[i], s, &mut rng));
            }
            for &i in chunk {
                x.extend(view(&tiles[i], s, &mut rng));
            }
            let x = Tensor::from_vec(x, (2 * b, 3, s as usize, s as usize), device)?;
            let z = model.project(&model.represent(&x)?)?;
            let loss = nt_xent(&z, p.temperature)?;
            opt.backward_step(&loss)?;
            sum += loss.to_scalar::<f32>()? as f64;
            cnt += 1;
        }
        let mean = sum / cnt.max(1) as f64;
        history.push(mean);
        if !report(&SslReport {
            epoch,
            epochs: p.epochs,
            loss: mean,
        }) {
            return Ok(None);
        }
    }
    Ok(Some((model, varmap, history)))
}

/// What contrastive training claims to learn, measured: two fresh augmented views of every
/// tile are represented, and each first view's nearest second view (cosine) must be its own
/// tile's. Returns that top-1 share; chance is 1 / tiles. Seeded apart from training.
pub fn view_retrieval(
    model: &Cnn,
    tiles: &[RgbImage],
    s: u32,
    seed: u64,
    device: &Device,
) -> candle_core::Result<f64> {
    let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(seed ^ 0x7e57);
    let n = (s * s * 3) as usize;
    let mut reps = Vec::new();
    for _ in 0..2 {
        let mut all = Vec::with_capacity(tiles.len() * 64);
        for chunk in tiles.chunks(128) {
            let mut x = Vec::with_capacity(chunk.len() * n);
            for t in chunk {
                x.extend(view(t, s, &mut rng));
            }
            let x = Tensor::from_vec(x, (chunk.len(), 3, s as usize, s as usize), device)?;
            let r = model.represent(&x)?.detach();
            let norm = r.sqr()?.sum_keepdim(1)?.sqrt()?.clamp(1e-12, f64::MAX)?;
            all.extend(r.broadcast_div(&norm)?.flatten_all()?.to_vec1::<f32>()?);
        }
        reps.push(all);
    }
    let d = reps[0].len() / tiles.len().max(1);
    let hits = (0..tiles.len())
        .filter(|&i| {
            let a = &reps[0][i * d..(i + 1) * d];
            let sim = |j: usize| -> f32 {
                a.iter()
                    .zip(&reps[1][j * d..(j + 1) * d])
                    .map(|(x, y)| x * y)
                    .sum()
            };
            let own = sim(i);
            (0..tiles.len()).all(|j| j == i || sim(j) < own)
        })
        .count();
    Ok(hits as f64 / tiles.len().max(1) as f64)
}

/// The 64-d representation of every tile (no augmentation).
pub fn embed(
    model: &Cnn,
    tiles: &[RgbImage],
    s: u32,
    device: &Device,
) -> candle_core::Result<crate::core::matrix::Matrix> {
    let n = (s * s * 3) as usize;
    let mut out = Vec::with_capacity(tiles.len() * 64);
    for chunk in tiles.chunks(128) {
        let mut x = Vec::with_capacity(chunk.len() * n);
        for t in chunk {
            x.extend(plain(t, s));
        }
        let x = Tensor::from_vec(x, (chunk.len(), 3, s as usize, s as usize), device)?;
        out.extend(
            model
                .represent(&x)?
                .detach()
                .flatten_all()?
                .to_vec1::<f32>()?,
        );
    }
    Ok(crate::core::matrix::Matrix::from_vec(tiles.len(), 64, out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_weight_gets_a_finite_nonzero_gradient() {
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
        let m = Cnn::new(vb).unwrap();
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(0);
        let tiles: Vec<RgbImage> = (0..4)
            .map(|k| {
                RgbImage::from_fn(24, 24, |x, y| {
                    image::Rgb([(x * 9 + k * 20) as u8, (y * 7) as u8, 100])
                })
            })
            .collect();
        let mut x = Vec::new();
        for _ in 0..2 {
            for t in &tiles {
                x.extend(view(t, 16, &mut rng));
            }
        }
        let x = Tensor::from_vec(x, (8, 3, 16, 16), &Device::Cpu).unwrap();
        let loss = nt_xent(&m.project(&m.represent(&x).unwrap()).unwrap(), 0.2).unwrap();
        let g = loss.backward().unwrap();
        let vars = varmap.data().lock().unwrap();
        assert_eq!(vars.len(), 10);
        crate::core::nn::assert_gradients(&g, vars.iter().map(|(k, v)| (k.clone(), v)));
    }

    #[test]
    fn nt_xent_is_low_when_views_agree() {
        let z =
            Tensor::from_vec(vec![1f32, 0., 0., 1., 1., 0., 0., 1.], (4, 2), &Device::Cpu).unwrap();
        let good = nt_xent(&z, 0.2).unwrap().to_scalar::<f32>().unwrap();
        let z2 =
            Tensor::from_vec(vec![1f32, 0., 0., 1., 0., 1., 1., 0.], (4, 2), &Device::Cpu).unwrap();
        let bad = nt_xent(&z2, 0.2).unwrap().to_scalar::<f32>().unwrap();
        assert!(good < bad, "{good} vs {bad}");
    }

    #[test]
    fn the_same_seed_gives_the_same_model() {
        let tiles: Vec<RgbImage> = (0..6)
            .map(|k| {
                RgbImage::from_fn(20, 20, |x, y| {
                    image::Rgb([(x * 12) as u8, (y * k * 7) as u8, 60])
                })
            })
            .collect();
        let p = SslParams {
            input: 16,
            epochs: 1,
            batch_size: 6,
            ..Default::default()
        };
        let run = || {
            let (m, _, _) = train(&tiles, &p, &Device::Cpu, &mut |_| true)
                .unwrap()
                .unwrap();
            embed(&m, &tiles, 16, &Device::Cpu).unwrap().data
        };
        assert_eq!(run(), run());
    }
}
