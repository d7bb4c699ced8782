"""Leiden on one graph, two implementations: what separates biolens' partition from igraph's.

    python bench/peers/leiden_same_graph.py graph X.npy EDGES.npy
        umap-learn's fuzzy graph of X (pynndescent k = 15, as peers.py builds it), written as an
        nnz x 3 float32 .npy of (row, column, weight) with both directions, the layout of
        `biolens-bench --graph-out` / `--graph-in`.
    python bench/peers/leiden_same_graph.py leiden EDGES.npy LABELS.csv [--iterations N] [--seed S]
        igraph community_leiden (modularity, resolution 1, weighted; n_iterations 2 by default,
        as peers.py and sc.tl.leiden(flavor='igraph')) on that graph: clusters, ARI / NMI against
        the labels, modularity, seconds. One JSON line.
"""
import argparse, json, random, sys, time
import numpy as np
import pandas as pd


def write_graph(x_path, out):
    from umap.umap_ import fuzzy_simplicial_set, nearest_neighbors
    X = np.load(x_path).astype(np.float32)
    idx, dist, _ = nearest_neighbors(X, 15, "euclidean", {}, False, random_state=None)
    G, _, _ = fuzzy_simplicial_set(np.empty((X.shape[0], 0)), 15, None, "euclidean",
                                   knn_indices=idx, knn_dists=dist)
    C = G.tocoo()
    np.save(out, np.column_stack([C.row, C.col, C.data]).astype(np.float32))
    print(json.dumps({"n": X.shape[0], "nnz": int(C.nnz)}))


def leiden(edges_path, labels_path, iterations, seed):
    import igraph as ig
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
    E = np.load(edges_path)
    lab = pd.read_csv(labels_path)
    lab = lab["label"] if "label" in lab.columns else lab.iloc[:, 0]
    n = len(lab)
    i, j, w = E[:, 0].astype(np.int64), E[:, 1].astype(np.int64), E[:, 2].astype(np.float64)
    m = i < j  # undirected: one copy of each symmetric edge
    t0 = time.time()
    g = ig.Graph(n=n, edges=np.column_stack([i[m], j[m]]).tolist(), edge_attrs={"weight": w[m].tolist()})
    random.seed(seed)  # igraph draws from Python's random module
    part = g.community_leiden(objective_function="modularity", weights="weight",
                              resolution=1.0, n_iterations=iterations)
    secs = time.time() - t0
    c = np.array(part.membership)
    print(json.dumps({
        "edges": edges_path, "iterations": iterations, "seed": seed,
        "clusters": int(c.max() + 1), "ari": round(adjusted_rand_score(lab, c), 4),
        "nmi": round(normalized_mutual_info_score(lab, c), 4),
        "modularity": round(g.modularity(c.tolist(), weights="weight", resolution=1.0), 4),
        "seconds": round(secs, 1),
    }))


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("graph"); a.add_argument("x"); a.add_argument("out")
    b = sub.add_parser("leiden"); b.add_argument("edges"); b.add_argument("labels")
    b.add_argument("--iterations", type=int, default=2); b.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if args.cmd == "graph":
        write_graph(args.x, args.out)
    else:
        leiden(args.edges, args.labels, args.iterations, args.seed)
