# Usage: python make_big_slide.py tests/data/images/cmu1_small_region.jpg big.tif (tifffile, imagecodecs, pillow).
# A 40,000 x 40,000 pyramidal JPEG TIFF (levels 1, 1/4, 1/16; 256-px tiles; 0.25 um/px in the
# resolution tags) whose tissue is two large blobs built from tiles of the CMU-1 crop.
import sys, numpy as np, tifffile
from PIL import Image
src = np.asarray(Image.open(sys.argv[1]).convert("RGB"))
N, T = 40000, 256
rng = np.random.default_rng(0)
g = N // T + 1
yy, xx = np.mgrid[0:g, 0:g] / g
mask = (((xx - 0.35) / 0.25) ** 2 + ((yy - 0.45) / 0.35) ** 2 < 1) | (((xx - 0.72) / 0.18) ** 2 + ((yy - 0.6) / 0.25) ** 2 < 1)
print("tissue share", mask.mean())
def tiles(scale):
    n = -(-N // scale)
    for ty in range(0, n, T):
        for tx in range(0, n, T):
            gy, gx = min(ty * scale // T, g - 1), min(tx * scale // T, g - 1)
            if mask[gy, gx]:
                oy = (gy * 131) % (src.shape[0] - T); ox = (gx * 71) % (src.shape[1] - T)
                t = src[oy:oy + T, ox:ox + T]
            else:
                t = np.full((T, T, 3), 242, np.uint8)
            yield np.ascontiguousarray(t)
with tifffile.TiffWriter(sys.argv[2], bigtiff=True) as w:
    for k, s in enumerate((1, 4, 16)):
        n = -(-N // s)
        w.write(tiles(s), shape=(n, n, 3), dtype=np.uint8, tile=(T, T), compression="jpeg",
                compressionargs={"level": 80}, photometric="rgb", subfiletype=0 if k == 0 else 1,
                resolution=(40000 / s, 40000 / s), resolutionunit="CENTIMETER")
