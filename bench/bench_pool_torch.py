#!/usr/bin/python3
"""bench_pool_torch.py: the peer of bench/bench_pool.lua, in PyTorch.

The same figures, measured the same way (median of BENCH_REPEATS samples,
each >= BENCH_MIN_S seconds):
  max_pool2d 2x2, 128x32x28x28 f32: forward under no_grad, forward + backward
  avg_pool2d 2x2, same shape: forward + backward
  bilinear x2 (F.interpolate, align_corners=False), 128x32x14x14: forward + backward
Backward is torch.autograd.grad with an upstream gradient, as brasa.grad in
the Lua script. PyTorch at its best here: the script runs itself in child
processes with torch.set_num_threads(1) and with 2 threads and
OMP_WAIT_POLICY=passive (set before torch is imported). Needs Debian's
python3-torch: run with /usr/bin/python3.
"""
import json
import os
import subprocess
import sys
import time

REPEATS = int(os.environ.get("BENCH_REPEATS", "5"))
MIN_S = float(os.environ.get("BENCH_MIN_S", "0.3"))


def measure(fn):
    import gc
    gc.collect()
    n = 1
    while True:
        t0 = time.perf_counter()
        fn(n)
        dt = time.perf_counter() - t0
        if dt >= MIN_S / 4:
            n = max(1, int(n * MIN_S / dt + 0.999))
            break
        n *= min(100, max(2, int(MIN_S / 4 / dt + 1))) if dt > 0 else 100
    samples = []
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        fn(n)
        samples.append((time.perf_counter() - t0) / n)
    samples.sort()
    k = len(samples)
    return samples[k // 2] if k % 2 else 0.5 * (samples[k // 2 - 1] + samples[k // 2])


def child(threads):
    import torch
    import torch.nn.functional as F
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    x = torch.randn(128, 32, 28, 28, requires_grad=True)
    g = torch.randn(128, 32, 14, 14)
    s = torch.randn(128, 32, 14, 14, requires_grad=True)
    gs = torch.randn(128, 32, 28, 28)

    def max_fwd(n):
        with torch.no_grad():
            for _ in range(n):
                F.max_pool2d(x, 2)

    def max_fb(n):
        for _ in range(n):
            y = F.max_pool2d(x, 2)
            torch.autograd.grad(y, x, g)

    def avg_fb(n):
        for _ in range(n):
            y = F.avg_pool2d(x, 2)
            torch.autograd.grad(y, x, g)

    def bilinear_fb(n):
        for _ in range(n):
            y = F.interpolate(s, scale_factor=2, mode="bilinear", align_corners=False)
            torch.autograd.grad(y, s, gs)

    res = {"threads": torch.get_num_threads(), "version": torch.__version__}
    for key, fn in (("max_fwd", max_fwd), ("max_fb", max_fb), ("avg_fb", avg_fb),
                    ("bilinear_fb", bilinear_fb)):
        res[key] = measure(fn) * 1e3
    print(json.dumps(res))


def main():
    if os.environ.get("BENCH_THREADS"):
        child(int(os.environ["BENCH_THREADS"]))
        return
    runs = []
    for threads, extra in ((1, {}), (2, {"OMP_WAIT_POLICY": "passive"})):
        env = dict(os.environ, BENCH_THREADS=str(threads), **extra)
        out = subprocess.run([sys.executable, __file__], env=env, capture_output=True, text=True,
                             check=True).stdout
        runs.append(json.loads(out.strip().splitlines()[-1]))
    print("bench_pool_torch: PyTorch %s; median of %d repeats, samples >= %.2f s"
          % (runs[0]["version"], REPEATS, MIN_S))
    names = (("max_fwd", "max_pool2d 2x2 forward (no graph)"),
             ("max_fb", "max_pool2d 2x2 forward+backward"),
             ("avg_fb", "avg_pool2d 2x2 forward+backward"),
             ("bilinear_fb", "bilinear x2 14->28 forward+backward"))
    print("\n%-40s %12s %12s" % ("f32, ms per call", "1 thread", "2 threads"))
    for key, label in names:
        print("  %-38s %9.3f ms %9.3f ms" % (label, runs[0][key], runs[1][key]))


if __name__ == "__main__":
    main()
