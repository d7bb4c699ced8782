//! Masked-language-model pre-training on the user's sequences (15 % masked: 80 % [MASK],
//! 10 % random, 10 % kept; AdamW, warm-up then linear decay, gradient clipping), held-out
//! evaluation (every scored token masked), mean-pooled embeddings and the sampled
//! pseudo-perplexity anomaly score.

use super::architecture::{Encoder, EncoderConfig, EncoderError};
use super::tokens::{Tokens, tokenize, train_tokenizer};
use candle_core::{D, DType, Device, Tensor};
use candle_nn::VarMap;
use rand::{Rng, SeedableRng, seq::SliceRandom};
use tokenizers::Tokenizer;

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

/// How the chosen tokens are hidden.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Masking {
    /// BERT's training corruption: 80 % → [MASK], 10 % → a random token, 10 % kept.
    Train,
    /// Every scored token → [MASK]: held-out evaluation, where a kept token would let the
    /// model score by copying its input.
    Evaluate,
}

/// Chooses `rate` of the non-special tokens and hides them as `masking` says. Returns the
/// input ids and (flat position, original id) of every chosen token.
fn mask_batch(
    batch: &[&Vec<u32>],
    len: usize,
    t: &Tokens,
    vocab: usize,
    (rate, masking): (f64, Masking),
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
                if r < 0.8 || masking == Masking::Evaluate {
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
pub(super) fn mlm_loss(
    enc: &Encoder,
    batch: &[&Vec<u32>],
    t: &Tokens,
    rng: &mut impl Rng,
    masking: (f64, Masking),
) -> candle_core::Result<(Tensor, usize, usize)> {
    let len = batch.iter().map(|s| s.len()).max().unwrap_or(1);
    let lens: Vec<usize> = batch.iter().map(|s| s.len()).collect();
    let (ids, targets) = mask_batch(batch, len, t, enc.cfg.vocab_size, masking, rng);
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
            let (loss, _, _) = mlm_loss(&enc, &batch, &t, &mut rng, (p.mask_rate, Masking::Train))?;
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
        let (vl, va) = evaluate(&enc.detached(), &t, &validation, p)?;
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

/// Held-out masked-token loss and accuracy, every scored token replaced by [MASK], with the
/// same choice of tokens at every epoch so the epochs compare.
fn evaluate(
    enc: &Encoder,
    t: &Tokens,
    idx: &[usize],
    p: &MlmParams,
) -> candle_core::Result<(f64, f64)> {
    let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(p.seed ^ 0xe7a1);
    let (mut loss, mut correct, mut n) = (0.0, 0usize, 0usize);
    for b in length_batches(idx, t, p.batch_size) {
        let batch: Vec<&Vec<u32>> = b.iter().map(|&i| &t.ids[i]).collect();
        let (l, c, m) = mlm_loss(enc, &batch, t, &mut rng, (p.mask_rate, Masking::Evaluate))?;
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
/// A sequence none of whose tokens falls in groups 0 and 1 has one of them scored. Returns
/// exp(mean NLL of the scored tokens).
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
            let mut groups: Vec<usize> = (0..t.ids[i].len())
                .map(|_| rng.gen_range(0..6usize))
                .collect();
            // A short sequence may have no token in a scored group: score one of its real
            // tokens anyway (chosen by the same generator), so every sequence gets a value.
            let real: Vec<usize> = (0..t.ids[i].len())
                .filter(|&j| !t.special.contains(&t.ids[i][j]))
                .collect();
            if !real.is_empty() && real.iter().all(|&j| groups[j] >= PPL_PASSES) {
                groups[real[rng.gen_range(0..real.len())]] = 0;
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens() -> Tokens {
        Tokens {
            ids: vec![],
            truncated: 0,
            special: vec![0, 1, 2, 3, 4],
            pad_id: 0,
            mask_id: 4,
        }
    }

    #[test]
    fn evaluation_hides_every_scored_token() {
        let t = tokens();
        let seq: Vec<u32> = std::iter::once(1)
            .chain((0..400).map(|i| 5 + i % 20))
            .chain(std::iter::once(2))
            .collect();
        let batch = vec![&seq];
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(3);
        let (ids, targets) = mask_batch(
            &batch,
            seq.len(),
            &t,
            25,
            (0.15, Masking::Evaluate),
            &mut rng,
        );
        assert!(targets.len() > 30);
        let visible = targets
            .iter()
            .filter(|(pos, _)| ids[*pos as usize] != t.mask_id)
            .count();
        assert_eq!(visible, 0, "{visible} scored tokens visible to the model");
        // Training keeps about 10 % of them (and swaps about 10 %), as BERT does.
        let (ids, targets) =
            mask_batch(&batch, seq.len(), &t, 25, (0.15, Masking::Train), &mut rng);
        let visible = targets
            .iter()
            .filter(|(pos, _)| ids[*pos as usize] != t.mask_id)
            .count();
        assert!(visible > 0);
    }
}
