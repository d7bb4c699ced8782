//! A DNABERT-2-style encoder (MosaicBERT: no position embeddings, ALiBi attention bias, fused
//! `Wqkv`, GEGLU feed-forward, post-LayerNorm; methods.md §2.2) in candle, with tensor names of
//! the Hugging Face checkpoint (`bert.` prefix optional). One implementation serves both uses:
//! pre-training a small model by masked-language modelling on the user's own sequences (BPE
//! tokens trained with the `tokenizers` crate), and loading a pretrained folder
//! (`config.json`, `model.safetensors` or `pytorch_model.bin`, `tokenizer.json`).
//!
//! Training-safe: layer norm and softmax are composite ops with backward rules (§0.2); the
//! padding mask is an additive bias, so batches of unequal lengths are exact. Our trained model
//! is saved in the same layout, so a session's `encoder/` folder is itself a checkpoint folder.

use candle_core::{D, DType, Device, Tensor, Var};
use candle_nn::{Linear, Module, VarMap};
use rand::{Rng, SeedableRng, seq::SliceRandom};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use tokenizers::Tokenizer;

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
    device: Device,
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
    fn mlm_logits(&self, hidden: &Tensor) -> candle_core::Result<Tensor> {
        let head = self
            .head
            .as_ref()
            .ok_or_else(|| candle_core::Error::Msg("the checkpoint has no MLM head".into()))?;
        let t = head.dense.forward(hidden)?.gelu_erf()?;
        let t = layer_norm(&t, &head.ln.w, &head.ln.b, self.cfg.layer_norm_eps)?;
        t.matmul(&self.word.t()?)?.broadcast_add(&head.bias)
    }
}

/// Token ids of each sequence, `[CLS] … [SEP]`, truncated to `max_tokens`.
pub struct Tokens {
    pub ids: Vec<Vec<u32>>,
    pub truncated: usize,
    pub special: Vec<u32>,
    pub mask_id: u32,
    pub pad_id: u32,
}

pub fn tokenize(
    tok: &Tokenizer,
    seqs: &[Vec<u8>],
    max_tokens: usize,
) -> Result<Tokens, EncoderError> {
    let id = |t: &str| {
        tok.token_to_id(t)
            .ok_or_else(|| EncoderError::Tokenizer(format!("the vocabulary has no {t} token")))
    };
    let (mask_id, pad_id) = (id("[MASK]")?, id("[PAD]")?);
    let special: Vec<u32> = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        .iter()
        .filter_map(|t| tok.token_to_id(t))
        .collect();
    let texts: Vec<String> = seqs
        .iter()
        .map(|s| String::from_utf8_lossy(&s.to_ascii_uppercase()).into_owned())
        .collect();
    let enc = tok
        .encode_batch(texts, true)
        .map_err(|e| EncoderError::Tokenizer(e.to_string()))?;
    let mut truncated = 0;
    let ids = enc
        .into_iter()
        .map(|e| {
            let mut v = e.get_ids().to_vec();
            if v.len() > max_tokens {
                truncated += 1;
                let last = v[v.len() - 1];
                v.truncate(max_tokens);
                v[max_tokens - 1] = last;
            }
            v
        })
        .collect();
    Ok(Tokens {
        ids,
        truncated,
        special,
        mask_id,
        pad_id,
    })
}

/// A BPE vocabulary learnt from the sequences (DNABERT-2's tokenisation, sized for a small
/// model), with `[CLS] … [SEP]` added on encoding.
pub fn train_tokenizer(seqs: &[Vec<u8>], vocab_size: usize) -> Result<Tokenizer, EncoderError> {
    use tokenizers::models::TrainerWrapper;
    use tokenizers::models::bpe::{BPE, BpeTrainerBuilder};
    use tokenizers::processors::template::TemplateProcessing;
    let specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"];
    let mut trainer: TrainerWrapper = BpeTrainerBuilder::new()
        .vocab_size(vocab_size)
        .min_frequency(2)
        .show_progress(false)
        .special_tokens(
            specials
                .iter()
                .map(|s| tokenizers::AddedToken::from(s.to_string(), true))
                .collect(),
        )
        .build()
        .into();
    let bpe = BPE::builder()
        .unk_token("[UNK]".into())
        .build()
        .map_err(|e| EncoderError::Tokenizer(e.to_string()))?;
    let mut tok = Tokenizer::new(bpe);
    let texts = seqs
        .iter()
        .map(|s| String::from_utf8_lossy(&s.to_ascii_uppercase()).into_owned());
    tok.train(&mut trainer, texts)
        .map_err(|e| EncoderError::Tokenizer(e.to_string()))?;
    let cls = tok.token_to_id("[CLS]").unwrap_or(2);
    let sep = tok.token_to_id("[SEP]").unwrap_or(3);
    let post = TemplateProcessing::builder()
        .try_single("[CLS] $A [SEP]")
        .map_err(|e| EncoderError::Tokenizer(e.to_string()))?
        .special_tokens(vec![("[CLS]", cls), ("[SEP]", sep)])
        .build()
        .map_err(|e| EncoderError::Tokenizer(e.to_string()))?;
    tok.with_post_processor(Some(post));
    Ok(tok)
}

