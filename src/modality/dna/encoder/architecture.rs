//! The encoder's architecture (MosaicBERT as DNABERT-2 uses it: token embeddings, ALiBi
//! bias, fused `Wqkv`, GEGLU feed-forward, post-LayerNorm), its config (`config.json` names)
//! and loading from a checkpoint folder.

use candle_core::{D, DType, Device, Tensor, Var};
use candle_nn::{Linear, Module, VarMap};
use rand::{Rng, SeedableRng};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum EncoderError {
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
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    #[error("{0}")]
    Input(String),
    #[error("{0}")]
    Device(String),
}

/// The architecture, read from / written to `config.json` (Hugging Face names).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EncoderConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
    #[serde(default = "default_type_vocab")]
    pub type_vocab_size: usize,
    /// Longest token sequence fed (longer ones are truncated); not a weight shape.
    #[serde(default = "default_max_tokens", alias = "alibi_starting_size")]
    pub max_tokens: usize,
}

fn default_eps() -> f64 {
    1e-12
}
fn default_type_vocab() -> usize {
    2
}
fn default_max_tokens() -> usize {
    512
}

impl EncoderConfig {
    /// The tensors a checkpoint must hold, with their shapes.
    pub fn expected_tensors(&self, with_head: bool) -> Vec<(String, Vec<usize>)> {
        let (h, i, v) = (self.hidden_size, self.intermediate_size, self.vocab_size);
        let mut t = vec![
            ("embeddings.word_embeddings.weight".into(), vec![v, h]),
            (
                "embeddings.token_type_embeddings.weight".into(),
                vec![self.type_vocab_size, h],
            ),
            ("embeddings.LayerNorm.weight".into(), vec![h]),
            ("embeddings.LayerNorm.bias".into(), vec![h]),
        ];
        for l in 0..self.num_hidden_layers {
            let p = format!("encoder.layer.{l}.");
            for (n, s) in [
                ("attention.self.Wqkv.weight", vec![3 * h, h]),
                ("attention.self.Wqkv.bias", vec![3 * h]),
                ("attention.output.dense.weight", vec![h, h]),
                ("attention.output.dense.bias", vec![h]),
                ("attention.output.LayerNorm.weight", vec![h]),
                ("attention.output.LayerNorm.bias", vec![h]),
                ("mlp.gated_layers.weight", vec![2 * i, h]),
                ("mlp.wo.weight", vec![h, i]),
                ("mlp.wo.bias", vec![h]),
                ("mlp.layernorm.weight", vec![h]),
                ("mlp.layernorm.bias", vec![h]),
            ] {
                t.push((format!("{p}{n}"), s));
            }
        }
        if with_head {
            for (n, s) in [
                ("cls.predictions.transform.dense.weight", vec![h, h]),
                ("cls.predictions.transform.dense.bias", vec![h]),
                ("cls.predictions.transform.LayerNorm.weight", vec![h]),
                ("cls.predictions.transform.LayerNorm.bias", vec![h]),
                ("cls.predictions.bias", vec![v]),
            ] {
                t.push((n.into(), s));
            }
        }
        t
    }

    fn check(&self) -> Result<(), String> {
        if self.hidden_size == 0
            || self.num_attention_heads == 0
            || !self.hidden_size.is_multiple_of(self.num_attention_heads)
        {
            return Err(format!(
                "hidden_size {} must be a positive multiple of num_attention_heads {}",
                self.hidden_size, self.num_attention_heads
            ));
        }
        if self.vocab_size == 0 || self.intermediate_size == 0 || self.num_hidden_layers == 0 {
            return Err("vocab_size, intermediate_size and num_hidden_layers must be > 0".into());
        }
        // Sizes are bounded before any tensor list or weight is built from them: the largest
        // published DNA and protein language models stay far inside these.
        for (name, v, max) in [
            ("vocab_size", self.vocab_size, 1 << 20),
            ("hidden_size", self.hidden_size, 16_384),
            ("num_hidden_layers", self.num_hidden_layers, 256),
            ("intermediate_size", self.intermediate_size, 65_536),
            ("type_vocab_size", self.type_vocab_size, 1_024),
            ("max_tokens", self.max_tokens, 131_072),
        ] {
            if v > max {
                return Err(format!("{name} {v} is beyond the supported {max}"));
            }
        }
        if self.max_tokens < 3 {
            return Err(format!(
                "max_tokens (alibi_starting_size) {} leaves no room for a token between [CLS] \
                 and [SEP]; expected at least 3",
                self.max_tokens
            ));
        }
        Ok(())
    }
}

