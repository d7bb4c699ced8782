# Writes versions of a drifting-cluster embedding into DIR as a training run would (write to
# a temp name, rename into place), waiting for the watcher's "wrote"/"v{k}" line between.
import numpy as np, sys, os, time
d, n, versions = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = np.random.default_rng(0)
centres = rng.normal(0, 6, size=(12, 50)).astype(np.float32)
lab = rng.integers(0, 12, n)
for v in range(1, versions + 1):
    x = centres[lab] + rng.normal(0, 1, size=(n, 50)).astype(np.float32) + 0.05 * v
    tmp = os.path.join(d, f".emb_{v}.npy")
    np.save(tmp, x.astype(np.float32))
    os.rename(tmp, os.path.join(d, f"emb_{v}.npy"))
    print(f"wrote v{v} at {time.time():.3f}", flush=True)
    time.sleep(float(sys.argv[4]))