/// Pre-training settings (methods.md §2.4).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MlmParams {
    pub hidden: usize,
    pub layers: usize,
    pub heads: usize,
    pub vocab: usize,
    pub max_tokens: usize,
    pub epochs: usize,
    pub batch_size: usize,
    pub lr: f64,
    pub mask_rate: f64,
    pub validation: f64,
    pub seed: u64,
}

impl Default for MlmParams {
    fn default() -> Self {
        Self {
            hidden: 128,
            layers: 2,
            heads: 4,
            vocab: 512,
            max_tokens: 256,
            epochs: 4,
            batch_size: 32,
            lr: 1e-3,
            mask_rate: 0.15,
            validation: 0.1,
            seed: 0,
        }
    }
}

/// What a training step or epoch reports.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MlmReport {
    pub step: usize,
    pub total_steps: usize,
    pub epoch: usize,
    pub train_loss: f64,
    /// Held-out masked-token loss and accuracy (at epoch ends; NaN in between).
    pub validation_loss: f64,
    pub validation_accuracy: f64,
    pub tokens_per_second: f64,
}

/// Masks `rate` of the non-special tokens: 80 % → [MASK], 10 % → a random token, 10 % kept.
/// Returns the input ids and (flat position, original id) of every masked token.
fn mask_batch(
    batch: &[&Vec<u32>],
    len: usize,
    t: &Tokens,
    vocab: usize,
    rate: f64,
    rng: &mut impl Rng,
) -> (Vec<u32>, Vec<(u32, u32)>) {
    let mut ids = vec![t.pad_id; batch.len() * len];
    let mut targets = Vec::new();
    for (bi, seq) in batch.iter().enumerate() {
        let mut any = false;
        for (j, &tok) in seq.iter().enumerate() {
            let flat = bi * len + j;
            ids[flat] = tok;
            if t.special.contains(&tok) {
                continue;
            }
            if rng.gen_bool(rate) {
                any = true;
                targets.push((flat as u32, tok));
                let r: f64 = rng.r#gen();
                if r < 0.8 {
                    ids[flat] = t.mask_id;
                } else if r < 0.9 {
                    ids[flat] = rng.gen_range(0..vocab as u32);
                }
            }
        }
        // Every sequence contributes at least one masked token.
        if !any && seq.len() > 2 {
            let j = rng.gen_range(1..seq.len() - 1);
            let flat = bi * len + j;
            targets.push((flat as u32, seq[j]));
            ids[flat] = t.mask_id;
        }
    }
    (ids, targets)
}

/// Masked-token cross-entropy (mean) and correct predictions for one batch.
fn mlm_loss(
    enc: &Encoder,
    batch: &[&Vec<u32>],
    t: &Tokens,
    rng: &mut impl Rng,
    rate: f64,
) -> candle_core::Result<(Tensor, usize, usize)> {
    let len = batch.iter().map(|s| s.len()).max().unwrap_or(1);
    let lens: Vec<usize> = batch.iter().map(|s| s.len()).collect();
    let (ids, targets) = mask_batch(batch, len, t, enc.cfg.vocab_size, rate, rng);
    let dev = &enc.device;
    let ids = Tensor::from_vec(ids, (batch.len(), len), dev)?;
    let hidden = enc.forward(&ids, &lens)?;
    let flat = hidden.reshape((batch.len() * len, enc.cfg.hidden_size))?;
    let pos: Vec<u32> = targets.iter().map(|x| x.0).collect();
    let tgt: Vec<u32> = targets.iter().map(|x| x.1).collect();
    let n = pos.len();
    let sel = flat.index_select(&Tensor::from_vec(pos, n, dev)?, 0)?;
    let logits = enc.mlm_logits(&sel)?;
    let tgt = Tensor::from_vec(tgt, n, dev)?;
    let correct = logits
        .argmax(D::Minus1)?
        .eq(&tgt)?
        .to_dtype(DType::F32)?
        .sum_all()?
        .to_scalar::<f32>()? as usize;
    let loss = candle_nn::loss::cross_entropy(&logits, &tgt)?;
    Ok((loss, correct, n))
}

