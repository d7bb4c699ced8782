//! Expression values of a cells dataset, held once, by gene (CSC).
//!
//! Gene colouring and Wilcoxon markers read a gene at a time; the baseline and the count
//! model read a few thousand genes by cell, which [`Expression::rows_of`] builds for just
//! those genes. Keeping only the gene-major copy halves the memory of a 100k-cell dataset
//! (one 1.8 GB copy of 222M values instead of two).

use crate::core::meta::{MetaColumn, MetaValues};
use crate::modality::cells::mtx::SparseCounts;
use crate::modality::cells::values::ValueKind;

/// Values stored by gene: gene `g` has cells `cells[ptr[g]..ptr[g + 1]]`, strictly
/// ascending, and no stored zeros.
#[derive(Debug, Clone, PartialEq)]
pub struct ByGene {
    pub n_cells: usize,
    pub ptr: Vec<usize>,
    pub cells: Vec<u32>,
    pub values: Vec<f32>,
}

impl ByGene {
    /// From cells × genes CSR (stored zeros dropped).
    pub fn from_csr(m: &SparseCounts) -> Self {
        let (ptr, cells, values) =
            crate::core::matrix::sparse_transpose(&m.indptr, &m.genes, &m.values, m.n_genes);
        let mut b = Self {
            n_cells: m.n_cells,
            ptr,
            cells,
            values,
        };
        b.drop_zeros();
        b
    }

    pub fn n_genes(&self) -> usize {
        self.ptr.len() - 1
    }

    /// Removes stored zeros in place.
    pub fn drop_zeros(&mut self) {
        if self.values.contains(&0.0) {
            self.retain(|cell, v| (v != 0.0).then_some(cell));
        }
    }

    /// Keeps the entries for which `keep(cell, value)` gives a (new) cell id, in place.
    pub fn retain(&mut self, keep: impl Fn(u32, f32) -> Option<u32>) {
        let mut w = 0;
        for g in 0..self.n_genes() {
            let (a, b) = (self.ptr[g], self.ptr[g + 1]);
            self.ptr[g] = w;
            for k in a..b {
                if let Some(cell) = keep(self.cells[k], self.values[k]) {
                    self.cells[w] = cell;
                    self.values[w] = self.values[k];
                    w += 1;
                }
            }
        }
        let g = self.n_genes();
        self.ptr[g] = w;
        self.cells.truncate(w);
        self.values.truncate(w);
        self.cells.shrink_to_fit();
        self.values.shrink_to_fit();
    }

    /// The genes `genes`, in that order.
    pub fn select_genes(&self, genes: &[usize]) -> Self {
        let mut ptr = Vec::with_capacity(genes.len() + 1);
        ptr.push(0);
        let total: usize = genes.iter().map(|&g| self.ptr[g + 1] - self.ptr[g]).sum();
        let (mut cells, mut values) = (Vec::with_capacity(total), Vec::with_capacity(total));
        for &g in genes {
            let (c, v) = self.gene(g);
            cells.extend_from_slice(c);
            values.extend_from_slice(v);
            ptr.push(cells.len());
        }
        Self {
            n_cells: self.n_cells,
            ptr,
            cells,
            values,
        }
    }

    /// The genes of several matrices over the same cells, one after another.
    pub fn concat_genes(parts: Vec<Self>) -> Self {
        let n_cells = parts.first().map_or(0, |p| p.n_cells);
        let mut out = Self {
            n_cells,
            ptr: vec![0],
            cells: Vec::new(),
            values: Vec::new(),
        };
        for p in parts {
            let base = out.cells.len();
            out.ptr.extend(p.ptr[1..].iter().map(|&x| x + base));
            out.cells.extend(p.cells);
            out.values.extend(p.values);
        }
        out
    }

    /// The stored entries of gene `g`: (cells, values).
    pub fn gene(&self, g: usize) -> (&[u32], &[f32]) {
        let (a, b) = (self.ptr[g], self.ptr[g + 1]);
        (&self.cells[a..b], &self.values[a..b])
    }

    /// Per-cell sum of the values and number of non-zero genes.
    pub fn cell_totals(&self) -> (Vec<f64>, Vec<u32>) {
        let mut totals = vec![0f64; self.n_cells];
        let mut detected = vec![0u32; self.n_cells];
        for (&c, &v) in self.cells.iter().zip(&self.values) {
            totals[c as usize] += v as f64;
            detected[c as usize] += 1;
        }
        (totals, detected)
    }
}

/// Expression values of a cells dataset: what gene colouring, markers and the count model use.
#[derive(Debug, Clone)]
pub struct Expression {
    /// The values, by gene.
    pub by_gene: ByGene,
    /// Per-cell total of the stored values (the library size for counts).
    pub totals: Vec<f64>,
    /// Per-cell number of genes with a non-zero value.
    pub detected: Vec<u32>,
    pub genes: Vec<String>,
    pub kind: ValueKind,
    /// Where the values came from (a file, or an .h5ad object such as `layers/counts`).
    pub source: String,
}

impl Expression {
    /// From cells × genes CSR, which is dropped once transposed.
    pub fn new(matrix: SparseCounts, genes: Vec<String>, kind: ValueKind, source: String) -> Self {
        let by_gene = ByGene::from_csr(&matrix);
        drop(matrix);
        Self::from_by_gene(by_gene, genes, kind, source)
    }

