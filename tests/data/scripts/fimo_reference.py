"""FIMO's sites for JASPAR's pnr (MA0536.2) on the first 400 fly promoters of
tests/data/dna/dm3_proximal500_dedup.fa.gz, from memelite's FIMO (an independent
implementation: uniform background, eps pseudocount, 0.1-bit bins), kept as numbers so
biolens' scan p-values are tested against it without Python.

    python tests/data/scripts/fimo_reference.py   # memelite 0.2, numpy; from the repo root
"""
import gzip

import numpy as np
from memelite import fimo

N = 400
rows = {}
name = None
with open("tests/data/dna/JASPAR2024_CORE_insects_nonredundant_pfms.jaspar") as f:
    lines = f.read().splitlines()
for i, l in enumerate(lines):
    if l.startswith(">MA0536.2"):
        rows = [[float(x) for x in lines[i + 1 + k].split("[")[1].split("]")[0].split()] for k in range(4)]
        break
pfm = np.array(rows)
pwm = pfm / pfm.sum(axis=0, keepdims=True)

names, seqs = [], []
with gzip.open("tests/data/dna/dm3_proximal500_dedup.fa.gz", "rt") as f:
    cur = None
    for l in f:
        l = l.strip()
        if l.startswith(">"):
            if len(names) == N:
                break
            names.append(l[1:].split()[0])
            seqs.append([])
        else:
            seqs[-1].append(l.upper())
seqs = ["".join(s) for s in seqs]
L = max(len(s) for s in seqs)
X = np.zeros((len(seqs), 4, L), dtype=np.float32)
for i, s in enumerate(seqs):
    for j, c in enumerate(s):
        k = "ACGT".find(c)
        if k >= 0:
            X[i, k, j] = 1.0
hits = fimo({"pnr": pwm}, X, threshold=1e-4)[0]
with open("tests/data/dna/fimo_pnr_reference.csv", "w") as out:
    out.write("sequence,record,start,end,strand,score,p_value\n")
    for _, h in hits.sort_values(["sequence_name", "start"]).iterrows():
        i = int(h.sequence_name)
        out.write(f"{i},{names[i]},{int(h.start)},{int(h.end)},{h.strand},{h.score:.4f},{h['p-value']:.6g}\n")
print(len(hits), "sites")