/// ALiBi slopes as in the reference (and jina_bert): the geometric series of the nearest
/// power of two, then every other slope of the doubled series for the remaining heads.
pub fn alibi_slopes(n_heads: usize) -> Vec<f64> {
    fn pow2(n: usize) -> Vec<f64> {
        let start = 2f64.powf(-8.0 / n as f64);
        (0..n).map(|i| start.powi(i as i32 + 1)).collect()
    }
    let p = n_heads.next_power_of_two();
    if p == n_heads {
        return pow2(n_heads);
    }
    let closest = p / 2;
    let mut s = pow2(closest);
    s.extend(
        pow2(2 * closest)
            .into_iter()
            .step_by(2)
            .take(n_heads - closest),
    );
    s
}

/// Layer norm from differentiable ops (the fused candle-nn path has no backward).
fn layer_norm(x: &Tensor, w: &Tensor, b: &Tensor, eps: f64) -> candle_core::Result<Tensor> {
    let mean = x.mean_keepdim(D::Minus1)?;
    let xc = x.broadcast_sub(&mean)?;
    let var = xc.sqr()?.mean_keepdim(D::Minus1)?;
    xc.broadcast_div(&(var + eps)?.sqrt()?)?
        .broadcast_mul(w)?
        .broadcast_add(b)
}

struct Norm {
    w: Tensor,
    b: Tensor,
}

struct Layer {
    wqkv: Linear,
    out: Linear,
    ln1: Norm,
    gated: Linear,
    wo: Linear,
    ln2: Norm,
}

struct Head {
    dense: Linear,
    ln: Norm,
    bias: Tensor,
}

/// The encoder; `head` is present when the checkpoint has the MLM head (needed to train and
/// for the pseudo-perplexity score).
pub struct Encoder {
    pub cfg: EncoderConfig,
    word: Tensor,
    token_type: Tensor,
    emb_ln: Norm,
    layers: Vec<Layer>,
    head: Option<Head>,
    pub(super) device: Device,
}

impl Encoder {
    fn build(
        cfg: &EncoderConfig,
        get: &dyn Fn(&str) -> candle_core::Result<Tensor>,
        with_head: bool,
        device: &Device,
    ) -> candle_core::Result<Self> {
        let norm = |p: &str| -> candle_core::Result<Norm> {
            Ok(Norm {
                w: get(&format!("{p}.weight"))?,
                b: get(&format!("{p}.bias"))?,
            })
        };
        let lin = |p: &str, bias: bool| -> candle_core::Result<Linear> {
            Ok(Linear::new(
                get(&format!("{p}.weight"))?,
                if bias {
                    Some(get(&format!("{p}.bias"))?)
                } else {
                    None
                },
            ))
        };
        let mut layers = Vec::with_capacity(cfg.num_hidden_layers);
        for l in 0..cfg.num_hidden_layers {
            let p = format!("encoder.layer.{l}");
            layers.push(Layer {
                wqkv: lin(&format!("{p}.attention.self.Wqkv"), true)?,
                out: lin(&format!("{p}.attention.output.dense"), true)?,
                ln1: norm(&format!("{p}.attention.output.LayerNorm"))?,
                gated: lin(&format!("{p}.mlp.gated_layers"), false)?,
                wo: lin(&format!("{p}.mlp.wo"), true)?,
                ln2: norm(&format!("{p}.mlp.layernorm"))?,
            });
        }
        let head = if with_head {
            Some(Head {
                dense: lin("cls.predictions.transform.dense", true)?,
                ln: norm("cls.predictions.transform.LayerNorm")?,
                bias: get("cls.predictions.bias")?,
            })
        } else {
            None
        };
        Ok(Self {
            cfg: cfg.clone(),
            word: get("embeddings.word_embeddings.weight")?,
            token_type: get("embeddings.token_type_embeddings.weight")?,
            emb_ln: norm("embeddings.LayerNorm")?,
            layers,
            head,
            device: device.clone(),
        })
    }

