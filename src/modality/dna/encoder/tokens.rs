//! Tokenisation: a BPE vocabulary learnt from the input (as DNABERT-2 learns its own), and
//! sequences turned into id lists with `[CLS]`/`[SEP]`, truncated to the model's length.

use super::architecture::EncoderError;
use tokenizers::Tokenizer;

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