/// Batches of similar length (sorted by length, then cut), so padding stays small.
fn length_batches(idx: &[usize], t: &Tokens, size: usize) -> Vec<Vec<usize>> {
    let mut sorted = idx.to_vec();
    sorted.sort_by_key(|&i| (t.ids[i].len(), i));
    sorted.chunks(size.max(1)).map(|c| c.to_vec()).collect()
}

pub struct Trained {
    pub encoder: Encoder,
    pub varmap: VarMap,
    pub tokenizer: Tokenizer,
    pub history: Vec<MlmReport>,
    /// Held-out loss of a model that knows only token frequencies (the unigram entropy).
    pub unigram_loss: f64,
    pub validation: Vec<usize>,
}

/// Pre-trains a small encoder on `seqs` by masked-language modelling. `report` is called after
/// every step (and with validation figures at epoch ends); returning false cancels (None).
pub fn pretrain(
    seqs: &[Vec<u8>],
    p: &MlmParams,
    device: &Device,
    report: &mut dyn FnMut(&MlmReport) -> bool,
) -> Result<Option<Trained>, EncoderError> {
    if seqs.len() < 10 {
        return Err(EncoderError::Input(format!(
            "{} sequences: at least 10 are needed to pre-train the encoder",
            seqs.len()
        )));
    }
    let tokenizer = train_tokenizer(seqs, p.vocab)?;
    let t = tokenize(&tokenizer, seqs, p.max_tokens)?;
    let vocab = tokenizer.get_vocab_size(true);
    let cfg = EncoderConfig {
        vocab_size: vocab,
        hidden_size: p.hidden,
        num_hidden_layers: p.layers,
        num_attention_heads: p.heads,
        intermediate_size: 4 * p.hidden,
        layer_norm_eps: 1e-12,
        type_vocab_size: 2,
        max_tokens: p.max_tokens,
    };
    let varmap = VarMap::new();
    let enc = Encoder::new_trainable(&cfg, &varmap, p.seed, device)?;
    let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(p.seed ^ 0xd7a);
    let mut order: Vec<usize> = (0..seqs.len()).collect();
    order.shuffle(&mut rng);
    let n_val = ((seqs.len() as f64 * p.validation).round() as usize).max(1);
    let mut validation: Vec<usize> = order[..n_val].to_vec();
    validation.sort_unstable();
    let train: Vec<usize> = order[n_val..].to_vec();

    // Unigram baseline: cross-entropy of held-out tokens under training token frequencies.
    let mut freq = vec![1f64; vocab];
    for &i in &train {
        for &x in &t.ids[i] {
            freq[x as usize] += 1.0;
        }
    }
    let total: f64 = freq.iter().sum();
    let (mut ce, mut n_tok) = (0.0, 0usize);
    for &i in &validation {
        for &x in &t.ids[i] {
            if !t.special.contains(&x) {
                ce -= (freq[x as usize] / total).ln();
                n_tok += 1;
            }
        }
    }
    let unigram_loss = ce / n_tok.max(1) as f64;

    let mut opt = candle_nn::AdamW::new(
        varmap.all_vars(),
        candle_nn::ParamsAdamW {
            lr: p.lr,
            beta1: 0.9,
            beta2: 0.98,
            eps: 1e-6,
            weight_decay: 0.01,
        },
    )?;
    use candle_nn::Optimizer;
    let batches = length_batches(&train, &t, p.batch_size);
    let total_steps = batches.len() * p.epochs;
    let warmup = (total_steps as f64 * 0.05).ceil().max(1.0) as usize;
    let mut history = Vec::new();
    let mut step = 0usize;
    for epoch in 1..=p.epochs {
        let mut b_order: Vec<usize> = (0..batches.len()).collect();
        b_order.shuffle(&mut rng);
        let epoch_start = std::time::Instant::now();
        let mut epoch_tokens = 0usize;
        for &bi in &b_order {
            let t0 = std::time::Instant::now();
            let batch: Vec<&Vec<u32>> = batches[bi].iter().map(|&i| &t.ids[i]).collect();
            let n_tokens: usize = batch.iter().map(|s| s.len()).sum();
            epoch_tokens += n_tokens;
            // Linear warm-up over 5 % of the steps, then linear decay to zero.
            let lr = if step < warmup {
                p.lr * (step + 1) as f64 / warmup as f64
            } else {
                p.lr * (total_steps - step) as f64 / (total_steps - warmup).max(1) as f64
            };
            opt.set_learning_rate(lr);
            let (loss, _, _) = mlm_loss(&enc, &batch, &t, &mut rng, p.mask_rate)?;
            let mut grads = loss.backward()?;
            clip_gradients(&varmap, &mut grads, 1.0)?;
            opt.step(&grads)?;
            step += 1;
            let r = MlmReport {
                step,
                total_steps,
                epoch,
                train_loss: loss.to_scalar::<f32>()? as f64,
                validation_loss: f64::NAN,
                validation_accuracy: f64::NAN,
                tokens_per_second: n_tokens as f64 / t0.elapsed().as_secs_f64().max(1e-9),
            };
            if !report(&r) {
                return Ok(None);
            }
        }
        let train_tps = epoch_tokens as f64 / epoch_start.elapsed().as_secs_f64().max(1e-9);
        let (vl, va) = evaluate(&enc.detached(), &t, &validation, p, epoch as u64)?;
        let r = MlmReport {
            step,
            total_steps,
            epoch,
            train_loss: f64::NAN,
            validation_loss: vl,
            validation_accuracy: va,
            tokens_per_second: train_tps,
        };
        history.push(r.clone());
        if !report(&r) {
            return Ok(None);
        }
    }
    Ok(Some(Trained {
        encoder: enc.detached(),
        varmap,
        tokenizer,
        history,
        unigram_loss,
        validation,
    }))
}