    /// A freshly initialised model whose weights live in `varmap` (for training).
    pub fn new_trainable(
        cfg: &EncoderConfig,
        varmap: &VarMap,
        seed: u64,
        device: &Device,
    ) -> Result<Self, EncoderError> {
        cfg.check().map_err(EncoderError::Input)?;
        // Host-seeded N(0, 0.02) weights (BERT's init), ones/zeros for norms and biases.
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(seed);
        let mut normal = move || -> f32 {
            // Box–Muller from two uniforms.
            let u1: f64 = rng.r#gen::<f64>().max(1e-300);
            let u2: f64 = rng.r#gen();
            ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos() * 0.02) as f32
        };
        let mut data = varmap
            .data()
            .lock()
            .map_err(|_| EncoderError::Input("the variable map's lock is poisoned".into()))?;
        for (name, shape) in cfg.expected_tensors(true) {
            let n: usize = shape.iter().product();
            let values: Vec<f32> =
                if name.ends_with("LayerNorm.weight") || name.ends_with("layernorm.weight") {
                    vec![1.0; n]
                } else if name.ends_with(".bias") {
                    vec![0.0; n]
                } else {
                    (0..n).map(|_| normal()).collect()
                };
            let t = Tensor::from_vec(values, shape.as_slice(), device)?;
            data.insert(name, Var::from_tensor(&t)?);
        }
        let map: HashMap<String, Tensor> = data
            .iter()
            .map(|(k, v)| (k.clone(), v.as_tensor().clone()))
            .collect();
        drop(data);
        let get = |n: &str| {
            map.get(n)
                .cloned()
                .ok_or_else(|| candle_core::Error::Msg(format!("no tensor {n}")))
        };
        Ok(Self::build(cfg, &get, true, device)?)
    }

    /// Loads a checkpoint folder: `config.json` plus `model.safetensors` or
    /// `pytorch_model.bin`. Tensor names may carry a `bert.` prefix; every tensor's shape is
    /// checked against the config before anything is built.
    pub fn load(dir: &Path, device: &Device) -> Result<Self, EncoderError> {
        let cfg_path = dir.join("config.json");
        let text = std::fs::read_to_string(&cfg_path).map_err(|e| EncoderError::Checkpoint {
            path: cfg_path.clone(),
            reason: format!("cannot read: {e}"),
        })?;
        let cfg: EncoderConfig =
            serde_json::from_str(&text).map_err(|e| EncoderError::Checkpoint {
                path: cfg_path.clone(),
                reason: format!("not a BERT config: {e}"),
            })?;
        cfg.check().map_err(|r| EncoderError::Checkpoint {
            path: cfg_path.clone(),
            reason: r,
        })?;
        let st = dir.join("model.safetensors");
        let pt = dir.join("pytorch_model.bin");
        let (path, raw): (PathBuf, Vec<(String, Tensor)>) = if st.exists() {
            let m = candle_core::safetensors::load(&st, device).map_err(|e| {
                EncoderError::Checkpoint {
                    path: st.clone(),
                    reason: format!("cannot read safetensors: {e}"),
                }
            })?;
            (st, m.into_iter().collect())
        } else if pt.exists() {
            // candle's restricted pickle reader: tensors only, no code is run.
            let m = candle_core::pickle::read_all(&pt).map_err(|e| EncoderError::Checkpoint {
                path: pt.clone(),
                reason: format!("cannot read the PyTorch checkpoint: {e}"),
            })?;
            (pt, m)
        } else {
            return Err(EncoderError::Checkpoint {
                path: dir.to_path_buf(),
                reason: "no model.safetensors or pytorch_model.bin".into(),
            });
        };
        let mut map: HashMap<String, Tensor> = HashMap::new();
        for (k, t) in raw {
            let k = k.strip_prefix("bert.").unwrap_or(&k).to_string();
            map.insert(k, t.to_dtype(DType::F32)?.to_device(device)?);
        }
        // Hugging Face BertForMaskedLM ties the output bias under two names; either serves.
        if !map.contains_key("cls.predictions.bias")
            && let Some(b) = map.get("cls.predictions.decoder.bias").cloned()
        {
            map.insert("cls.predictions.bias".into(), b);
        }
        let with_head = map.contains_key("cls.predictions.transform.dense.weight");
        if let Err((name, problem)) =
            crate::core::nn::check_tensors(&map, cfg.expected_tensors(with_head))
        {
            return Err(EncoderError::Tensor {
                path,
                name,
                problem,
            });
        }
        let get = |n: &str| {
            map.get(n)
                .cloned()
                .ok_or_else(|| candle_core::Error::Msg(format!("no tensor {n}")))
        };
        Ok(Self::build(&cfg, &get, with_head, device)?)
    }

    /// The same weights cut from the training graph: inference then keeps no intermediates
    /// for a backward pass that never comes.
    pub fn detached(&self) -> Self {
        let n = |x: &Norm| Norm {
            w: x.w.detach(),
            b: x.b.detach(),
        };
        let l = |x: &Linear| Linear::new(x.weight().detach(), x.bias().map(|b| b.detach()));
        Self {
            cfg: self.cfg.clone(),
            word: self.word.detach(),
            token_type: self.token_type.detach(),
            emb_ln: n(&self.emb_ln),
            layers: self
                .layers
                .iter()
                .map(|y| Layer {
                    wqkv: l(&y.wqkv),
                    out: l(&y.out),
                    ln1: n(&y.ln1),
                    gated: l(&y.gated),
                    wo: l(&y.wo),
                    ln2: n(&y.ln2),
                })
                .collect(),
            head: self.head.as_ref().map(|h| Head {
                dense: l(&h.dense),
                ln: n(&h.ln),
                bias: h.bias.detach(),
            }),
            device: self.device.clone(),
        }
    }

    pub fn has_head(&self) -> bool {
        self.head.is_some()
    }

    /// Last hidden states, B × L × H, for token ids B × L with `lens[b]` real tokens each.
    pub fn forward(&self, ids: &Tensor, lens: &[usize]) -> candle_core::Result<Tensor> {
        let (b, l) = ids.dims2()?;
        let h = self.cfg.hidden_size;
        let nh = self.cfg.num_attention_heads;
        let dh = h / nh;
        let eps = self.cfg.layer_norm_eps;
        let x = self
            .word
            .embedding(&ids.flatten_all()?)?
            .reshape((b, l, h))?;
        let x = x.broadcast_add(&self.token_type.get(0)?)?;
        let mut x = layer_norm(&x, &self.emb_ln.w, &self.emb_ln.b, eps)?;
        // ALiBi (−slope·|i−j|) plus −10⁴ on padded keys, built on the host once per batch.
        let slopes = alibi_slopes(nh);
        let mut bias = vec![0f32; b * nh * l * l];
        for (bi, &len_b) in lens.iter().enumerate().take(b) {
            for (hi, s) in slopes.iter().enumerate() {
                for i in 0..l {
                    let row = ((bi * nh + hi) * l + i) * l;
                    for j in 0..l {
                        bias[row + j] = if j >= len_b {
                            -1e4
                        } else {
                            -(s * (i as f64 - j as f64).abs()) as f32
                        };
                    }
                }
            }
        }
        let bias = Tensor::from_vec(bias, (b, nh, l, l), &self.device)?;
        let scale = 1.0 / (dh as f64).sqrt();
        for layer in &self.layers {
            let qkv = layer.wqkv.forward(&x)?; // B × L × 3H, q|k|v row blocks
            let split = |i: usize| -> candle_core::Result<Tensor> {
                qkv.narrow(2, i * h, h)?
                    .reshape((b, l, nh, dh))?
                    .transpose(1, 2)?
                    .contiguous()
            };
            let (q, k, v) = (split(0)?, split(1)?, split(2)?);
            let scores = (q.matmul(&k.transpose(2, 3)?.contiguous()?)? * scale)?;
            let scores = (scores + &bias)?;
            let attn = candle_nn::ops::softmax(&scores, D::Minus1)?;
            let ctx = attn.matmul(&v)?.transpose(1, 2)?.reshape((b, l, h))?;
            let a = (layer.out.forward(&ctx)? + &x)?;
            let a = layer_norm(&a, &layer.ln1.w, &layer.ln1.b, eps)?;
            let g = layer.gated.forward(&a)?;
            let i = self.cfg.intermediate_size;
            let gated = (g.narrow(2, 0, i)?.gelu_erf()? * g.narrow(2, i, i)?)?;
            let m = (layer.wo.forward(&gated)? + &a)?;
            x = layer_norm(&m, &layer.ln2.w, &layer.ln2.b, eps)?;
        }
        Ok(x)
    }

    /// MLM logits for the hidden states of selected positions (M × H → M × V).
    pub(super) fn mlm_logits(&self, hidden: &Tensor) -> candle_core::Result<Tensor> {
        let head = self
            .head
            .as_ref()
            .ok_or_else(|| candle_core::Error::Msg("the checkpoint has no MLM head".into()))?;
        let t = head.dense.forward(hidden)?.gelu_erf()?;
        let t = layer_norm(&t, &head.ln.w, &head.ln.b, self.cfg.layer_norm_eps)?;
        t.matmul(&self.word.t()?)?.broadcast_add(&head.bias)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(extra: &str) -> Result<(), String> {
        let text = format!(
            r#"{{"vocab_size": 64, "hidden_size": 32, "num_attention_heads": 2,
                 "intermediate_size": 64, "num_hidden_layers": 2{extra}}}"#
        );
        let mut cfg: serde_json::Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
        if let Some(o) = cfg.as_object_mut() {
            o.retain(|_, v| !v.is_null());
        }
        let cfg: EncoderConfig = serde_json::from_value(cfg).map_err(|e| e.to_string())?;
        cfg.check()
    }

    #[test]
    fn hostile_sizes_are_refused_before_anything_is_built() {
        assert!(config("").is_ok());
        for (extra, word) in [
            (
                r#", "num_hidden_layers": 1000000000000000"#,
                "num_hidden_layers",
            ),
            (r#", "vocab_size": 4294967296"#, "vocab_size"),
            (r#", "max_tokens": 0"#, "max_tokens"),
            (r#", "alibi_starting_size": 1"#, "max_tokens"),
        ] {
            let e = config(extra).unwrap_err();
            assert!(e.contains(word), "{extra}: {e}");
        }
    }
}
