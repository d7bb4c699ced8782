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

mod architecture;
mod checkpoint;
mod mlm;
mod tokens;

pub use architecture::{Encoder, EncoderConfig, EncoderError, alibi_slopes};
pub use checkpoint::{load_tokenizer, save};
pub use mlm::{MlmParams, MlmReport, Trained, embed, pretrain};
pub use tokens::{Tokens, tokenize, train_tokenizer};

#[cfg(test)]
mod tests {
    use super::mlm::{Masking, mlm_loss};
    use super::*;
    use candle_core::{DType, Device, Tensor};
    use candle_nn::VarMap;
    use rand::{Rng, SeedableRng};
    use std::collections::HashMap;

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
    fn every_sequence_gets_a_pseudo_perplexity_even_a_short_one() {
        let mut seqs = toy_seqs(24, 5);
        // One or two tokens each: most have no token in the two scored groups by chance.
        seqs.extend((0..40).map(|i| b"ACGTTGCA"[..3 + i % 5].to_vec()));
        let p = tiny();
        let tr = pretrain(&seqs, &p, &Device::Cpu, &mut |_| true)
            .unwrap()
            .unwrap();
        let t = tokenize(&tr.tokenizer, &seqs, p.max_tokens).unwrap();
        let (_, ppl) = embed(&tr.encoder, &t, 16, 0, &mut |_| true)
            .unwrap()
            .unwrap();
        let bad: Vec<usize> = (0..ppl.len()).filter(|&i| !ppl[i].is_finite()).collect();
        assert!(bad.is_empty(), "no pseudo-perplexity for sequences {bad:?}");
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
        let (loss, _, _) = mlm_loss(&enc, &batch, &t, &mut rng, (0.3, Masking::Train)).unwrap();
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