/// Held-out masked-token loss and accuracy under a fixed masking.
fn evaluate(
    enc: &Encoder,
    t: &Tokens,
    idx: &[usize],
    p: &MlmParams,
    salt: u64,
) -> candle_core::Result<(f64, f64)> {
    let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(p.seed ^ 0xe7a1 ^ salt);
    let (mut loss, mut correct, mut n) = (0.0, 0usize, 0usize);
    for b in length_batches(idx, t, p.batch_size) {
        let batch: Vec<&Vec<u32>> = b.iter().map(|&i| &t.ids[i]).collect();
        let (l, c, m) = mlm_loss(enc, &batch, t, &mut rng, p.mask_rate)?;
        loss += l.to_scalar::<f32>()? as f64 * m as f64;
        correct += c;
        n += m;
    }
    Ok((loss / n.max(1) as f64, correct as f64 / n.max(1) as f64))
}

/// Scales all gradients so their global norm is at most `max_norm`.
fn clip_gradients(
    varmap: &VarMap,
    grads: &mut candle_core::backprop::GradStore,
    max_norm: f64,
) -> candle_core::Result<()> {
    let vars = varmap.all_vars();
    let mut sq = 0f64;
    for v in &vars {
        if let Some(g) = grads.get(v.as_tensor()) {
            sq += g.sqr()?.sum_all()?.to_scalar::<f32>()? as f64;
        }
    }
    let norm = sq.sqrt();
    if norm > max_norm {
        let s = max_norm / (norm + 1e-6);
        for v in &vars {
            if let Some(g) = grads.remove(v.as_tensor()) {
                grads.insert(v.as_tensor(), (g * s)?);
            }
        }
    }
    Ok(())
}

