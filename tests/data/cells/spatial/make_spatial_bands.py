"""Writes spatial_bands.h5ad: 360 cells of three types lying in three vertical bands of a
square tissue, each type expressing its own 10 marker genes (of 60), positions in
obsm['spatial'] as squidpy/Visium keep them (y grows downwards). Seeded; run with anndata
0.12 and numpy:  python make_spatial_bands.py
"""
import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

rng = np.random.default_rng(7)
n_per, n_genes = 120, 60
types = ["left", "middle", "right"]
xs, ys, labels, rows = [], [], [], []
for k, t in enumerate(types):
    x = rng.uniform(k * 1000.0, (k + 1) * 1000.0 - 100.0, n_per)
    y = rng.uniform(0.0, 3000.0, n_per)
    mean = np.full(n_genes, 0.3)
    mean[k * 10:(k + 1) * 10] = 6.0
    rows.append(rng.poisson(mean, size=(n_per, n_genes)))
    xs.append(x)
    ys.append(y)
    labels += [t] * n_per
X = sp.csr_matrix(np.vstack(rows).astype(np.float32))
obs = pd.DataFrame(
    {"cell_type": pd.Categorical(labels)},
    index=[f"cell{i}" for i in range(X.shape[0])],
)
var = pd.DataFrame(index=[f"g{j}" for j in range(n_genes)])
a = ad.AnnData(X=X, obs=obs, var=var)
a.obsm["spatial"] = np.column_stack([np.concatenate(xs), np.concatenate(ys)])
a.write_h5ad("spatial_bands.h5ad", compression="gzip")
