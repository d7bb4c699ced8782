"""Writes Cell Ranger's HDF5 matrix layouts from the bundled pbmc68k_reduced counts
(assets/pbmc68k_reduced, 700 cells x 765 genes), as Cell Ranger writes them with h5py:

- v3 (Cell Ranger >= 3): /matrix/{barcodes,data,indices,indptr,shape,features/{id,name,
  feature_type,genome,_all_tag_keys}}, genes x cells CSC, gzip chunks. Three 'Antibody
  Capture' features are appended whose counts are copies of the CD3E, CD4 and MS4A1 (CD20)
  RNA counts: not antibody data, only a known answer for the reader's feature split
  (adt_CD3 must equal CD3E, and the expression matrix must hold the 765 genes alone).
- v2 (Cell Ranger 2): /GRCh38/{barcodes,data,indices,indptr,shape,genes,gene_names}.

Then checks both with scanpy.read_10x_h5 (the reference reader).

    python tests/data/scripts/make_cellranger_h5.py   # h5py 3.16, scanpy 1.11.5; repo root
"""
import gzip

import h5py
import numpy as np
import scanpy as sc
import scipy.io
import scipy.sparse as sp

src = "assets/pbmc68k_reduced"
out = "tests/data/cells/h5_layouts"
m = scipy.io.mmread(f"{src}/matrix.mtx.gz").tocsc().astype(np.int32)  # genes x cells
barcodes = [l.strip() for l in gzip.open(f"{src}/barcodes.tsv.gz", "rt")]
features = [l.rstrip("\n").split("\t") for l in gzip.open(f"{src}/features.tsv.gz", "rt")]
ids = [f[0] for f in features]
names = [f[1] if len(f) > 1 else f[0] for f in features]
assert m.shape == (len(ids), len(barcodes)), m.shape

adt = [("CD3E", "CD3_TotalSeqB"), ("CD4", "CD4_TotalSeqB"), ("MS4A1", "CD20_TotalSeqB")]
rows = [m[names.index(g)] for g, _ in adt]
v3 = sp.vstack([m] + rows).tocsc()
v3.sort_indices()
ftype = ["Gene Expression"] * len(ids) + ["Antibody Capture"] * len(adt)
fid = ids + [n for _, n in adt]
fname = names + [n for _, n in adt]
genome = ["GRCh38"] * len(ids) + [""] * len(adt)


def strings(values):
    return np.array([v.encode() for v in values])


def write_matrix(g, mat, bcs):
    g.create_dataset("barcodes", data=strings(bcs), compression="gzip", chunks=True)
    g.create_dataset("data", data=mat.data.astype(np.int32), compression="gzip", chunks=True)
    g.create_dataset("indices", data=mat.indices.astype(np.int64), compression="gzip", chunks=True)
    g.create_dataset("indptr", data=mat.indptr.astype(np.int64), compression="gzip", chunks=True)
    g.create_dataset("shape", data=np.array(mat.shape, dtype=np.int32))


with h5py.File(f"{out}/pbmc68k_v3_filtered_feature_bc_matrix.h5", "w") as f:
    f.attrs["filetype"] = "matrix"
    f.attrs["version"] = 2
    f.attrs["chemistry_description"] = "Single Cell 3' v3"
    g = f.create_group("matrix")
    write_matrix(g, v3, barcodes)
    fg = g.create_group("features")
    fg.create_dataset("id", data=strings(fid), compression="gzip", chunks=True)
    fg.create_dataset("name", data=strings(fname), compression="gzip", chunks=True)
    fg.create_dataset("feature_type", data=strings(ftype), compression="gzip", chunks=True)
    fg.create_dataset("genome", data=strings(genome), compression="gzip", chunks=True)
    fg.create_dataset("_all_tag_keys", data=strings(["genome"]))

with h5py.File(f"{out}/pbmc68k_v2_filtered_gene_bc_matrices_h5.h5", "w") as f:
    g = f.create_group("GRCh38")
    write_matrix(g, m, barcodes)
    g.create_dataset("genes", data=strings(ids), compression="gzip", chunks=True)
    g.create_dataset("gene_names", data=strings(names), compression="gzip", chunks=True)

a3 = sc.read_10x_h5(f"{out}/pbmc68k_v3_filtered_feature_bc_matrix.h5")
a2 = sc.read_10x_h5(f"{out}/pbmc68k_v2_filtered_gene_bc_matrices_h5.h5", genome="GRCh38")
for a in (a3, a2):
    assert a.shape == (700, 765), a.shape
    assert (a.X != m.T.tocsr()).nnz == 0
    assert list(a.obs_names) == barcodes
print("v3", a3, "\nv2", a2)

# An .h5ad with layers only (anndata writes no X when X is None), and an HDF5 file that is
# neither AnnData nor a Cell Ranger matrix: the readers must name what they found.
import anndata

c = anndata.read_h5ad("tests/data/cells/h5ad_variants/counts_csr.h5ad")
lo = anndata.AnnData(obs=c.obs, var=c.var, layers={"umis": c.X, "doubled": c.X * 2})
lo.write_h5ad(f"{out}/layers_only_no_x.h5ad", compression="gzip")
with h5py.File(f"{out}/not_a_matrix.h5", "w") as f:
    f.create_group("images")
    f.create_dataset("table", data=np.arange(10))
print("layers only:", anndata.read_h5ad(f"{out}/layers_only_no_x.h5ad"))
