//! Weighted undirected graph in compressed sparse row form (both directions stored).

/// CSR adjacency: row `i`'s neighbours are `indices[indptr[i]..indptr[i+1]]`.
#[derive(Debug, Clone, PartialEq)]
pub struct CsrGraph {
    pub n: usize,
    pub indptr: Vec<usize>,
    pub indices: Vec<u32>,
    pub weights: Vec<f32>,
}

impl CsrGraph {
    /// Builds from triples, summing duplicates. Triples need not be sorted.
    pub fn from_triples(n: usize, mut t: Vec<(u32, u32, f32)>) -> Self {
        t.sort_unstable_by_key(|&(i, j, _)| ((i as u64) << 32) | j as u64);
        let mut indptr = vec![0usize; n + 1];
        let mut indices = Vec::with_capacity(t.len());
        let mut weights: Vec<f32> = Vec::with_capacity(t.len());
        let mut last: Option<(u32, u32)> = None;
        for (i, j, w) in t {
            if last == Some((i, j)) {
                if let Some(x) = weights.last_mut() {
                    *x += w;
                }
                continue;
            }
            last = Some((i, j));
            indptr[i as usize + 1] += 1;
            indices.push(j);
            weights.push(w);
        }
        for i in 0..n {
            indptr[i + 1] += indptr[i];
        }
        Self {
            n,
            indptr,
            indices,
            weights,
        }
    }

    #[inline]
    pub fn row(&self, i: usize) -> (&[u32], &[f32]) {
        let (a, b) = (self.indptr[i], self.indptr[i + 1]);
        (&self.indices[a..b], &self.weights[a..b])
    }

    pub fn nnz(&self) -> usize {
        self.indices.len()
    }

    /// Connected component label per node and the number of components.
    pub fn components(&self) -> (Vec<u32>, usize) {
        let mut label = vec![u32::MAX; self.n];
        let mut count = 0u32;
        let mut stack = Vec::new();
        for s in 0..self.n {
            if label[s] != u32::MAX {
                continue;
            }
            label[s] = count;
            stack.push(s);
            while let Some(v) = stack.pop() {
                for &u in self.row(v).0 {
                    if label[u as usize] == u32::MAX {
                        label[u as usize] = count;
                        stack.push(u as usize);
                    }
                }
            }
            count += 1;
        }
        (label, count as usize)
    }
}
