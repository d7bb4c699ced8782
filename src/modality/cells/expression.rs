//! Expression values of a cells dataset, held once as CSR by cell and CSC by gene.

use crate::modality::cells::h5ad;
use crate::modality::cells::mtx;

/// Expression values of a cells dataset: what gene colouring, markers and the count model use.
#[derive(Debug, Clone)]
pub struct Expression {
    /// Cells × genes, CSR by cell, rows aligned with the dataset's ids.
    pub matrix: mtx::SparseCounts,
    /// The same values by gene: gene `g` has cells `by_gene_cells[by_gene_ptr[g]..by_gene_ptr[g+1]]`.
    pub by_gene_ptr: Vec<usize>,
    pub by_gene_cells: Vec<u32>,
    pub by_gene_values: Vec<f32>,
    /// Per-cell total of the stored values (the library size for counts).
    pub totals: Vec<f64>,
    pub genes: Vec<String>,
    pub kind: h5ad::ValueKind,
    /// Where the values came from (a file, or an .h5ad object such as `layers/counts`).
    pub source: String,
}

impl Expression {
    pub fn new(
        matrix: mtx::SparseCounts,
        genes: Vec<String>,
        kind: h5ad::ValueKind,
        source: String,
    ) -> Self {
        let (ptr, cells, values) = crate::core::matrix::sparse_transpose(
            &matrix.indptr,
            &matrix.genes,
            &matrix.values,
            matrix.n_genes,
        );
        let totals = matrix.totals();
        Self {
            matrix,
            by_gene_ptr: ptr,
            by_gene_cells: cells,
            by_gene_values: values,
            totals,
            genes,
            kind,
            source,
        }
    }

    pub fn gene_index(&self, name: &str) -> Option<usize> {
        self.genes
            .iter()
            .position(|g| g == name)
            .or_else(|| self.genes.iter().position(|g| g.eq_ignore_ascii_case(name)))
    }

    /// The value markers and gene colouring use for a stored entry of `cell`: log1p(CP10k)
    /// for counts, the value as it is for already normalised data.
    pub fn normalised(&self, cell: usize, v: f32) -> f64 {
        match self.kind {
            h5ad::ValueKind::Counts if self.totals[cell] > 0.0 => {
                (v as f64 * 1e4 / self.totals[cell]).ln_1p()
            }
            _ => v as f64,
        }
    }

    /// What `normalised` values are, for panes, exports and messages (where they came from is
    /// `source`).
    pub fn value_label(&self) -> &'static str {
        match self.kind {
            h5ad::ValueKind::Counts => "log1p CP10k",
            h5ad::ValueKind::Normalised => "log-normalised values",
            h5ad::ValueKind::Linear => "linear values (not logged)",
            h5ad::ValueKind::Scaled => "scaled values",
        }
    }

    /// `normalised` values of gene `g` for every cell.
    pub fn normalised_gene(&self, g: usize) -> Vec<f32> {
        let mut out = vec![0f32; self.matrix.n_cells];
        for k in self.by_gene_ptr[g]..self.by_gene_ptr[g + 1] {
            let i = self.by_gene_cells[k] as usize;
            out[i] = self.normalised(i, self.by_gene_values[k]) as f32;
        }
        out
    }

    /// Keeps the given cells (in order).
    pub fn subset_cells(&self, keep: &[usize]) -> Self {
        Self::new(
            self.matrix.select_rows(keep),
            self.genes.clone(),
            self.kind,
            self.source.clone(),
        )
    }
}
