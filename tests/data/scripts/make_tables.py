"""Writes tests/data/tables/: one small embedding table per layout other tools write, so
the readers are tested on real writers' output (made once; kept in the repository).

Every file holds the same six items: ids c0..c5, a 3-d embedding e[i] = (i, 2i, -i) / 10,
a text/categorical `group` (a, b, a, c, b, a), a nullable integer `n_genes`
(100, missing, 300, 400, missing, 600) and a float `score` (i * 0.5).

    python tests/data/scripts/make_tables.py   # pandas 2.3.3, pyarrow 26.0.1, polars 2.1.0
"""
import os

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

out = os.path.join(os.path.dirname(__file__), "..", "tables")
os.makedirs(out, exist_ok=True)
ids = [f"c{i}" for i in range(6)]
emb = np.array([[i / 10, 2 * i / 10, -i / 10] for i in range(6)], dtype=np.float32)
group = ["a", "b", "a", "c", "b", "a"]
n_genes = [100, None, 300, 400, None, 600]
score = [i * 0.5 for i in range(6)]

# pandas, ids as the (unnamed) index, embedding as columns, categorical and nullable Int64.
df = pd.DataFrame(
    {
        "emb_0": emb[:, 0],
        "emb_1": emb[:, 1],
        "emb_2": emb[:, 2],
        "group": pd.Categorical(group),
        "n_genes": pd.array(n_genes, dtype="Int64"),
        "score": score,
    },
    index=ids,
)
df.to_parquet(os.path.join(out, "pandas_index.parquet"))
# pandas, ids as a column, index not written.
df.rename_axis("id").reset_index().to_parquet(
    os.path.join(out, "pandas_noindex.parquet"), index=False
)

# pyarrow: dictionary-encoded strings, large_list embedding.
t = pa.table(
    {
        "barcode": pa.array(ids).dictionary_encode(),
        "embedding": pa.array([list(map(float, r)) for r in emb], type=pa.large_list(pa.float32())),
        "group": pa.array(group).dictionary_encode(),
        "n_genes": pa.array(n_genes, type=pa.int32()),
        "score": pa.array(score, type=pa.float64()),
    }
)
pq.write_table(t, os.path.join(out, "pyarrow_dict_largelist.parquet"))

# pyarrow: fixed_size_list embedding.
t = pa.table(
    {
        "id": pa.array(ids),
        "embedding": pa.FixedSizeListArray.from_arrays(pa.array(emb.ravel(), type=pa.float32()), 3),
        "group": pa.array(group),
        "n_genes": pa.array(n_genes, type=pa.int64()),
        "score": pa.array(score),
    }
)
pq.write_table(t, os.path.join(out, "pyarrow_fixed.parquet"))

# polars: Array embedding, Categorical group, nullable Int64.
p = pl.DataFrame(
    {
        "id": ids,
        "embedding": pl.Series(emb.tolist(), dtype=pl.Array(pl.Float32, 3)),
        "group": pl.Series(group, dtype=pl.Categorical),
        "n_genes": pl.Series(n_genes, dtype=pl.Int64),
        "score": score,
    }
)
p.write_parquet(os.path.join(out, "polars.parquet"))
print(sorted(os.listdir(out)))