/// Mean-pooled last hidden states (over all real tokens, [CLS]/[SEP] included, as DNABERT-2's
/// README pools) and, when the model has an MLM head, a pseudo-perplexity per sequence.
pub fn embed(
    enc: &Encoder,
    t: &Tokens,
    batch_size: usize,
    seed: u64,
    progress: &mut dyn FnMut(f64) -> bool,
) -> Result<Option<(crate::core::matrix::Matrix, Vec<f32>)>, EncoderError> {
    let n = t.ids.len();
    let h = enc.cfg.hidden_size;
    let mut out = vec![0f32; n * h];
    let mut ppl = vec![f32::NAN; n];
    let all: Vec<usize> = (0..n).collect();
    let batches = length_batches(&all, t, batch_size);
    let dev = &enc.device;
    for (done, b) in batches.iter().enumerate() {
        let len = b.iter().map(|&i| t.ids[i].len()).max().unwrap_or(1);
        let lens: Vec<usize> = b.iter().map(|&i| t.ids[i].len()).collect();
        let mut ids = vec![t.pad_id; b.len() * len];
        for (bi, &i) in b.iter().enumerate() {
            ids[bi * len..bi * len + t.ids[i].len()].copy_from_slice(&t.ids[i]);
        }
        let x = Tensor::from_vec(ids, (b.len(), len), dev)?;
        let hs = enc.forward(&x, &lens)?.to_vec3::<f32>()?;
        for (bi, &i) in b.iter().enumerate() {
            let row = &mut out[i * h..(i + 1) * h];
            for tok in &hs[bi][..lens[bi]] {
                for (o, v) in row.iter_mut().zip(tok) {
                    *o += v;
                }
            }
            for o in row.iter_mut() {
                *o /= lens[bi] as f32;
            }
        }
        if enc.has_head() {
            for (i, v) in pseudo_perplexity(enc, t, b, seed)? {
                ppl[i] = v;
            }
        }
        if !progress((done + 1) as f64 / batches.len() as f64) {
            return Ok(None);
        }
    }
    Ok(Some((
        crate::core::matrix::Matrix::from_vec(n, h, out),
        ppl,
    )))
}

/// Pseudo-perplexity, sampled: each real token falls into one of six random groups (≈ 17 %
/// each, seeded per item); groups 0 and 1 are masked in one forward pass each, so a third of
/// the tokens are scored, each from a context about as masked as in training. The exact
/// pseudo-perplexity (one pass per token) would cost ~100 passes per sequence on CPU.
/// Returns exp(mean NLL of the scored tokens).
const PPL_PASSES: usize = 2;

fn pseudo_perplexity(
    enc: &Encoder,
    t: &Tokens,
    b: &[usize],
    seed: u64,
) -> candle_core::Result<Vec<(usize, f32)>> {
    let dev = &enc.device;
    let len = b.iter().map(|&i| t.ids[i].len()).max().unwrap_or(1);
    let lens: Vec<usize> = b.iter().map(|&i| t.ids[i].len()).collect();
    let mut nll = vec![0f64; b.len()];
    let mut cnt = vec![0usize; b.len()];
    for pass in 0..PPL_PASSES {
        let mut ids = vec![t.pad_id; b.len() * len];
        let mut pos = Vec::new();
        let mut tgt = Vec::new();
        let mut owner = Vec::new();
        for (bi, &i) in b.iter().enumerate() {
            // Seeded per item, so a sequence's score does not depend on its batch.
            let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(
                seed ^ (i as u64).wrapping_mul(0x9e37_79b9) ^ 0x99,
            );
            let groups: Vec<usize> = (0..t.ids[i].len())
                .map(|_| rng.gen_range(0..6usize))
                .collect();
            for (j, &tok) in t.ids[i].iter().enumerate() {
                let flat = bi * len + j;
                ids[flat] = tok;
                if !t.special.contains(&tok) && groups[j] == pass {
                    ids[flat] = t.mask_id;
                    pos.push(flat as u32);
                    tgt.push(tok);
                    owner.push(bi);
                }
            }
        }
        if pos.is_empty() {
            continue;
        }
        let m = pos.len();
        let x = Tensor::from_vec(ids, (b.len(), len), dev)?;
        let hs = enc.forward(&x, &lens)?;
        let flat = hs.reshape((b.len() * len, enc.cfg.hidden_size))?;
        let sel = flat.index_select(&Tensor::from_vec(pos, m, dev)?, 0)?;
        let logp = candle_nn::ops::log_softmax(&enc.mlm_logits(&sel)?, D::Minus1)?;
        let picked = logp
            .gather(&Tensor::from_vec(tgt, (m, 1), dev)?, 1)?
            .flatten_all()?
            .to_vec1::<f32>()?;
        for (k, lp) in picked.into_iter().enumerate() {
            nll[owner[k]] -= lp as f64;
            cnt[owner[k]] += 1;
        }
    }
    Ok(b.iter()
        .enumerate()
        .map(|(bi, &i)| {
            let v = if cnt[bi] > 0 {
                (nll[bi] / cnt[bi] as f64).exp() as f32
            } else {
                f32::NAN
            };
            (i, v)
        })
        .collect())
}

