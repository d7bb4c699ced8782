"""Re-saves scanpy's pbmc68k_reduced (anndata < 0.7 layout) with a current anndata, so that
`biolens export --into` (which edits a copy of an anndata >= 0.7 file) has an input holding
the bundled 700 cells, with scanpy's own obsm X_umap / X_pca and uns rank_genes_groups.

    python tests/data/scripts/make_modern_h5ad.py   # anndata 0.12.x, run from the repo root
"""
import anndata

a = anndata.read_h5ad("tests/data/cells/pbmc68k_reduced/10x_pbmc68k_reduced.h5ad")
a.write_h5ad("tests/data/cells/pbmc68k_reduced/pbmc68k_reduced_anndata012.h5ad", compression="gzip")
print(a)
