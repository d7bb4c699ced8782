"""The reference for biolens' Moran's I on spatial_bands.h5ad: esda 2.9.0's Moran with
libpysal 4.14.1's KNN weights (k = 6, the cell itself excluded) on obsm['spatial'], for the
counts of g0 (the left band's marker) and for the same counts scrambled as value[(i * 67) % n].
Prints I and z_norm; the numbers are kept in tests/tui.rs beside the test that uses them.
"""
import anndata as ad
import numpy as np
from esda.moran import Moran
from libpysal.weights import KNN

a = ad.read_h5ad("spatial_bands.h5ad")
xy = np.asarray(a.obsm["spatial"])
w = KNN.from_array(xy, k=6)
g0 = np.asarray(a[:, "g0"].X.todense()).ravel().astype(float)
n = len(g0)
scrambled = g0[[(i * 67) % n for i in range(n)]]
for name, y in [("g0", g0), ("g0 scrambled", scrambled)]:
    m = Moran(y, w, permutations=0)
    print(f"{name}: I = {m.I:.12f}, z_norm = {m.z_norm:.12f}, EI = {m.EI:.12f}")
