"""Reference neighbourhood enrichment for spatial_bands.h5ad, as squidpy computes it:
6 nearest neighbours on obsm['spatial'] (generic coordinates), cell_type permuted 1000 times.
The counts are exact; the z-scores carry permutation noise. Run with squidpy 1.8:
    python nhood_reference.py
"""
import anndata as ad
import numpy as np
import squidpy as sq

a = ad.read_h5ad("spatial_bands.h5ad")
sq.gr.spatial_neighbors(a, coord_type="generic", n_neighs=6)
adj = a.obsp["spatial_connectivities"]
print("edges", adj.nnz, "symmetric", (adj != adj.T).nnz == 0)
for seed in (0, 1):
    sq.gr.nhood_enrichment(a, cluster_key="cell_type", n_perms=1000, seed=seed, show_progress_bar=False)
    r = a.uns["cell_type_nhood_enrichment"]
    print("categories", list(a.obs["cell_type"].cat.categories))
    print("count", r["count"].tolist())
    print("zscore seed", seed, np.round(r["zscore"], 6).tolist())
