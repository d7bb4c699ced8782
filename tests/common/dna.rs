//! DNA test helpers: real fly promoter segments, JASPAR insects, and sites sampled from a
//! motif's probabilities to plant in them.

use super::{asset, fixture};
use biolens::modality::dna::fastx::{WindowParams, read_sequences};
use biolens::modality::dna::motif_db::{Motif, read_motifs};
use rand::Rng;

pub fn insects() -> Vec<Motif> {
    read_motifs(&asset("dna/JASPAR2024_CORE_insects_nonredundant.meme")).unwrap()
}

/// `n` segments of `len` bases, from every `step`-th fly proximal promoter starting at
/// record `skip`, taken from the middle of each 500-bp promoter.
pub fn promoter_segments(n: usize, len: usize, step: usize, skip: usize) -> Vec<Vec<u8>> {
    let all = read_sequences(
        &fixture("dna/dm3_proximal500_dedup.fa.gz"),
        &WindowParams::default(),
    )
    .unwrap();
    all.sequences
        .seqs
        .iter()
        .skip(skip)
        .step_by(step)
        .filter(|s| s.len() >= len)
        .take(n)
        .map(|s| {
            let a = (s.len() - len) / 2;
            s[a..a + len].to_vec()
        })
        .collect()
}

/// Samples a site from a motif's probabilities, on a random strand.
pub fn sample_site(m: &Motif, rng: &mut impl Rng) -> Vec<u8> {
    let mut s: Vec<u8> = m
        .probs
        .iter()
        .map(|c| {
            let u: f64 = rng.r#gen();
            let mut acc = 0.0;
            for (k, p) in c.iter().enumerate() {
                acc += p;
                if u < acc {
                    return b"ACGT"[k];
                }
            }
            b'T'
        })
        .collect();
    if rng.gen_bool(0.5) {
        s.reverse();
        for b in &mut s {
            *b = match *b {
                b'A' => b'T',
                b'C' => b'G',
                b'G' => b'C',
                _ => b'A',
            };
        }
    }
    s
}

/// Plants one sampled site of `m` at a random place in a `share` of `seqs` (chosen at
/// random); returns which sequences carry one.
pub fn plant(seqs: &mut [Vec<u8>], m: &Motif, share: f64, rng: &mut impl Rng) -> Vec<bool> {
    let mut idx: Vec<usize> = (0..seqs.len()).collect();
    rand::seq::SliceRandom::shuffle(&mut idx[..], rng);
    let n = (seqs.len() as f64 * share).round() as usize;
    let mut planted = vec![false; seqs.len()];
    for &i in &idx[..n] {
        let site = sample_site(m, rng);
        let s = &mut seqs[i];
        let p = rng.gen_range(0..=s.len() - site.len());
        s[p..p + site.len()].copy_from_slice(&site);
        planted[i] = true;
    }
    planted
}

/// Writes sequences as FASTA (ids s1, s2, …).
pub fn write_fasta(path: &std::path::Path, seqs: &[Vec<u8>]) {
    let mut text = String::new();
    for (i, s) in seqs.iter().enumerate() {
        text.push_str(&format!(">s{}\n{}\n", i + 1, String::from_utf8_lossy(s)));
    }
    std::fs::write(path, text).unwrap();
}
