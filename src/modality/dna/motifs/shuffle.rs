//! k-let-preserving shuffles: the default background of motif discovery. STREME shuffles
//! preserving 3-mers (its `--order 2`); so do we: a dinucleotide shuffle breaks up the
//! A/T-rich tracts and simple repeats of real promoters, which then look enriched and crowd
//! out real sites.

use crate::modality::dna::kmer::code;
use rand::{Rng, seq::SliceRandom};

/// Shuffles `seq` keeping the count of every `k`-mer (Altschul & Erickson 1985, generalised
/// as in uShuffle: a random Eulerian walk over (k − 1)-mers with a random last-exit
/// arborescence). Letters other than A/C/G/T stay where they are and split the sequence into
/// independently shuffled runs.
pub fn klet_shuffle(seq: &[u8], k: usize, rng: &mut impl Rng) -> Vec<u8> {
    let k = k.clamp(2, 4);
    let mut out = seq.to_vec();
    let mut start = 0;
    while start < seq.len() {
        if code(seq[start]).is_none() {
            start += 1;
            continue;
        }
        let mut end = start;
        while end < seq.len() && code(seq[end]).is_some() {
            end += 1;
        }
        let run: Vec<usize> = seq[start..end]
            .iter()
            .map(|&b| code(b).unwrap_or(0) as usize)
            .collect();
        if let Some(shuffled) = shuffle_run(&run, k, rng) {
            for (o, c) in out[start..end].iter_mut().zip(shuffled) {
                *o = b"ACGT"[c];
            }
        }
        start = end;
    }
    out
}

/// One run of bases shuffled; None leaves it as it is (too short, or no arborescence found).
fn shuffle_run(s: &[usize], k: usize, rng: &mut impl Rng) -> Option<Vec<usize>> {
    if s.len() < k + 1 {
        return None;
    }
    let m = k - 1;
    let n_vertices = 1usize << (2 * m);
    let vertex = |i: usize| s[i..i + m].iter().fold(0usize, |a, &c| (a << 2) | c);
    let n_v = s.len() - m + 1;
    let first = vertex(0);
    let last = vertex(n_v - 1);
    let mut edges: Vec<Vec<usize>> = vec![Vec::new(); n_vertices];
    for i in 0..n_v - 1 {
        edges[vertex(i)].push(vertex(i + 1));
    }
    // Last exits forming a tree towards `last`: random choices, retried until they do.
    let mut exits = None;
    for _ in 0..1000 {
        let exit: Vec<usize> = (0..n_vertices)
            .map(|v| {
                if v == last || edges[v].is_empty() {
                    usize::MAX
                } else {
                    rng.gen_range(0..edges[v].len())
                }
            })
            .collect();
        let reaches = (0..n_vertices).all(|v| {
            if v == last || edges[v].is_empty() {
                return true;
            }
            let mut u = v;
            for _ in 0..n_vertices {
                u = edges[u][exit[u]];
                if u == last {
                    return true;
                }
            }
            false
        });
        if reaches {
            exits = Some(exit);
            break;
        }
    }
    let exits = exits?;
    for v in 0..n_vertices {
        if edges[v].is_empty() {
            continue;
        }
        if exits[v] != usize::MAX {
            let n = edges[v].len();
            edges[v].swap(exits[v], n - 1);
            edges[v][..n - 1].shuffle(rng);
        } else {
            edges[v].shuffle(rng);
        }
    }
    let mut next = vec![0usize; n_vertices];
    let mut out: Vec<usize> = s[..m].to_vec();
    let mut u = first;
    while out.len() < s.len() {
        let v = edges[u][next[u]];
        next[u] += 1;
        out.push(v & 3);
        u = v;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn klets(x: &[u8], k: usize) -> Vec<Vec<u8>> {
        let mut v: Vec<Vec<u8>> = x.windows(k).map(|w| w.to_vec()).collect();
        v.sort();
        v
    }

    #[test]
    fn shuffles_keep_their_klets_and_leave_n_in_place() {
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(3);
        let s = b"ACGTTGCAAGGCTTACGATCGATNNACGTAGCTAGCTTTAGGCAATATATACGCGATTACAGGA".to_vec();
        for k in [2, 3] {
            let t = klet_shuffle(&s, k, &mut rng);
            assert_ne!(s, t, "k = {k}");
            assert_eq!(klets(&s, k), klets(&t, k), "k = {k}");
            assert_eq!(t[23..25].to_vec(), b"NN".to_vec());
            assert_eq!(t[..k - 1], s[..k - 1]);
        }
    }
}
