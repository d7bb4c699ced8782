"""Key-to-screen latency of `biolens watch` while a new version computes.

Runs the interface in tmux on a folder holding version 1 of an N x 50 embedding, renames
version 2 into place, and while it computes presses `l` and `h` in turn (cursor right, left) 20
times, timing each
press until the detail pane's `id` line changes (tmux capture-pane polled every 2 ms: an
upper bound on what a terminal shows). Prints each latency and whether v2 was still computing.

    python bench/watch_latency.py BIOLENS N
"""
import os, re, subprocess, sys, tempfile, time
import numpy as np

biolens, n = sys.argv[1], int(sys.argv[2])
d = tempfile.mkdtemp()
rng = np.random.default_rng(0)
centres = rng.normal(0, 6, size=(12, 50)).astype(np.float32)
lab = rng.integers(0, 12, n)
def version(v):
    x = centres[lab] + rng.normal(0, 1, size=(n, 50)).astype(np.float32) + 0.05 * v
    np.save(os.path.join(d, f".emb_{v}.npy"), x)
    os.rename(os.path.join(d, f".emb_{v}.npy"), os.path.join(d, f"emb_{v}.npy"))
version(1)
s = f"lat{os.getpid()}"
subprocess.run(["tmux", "new-session", "-d", "-s", s, "-x", "120", "-y", "40",
                f"{biolens} watch {d} --settle-ms 300 --threads 2"], check=True)
def screen():
    return subprocess.run(["tmux", "capture-pane", "-p", "-t", s], capture_output=True, text=True).stdout
def wait(text, limit):
    end = time.time() + limit
    while time.time() < end:
        if text in screen():
            return True
        time.sleep(0.05)
    return False
try:
    assert wait("history · 1 version", 300), screen()
    version(2)
    time.sleep(3)  # past the settle time: v2 is computing
    lat = []
    for k in range(20):
        before = re.search(r"id (\S+)", screen()).group(1)
        t0 = time.time()
        subprocess.run(["tmux", "send-keys", "-t", s, "lh"[k % 2]])
        while True:
            m = re.search(r"id (\S+)", screen())
            if m and m.group(1) != before:
                break
            if time.time() - t0 > 5:
                break
            time.sleep(0.002)
        lat.append(time.time() - t0)
        time.sleep(0.2)
    computing = "history · 1 version" in screen()
    lat_ms = sorted(1000 * x for x in lat)
    print(f"n={n}: key to screen median {lat_ms[len(lat_ms)//2]:.0f} ms, max {lat_ms[-1]:.0f} ms over {len(lat)} presses; v2 still computing at the end: {computing}")
finally:
    subprocess.run(["tmux", "kill-session", "-t", s])
