//! The DNA workflow around the encoder: pre-train on the user's sequences or load a checkpoint
//! folder, embed by mean pooling, score by pseudo-perplexity. Knows nothing about the
//! terminal; the CLI and the TUI's jobs call it.

use crate::core::matrix::Matrix;
use crate::modality::dna::encoder;
use crate::modality::dna::encoder::Encoder;
use crate::modality::dna::encoder::EncoderError;
use crate::modality::dna::encoder::MlmParams;
use crate::modality::dna::encoder::MlmReport;
use crate::modality::dna::options::{DnaModel, Options};
use std::path::PathBuf;
use std::sync::Arc;

/// What the session keeps about the encoder.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EncoderSummary {
    /// "mlm-pretrained here" or the checkpoint folder it was loaded from.
    pub origin: String,
    pub config: encoder::EncoderConfig,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mlm: Option<MlmParams>,
    /// Per-epoch held-out masked-token loss and accuracy.
    #[serde(default)]
    pub history: Vec<MlmReport>,
    /// Held-out loss of a unigram model (what knowing only token frequencies gives).
    #[serde(default)]
    pub unigram_loss: f64,
    pub truncated_sequences: usize,
    pub seconds: f64,
}

/// An encoder with its tokenizer and the varmap it trains (for saving).
pub struct DnaEncoder {
    pub encoder: Encoder,
    pub tokenizer: tokenizers::Tokenizer,
    pub varmap: Option<candle_nn::VarMap>,
    /// Checkpoint folder it was loaded from (weights are copied into the session as is).
    pub folder: Option<PathBuf>,
    pub summary: EncoderSummary,
}

impl std::fmt::Debug for DnaEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DnaEncoder")
            .field("summary", &self.summary)
            .finish()
    }
}

pub struct DnaOutput {
    pub embedding: Matrix,
    /// Pseudo-perplexity per sequence (NaN when the checkpoint has no MLM head).
    pub perplexity: Vec<f32>,
    pub model: Arc<DnaEncoder>,
}

/// Progress of the DNA encoder: (stage, fraction); returning false cancels.
pub type Progress<'a> = dyn FnMut(&'static str, f64, Option<&MlmReport>) -> bool + 'a;

/// Pre-trains or loads the encoder, then embeds every sequence. None when cancelled.
pub fn run(
    seqs: &[Vec<u8>],
    o: &Options,
    progress: &mut Progress,
) -> Result<Option<DnaOutput>, EncoderError> {
    let dev = o.device.device().map_err(EncoderError::Device)?;
    let t0 = std::time::Instant::now();
    let model = match &o.model {
        DnaModel::Kmer => {
            return Err(EncoderError::Input(
                "the k-mer baseline has no encoder".into(),
            ));
        }
        DnaModel::Mlm => {
            let mut cb = |r: &MlmReport| {
                progress(
                    "pre-training",
                    r.step as f64 / r.total_steps as f64,
                    Some(r),
                )
            };
            let Some(tr) = encoder::pretrain(seqs, &o.mlm, &dev, &mut cb)? else {
                return Ok(None);
            };
            let t = encoder::tokenize(&tr.tokenizer, seqs, o.mlm.max_tokens)?;
            DnaEncoder {
                summary: EncoderSummary {
                    origin: "mlm-pretrained here".into(),
                    config: tr.encoder.cfg.clone(),
                    mlm: Some(o.mlm.clone()),
                    history: tr.history,
                    unigram_loss: tr.unigram_loss,
                    truncated_sequences: t.truncated,
                    seconds: t0.elapsed().as_secs_f64(),
                },
                encoder: tr.encoder,
                tokenizer: tr.tokenizer,
                varmap: Some(tr.varmap),
                folder: None,
            }
        }
        DnaModel::Pretrained(dir) => load(dir, &dev)?,
    };
    embed_with(model, seqs, o.mlm.seed, progress)
}

/// Loads a checkpoint folder with its tokenizer.
pub fn load(dir: &std::path::Path, dev: &candle_core::Device) -> Result<DnaEncoder, EncoderError> {
    let encoder = Encoder::load(dir, dev)?;
    let tokenizer = encoder::load_tokenizer(dir)?;
    Ok(DnaEncoder {
        summary: EncoderSummary {
            origin: dir.display().to_string(),
            config: encoder.cfg.clone(),
            mlm: None,
            history: Vec::new(),
            unigram_loss: f64::NAN,
            truncated_sequences: 0,
            seconds: 0.0,
        },
        encoder,
        tokenizer,
        varmap: None,
        folder: Some(dir.to_path_buf()),
    })
}

fn embed_with(
    mut model: DnaEncoder,
    seqs: &[Vec<u8>],
    seed: u64,
    progress: &mut Progress,
) -> Result<Option<DnaOutput>, EncoderError> {
    let t0 = std::time::Instant::now();
    let max = model.encoder.cfg.max_tokens;
    let t = encoder::tokenize(&model.tokenizer, seqs, max)?;
    model.summary.truncated_sequences = t.truncated;
    let Some((embedding, perplexity)) = encoder::embed(&model.encoder, &t, 32, seed, &mut |f| {
        progress("embedding", f, None)
    })?
    else {
        return Ok(None);
    };
    model.summary.seconds += t0.elapsed().as_secs_f64();
    Ok(Some(DnaOutput {
        embedding,
        perplexity,
        model: Arc::new(model),
    }))
}

pub fn describe(s: &EncoderSummary) -> String {
    let c = &s.config;
    format!(
        "dnabert-2-style encoder, {} layers × {} hidden, vocab {} ({}; mean-pooled last hidden state)",
        c.num_hidden_layers, c.hidden_size, c.vocab_size, s.origin
    )
}