/// Writes a checkpoint folder (`config.json`, `model.safetensors`, `tokenizer.json`) through
/// temporary files renamed into place.
pub fn save(
    dir: &Path,
    cfg: &EncoderConfig,
    varmap: &VarMap,
    tokenizer: &Tokenizer,
) -> Result<(), EncoderError> {
    let err = |p: &Path, e: String| EncoderError::Checkpoint {
        path: p.to_path_buf(),
        reason: e,
    };
    std::fs::create_dir_all(dir).map_err(|e| err(dir, e.to_string()))?;
    let put = |name: &str, write: &dyn Fn(&Path) -> Result<(), String>| {
        let tmp = dir.join(format!(".{name}.tmp"));
        write(&tmp).map_err(|e| err(&tmp, e))?;
        std::fs::rename(&tmp, dir.join(name)).map_err(|e| err(&dir.join(name), e.to_string()))
    };
    put("config.json", &|p| {
        let s = serde_json::to_string_pretty(cfg).map_err(|e| e.to_string())?;
        std::fs::write(p, s).map_err(|e| e.to_string())
    })?;
    put("model.safetensors", &|p| {
        varmap.save(p).map_err(|e| e.to_string())
    })?;
    put("tokenizer.json", &|p| {
        tokenizer.save(p, false).map_err(|e| e.to_string())
    })?;
    Ok(())
}

