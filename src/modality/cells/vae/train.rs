//! Training the count model: mini-batches of 128 from one seeded generator, AdamW with
//! scvi-tools' settings (its Adam's L2 term of 1e-6 as decoupled decay), linear KL warm-up,
//! validation ELBO per epoch, early stopping that restores the best epoch's weights when it
//! stops (a run that uses every epoch keeps the last, as scvi-tools does).

use super::{CountInput, EpochReport, ScviError, ScviParams, TrainEvent, Vae};
use candle_core::{Device, Tensor, Var};
use candle_nn::Optimizer;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_xoshiro::Xoshiro256PlusPlus;

/// A trained model and what training measured.
pub struct Trained {
    pub vae: Vae,
    pub history: Vec<EpochReport>,
    pub train_cells: Vec<usize>,
    pub validation_cells: Vec<usize>,
    pub best_epoch: usize,
    pub stopped_early: bool,
}

/// Trains on all cells of `input` (each must have a non-zero count in the model's genes).
/// `on_event` gets the time estimate, then every epoch's report; returning false cancels.
/// Mini-batches timed for the estimate of the whole run.
const ESTIMATE_BATCHES: usize = 4;

pub fn train(
    input: &CountInput,
    params: &ScviParams,
    dev: &Device,
    on_event: &mut dyn FnMut(TrainEvent) -> bool,
) -> Result<Trained, ScviError> {
    let n = input.x.n_cells;
    if n < 10 {
        return Err(ScviError::TooFewCells(n));
    }
    let g = input.genes.len();
    let vae = Vae::build(params, g, dev, None)?;
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(params.seed);
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut rng);
    let n_train = ((n as f64 * params.train_fraction).round() as usize).clamp(1, n);
    let mut train_cells = order[..n_train].to_vec();
    let validation_cells = order[n_train..].to_vec();
    let epochs = params.epochs_for(n);
    let warmup = params.warmup_for(epochs);
    let trainable: Vec<Var> = vae.trainable().into_iter().map(|(_, v)| v).collect();
    let mut opt = candle_nn::AdamW::new(
        trainable,
        candle_nn::ParamsAdamW {
            lr: params.lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: params.adam_eps,
            weight_decay: params.weight_decay,
        },
    )?;
    let mut history = Vec::with_capacity(epochs);
    let mut best = (f64::INFINITY, 0usize, None::<Vec<Tensor>>);
    let mut stopped_early = false;
    let mut timer = None;
    for epoch in 0..epochs {
        let t0 = std::time::Instant::now();
        // scvi-tools: weight = epoch / n_epochs_kl_warmup, clamped to 1.
        let kl_weight = (epoch as f64 / warmup as f64).min(1.0);
        train_cells.shuffle(&mut rng);
        let (mut loss_sum, mut seen) = (0f64, 0usize);
        let n_batches = train_cells.len().div_ceil(params.batch_size.max(1));
        for (k, batch) in train_cells.chunks(params.batch_size).enumerate() {
            // The estimate skips the first batch (allocations, caches warming up).
            if epoch == 0 && k == 1 {
                timer = Some(std::time::Instant::now());
            }
            // Up to ESTIMATE_BATCHES timed batches; fewer when the data holds fewer.
            let timed = ESTIMATE_BATCHES.min(n_batches.saturating_sub(2));
            if epoch == 0
                && timed > 0
                && k == 1 + timed
                && let Some(t) = timer
            {
                {
                    let per_batch = t.elapsed().as_secs_f64() / timed as f64;
                    // Validation runs the forward pass only, about a third of a training step.
                    let val_batches = validation_cells.len().div_ceil(params.batch_size.max(1));
                    let per_epoch = per_batch * (n_batches as f64 + val_batches as f64 / 3.0);
                    let estimate = TrainEvent::Estimate {
                        seconds: per_epoch * epochs as f64,
                        epochs,
                    };
                    if !on_event(estimate) {
                        return Err(ScviError::Cancelled);
                    }
                }
            }
            // A tiny last batch breaks batch statistics; scvi-tools drops it too.
            if batch.len() < 3 {
                continue;
            }
            let d = input.dense(batch, dev)?;
            let t = vae.terms(&d, &mut rng, true, true)?;
            let loss = (t.recon + t.kl.affine(kl_weight, 0.0)?)?.mean_all()?;
            let v = loss.to_scalar::<f32>()?;
            if !v.is_finite() {
                return Err(ScviError::NonFinite { epoch, value: v });
            }
            opt.backward_step(&loss)?;
            loss_sum += v as f64 * batch.len() as f64;
            seen += batch.len();
        }
        let val = if validation_cells.is_empty() {
            f64::NAN
        } else {
            vae.elbo(input, &validation_cells, params.seed ^ epoch as u64)?
                .0
        };
        let report = EpochReport {
            epoch: epoch + 1,
            max_epochs: epochs,
            train_loss: loss_sum / seen.max(1) as f64,
            validation_elbo: val,
            kl_weight,
            seconds: t0.elapsed().as_secs_f64(),
        };
        history.push(report.clone());
        if !on_event(TrainEvent::Epoch(&report)) {
            return Err(ScviError::Cancelled);
        }
        if params.patience > 0 && val.is_finite() {
            if val < best.0 {
                let snapshot = vae
                    .vars
                    .iter()
                    .map(|(_, v)| v.as_tensor().copy())
                    .collect::<candle_core::Result<Vec<_>>>()?;
                best = (val, epoch + 1, Some(snapshot));
            } else if epoch + 1 - best.1 >= params.patience {
                stopped_early = true;
                break;
            }
        }
    }
    // Stopping early restores the best epoch's weights; a full run keeps the last ones.
    let best_epoch = if let (Some(snap), true) = (best.2, stopped_early) {
        for ((_, v), t) in vae.vars.iter().zip(snap) {
            v.set(&t)?;
        }
        best.1
    } else {
        history.len()
    };
    Ok(Trained {
        vae,
        history,
        train_cells,
        validation_cells,
        best_epoch,
        stopped_early,
    })
}
