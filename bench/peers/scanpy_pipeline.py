"""scanpy's standard pipeline from counts (normalize_total, log1p, 2,000 HVG, scale, PCA-50, kNN 15, UMAP, Leiden 1.0)
on a 10x Matrix Market folder with labels.csv; prints ARI, NMI and UMAP trustworthiness as one JSON line.
   python scanpy_pipeline.py assets/pbmc68k_reduced bulk_labels
"""
import sys, gzip, os, json
import numpy as np, pandas as pd, scipy.io, anndata as ad, scanpy as sc
from sklearn.metrics import adjusted_rand_score as ari, normalized_mutual_info_score as nmi
from sklearn.manifold import trustworthiness
d, col = sys.argv[1], sys.argv[2]
X = scipy.io.mmread(gzip.open(os.path.join(d, "matrix.mtx.gz"))).T.tocsr().astype(np.float32)
a = ad.AnnData(X=X); lab = pd.read_csv(os.path.join(d, "labels.csv")); a.obs[col] = lab[col].astype(str).values
sc.pp.normalize_total(a, target_sum=1e4); sc.pp.log1p(a)
sc.pp.highly_variable_genes(a, n_top_genes=min(2000, a.n_vars)); a = a[:, a.var.highly_variable].copy()
sc.pp.scale(a, max_value=10); sc.pp.pca(a, n_comps=min(50, a.n_obs - 1, a.n_vars - 1), random_state=0)
sc.pp.neighbors(a, n_neighbors=15, random_state=0); sc.tl.umap(a, random_state=0)
out = {"dataset": os.path.basename(os.path.normpath(d)), "n": a.n_obs}
for res in (1.0,):
    sc.tl.leiden(a, resolution=res, flavor="igraph", n_iterations=2, random_state=0)
    out[f"leiden{res}_ari"] = round(ari(a.obs[col], a.obs.leiden), 4); out[f"leiden{res}_nmi"] = round(nmi(a.obs[col], a.obs.leiden), 4)
    out["n_clusters"] = int(a.obs.leiden.nunique())
out["umap_trust15"] = round(trustworthiness(a.obsm["X_pca"], a.obsm["X_umap"], n_neighbors=min(15, a.n_obs // 2 - 1)), 4)
print(json.dumps(out))
