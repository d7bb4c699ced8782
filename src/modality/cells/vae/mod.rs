//! An scVI-style variational autoencoder for UMI counts (Lopez et al. 2018, scvi-tools `VAE`
//! defaults; methods.md §1): encoder log1p(x) → Linear → BatchNorm → ReLU → Dropout → (μ, σ²)
//! of a 10-d latent; decoder z → Linear → BatchNorm → ReLU → log-softmax over genes, plus the
//! observed log library size; one inverse dispersion per gene; negative binomial likelihood
//! (zero-inflated as an option). Trained with AdamW (eps 0.01), KL warm-up and early
//! stopping on the validation ELBO. The latent reported is the posterior mean.
//!
//! All randomness (initial weights, mini-batch order, dropout masks, reparameterisation noise)
//! comes from one seeded host RNG, so a run is reproducible for a given seed and thread count.
//! (The model's code is ~560 lines; the rest are its gradient and likelihood tests.)

pub mod lgamma;
pub mod nb;
mod train;

pub use train::{Trained, train};

use crate::core::matrix::Matrix;
use crate::modality::cells::mtx::SparseCounts;
use candle_core::{DType, Device, Module, ModuleT, Tensor, Var};
use candle_nn::{BatchNorm, Linear};
use lgamma::lgamma_f64;
use nb::log_likelihood;
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use std::collections::HashMap;
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Likelihood {
    Nb,
    Zinb,
}

impl std::str::FromStr for Likelihood {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "nb" => Ok(Likelihood::Nb),
            "zinb" => Ok(Likelihood::Zinb),
            _ => Err(format!("unknown likelihood '{s}' (expected nb or zinb)")),
        }
    }
}

/// Training settings; scvi-tools defaults except where methods.md §1.6 explains otherwise.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ScviParams {
    pub n_hidden: usize,
    pub n_latent: usize,
    pub dropout: f64,
    pub likelihood: Likelihood,
    /// None: scvi-tools' heuristic, capped on CPU (see `epochs_for`).
    pub max_epochs: Option<usize>,
    /// None: min(400, max_epochs / 2), so the KL weight reaches 1 before the end.
    pub kl_warmup_epochs: Option<usize>,
    pub batch_size: usize,
    pub lr: f64,
    pub adam_eps: f64,
    pub weight_decay: f64,
    pub train_fraction: f64,
    /// Epochs without a better validation ELBO before stopping; 0 turns early stopping off.
    pub patience: usize,
    pub seed: u64,
}

impl Default for ScviParams {
    fn default() -> Self {
        Self {
            n_hidden: 128,
            n_latent: 10,
            dropout: 0.1,
            likelihood: Likelihood::Nb,
            max_epochs: None,
            kl_warmup_epochs: None,
            batch_size: 128,
            lr: 1e-3,
            adam_eps: 0.01,
            weight_decay: 1e-6,
            train_fraction: 0.9,
            patience: 45,
            seed: 0,
        }
    }
}

impl ScviParams {
    /// scvi-tools' heuristic min(round(20000 / n · 400), 400), capped on CPU at 2 million
    /// cell passes (200 epochs at 10k cells, 50 at 40k and beyond) so training stays minutes.
    pub fn epochs_for(&self, n_cells: usize) -> usize {
        self.max_epochs.unwrap_or_else(|| {
            let n = n_cells.max(1);
            let h = (20_000.0 / n as f64 * 400.0).round() as usize;
            h.clamp(1, 400).min((2_000_000 / n).max(50))
        })
    }
    pub fn warmup_for(&self, epochs: usize) -> usize {
        self.kl_warmup_epochs
            .unwrap_or_else(|| (epochs / 2).clamp(1, 400))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ScviError {
    #[error(
        "the count model needs raw integer counts, but {source_name} holds {what}; \
         give the raw counts (e.g. layers/counts or raw/X of an .h5ad, or a 10x folder), \
         or use --model pca"
    )]
    NotCounts {
        source_name: String,
        what: &'static str,
    },
    #[error("{0} cells with non-zero counts: training needs at least 10")]
    TooFewCells(usize),
    #[error("the loss became {value} at epoch {epoch}; try a lower learning rate")]
    NonFinite { epoch: usize, value: f32 },
    #[error("cancelled")]
    Cancelled,
    #[error("{0}")]
    Device(String),
    /// A candle failure, kept as its message: `{:#}` of an error chain would repeat it.
    #[error("model: {0}")]
    Candle(String),
    #[error("{path}: {reason}")]
    Weights { path: String, reason: String },
}