    pub fn from_by_gene(m: ByGene, genes: Vec<String>, kind: ValueKind, source: String) -> Self {
        let (totals, detected) = m.cell_totals();
        Self {
            by_gene: m,
            totals,
            detected,
            genes,
            kind,
            source,
        }
    }

    pub fn n_cells(&self) -> usize {
        self.by_gene.n_cells
    }

    pub fn n_genes(&self) -> usize {
        self.genes.len()
    }

    /// Number of stored (non-zero) values.
    pub fn nnz(&self) -> usize {
        self.by_gene.values.len()
    }

    pub fn gene_index(&self, name: &str) -> Option<usize> {
        self.genes
            .iter()
            .position(|g| g == name)
            .or_else(|| self.genes.iter().position(|g| g.eq_ignore_ascii_case(name)))
    }

    /// The stored entries of gene `g`: (cells, values).
    pub fn gene(&self, g: usize) -> (&[u32], &[f32]) {
        self.by_gene.gene(g)
    }

    /// The value markers and gene colouring use for a stored entry of `cell`: log1p(CP10k)
    /// for counts, the value as it is for already normalised data.
    pub fn normalised(&self, cell: usize, v: f32) -> f64 {
        match self.kind {
            ValueKind::Counts if self.totals[cell] > 0.0 => {
                (v as f64 * 1e4 / self.totals[cell]).ln_1p()
            }
            _ => v as f64,
        }
    }

    /// Cell `cell`'s normalised value of gene `g` (0 where nothing is stored): what the map
    /// shows for it when coloured by the gene. A gene's cells are in ascending order.
    pub fn normalised_at(&self, cell: usize, g: usize) -> f64 {
        let (cells, values) = self.gene(g);
        match cells.binary_search(&(cell as u32)) {
            Ok(k) => self.normalised(cell, values[k]),
            Err(_) => 0.0,
        }
    }

    /// What `normalised` values are, for panes, exports and messages (where they came from is
    /// `source`).
    pub fn value_label(&self) -> &'static str {
        match self.kind {
            ValueKind::Counts => "log1p CP10k",
            ValueKind::Normalised => "log-normalised values",
            ValueKind::Linear => "linear values (not logged)",
            ValueKind::Scaled => "scaled values",
        }
    }

    /// `normalised` values of gene `g` for every cell.
    pub fn normalised_gene(&self, g: usize) -> Vec<f32> {
        let mut out = vec![0f32; self.n_cells()];
        let (cells, values) = self.gene(g);
        for (&i, &v) in cells.iter().zip(values) {
            out[i as usize] = self.normalised(i as usize, v) as f32;
        }
        out
    }

    /// The per-cell QC columns every cells loader adds: `total_counts` and `n_genes`.
    pub fn qc_columns(&self) -> [MetaColumn; 2] {
        [
            MetaColumn {
                name: "total_counts".into(),
                values: MetaValues::Number(self.totals.clone()),
            },
            MetaColumn {
                name: "n_genes".into(),
                values: MetaValues::Number(self.detected.iter().map(|&d| d as f64).collect()),
            },
        ]
    }

    /// Keeps the given cells (ascending), renumbering them, in place.
    pub fn retain_cells(&mut self, keep: &[usize]) {
        let mut new_id = vec![u32::MAX; self.n_cells()];
        for (k, &i) in keep.iter().enumerate() {
            new_id[i] = k as u32;
        }
        self.by_gene
            .retain(|cell, _| Some(new_id[cell as usize]).filter(|&id| id != u32::MAX));
        self.by_gene.n_cells = keep.len();
        self.totals = keep.iter().map(|&i| self.totals[i]).collect();
        self.detected = keep.iter().map(|&i| self.detected[i]).collect();
    }

    /// The given genes by cell (CSR): column `j` is gene `genes[j]`, each stored value mapped
    /// by `f(cell, value)`.
    pub fn rows_of(&self, genes: &[usize], f: impl Fn(usize, f32) -> f32) -> SparseCounts {
        let mut indptr = vec![0usize; self.n_cells() + 1];
        for &g in genes {
            for &c in self.gene(g).0 {
                indptr[c as usize + 1] += 1;
            }
        }
        for i in 0..self.n_cells() {
            indptr[i + 1] += indptr[i];
        }
        let nnz = indptr[self.n_cells()];
        let mut fill = indptr.clone();
        let mut cols = vec![0u32; nnz];
        let mut values = vec![0f32; nnz];
        // Columns are visited in order, so each row's columns come out ascending only when
        // `genes` is; the count model and the baseline do not need them sorted.
        for (j, &g) in genes.iter().enumerate() {
            let (cells, vals) = self.gene(g);
            for (&c, &v) in cells.iter().zip(vals) {
                let slot = &mut fill[c as usize];
                cols[*slot] = j as u32;
                values[*slot] = f(c as usize, v);
                *slot += 1;
            }
        }
        SparseCounts {
            n_cells: self.n_cells(),
            n_genes: genes.len(),
            indptr,
            genes: cols,
            values,
        }
    }

    /// Every value, for `ValueKind::of`.
    pub fn values(&self) -> &[f32] {
        &self.by_gene.values
    }
}
