#!/usr/bin/python3
"""bench_conv_torch.py: PyTorch's side of bench/bench_conv.lua.

The same convolutions, measured the same way (see bench_conv.lua for the
list): forward under torch.no_grad, and forward + backward with a fixed
upstream gradient (y.backward(gy); the parameters' .grad set to None after
every iteration), in ms per iteration.

PyTorch at its best on this machine: the script runs itself twice in child
processes, once with torch.set_num_threads(1) and once with 2 threads and
OMP_WAIT_POLICY=passive (set in the environment before torch is imported),
and reports both and, for every figure, the faster. OPENBLAS_* variables are
passed through untouched.

Every figure is the median of BENCH_REPEATS samples (default 5), each lasting
>= BENCH_MIN_S seconds (default 0.3). With --kv it prints only "key value"
lines (torch_<case>_<fwd|fb>_ms, ..._threads, torch_version) for
bench_conv.lua. Needs Debian's python3-torch: run with /usr/bin/python3.
"""
import json
import os
import subprocess
import sys
import time

REPEATS = int(os.environ.get("BENCH_REPEATS", "5"))
MIN_S = float(os.environ.get("BENCH_MIN_S", "0.3"))

# name, batch, in channels, out channels, size, kernel, padding, input needs grad
CASES = [
    ("c1", 128, 1, 32, 28, 3, 1, False),
    ("c2", 128, 32, 64, 14, 3, 1, True),
    ("c1x", 128, 1, 32, 28, 3, 1, True),
]


def measure(fn):
    """fn(n) runs n iterations; returns the median seconds per iteration."""
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
    res = {"threads": torch.get_num_threads(), "version": torch.__version__}
    for name, batch, cin, cout, size, k, pad, xgrad in CASES:
        torch.manual_seed(0)
        x = torch.randn(batch, cin, size, size)
        w = (torch.randn(cout, cin, k, k) * 0.1).requires_grad_()
        b = torch.randn(cout).requires_grad_()
        x.requires_grad_(xgrad)
        gy = torch.randn(batch, cout, size + 2 * pad - k + 1, size + 2 * pad - k + 1)

        def fwd(n):
            with torch.no_grad():
                for _ in range(n):
                    F.conv2d(x, w, b, padding=pad)

        def fb(n):
            for _ in range(n):
                y = F.conv2d(x, w, b, padding=pad)
                y.backward(gy)
                w.grad = b.grad = x.grad = None

        res[name + "_fwd_ms"] = measure(fwd) * 1e3
        res[name + "_fb_ms"] = measure(fb) * 1e3
    print(json.dumps(res))


def main():
    kv = "--kv" in sys.argv
    configs = [("1 thread", {"BENCH_THREADS": "1"}),
               ("2 threads, OMP_WAIT_POLICY=passive",
                {"BENCH_THREADS": "2", "OMP_WAIT_POLICY": "passive"})]
    runs = []
    for name, extra in configs:
        env = dict(os.environ)
        env.pop("OMP_WAIT_POLICY", None)
        env.update(extra)
        p = subprocess.run([sys.executable, os.path.abspath(__file__), "--child"], env=env,
                           capture_output=True, text=True)
        if p.returncode != 0:
            sys.stderr.write(p.stderr)
            sys.exit("bench_conv_torch: the child run (%s) failed" % name)
        runs.append(json.loads(p.stdout.strip().splitlines()[-1]))
    r1, r2 = runs
    keys = ["%s_%s_ms" % (c[0], part) for c in CASES for part in ("fwd", "fb")]
    if kv:
        for key in keys:
            best = min(r1[key], r2[key])
            print("torch_%s %.6g" % (key, best))
            print("torch_%s_threads %d" % (key, 1 if r1[key] <= r2[key] else 2))
        print("torch_version %s" % r1["version"])
        return
    print("bench_conv_torch: PyTorch %s; median of %d repeats, samples >= %.2f s"
          % (r1["version"], REPEATS, MIN_S))
    print("%-14s %12s %12s %12s" % ("", "1 thread", "2 threads", "best"))
    for key in keys:
        print("  %-12s %9.2f ms %9.2f ms %9.2f ms" % (key[:-3], r1[key], r2[key],
                                                      min(r1[key], r2[key])))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(int(os.environ.get("BENCH_THREADS", "1")))
    else:
        main()