impl From<candle_core::Error> for ScviError {
    fn from(e: candle_core::Error) -> Self {
        ScviError::Candle(e.to_string())
    }
}

/// What training tells its caller.
#[derive(Debug, Clone, Copy)]
pub enum TrainEvent<'a> {
    /// Once, after the first few mini-batches: the expected time of the whole run (every
    /// epoch, validation included) at the speed measured so far.
    Estimate {
        seconds: f64,
        epochs: usize,
    },
    Epoch(&'a EpochReport),
}

/// What one epoch reports.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EpochReport {
    pub epoch: usize,
    pub max_epochs: usize,
    pub train_loss: f64,
    pub validation_elbo: f64,
    pub kl_weight: f64,
    pub seconds: f64,
}

struct Dense {
    /// log1p of the counts, B × G, the encoder's input.
    log1p: Tensor,
    counts: Tensor,
    /// ln of each cell's total count, B × 1.
    log_lib: Tensor,
    /// Σ_g lgamma(x_g + 1) per cell, the data constant of the log-likelihood.
    lgamma_x1: Vec<f64>,
}

/// The counts the model sees: the selected genes of every cell, CSR by cell.
#[derive(Debug, Clone)]
pub struct CountInput<'a> {
    pub x: &'a SparseCounts,
    /// Model gene j is column `genes[j]` of `x`.
    pub genes: &'a [usize],
    /// Model column of each column of `x` (usize::MAX: not read).
    col: Vec<usize>,
    /// Per cell: Σ_g lgamma(x_g + 1) over the model's genes, a data constant computed once.
    lgamma_x1: Vec<f64>,
}

impl<'a> CountInput<'a> {
    pub fn new(x: &'a SparseCounts, genes: &'a [usize]) -> Self {
        let mut col = vec![usize::MAX; x.n_genes];
        for (j, &gi) in genes.iter().enumerate() {
            col[gi] = j;
        }
        let lgamma_x1 = (0..x.n_cells)
            .map(|i| {
                let (gi, v) = x.row(i);
                gi.iter()
                    .zip(v)
                    .filter(|(g, _)| col[**g as usize] != usize::MAX)
                    .map(|(_, &c)| lgamma_f64(c as f64 + 1.0))
                    .sum()
            })
            .collect();
        Self {
            x,
            genes,
            col,
            lgamma_x1,
        }
    }

    fn dense(&self, cells: &[usize], dev: &Device) -> candle_core::Result<Dense> {
        let g = self.genes.len();
        let b = cells.len();
        let mut counts = vec![0f32; b * g];
        // log1p of the stored counts only: most are zero, and ln 1 = 0 needs no call.
        let mut log1p = vec![0f32; b * g];
        let mut lib = vec![0f32; b];
        for (r, &i) in cells.iter().enumerate() {
            let (gi, v) = self.x.row(i);
            let mut total = 0f64;
            for (&gg, &c) in gi.iter().zip(v) {
                let j = self.col[gg as usize];
                if j != usize::MAX {
                    counts[r * g + j] = c;
                    log1p[r * g + j] = c.ln_1p();
                    total += c as f64;
                }
            }
            // A cell without counts in the model's genes gets library 1 (ln 1 = 0), not ln 0.
            lib[r] = total.max(1.0).ln() as f32;
        }
        Ok(Dense {
            log1p: Tensor::from_vec(log1p, (b, g), dev)?,
            counts: Tensor::from_vec(counts, (b, g), dev)?,
            log_lib: Tensor::from_vec(lib, (b, 1), dev)?,
            lgamma_x1: cells.iter().map(|&i| self.lgamma_x1[i]).collect(),
        })
    }
}

/// The network's parameters, named as they are saved.
pub struct Vae {
    pub params: ScviParams,
    pub n_genes: usize,
    vars: Vec<(String, Var)>,
    enc: Linear,
    enc_bn: BatchNorm,
    mean: Linear,
    var: Linear,
    dec: Linear,
    dec_bn: BatchNorm,
    scale: Linear,
    dropout_head: Option<Linear>,
    px_r: Var,
    dev: Device,
}

