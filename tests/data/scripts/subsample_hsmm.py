"""Sub-sample the HSMM myoblast FPKM matrix (Trapnell et al. 2014) for the tests: all 271
cells, the first 1,500 genes in file order. The values are copied unchanged (FPKM, not counts).

    python3 subsample_hsmm.py SRC_DIR DEST_DIR
"""
import gzip, shutil, sys
from pathlib import Path

src, dst = Path(sys.argv[1]), Path(sys.argv[2])
keep = 1500
dst.mkdir(parents=True, exist_ok=True)
with gzip.open(src / "matrix.mtx.gz", "rt") as f:
    header, comments, entries = None, [], []
    for line in f:
        if header is None:
            if line.startswith("%"):
                comments.append(line)
                continue
            header = line.split()
            continue
        g, c, v = line.split()
        if int(g) <= keep:
            entries.append((g, c, v))
with gzip.GzipFile(dst / "matrix.mtx.gz", "wb", mtime=0) as out:
    out.write("".join(comments).encode())
    out.write(f"{keep} {header[1]} {len(entries)}\n".encode())
    out.write("".join(f"{g} {c} {v}\n" for g, c, v in entries).encode())
with gzip.open(src / "features.tsv.gz", "rt") as f:
    genes = [next(f) for _ in range(keep)]
with gzip.GzipFile(dst / "features.tsv.gz", "wb", mtime=0) as out:
    out.write("".join(genes).encode())
shutil.copy(src / "barcodes.tsv.gz", dst / "barcodes.tsv.gz")
shutil.copy(src / "labels.csv", dst / "labels.csv")
