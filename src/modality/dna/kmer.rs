//! The k-mer spectrum baseline for DNA (methods.md §2.5): canonical k-mer counts (a k-mer and
//! its reverse complement together), centred log-ratio, PCA. Also the 2-bit helpers the motif
//! code shares.

use crate::core::matrix::Matrix;
use rayon::prelude::*;

/// 2-bit code of a base (A0 C1 G2 T3, case-insensitive, U as T); None for N and other codes.
#[inline]
pub fn code(b: u8) -> Option<u32> {
    match b {
        b'A' | b'a' => Some(0),
        b'C' | b'c' => Some(1),
        b'G' | b'g' => Some(2),
        b'T' | b't' | b'U' | b'u' => Some(3),
        _ => None,
    }
}

/// Reverse complement of a k-mer code.
#[inline]
pub fn revcomp(mut x: u32, k: usize) -> u32 {
    let mut r = 0;
    for _ in 0..k {
        r = (r << 2) | (3 - (x & 3));
        x >>= 2;
    }
    r
}

/// Maps every k-mer code to the index of its canonical class; returns (map, number of classes).
pub fn canonical_classes(k: usize) -> (Vec<u32>, usize) {
    let n = 1usize << (2 * k);
    let mut map = vec![u32::MAX; n];
    let mut next = 0u32;
    for x in 0..n as u32 {
        if map[x as usize] != u32::MAX {
            continue;
        }
        let r = revcomp(x, k);
        map[x as usize] = next;
        map[r as usize] = next;
        next += 1;
    }
    (map, next as usize)
}

/// Calls `f(position, code)` for every k-mer of `seq` made only of A/C/G/T.
pub fn for_each_kmer(seq: &[u8], k: usize, mut f: impl FnMut(usize, u32)) {
    let mask = if k == 16 {
        u32::MAX
    } else {
        (1u32 << (2 * k)) - 1
    };
    let (mut x, mut valid) = (0u32, 0usize);
    for (i, &b) in seq.iter().enumerate() {
        match code(b) {
            Some(c) => {
                x = ((x << 2) | c) & mask;
                valid += 1;
                if valid >= k {
                    f(i + 1 - k, x);
                }
            }
            None => valid = 0,
        }
    }
}

/// Items × canonical classes counts.
pub fn spectrum(seqs: &[Vec<u8>], k: usize) -> Matrix {
    let (map, n_classes) = canonical_classes(k);
    let rows: Vec<Vec<f32>> = seqs
        .par_iter()
        .map(|s| {
            let mut c = vec![0f32; n_classes];
            for_each_kmer(s, k, |_, x| c[map[x as usize] as usize] += 1.0);
            c
        })
        .collect();
    Matrix::from_vec(seqs.len(), n_classes, rows.concat())
}

/// Centred log-ratio of each row's frequencies with a pseudo-count of 0.5 per class, so a
/// k-mer never seen does not give −∞ and short sequences are pulled towards uniform.
pub fn clr(counts: &Matrix) -> Matrix {
    let mut out = counts.clone();
    for i in 0..out.rows {
        let row = out.row_mut(i);
        let logs: Vec<f64> = row.iter().map(|&c| (c as f64 + 0.5).ln()).collect();
        let mean = logs.iter().sum::<f64>() / logs.len() as f64;
        for (v, l) in row.iter_mut().zip(logs) {
            *v = (l - mean) as f32;
        }
    }
    out
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct KmerParams {
    /// k-mer length, 4 to 6.
    pub k: usize,
    pub n_components: usize,
}

impl Default for KmerParams {
    fn default() -> Self {
        Self {
            k: 4,
            n_components: 50,
        }
    }
}

/// The whole baseline: sequences → CLR k-mer spectrum → PCA.
pub fn kmer_embedding(
    seqs: &[Vec<u8>],
    p: &KmerParams,
) -> Result<Matrix, crate::analysis::pca::BaselineError> {
    if seqs.len() < 3 {
        return Err(crate::analysis::pca::BaselineError::TooFew { n: seqs.len() });
    }
    let x = clr(&spectrum(seqs, p.k));
    crate::analysis::pca::pca(&x, p.n_components)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_counts_join_strands() {
        assert_eq!(canonical_classes(4).1, 136);
        assert_eq!(canonical_classes(6).1, 2080);
        // A sequence and its reverse complement have the same spectrum.
        let s = b"ACGGTTANNCCGTAAGT".to_vec();
        let rc: Vec<u8> = s
            .iter()
            .rev()
            .map(|&b| match b {
                b'A' => b'T',
                b'C' => b'G',
                b'G' => b'C',
                b'T' => b'A',
                x => x,
            })
            .collect();
        let m = spectrum(&[s, rc], 4);
        assert_eq!(m.row(0), m.row(1));
        // 17 letters, N at 7-8: 4-mers in "ACGGTTA" (4) and "CCGTAAGT" (5).
        assert_eq!(m.row(0).iter().sum::<f32>(), 9.0);
    }
}