/// PyTorch's default Linear init: U(−1/√fan_in, 1/√fan_in) for weights and biases.
fn uniform(rng: &mut Xoshiro256PlusPlus, n: usize, bound: f64) -> Vec<f32> {
    (0..n)
        .map(|_| ((rng.r#gen::<f64>() * 2.0 - 1.0) * bound) as f32)
        .collect()
}

struct Builder<'a> {
    rng: &'a mut Xoshiro256PlusPlus,
    vars: Vec<(String, Var)>,
    dev: &'a Device,
    loaded: Option<&'a HashMap<String, Tensor>>,
}

impl Builder<'_> {
    fn var(&mut self, name: &str, shape: &[usize], init: Vec<f32>) -> Result<Var, ScviError> {
        let t = match self.loaded {
            Some(w) => {
                let t = w.get(name).ok_or_else(|| ScviError::Weights {
                    path: String::new(),
                    reason: format!("missing tensor '{name}' (expected shape {shape:?})"),
                })?;
                if t.dims() != shape {
                    return Err(ScviError::Weights {
                        path: String::new(),
                        reason: format!(
                            "tensor '{name}' has shape {:?}, expected {shape:?}",
                            t.dims()
                        ),
                    });
                }
                t.to_dtype(DType::F32)?.to_device(self.dev)?
            }
            None => Tensor::from_vec(init, shape, self.dev)?,
        };
        let v = Var::from_tensor(&t)?;
        self.vars.push((name.to_string(), v.clone()));
        Ok(v)
    }
    fn linear(&mut self, name: &str, d_in: usize, d_out: usize) -> Result<Linear, ScviError> {
        let bound = 1.0 / (d_in as f64).sqrt();
        let w = uniform(self.rng, d_in * d_out, bound);
        let b = uniform(self.rng, d_out, bound);
        let w = self.var(&format!("{name}.weight"), &[d_out, d_in], w)?;
        let b = self.var(&format!("{name}.bias"), &[d_out], b)?;
        Ok(Linear::new(
            w.as_tensor().clone(),
            Some(b.as_tensor().clone()),
        ))
    }
    fn batch_norm(&mut self, name: &str, n: usize) -> Result<BatchNorm, ScviError> {
        let w = self.var(&format!("{name}.weight"), &[n], vec![1.0; n])?;
        let b = self.var(&format!("{name}.bias"), &[n], vec![0.0; n])?;
        let rm = self.var(&format!("{name}.running_mean"), &[n], vec![0.0; n])?;
        let rv = self.var(&format!("{name}.running_var"), &[n], vec![1.0; n])?;
        // scvi-tools: momentum 0.01, eps 1e-3.
        Ok(BatchNorm::new_with_momentum(
            n,
            rm.as_tensor().clone(),
            rv.as_tensor().clone(),
            w.as_tensor().clone(),
            b.as_tensor().clone(),
            1e-3,
            0.01,
        )?)
    }
}

/// Per-cell terms of the objective.
struct Terms {
    /// −Σ_g log p(x_g | z), without the lgamma(x+1) data constant (B).
    recon: Tensor,
    /// KL(q(z|x) ‖ N(0, I)) (B).
    kl: Tensor,
    mean: Tensor,
}

impl Vae {
    fn build(
        params: &ScviParams,
        n_genes: usize,
        dev: &Device,
        loaded: Option<&HashMap<String, Tensor>>,
    ) -> Result<Self, ScviError> {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(params.seed ^ 0x5c71);
        let (h, l) = (params.n_hidden, params.n_latent);
        let mut b = Builder {
            rng: &mut rng,
            vars: Vec::new(),
            dev,
            loaded,
        };
        let enc = b.linear("encoder.fc", n_genes, h)?;
        let enc_bn = b.batch_norm("encoder.bn", h)?;
        let mean = b.linear("encoder.mean", h, l)?;
        let var = b.linear("encoder.var", h, l)?;
        let dec = b.linear("decoder.fc", l, h)?;
        let dec_bn = b.batch_norm("decoder.bn", h)?;
        let scale = b.linear("decoder.scale", h, n_genes)?;
        let dropout_head = match params.likelihood {
            Likelihood::Zinb => Some(b.linear("decoder.dropout", h, n_genes)?),
            Likelihood::Nb => None,
        };
        // scvi-tools: px_r ~ N(0, 1).
        let px_init: Vec<f32> = (0..n_genes).map(|_| normal(b.rng) as f32).collect();
        let px_r = b.var("px_r", &[n_genes], px_init)?;
        Ok(Self {
            params: params.clone(),
            n_genes,
            vars: b.vars,
            enc,
            enc_bn,
            mean,
            var,
            dec,
            dec_bn,
            scale,
            dropout_head,
            px_r,
            dev: dev.clone(),
        })
    }

    /// The trainable parameters (batch-norm running statistics excluded).
    pub fn trainable(&self) -> Vec<(String, Var)> {
        self.vars
            .iter()
            .filter(|(n, _)| !n.contains("running_"))
            .cloned()
            .collect()
    }

    fn dropout(
        &self,
        x: &Tensor,
        rng: &mut Xoshiro256PlusPlus,
        train: bool,
    ) -> candle_core::Result<Tensor> {
        let p = self.params.dropout;
        if !train || p <= 0.0 {
            return Ok(x.clone());
        }
        let keep = 1.0 / (1.0 - p);
        let mask: Vec<f32> = (0..x.elem_count())
            .map(|_| {
                if rng.r#gen::<f64>() < p {
                    0.0
                } else {
                    keep as f32
                }
            })
            .collect();
        x * Tensor::from_vec(mask, x.shape(), x.device())?
    }

    /// Encoder: (μ, σ²) of q(z|x).
    fn encode(
        &self,
        d: &Dense,
        rng: &mut Xoshiro256PlusPlus,
        train: bool,
    ) -> candle_core::Result<(Tensor, Tensor)> {
        let h = self.enc.forward(&d.log1p)?;
        let h = self.enc_bn.forward_t(&h, train)?.relu()?;
        let h = self.dropout(&h, rng, train)?;
        let mean = self.mean.forward(&h)?;
        let var = self.var.forward(&h)?.exp()?.affine(1.0, 1e-4)?;
        Ok((mean, var))
    }

    /// The loss terms for a mini-batch; `sample` draws z (else z = μ).
    fn terms(
        &self,
        d: &Dense,
        rng: &mut Xoshiro256PlusPlus,
        train: bool,
        sample: bool,
    ) -> candle_core::Result<Terms> {
        let (mean, var) = self.encode(d, rng, train)?;
        let z = if sample {
            let eps: Vec<f32> = (0..mean.elem_count()).map(|_| normal(rng) as f32).collect();
            let eps = Tensor::from_vec(eps, mean.shape(), &self.dev)?;
            (&mean + (var.sqrt()? * eps)?)?
        } else {
            mean.clone()
        };
        let h = self.dec.forward(&z)?;
        let h = self.dec_bn.forward_t(&h, train)?.relu()?;
        let logits = self.scale.forward(&h)?;
        let log_theta = self.px_r.as_tensor();
        let pi = match &self.dropout_head {
            Some(head) => Some(head.forward(&h)?),
            None => None,
        };
        let ll = log_likelihood(&logits, &d.log_lib, pi.as_ref(), log_theta, &d.counts)?;
        let recon = ll.neg()?;
        let kl = ((mean.sqr()? + &var)? - var.log()?)?
            .affine(1.0, -1.0)?
            .sum(1)?
            .affine(0.5, 0.0)?;
        Ok(Terms { recon, kl, mean })
    }

    /// Writes the weights as safetensors (temp file, then rename).
    pub fn save(&self, path: &Path) -> Result<(), ScviError> {
        let map: HashMap<String, Tensor> = self
            .vars
            .iter()
            .map(|(n, v)| (n.clone(), v.as_tensor().clone()))
            .collect();
        let tmp = path.with_extension("safetensors.tmp");
        candle_core::safetensors::save(&map, &tmp)?;
        std::fs::rename(&tmp, path).map_err(|e| ScviError::Weights {
            path: path.display().to_string(),
            reason: e.to_string(),
        })
    }

    /// Rebuilds a trained model from saved weights; names a missing or mis-shaped tensor.
    pub fn load(
        path: &Path,
        params: &ScviParams,
        n_genes: usize,
        dev: &Device,
    ) -> Result<Self, ScviError> {
        let w = candle_core::safetensors::load(path, dev).map_err(|e| ScviError::Weights {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        Self::build(params, n_genes, dev, Some(&w)).map_err(|e| match e {
            ScviError::Weights { reason, .. } => ScviError::Weights {
                path: path.display().to_string(),
                reason,
            },
            e => e,
        })
    }

    /// Posterior means (n × latent) and per-cell reconstruction negative log-likelihood
    /// (including lgamma(x+1), with z = μ), in evaluation mode.
    pub fn embed(&self, input: &CountInput) -> Result<(Matrix, Vec<f32>), ScviError> {
        let n = input.x.n_cells;
        let l = self.params.n_latent;
        let mut latent = Matrix::zeros(n, l);
        let mut nll = vec![0f32; n];
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(0);
        let cells: Vec<usize> = (0..n).collect();
        for chunk in cells.chunks(512) {
            let d = input.dense(chunk, &self.dev)?;
            let t = self.terms(&d, &mut rng, false, false)?;
            let m = t.mean.to_vec2::<f32>()?;
            let r = t.recon.to_vec1::<f32>()?;
            for (k, &i) in chunk.iter().enumerate() {
                latent.row_mut(i).copy_from_slice(&m[k]);
                nll[i] = (r[k] as f64 + d.lgamma_x1[k]) as f32;
            }
        }
        Ok((latent, nll))
    }

    /// ELBO per cell (reconstruction NLL incl. lgamma(x+1) plus the full KL, z sampled) and the
    /// reconstruction part alone, averaged over `cells`, in evaluation mode.
    pub fn elbo(
        &self,
        input: &CountInput,
        cells: &[usize],
        seed: u64,
    ) -> Result<(f64, f64), ScviError> {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        let (mut elbo, mut rec) = (0f64, 0f64);
        for chunk in cells.chunks(512) {
            let d = input.dense(chunk, &self.dev)?;
            let t = self.terms(&d, &mut rng, false, true)?;
            let r = t.recon.to_vec1::<f32>()?;
            let k = t.kl.to_vec1::<f32>()?;
            for j in 0..chunk.len() {
                let rj = r[j] as f64 + d.lgamma_x1[j];
                rec += rj;
                elbo += rj + k[j] as f64;
            }
        }
        let n = cells.len().max(1) as f64;
        Ok((elbo / n, rec / n))
    }
}

fn normal(rng: &mut Xoshiro256PlusPlus) -> f64 {
    // Box–Muller; one value per call keeps the stream simple to reason about.
    let u1: f64 = rng.r#gen::<f64>().max(1e-300);
    let u2: f64 = rng.r#gen();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two groups of cells with different expressed genes, Poisson-ish counts.
    fn toy(n: usize, g: usize, seed: u64) -> SparseCounts {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        let mut indptr = vec![0];
        let (mut genes, mut values) = (Vec::new(), Vec::new());
        for i in 0..n {
            for j in 0..g {
                let hot = (j < g / 2) == (i % 2 == 0);
                let rate = if hot { 4.0 } else { 0.3 };
                let c = (rng.r#gen::<f64>() * 2.0 * rate).floor();
                if c > 0.0 || j == i % g {
                    genes.push(j as u32);
                    values.push(c.max(1.0) as f32);
                }
            }
            indptr.push(genes.len());
        }
        SparseCounts {
            n_cells: n,
            n_genes: g,
            indptr,
            genes,
            values,
        }
    }

    #[test]
    fn every_parameter_gets_a_finite_nonzero_gradient() {
        for lik in [Likelihood::Nb, Likelihood::Zinb] {
            let x = toy(32, 20, 1);
            let genes: Vec<usize> = (0..20).collect();
            let input = CountInput::new(&x, &genes);
            let params = ScviParams {
                likelihood: lik,
                n_hidden: 16,
                n_latent: 4,
                ..Default::default()
            };
            let vae = Vae::build(&params, 20, &Device::Cpu, None).unwrap();
            let cells: Vec<usize> = (0..32).collect();
            let d = input.dense(&cells, &Device::Cpu).unwrap();
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(3);
            let t = vae.terms(&d, &mut rng, true, true).unwrap();
            let loss = (t.recon + t.kl).unwrap().mean_all().unwrap();
            let grads = loss.backward().unwrap();
            let trainable = vae.trainable();
            assert_eq!(
                trainable.len(),
                if lik == Likelihood::Zinb { 17 } else { 15 }
            );
            for (name, v) in trainable {
                let g = grads
                    .get(v.as_tensor())
                    .unwrap_or_else(|| panic!("{lik:?}: no gradient for {name}"));
                let norm = g
                    .sqr()
                    .unwrap()
                    .sum_all()
                    .unwrap()
                    .to_scalar::<f32>()
                    .unwrap();
                assert!(
                    norm.is_finite() && norm > 0.0,
                    "{lik:?}: gradient of {name} has squared norm {norm}"
                );
            }
        }
    }

    #[test]
    fn nb_log_likelihood_matches_a_direct_f64_evaluation() {
        // One cell, with the decoder replaced by known values: check the loss formula by
        // evaluating log NB directly for the μ and θ the network produced.
        let x = toy(16, 6, 2);
        let genes: Vec<usize> = (0..6).collect();
        let input = CountInput::new(&x, &genes);
        let params = ScviParams {
            n_hidden: 8,
            n_latent: 2,
            ..Default::default()
        };
        let vae = Vae::build(&params, 6, &Device::Cpu, None).unwrap();
        let (_, nll) = vae.embed(&input).unwrap();
        // Recompute with z = μ by hand.
        let cells: Vec<usize> = (0..16).collect();
        let d = input.dense(&cells, &Device::Cpu).unwrap();
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(0);
        let (mean, _) = vae.encode(&d, &mut rng, false).unwrap();
        let h = vae.dec.forward(&mean).unwrap();
        let h = vae.dec_bn.forward_t(&h, false).unwrap().relu().unwrap();
        let logits = vae.scale.forward(&h).unwrap().to_vec2::<f32>().unwrap();
        let theta: Vec<f64> = vae
            .px_r
            .as_tensor()
            .to_vec1::<f32>()
            .unwrap()
            .iter()
            .map(|&r| (r as f64).exp())
            .collect();
        let counts = d.counts.to_vec2::<f32>().unwrap();
        for i in 0..16 {
            let lib: f64 = counts[i].iter().map(|&c| c as f64).sum();
            let mx = logits[i].iter().fold(f32::MIN, |a, &b| a.max(b)) as f64;
            let z: f64 = logits[i].iter().map(|&l| (l as f64 - mx).exp()).sum();
            let mut ll = 0.0;
            for j in 0..6 {
                let mu = lib * (logits[i][j] as f64 - mx).exp() / z;
                let (xv, t) = (counts[i][j] as f64, theta[j]);
                ll += t * (t / (t + mu)).ln() + xv * (mu / (t + mu)).ln() + lgamma_f64(xv + t)
                    - lgamma_f64(t)
                    - lgamma_f64(xv + 1.0);
            }
            let rel = ((-ll) - nll[i] as f64).abs() / ll.abs().max(1.0);
            assert!(rel < 1e-4, "cell {i}: nll {} vs direct {}", nll[i], -ll);
        }
    }

    #[test]
    fn training_lowers_the_validation_elbo_and_saves_and_reloads() {
        let x = toy(200, 30, 4);
        let genes: Vec<usize> = (0..30).collect();
        let input = CountInput::new(&x, &genes);
        let params = ScviParams {
            n_hidden: 32,
            n_latent: 4,
            max_epochs: Some(30),
            ..Default::default()
        };
        let mut reports = Vec::new();
        let t = train(&input, &params, &Device::Cpu, &mut |ev| {
            if let TrainEvent::Epoch(r) = ev {
                reports.push(r.validation_elbo);
            }
            true
        })
        .unwrap();
        let (first, last) = (reports[0], *reports.last().unwrap());
        println!("validation ELBO per cell: epoch 1 {first:.2}, epoch 30 {last:.2}");
        // Measured 55.66 → 49.73 (−10.7 %) with this seed; at least −10 % is asserted.
        assert!(last < first * 0.9, "{first} → {last}");
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("vae.safetensors");
        t.vae.save(&p).unwrap();
        let back = Vae::load(&p, &params, 30, &Device::Cpu).unwrap();
        assert_eq!(
            back.embed(&input).unwrap().0,
            t.vae.embed(&input).unwrap().0
        );
        let wrong = Vae::load(&p, &params, 31, &Device::Cpu)
            .err()
            .unwrap()
            .to_string();
        assert!(wrong.contains("encoder.fc.weight"), "{wrong}");
        assert!(wrong.contains("expected [32, 31]"), "{wrong}");
    }
}
