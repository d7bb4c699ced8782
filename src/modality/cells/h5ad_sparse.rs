//! An AnnData sparse matrix (CSR or CSC group) read straight into the gene-major layout
//! [`ByGene`], in two parallel passes over the file's chunks and no intermediate copy.
//!
//! Pass 1 decodes blocks of `data` and `indices`, checks every index, counts each gene's
//! non-zero values per block and learns what the values are ([`ValueKind`]); a caller that
//! does not want that kind of matrix stops there. Pass 2 decodes the blocks again and
//! scatters each value to its gene's slot, which pass 1's counts fix, so blocks write
//! disjoint slots in parallel and the result does not depend on the thread count. Peak
//! memory is the result (8 bytes a value) plus a few blocks in flight; the former reader
//! held `indices` as i64 and both layouts at once (~20 bytes a value).

use crate::io::h5chunks::Chunked1d;
use crate::modality::cells::expression::ByGene;
use crate::modality::cells::values::ValueKind;
use rayon::prelude::*;

/// Elements decoded per block: 16 MiB a buffer, so a few in flight stay small beside the
/// result, and blocks are many enough to keep every core busy from 4M values up.
pub const BLOCK: usize = 1 << 22;

/// The sparse group's parts, as the caller found them.
pub struct SparseParts<'a> {
    pub data: &'a Chunked1d,
    pub indices: &'a Chunked1d,
    /// Validated offsets: `n_major + 1` of them, non-decreasing from 0 to the number of
    /// stored values.
    pub indptr: &'a [i64],
    /// True for `csr_matrix` (rows are cells), false for `csc_matrix` (rows are genes).
    pub csr: bool,
    pub n_cells: usize,
    pub n_genes: usize,
    /// Elements decoded per block (rounded up to whole `indices` chunks): [`BLOCK`].
    pub block: usize,
}

