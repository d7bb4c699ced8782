#!/usr/bin/env python3
"""Build the benchmark inputs from scanpy's bundled pbmc68k_reduced dataset.

Writes (under --out, e.g. target/bench-data/):
  pbmc68k_reduced.h5ad          the 700-cell dataset as shipped (genes in X)
  scaled_<n>.npy                float32 n x 50 matrix
  scaled_<n>_labels.csv         one column "label", n rows

The scaled series keeps the real structure of the data: for each cell type
in .obs['bulk_labels'] we take that label's centroid and covariance in the
shipped 50-dim PCA space (.obsm['X_pca']) and draw points from the Gaussian
N(centroid, covariance), with label proportions equal to the original ones.
Fully deterministic for a given --seed.

Usage:
  python bench/peers/make_scaled.py --out DIR --sizes 10000 100000 1000000
"""
import argparse
import os

import numpy as np
import pandas as pd
import scanpy as sc


def label_gaussians(X, labels):
    """Per label: (name, weight, mean, covariance)."""
    out = []
    names, counts = np.unique(labels, return_counts=True)
    for name, cnt in zip(names, counts):
        Xi = X[labels == name]
        mean = Xi.mean(axis=0)
        # rowvar=False: columns are variables; ddof=1 (unbiased)
        cov = np.cov(Xi, rowvar=False)
        out.append((str(name), cnt / len(labels), mean, cov))
    return out


def sample(gaussians, n, seed):
    rng = np.random.default_rng(seed)
    weights = np.array([g[1] for g in gaussians])
    # exact, deterministic per-label counts (largest remainder)
    raw = weights * n
    counts = np.floor(raw).astype(int)
    rest = n - counts.sum()
    counts[np.argsort(-(raw - counts), kind="stable")[:rest]] += 1
    parts, labs = [], []
    for (name, _, mean, cov), c in zip(gaussians, counts):
        # 'eigh' copes with the rank-deficient covariances of small labels
        parts.append(rng.multivariate_normal(mean, cov, size=c, method="eigh"))
        labs.extend([name] * c)
    X = np.vstack(parts).astype(np.float32)
    labs = np.array(labs, dtype=object)
    perm = rng.permutation(n)  # shuffle so labels are not in blocks
    return X[perm], labs[perm]


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "data"))
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)

    adata = sc.datasets.pbmc68k_reduced()
    adata.write_h5ad(os.path.join(args.out, "pbmc68k_reduced.h5ad"))
    X = np.asarray(adata.obsm["X_pca"], dtype=np.float64)
    labels = adata.obs["bulk_labels"].astype(str).to_numpy()
    gaussians = label_gaussians(X, labels)
    print(f"source: pbmc68k_reduced {X.shape}, {len(gaussians)} labels")

    for n in args.sizes:
        # seed mixes in n so each size is an independent, reproducible draw
        Xn, ln = sample(gaussians, n, seed=args.seed * 1_000_003 + n)
        base = os.path.join(args.out, f"scaled_{n}")
        np.save(base + ".npy", Xn)
        pd.DataFrame({"label": ln}).to_csv(base + "_labels.csv", index=False)
        print(f"wrote {base}.npy {Xn.shape} and {base}_labels.csv")


if __name__ == "__main__":
    main()
