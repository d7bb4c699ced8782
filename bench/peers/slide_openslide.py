"""OpenSlide's side of `biolens-bench SLIDE --slide`: the same 448-pixel level-0 boxes (2000
of the grid, row by row from its middle) read and resized to 224 (PIL bilinear), on one thread and
on a pool of THREADS (OpenSlide releases the GIL while it decodes). Prints one JSON line.

    python slide_openslide.py SLIDE [THREADS]

Needs openslide-python and openslide-bin (PyPI).
"""
import json
import resource
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import openslide
from PIL import Image

path = sys.argv[1]
threads = int(sys.argv[2]) if len(sys.argv) > 2 else 2
t = time.perf_counter()
s = openslide.OpenSlide(path)
open_s = time.perf_counter() - t
w, h = s.dimensions
side = 448
grid = [(x * side, y * side) for y in range(h // side) for x in range(w // side)]
boxes = grid[max(0, len(grid) // 2 - 1000):][:2000]


def read(slide, b):
    return slide.read_region(b, 0, (side, side)).convert("RGB").resize((224, 224), Image.BILINEAR)


one = openslide.OpenSlide(path)
t = time.perf_counter()
for b in boxes:
    read(one, b)
seq = len(boxes) / (time.perf_counter() - t)
pool_slide = openslide.OpenSlide(path)
t = time.perf_counter()
with ThreadPoolExecutor(threads) as ex:
    list(ex.map(lambda b: read(pool_slide, b), boxes))
par = len(boxes) / (time.perf_counter() - t)
print(json.dumps({
    "slide": path, "size": [w, h], "levels": s.level_count, "open_s": open_s,
    "boxes": len(boxes), "boxes_per_s_1_thread": seq, "boxes_per_s_threads": par,
    "threads": threads, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
}))