/// Why the read stopped.
pub enum SparseError {
    /// An object is malformed: (object suffix such as "indices", reason).
    Bad(&'static str, String),
    /// Read, but the caller did not want this kind of values.
    Unwanted(ValueKind),
}

#[derive(Clone, Copy)]
struct KindStats {
    negative: bool,
    integer: bool,
    max: f32,
}

impl KindStats {
    fn merge(self, o: Self) -> Self {
        Self {
            negative: self.negative || o.negative,
            integer: self.integer && o.integer,
            max: self.max.max(o.max),
        }
    }
    fn kind(self) -> ValueKind {
        if self.negative {
            ValueKind::Scaled
        } else {
            match (
                self.integer,
                self.max > crate::modality::cells::values::LOG_SCALE_MAX,
            ) {
                (true, _) => ValueKind::Counts,
                (false, false) => ValueKind::Normalised,
                (false, true) => ValueKind::Linear,
            }
        }
    }
}

/// A pointer blocks write through; each slot is written by exactly one block.
#[derive(Clone, Copy)]
struct Shared<T>(*mut T);
// SAFETY: blocks write disjoint index sets (pass 1's per-block, per-gene offsets), and the
// buffers outlive the parallel loop that writes them.
unsafe impl<T> Send for Shared<T> {}
unsafe impl<T> Sync for Shared<T> {}

impl<T> Shared<T> {
    /// Through a method, so closures capture the whole (Sync) wrapper, not its field.
    fn ptr(self) -> *mut T {
        self.0
    }
}

/// Reads the matrix; `want(kind)` decides after pass 1 whether to build it. `progress`
/// gets the fraction of both passes done.
pub fn read_by_gene(
    p: &SparseParts,
    want: impl Fn(ValueKind) -> bool,
    progress: &(dyn Fn(f64) + Sync),
) -> Result<(ByGene, ValueKind), SparseError> {
    let nnz = p.data.len();
    let n_minor = if p.csr { p.n_genes } else { p.n_cells };
    let cl = p.indices.chunk_len().max(1);
    let block = p.block.max(1).div_ceil(cl) * cl;
    let n_blocks = nnz.div_ceil(block);
    let done = std::sync::atomic::AtomicUsize::new(0);
    let tick = |n: usize, pass: usize| {
        let d = done.fetch_add(n, std::sync::atomic::Ordering::Relaxed) + n;
        progress((pass as f64 + d as f64 / nnz.max(1) as f64) / 2.0);
    };

    // Decodes block `b` into the thread's buffers; returns its first position.
    let decode = |b: usize, idx: &mut Vec<i64>, val: &mut Vec<f32>| -> Result<usize, SparseError> {
        let lo = b * block;
        let hi = (lo + block).min(nnz);
        idx.resize(hi - lo, 0);
        val.resize(hi - lo, 0.0);
        p.indices
            .read_range(lo, idx)
            .map_err(|e| SparseError::Bad("indices", e))?;
        p.data
            .read_range(lo, val)
            .map_err(|e| SparseError::Bad("data", e))?;
        Ok(lo)
    };
    // The major slice holding position `pos`.
    let major_of = |pos: usize| -> usize { p.indptr.partition_point(|&x| x as usize <= pos) - 1 };

    // Pass 1: per block, each gene's count of non-zero values, and the kind of values.
    let pass1: Vec<(Vec<u32>, KindStats)> = (0..n_blocks)
        .into_par_iter()
        .map_init(
            || (Vec::new(), Vec::new()),
            |(idx, val), b| {
                let lo = decode(b, idx, val)?;
                let mut counts = vec![0u32; p.n_genes];
                let mut st = KindStats {
                    negative: false,
                    integer: true,
                    max: 0.0,
                };
                let mut m = major_of(lo);
                for (k, (&i, &v)) in idx.iter().zip(val.iter()).enumerate() {
                    let pos = lo + k;
                    while p.indptr[m + 1] as usize <= pos {
                        m += 1;
                    }
                    if i < 0 || i as usize >= n_minor {
                        return Err(SparseError::Bad(
                            "indices",
                            format!(
                                "entry {} is {i} but the matrix has {n_minor} {}",
                                pos + 1,
                                if p.csr { "columns" } else { "rows" }
                            ),
                        ));
                    }
                    if v.is_nan() {
                        return Err(SparseError::Bad(
                            "data",
                            format!("entry {} is NaN (expected finite values)", pos + 1),
                        ));
                    }
                    if v == 0.0 {
                        continue;
                    }
                    let gene = if p.csr { i as usize } else { m };
                    counts[gene] += 1;
                    st.negative |= v < 0.0;
                    st.integer &= v.fract() == 0.0;
                    st.max = st.max.max(v);
                }
                tick(idx.len(), 0);
                Ok((counts, st))
            },
        )
        .collect::<Result<_, _>>()?;
    let kind = pass1
        .iter()
        .map(|x| x.1)
        .fold(
            KindStats {
                negative: false,
                integer: true,
                max: 0.0,
            },
            KindStats::merge,
        )
        .kind();
    if !want(kind) {
        return Err(SparseError::Unwanted(kind));
    }

    // Each block's first slot per gene: the gene's start plus earlier blocks' counts.
    let mut ptr = vec![0usize; p.n_genes + 1];
    for (counts, _) in &pass1 {
        for (g, &c) in counts.iter().enumerate() {
            ptr[g + 1] += c as usize;
        }
    }
    for g in 0..p.n_genes {
        ptr[g + 1] += ptr[g];
    }
    let mut cursor = ptr[..p.n_genes].to_vec();
    let starts: Vec<Vec<usize>> = pass1
        .into_iter()
        .map(|(counts, _)| {
            let s = cursor.clone();
            for (c, n) in cursor.iter_mut().zip(counts) {
                *c += n as usize;
            }
            s
        })
        .collect();
    let total = ptr[p.n_genes];
    let mut cells = vec![0u32; total];
    let mut values = vec![0f32; total];
    let (cp, vp) = (Shared(cells.as_mut_ptr()), Shared(values.as_mut_ptr()));

    // Pass 2: scatter.
    done.store(0, std::sync::atomic::Ordering::Relaxed);
    starts
        .into_par_iter()
        .enumerate()
        .map_init(
            || (Vec::new(), Vec::new()),
            |(idx, val), (b, mut slot)| {
                let lo = decode(b, idx, val)?;
                let mut m = major_of(lo);
                for (k, (&i, &v)) in idx.iter().zip(val.iter()).enumerate() {
                    while p.indptr[m + 1] as usize <= lo + k {
                        m += 1;
                    }
                    if v == 0.0 {
                        continue;
                    }
                    let (gene, cell) = if p.csr {
                        (i as usize, m as u32)
                    } else {
                        (m, i as u32)
                    };
                    let s = slot[gene];
                    slot[gene] += 1;
                    // SAFETY: `s` lies in this block's range for `gene` (pass 1 counted
                    // exactly these entries), which no other block writes; both buffers
                    // have `total` elements and live until after this loop.
                    unsafe {
                        *(cp.ptr().add(s)) = cell;
                        *(vp.ptr().add(s)) = v;
                    }
                }
                tick(idx.len(), 1);
                Ok(())
            },
        )
        .collect::<Result<Vec<()>, SparseError>>()?;

    let mut m = ByGene {
        n_cells: p.n_cells,
        ptr,
        cells,
        values,
    };
    sort_and_check(&mut m, p.csr)?;
    Ok((m, kind))
}

/// Within each gene, cells ascending (CSC files may store them unsorted) and each at most
/// once.
fn sort_and_check(m: &mut ByGene, csr: bool) -> Result<(), SparseError> {
    for g in 0..m.n_genes() {
        let (a, b) = (m.ptr[g], m.ptr[g + 1]);
        let cells = &m.cells[a..b];
        if cells.windows(2).all(|w| w[0] < w[1]) {
            continue;
        }
        if !cells.windows(2).all(|w| w[0] <= w[1]) {
            let mut pairs: Vec<(u32, f32)> = cells
                .iter()
                .copied()
                .zip(m.values[a..b].iter().copied())
                .collect();
            pairs.sort_by_key(|x| x.0);
            for (k, (c, v)) in pairs.into_iter().enumerate() {
                m.cells[a + k] = c;
                m.values[a + k] = v;
            }
        }
        if let Some(w) = m.cells[a..b].windows(2).find(|w| w[0] == w[1]) {
            return Err(SparseError::Bad(
                "indices",
                format!(
                    "{} {} holds {} {} twice (expected each entry stored once)",
                    if csr { "row" } else { "column" },
                    if csr { w[0] as usize + 1 } else { g + 1 },
                    if csr { "column" } else { "row" },
                    if csr { g + 1 } else { w[0] as usize + 1 },
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modality::cells::mtx::SparseCounts;

    /// A CSR with explicit zeros, empty rows and a skewed gene use, seeded.
    fn csr(n: usize, g: usize, seed: u64) -> SparseCounts {
        let mut s = seed;
        let mut next = || {
            s = crate::analysis::knn::mix64(s.wrapping_add(0x9e37_79b9_7f4a_7c15));
            s
        };
        let mut indptr = vec![0];
        let (mut genes, mut values) = (Vec::new(), Vec::new());
        for i in 0..n {
            if i % 17 != 5 {
                for j in 0..g as u32 {
                    if next() % 5 == 0 || (j < 3 && i % 2 == 0) {
                        genes.push(j);
                        // Some stored zeros, as some writers leave them.
                        values.push((next() % 7) as f32);
                    }
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

    /// Writes major offsets and the (minor, value) arrays as chunked, filtered datasets.
    fn write(path: &std::path::Path, indptr: &[usize], minor: &[u32], values: &[f32]) {
        let mut b = hdf5_pure::FileBuilder::new();
        b.create_dataset("data")
            .with_f32_data(values)
            .with_chunks(&[37])
            .with_shuffle()
            .with_deflate(4)
            .with_fletcher32();
        let idx: Vec<i64> = minor.iter().map(|&j| j as i64).collect();
        b.create_dataset("indices")
            .with_i64_data(&idx)
            .with_chunks(&[50])
            .with_deflate(1);
        let ptr: Vec<i64> = indptr.iter().map(|&p| p as i64).collect();
        b.create_dataset("indptr").with_i64_data(&ptr);
        b.write(path).unwrap();
    }

    fn read(
        path: &std::path::Path,
        csr: bool,
        n: usize,
        g: usize,
        block: usize,
    ) -> Result<(ByGene, ValueKind), SparseError> {
        let f = hdf5_pure::File::open_streaming(path).unwrap();
        let open = |name: &str| {
            Chunked1d::open(path, &f.dataset(name).unwrap())
                .unwrap()
                .expect(name)
        };
        let (data, indices) = (open("data"), open("indices"));
        let indptr = f.dataset("indptr").unwrap().read_i64().unwrap();
        read_by_gene(
            &SparseParts {
                data: &data,
                indices: &indices,
                indptr: &indptr,
                csr,
                n_cells: n,
                n_genes: g,
                block,
            },
            |_| true,
            &|_| {},
        )
    }

    #[test]
    fn chunked_csr_and_csc_give_the_transposed_matrix_in_any_block_size() {
        let dir = tempfile::tempdir().unwrap();
        let m = csr(300, 40, 7);
        let want = ByGene::from_csr(&m);
        let p = dir.path().join("csr.h5");
        write(&p, &m.indptr, &m.genes, &m.values);
        for block in [1, 50, 333, 4096, BLOCK] {
            let (got, kind) = read(&p, true, 300, 40, block).unwrap_or_else(|_| panic!("{block}"));
            assert_eq!(got, want, "block {block}");
            assert_eq!(kind, ValueKind::Counts);
        }
        // The same matrix stored by gene, each gene's cells reversed (unsorted CSC).
        let mut cells = want.cells.clone();
        let mut values = want.values.clone();
        for g in 0..want.n_genes() {
            cells[want.ptr[g]..want.ptr[g + 1]].reverse();
            values[want.ptr[g]..want.ptr[g + 1]].reverse();
        }
        let p = dir.path().join("csc.h5");
        write(&p, &want.ptr, &cells, &values);
        let (got, _) = read(&p, false, 300, 40, 64).unwrap_or_else(|_| panic!("csc"));
        assert_eq!(got, want);
    }

    #[test]
    fn bad_indices_and_duplicates_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = csr(50, 10, 3);
        let p = dir.path().join("bad.h5");
        let k = m.genes.len() / 2;
        m.genes[k] = 10;
        write(&p, &m.indptr, &m.genes, &m.values);
        match read(&p, true, 50, 10, 64) {
            Err(SparseError::Bad("indices", msg)) => {
                assert!(msg.contains(&format!("entry {}", k + 1)), "{msg}")
            }
            _ => panic!("an out-of-range index was accepted"),
        }
        // Row 1 holding gene 0 twice, both non-zero.
        let p = dir.path().join("dup.h5");
        write(&p, &[0, 2], &[0, 0], &[1.0, 2.0]);
        match read(&p, true, 1, 3, 64) {
            Err(SparseError::Bad("indices", msg)) => assert!(msg.contains("twice"), "{msg}"),
            _ => panic!("a duplicate entry was accepted"),
        }
    }
}
