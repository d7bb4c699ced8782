//! A DINOv2-style ViT for inference that reads Hugging Face names (`config.json`,
//! `model.safetensors`: `embeddings.*`, `encoder.layer.N.*`, `layernorm.*`) and returns the
//! CLS token after the final layer norm (methods.md §3.2). candle-transformers' `dinov2`
//! module expects Meta's names, a classification head and 518-px inputs (nearest-neighbour
//! position interpolation otherwise); here the position grid is resampled bicubically on the
//! host to the input's patch grid, as the reference does, once per input size.

use candle_core::{D, DType, Device, Module, Tensor};
use candle_nn::{Conv2d, Conv2dConfig, Linear};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum VitError {
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
    #[error("{path}: {reason}")]
    Checkpoint { path: PathBuf, reason: String },
    #[error("{path}: tensor '{name}' {problem}")]
    Tensor {
        path: PathBuf,
        name: String,
        problem: String,
    },
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct VitConfig {
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    #[serde(default = "four")]
    pub mlp_ratio: usize,
    pub patch_size: usize,
    pub image_size: usize,
    #[serde(default = "eps")]
    pub layer_norm_eps: f64,
}

fn four() -> usize {
    4
}
fn eps() -> f64 {
    1e-6
}

impl VitConfig {
    fn grid(&self) -> usize {
        self.image_size / self.patch_size
    }

    /// Every tensor the model reads, with its shape.
    pub fn expected_tensors(&self) -> Vec<(String, Vec<usize>)> {
        let (d, p, g) = (self.hidden_size, self.patch_size, self.grid());
        let m = self.mlp_ratio * d;
        let mut t = vec![
            ("embeddings.cls_token".to_string(), vec![1, 1, d]),
            (
                "embeddings.position_embeddings".into(),
                vec![1, g * g + 1, d],
            ),
            (
                "embeddings.patch_embeddings.projection.weight".into(),
                vec![d, 3, p, p],
            ),
            (
                "embeddings.patch_embeddings.projection.bias".into(),
                vec![d],
            ),
            ("layernorm.weight".into(), vec![d]),
            ("layernorm.bias".into(), vec![d]),
        ];
        for l in 0..self.num_hidden_layers {
            let q = format!("encoder.layer.{l}.");
            for (n, s) in [
                ("norm1.weight", vec![d]),
                ("norm1.bias", vec![d]),
                ("attention.attention.query.weight", vec![d, d]),
                ("attention.attention.query.bias", vec![d]),
                ("attention.attention.key.weight", vec![d, d]),
                ("attention.attention.key.bias", vec![d]),
                ("attention.attention.value.weight", vec![d, d]),
                ("attention.attention.value.bias", vec![d]),
                ("attention.output.dense.weight", vec![d, d]),
                ("attention.output.dense.bias", vec![d]),
                ("layer_scale1.lambda1", vec![d]),
                ("norm2.weight", vec![d]),
                ("norm2.bias", vec![d]),
                ("mlp.fc1.weight", vec![m, d]),
                ("mlp.fc1.bias", vec![m]),
                ("mlp.fc2.weight", vec![d, m]),
                ("mlp.fc2.bias", vec![d]),
                ("layer_scale2.lambda1", vec![d]),
            ] {
                t.push((format!("{q}{n}"), s));
            }
        }
        t
    }
}

struct Block {
    norm1: (Tensor, Tensor),
    q: Linear,
    k: Linear,
    v: Linear,
    out: Linear,
    ls1: Tensor,
    norm2: (Tensor, Tensor),
    fc1: Linear,
    fc2: Linear,
    ls2: Tensor,
}

pub struct Vit {
    pub cfg: VitConfig,
    cls: Tensor,
    /// The position grid, g × g × D on the host, plus the CLS position.
    pos_grid: Vec<f32>,
    pos_cls: Tensor,
    patch: Conv2d,
    blocks: Vec<Block>,
    norm: (Tensor, Tensor),
    device: Device,
}

fn ln(x: &Tensor, w: &(Tensor, Tensor), eps: f64) -> candle_core::Result<Tensor> {
    let mean = x.mean_keepdim(D::Minus1)?;
    let xc = x.broadcast_sub(&mean)?;
    let var = xc.sqr()?.mean_keepdim(D::Minus1)?;
    xc.broadcast_div(&(var + eps)?.sqrt()?)?
        .broadcast_mul(&w.0)?
        .broadcast_add(&w.1)
}

/// PyTorch's bicubic kernel (a = −0.75).
fn cubic(x: f64) -> f64 {
    let a = -0.75;
    let x = x.abs();
    if x <= 1.0 {
        ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0
    } else if x < 2.0 {
        ((a * x - 5.0 * a) * x + 8.0 * a) * x - 4.0 * a
    } else {
        0.0
    }
}

/// Bicubic resampling of a g × g × d grid to h × w (align_corners = false, edges clamped).
pub fn resample_grid(grid: &[f32], g: usize, d: usize, h: usize, w: usize) -> Vec<f32> {
    let mut out = vec![0f32; h * w * d];
    let coord = |o: usize, n_out: usize| (o as f64 + 0.5) * g as f64 / n_out as f64 - 0.5;
    for oy in 0..h {
        let sy = coord(oy, h);
        let y0 = sy.floor() as i64;
        for ox in 0..w {
            let sx = coord(ox, w);
            let x0 = sx.floor() as i64;
            let o = &mut out[(oy * w + ox) * d..(oy * w + ox + 1) * d];
            for dy in -1..=2 {
                let wy = cubic(sy - (y0 + dy) as f64);
                let yy = (y0 + dy).clamp(0, g as i64 - 1) as usize;
                for dx in -1..=2 {
                    let wx = cubic(sx - (x0 + dx) as f64);
                    let xx = (x0 + dx).clamp(0, g as i64 - 1) as usize;
                    let wgt = (wy * wx) as f32;
                    let src = &grid[(yy * g + xx) * d..(yy * g + xx + 1) * d];
                    for (a, b) in o.iter_mut().zip(src) {
                        *a += wgt * b;
                    }
                }
            }
        }
    }
    out
}

impl Vit {
    /// Loads `config.json` and `model.safetensors` (a `dinov2.` or `model.` prefix is
    /// accepted); every tensor is checked against the config first.
    pub fn load(dir: &Path, device: &Device) -> Result<Self, VitError> {
        let cp = dir.join("config.json");
        let text = std::fs::read_to_string(&cp).map_err(|e| VitError::Checkpoint {
            path: cp.clone(),
            reason: format!("cannot read: {e}"),
        })?;
        let cfg: VitConfig = serde_json::from_str(&text).map_err(|e| VitError::Checkpoint {
            path: cp.clone(),
            reason: format!("not a DINOv2/ViT config: {e}"),
        })?;
        if cfg.patch_size == 0
            || cfg.num_attention_heads == 0
            || !cfg.hidden_size.is_multiple_of(cfg.num_attention_heads)
            || cfg.image_size < cfg.patch_size
        {
            return Err(VitError::Checkpoint {
                path: cp,
                reason: "inconsistent sizes (hidden_size / heads, image_size / patch_size)".into(),
            });
        }
        // Bounded before anything is built from them (ViT-g/14 is 1536 wide, 40 deep).
        for (name, v, max) in [
            ("hidden_size", cfg.hidden_size, 16_384),
            ("num_hidden_layers", cfg.num_hidden_layers, 256),
            ("mlp_ratio", cfg.mlp_ratio, 16),
            ("image_size", cfg.image_size, 4_096),
        ] {
            if v > max || v == 0 {
                return Err(VitError::Checkpoint {
                    path: cp,
                    reason: format!("{name} {v}: expected 1 to {max}"),
                });
            }
        }
        let wp = dir.join("model.safetensors");
        let raw =
            candle_core::safetensors::load(&wp, device).map_err(|e| VitError::Checkpoint {
                path: wp.clone(),
                reason: format!("cannot read safetensors: {e}"),
            })?;
        let mut map: HashMap<String, Tensor> = HashMap::new();
        for (k, t) in raw {
            let k = k
                .strip_prefix("dinov2.")
                .or_else(|| k.strip_prefix("model."))
                .unwrap_or(&k)
                .to_string();
            map.insert(k, t.to_dtype(DType::F32)?);
        }
        if let Err((name, problem)) = crate::core::nn::check_tensors(&map, cfg.expected_tensors()) {
            return Err(VitError::Tensor {
                path: wp,
                name,
                problem,
            });
        }
        let get = |n: &str| map[n].clone();
        let lin =
            |p: &str| Linear::new(get(&format!("{p}.weight")), Some(get(&format!("{p}.bias"))));
        let norm = |p: &str| (get(&format!("{p}.weight")), get(&format!("{p}.bias")));
        let blocks = (0..cfg.num_hidden_layers)
            .map(|l| {
                let q = format!("encoder.layer.{l}");
                Block {
                    norm1: norm(&format!("{q}.norm1")),
                    q: lin(&format!("{q}.attention.attention.query")),
                    k: lin(&format!("{q}.attention.attention.key")),
                    v: lin(&format!("{q}.attention.attention.value")),
                    out: lin(&format!("{q}.attention.output.dense")),
                    ls1: get(&format!("{q}.layer_scale1.lambda1")),
                    norm2: norm(&format!("{q}.norm2")),
                    fc1: lin(&format!("{q}.mlp.fc1")),
                    fc2: lin(&format!("{q}.mlp.fc2")),
                    ls2: get(&format!("{q}.layer_scale2.lambda1")),
                }
            })
            .collect();
        let pos = get("embeddings.position_embeddings");
        let pos_cls = pos.narrow(1, 0, 1)?;
        let pos_grid = pos
            .narrow(1, 1, cfg.grid() * cfg.grid())?
            .flatten_all()?
            .to_vec1::<f32>()?;
        let patch = Conv2d::new(
            get("embeddings.patch_embeddings.projection.weight"),
            Some(get("embeddings.patch_embeddings.projection.bias")),
            Conv2dConfig {
                stride: cfg.patch_size,
                ..Default::default()
            },
        );
        Ok(Self {
            cls: get("embeddings.cls_token"),
            pos_grid,
            pos_cls,
            patch,
            blocks,
            norm: norm("layernorm"),
            device: device.clone(),
            cfg,
        })
    }

    /// CLS embeddings of RGB tiles resized to `size` × `size` (a multiple of the patch size),
    /// normalised with ImageNet's mean and standard deviation.
    pub fn embed(
        &self,
        tiles: &[image::RgbImage],
        size: u32,
        progress: &mut dyn FnMut(f64) -> bool,
    ) -> Result<Option<crate::core::matrix::Matrix>, VitError> {
        let p = self.cfg.patch_size;
        let side = ((size as usize / p).max(1) * p) as u32;
        let g = side as usize / p;
        let d = self.cfg.hidden_size;
        let grid = resample_grid(&self.pos_grid, self.cfg.grid(), d, g, g);
        let pos = Tensor::cat(
            &[
                self.pos_cls.clone(),
                Tensor::from_vec(grid, (1, g * g, d), &self.device)?,
            ],
            1,
        )?;
        let mean = [0.485f32, 0.456, 0.406];
        let std = [0.229f32, 0.224, 0.225];
        let mut out = Vec::with_capacity(tiles.len() * d);
        for (k, chunk) in tiles.chunks(16).enumerate() {
            let n = chunk.len();
            let mut px = vec![0f32; n * 3 * (side * side) as usize];
            for (b, t) in chunk.iter().enumerate() {
                let r =
                    image::imageops::resize(t, side, side, image::imageops::FilterType::CatmullRom);
                for (i, q) in r.pixels().enumerate() {
                    for c in 0..3 {
                        px[(b * 3 + c) * (side * side) as usize + i] =
                            (q.0[c] as f32 / 255.0 - mean[c]) / std[c];
                    }
                }
            }
            let x = Tensor::from_vec(px, (n, 3, side as usize, side as usize), &self.device)?;
            let cls = self.forward(&x, &pos)?;
            out.extend(cls.flatten_all()?.to_vec1::<f32>()?);
            if !progress(((k + 1) * 16).min(tiles.len()) as f64 / tiles.len() as f64) {
                return Ok(None);
            }
        }
        Ok(Some(crate::core::matrix::Matrix::from_vec(
            tiles.len(),
            d,
            out,
        )))
    }

    fn forward(&self, x: &Tensor, pos: &Tensor) -> candle_core::Result<Tensor> {
        let b = x.dim(0)?;
        let d = self.cfg.hidden_size;
        let nh = self.cfg.num_attention_heads;
        let dh = d / nh;
        let eps = self.cfg.layer_norm_eps;
        let patches = self.patch.forward(x)?.flatten_from(2)?.transpose(1, 2)?; // B × N × D
        let cls = self.cls.broadcast_as((b, 1, d))?;
        let mut h = Tensor::cat(&[cls, patches], 1)?.broadcast_add(pos)?;
        let l = h.dim(1)?;
        let scale = 1.0 / (dh as f64).sqrt();
        for blk in &self.blocks {
            let y = ln(&h, &blk.norm1, eps)?;
            let heads = |lin: &Linear| -> candle_core::Result<Tensor> {
                lin.forward(&y)?
                    .reshape((b, l, nh, dh))?
                    .transpose(1, 2)?
                    .contiguous()
            };
            let (q, k, v) = (heads(&blk.q)?, heads(&blk.k)?, heads(&blk.v)?);
            let att = (q.matmul(&k.transpose(2, 3)?.contiguous()?)? * scale)?;
            let att = candle_nn::ops::softmax_last_dim(&att)?;
            let ctx = att.matmul(&v)?.transpose(1, 2)?.reshape((b, l, d))?;
            h = (h + blk.out.forward(&ctx)?.broadcast_mul(&blk.ls1)?)?;
            let y = ln(&h, &blk.norm2, eps)?;
            let m = blk.fc2.forward(&blk.fc1.forward(&y)?.gelu_erf()?)?;
            h = (h + m.broadcast_mul(&blk.ls2)?)?;
        }
        ln(&h, &self.norm, eps)?.narrow(1, 0, 1)?.squeeze(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// A tiny random checkpoint in the Hugging Face DINOv2 layout.
    fn write_tiny(dir: &Path, cfg: &VitConfig) -> HashMap<String, Tensor> {
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(1);
        let mut m = HashMap::new();
        for (name, shape) in cfg.expected_tensors() {
            let n: usize = shape.iter().product();
            let v: Vec<f32> = (0..n).map(|_| rng.gen_range(-0.1..0.1)).collect();
            m.insert(
                format!("dinov2.{name}"),
                Tensor::from_vec(v, shape.as_slice(), &Device::Cpu).unwrap(),
            );
        }
        candle_core::safetensors::save(&m, dir.join("model.safetensors")).unwrap();
        std::fs::write(dir.join("config.json"), serde_json::to_string(cfg).unwrap()).unwrap();
        m
    }

    #[test]
    fn bicubic_resampling_keeps_a_constant_and_the_identity() {
        let g = vec![2.0f32; 4 * 4 * 3];
        assert!(
            resample_grid(&g, 4, 3, 7, 7)
                .iter()
                .all(|v| (v - 2.0).abs() < 1e-5)
        );
        let ramp: Vec<f32> = (0..16).map(|i| i as f32).collect();
        assert_eq!(resample_grid(&ramp, 4, 1, 4, 4), ramp);
    }

    #[test]
    fn a_tiny_checkpoint_embeds_tiles_of_any_size_and_bad_ones_are_named() {
        let d = tempfile::tempdir().unwrap();
        let cfg = VitConfig {
            hidden_size: 16,
            num_hidden_layers: 2,
            num_attention_heads: 2,
            mlp_ratio: 4,
            patch_size: 4,
            image_size: 16,
            layer_norm_eps: 1e-6,
        };
        let m = write_tiny(d.path(), &cfg);
        let vit = Vit::load(d.path(), &Device::Cpu).unwrap();
        let tiles: Vec<image::RgbImage> = (0..3)
            .map(|k| {
                image::RgbImage::from_fn(20, 20, |x, y| {
                    image::Rgb([(x * 10) as u8, (y * k * 5) as u8, 90])
                })
            })
            .collect();
        // At the native size and at another (position grid interpolated).
        for size in [16, 28] {
            let e = vit.embed(&tiles, size, &mut |_| true).unwrap().unwrap();
            assert_eq!((e.rows, e.cols), (3, 16));
            assert!(e.data.iter().all(|v| v.is_finite()));
            assert_ne!(e.row(0), e.row(1));
        }
        let mut bad = m.clone();
        bad.insert(
            "dinov2.encoder.layer.1.mlp.fc1.weight".into(),
            Tensor::zeros((8, 16), DType::F32, &Device::Cpu).unwrap(),
        );
        candle_core::safetensors::save(&bad, d.path().join("model.safetensors")).unwrap();
        let e = Vit::load(d.path(), &Device::Cpu).err().unwrap().to_string();
        assert!(
            e.contains("encoder.layer.1.mlp.fc1.weight") && e.contains("expected [64, 16]"),
            "{e}"
        );
        bad.remove("dinov2.layernorm.bias");
        bad.insert(
            "dinov2.encoder.layer.1.mlp.fc1.weight".into(),
            m["dinov2.encoder.layer.1.mlp.fc1.weight"].clone(),
        );
        candle_core::safetensors::save(&bad, d.path().join("model.safetensors")).unwrap();
        let e = Vit::load(d.path(), &Device::Cpu).err().unwrap().to_string();
        assert!(e.contains("'layernorm.bias' is missing"), "{e}");
    }
}