/// Reads `tokenizer.json` from a checkpoint folder.
pub fn load_tokenizer(dir: &Path) -> Result<Tokenizer, EncoderError> {
    let p = dir.join("tokenizer.json");
    if !p.exists() {
        return Err(EncoderError::Checkpoint {
            path: p,
            reason: "missing (the encoder needs its tokenizer.json)".into(),
        });
    }
    Tokenizer::from_file(&p).map_err(|e| EncoderError::Checkpoint {
        path: p,
        reason: format!("not a tokenizers file: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alibi_slopes_follow_the_reference() {
        let s = alibi_slopes(12);
        let expect = [
            0.5, 0.25, 0.125, 0.0625, 0.03125, 0.015625, 0.0078125, 0.00390625,
        ];
        for (a, b) in s.iter().zip(expect) {
            assert!((a - b).abs() < 1e-12);
        }
        for (a, e) in s[8..].iter().zip([-0.5f64, -1.5, -2.5, -3.5]) {
            assert!((a - 2f64.powf(e)).abs() < 1e-12);
        }
        assert_eq!(alibi_slopes(4), vec![0.25, 0.0625, 0.015625, 0.00390625]);
    }

    fn toy_seqs(n: usize, seed: u64) -> Vec<Vec<u8>> {
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(seed);
        (0..n)
            .map(|i| {
                let mut s: Vec<u8> = (0..120).map(|_| b"ACGT"[rng.gen_range(0..4)]).collect();
                if i % 2 == 0 {
                    s[40..48].copy_from_slice(b"TATCGATA");
                }
                s
            })
            .collect()
    }

    fn tiny() -> MlmParams {
        MlmParams {
            hidden: 32,
            layers: 2,
            heads: 4,
            vocab: 64,
            max_tokens: 64,
            epochs: 1,
            batch_size: 8,
            ..Default::default()
        }
    }

    #[test]
    fn every_weight_gets_a_finite_nonzero_gradient() {
        let seqs = toy_seqs(16, 1);
        let p = tiny();
        let tok = train_tokenizer(&seqs, p.vocab).unwrap();
        let t = tokenize(&tok, &seqs, p.max_tokens).unwrap();
        let cfg = EncoderConfig {
            vocab_size: tok.get_vocab_size(true),
            hidden_size: 32,
            num_hidden_layers: 2,
            num_attention_heads: 4,
            intermediate_size: 64,
            layer_norm_eps: 1e-12,
            type_vocab_size: 2,
            max_tokens: 64,
        };
        let vm = VarMap::new();
        let enc = Encoder::new_trainable(&cfg, &vm, 0, &Device::Cpu).unwrap();
        let batch: Vec<&Vec<u32>> = t.ids.iter().collect();
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(0);
        let (loss, _, _) = mlm_loss(&enc, &batch, &t, &mut rng, 0.3).unwrap();
        let grads = loss.backward().unwrap();
        let data = vm.data().lock().unwrap();
        assert_eq!(data.len(), cfg.expected_tensors(true).len());
        crate::core::nn::assert_gradients(&grads, data.iter().map(|(k, v)| (k.clone(), v)));
    }

    #[test]
    fn padding_does_not_change_a_sequence_and_checkpoints_round_trip() {
        let seqs = toy_seqs(40, 2);
        let p = tiny();
        let tr = pretrain(&seqs, &p, &Device::Cpu, &mut |_| true)
            .unwrap()
            .unwrap();
        let t = tokenize(&tr.tokenizer, &seqs, p.max_tokens).unwrap();
        // Alone or in a padded batch, a sequence gets the same hidden states.
        let short = t
            .ids
            .iter()
            .position(|v| v.len() < t.ids.iter().map(|v| v.len()).max().unwrap())
            .unwrap();
        let long = t
            .ids
            .iter()
            .map(|v| v.len())
            .enumerate()
            .max_by_key(|x| x.1)
            .unwrap()
            .0;
        let alone = tr
            .encoder
            .forward(
                &Tensor::new(t.ids[short].as_slice(), &Device::Cpu)
                    .unwrap()
                    .unsqueeze(0)
                    .unwrap(),
                &[t.ids[short].len()],
            )
            .unwrap()
            .to_vec3::<f32>()
            .unwrap();
        let len = t.ids[long].len();
        let mut padded = t.ids[short].clone();
        padded.resize(len, t.pad_id);
        let ids = Tensor::from_vec(
            [padded, t.ids[long].clone()].concat(),
            (2, len),
            &Device::Cpu,
        )
        .unwrap();
        let both = tr
            .encoder
            .forward(&ids, &[t.ids[short].len(), len])
            .unwrap()
            .to_vec3::<f32>()
            .unwrap();
        for (a, b) in alone[0].iter().zip(&both[0]) {
            for (x, y) in a.iter().zip(b) {
                assert!((x - y).abs() < 1e-4, "{x} vs {y}");
            }
        }
        // Saved in the DNABERT-2 layout and reloaded (with a `bert.` prefix, as the Hugging
        // Face checkpoint has), the model embeds identically.
        let d = tempfile::tempdir().unwrap();
        save(d.path(), &tr.encoder.cfg, &tr.varmap, &tr.tokenizer).unwrap();
        let m = candle_core::safetensors::load(d.path().join("model.safetensors"), &Device::Cpu)
            .unwrap();
        let prefixed: HashMap<String, Tensor> = m
            .into_iter()
            .map(|(k, v)| (format!("bert.{k}"), v))
            .collect();
        candle_core::safetensors::save(&prefixed, d.path().join("model.safetensors")).unwrap();
        let back = Encoder::load(d.path(), &Device::Cpu).unwrap();
        let tok = load_tokenizer(d.path()).unwrap();
        let t2 = tokenize(&tok, &seqs, p.max_tokens).unwrap();
        assert_eq!(t.ids, t2.ids);
        let (e1, p1) = embed(&tr.encoder, &t, 8, 0, &mut |_| true)
            .unwrap()
            .unwrap();
        let (e2, p2) = embed(&back, &t2, 8, 0, &mut |_| true).unwrap().unwrap();
        assert_eq!(e1.data, e2.data);
        assert_eq!(p1, p2);
        assert!(p1.iter().all(|v| v.is_finite() && *v > 1.0));
        // A mis-shaped tensor is named with the expected shape.
        let mut bad = prefixed.clone();
        bad.insert(
            "bert.encoder.layer.1.mlp.wo.weight".into(),
            Tensor::zeros((32, 7), DType::F32, &Device::Cpu).unwrap(),
        );
        candle_core::safetensors::save(&bad, d.path().join("model.safetensors")).unwrap();
        let e = Encoder::load(d.path(), &Device::Cpu)
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("encoder.layer.1.mlp.wo.weight") && e.contains("expected [32, 128]"),
            "{e}"
        );
        bad.remove("bert.encoder.layer.1.mlp.wo.weight");
        candle_core::safetensors::save(&bad, d.path().join("model.safetensors")).unwrap();
        let e = Encoder::load(d.path(), &Device::Cpu)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("is missing"), "{e}");
    }
}
