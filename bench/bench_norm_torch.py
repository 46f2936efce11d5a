#!/usr/bin/python3
"""bench_norm_torch.py: the PyTorch side of bench/bench_norm.lua.

Measures, in float32:
  bn2d       F.batch_norm on 128x32x28x28 in training (weight and bias),
             forward + backward of (y * G).sum() w.r.t. x, weight and bias
  ce_small   F.cross_entropy on 128x10 logits, forward + backward
  ce_large   F.cross_entropy on 4096x1000 logits, forward + backward
  softmax    F.softmax on 4096x1000 along the last dim, forward only

PyTorch at its best here: the script runs itself twice in child processes,
with torch.set_num_threads(1) and with 2 threads and OMP_WAIT_POLICY=passive
(set before torch is imported), and prints one JSON object with both runs
(bench_norm.lua reads it). Every figure is the median of BENCH_REPEATS
samples (default 5) of >= BENCH_MIN_S seconds (default 0.3), in us; the
fastest sample is reported too (KEY_min_us), as it suffers least from other
work on a shared machine.
Run with Debian's python3-torch: /usr/bin/python3 bench/bench_norm_torch.py
"""
import json
import os
import subprocess
import sys
import time

REPEATS = int(os.environ.get("BENCH_REPEATS", "5"))
MIN_S = float(os.environ.get("BENCH_MIN_S", "0.3"))


def measure(fn):
    """fn(n) runs n iterations; returns the median and the fastest sample,
    in seconds per iteration."""
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
    med = samples[k // 2] if k % 2 else 0.5 * (samples[k // 2 - 1] + samples[k // 2])
    return med, samples[0]


def record(res, key, fn):
    med, best = measure(fn)
    res[key + "_us"] = med * 1e6
    res[key + "_min_us"] = best * 1e6


def child(threads):
    import torch
    import torch.nn.functional as F
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    res = {"threads": torch.get_num_threads(), "version": torch.__version__}

    x = torch.randn(128, 32, 28, 28, requires_grad=True)
    w = torch.randn(32, requires_grad=True)
    b = torch.randn(32, requires_grad=True)
    rm, rv = torch.zeros(32), torch.ones(32)
    G = torch.randn(128, 32, 28, 28)

    def bn(n):
        for _ in range(n):
            y = F.batch_norm(x, rm, rv, w, b, training=True)
            torch.autograd.grad((y * G).sum(), [x, w, b])

    # the same minus the extra (y * G).sum() the objective adds, measured apart
    def mulsum(n):
        y = x.detach()
        for _ in range(n):
            (y * G).sum()

    record(res, "bn2d", bn)
    record(res, "bn2d_objective", mulsum)

    for key, (N, C) in (("ce_small", (128, 10)), ("ce_large", (4096, 1000))):
        logits = torch.randn(N, C, requires_grad=True)
        t = torch.randint(0, C, (N,))

        def ce(n):
            for _ in range(n):
                loss = F.cross_entropy(logits, t)
                loss.backward()
                logits.grad = None

        record(res, key, ce)

    s = torch.randn(4096, 1000)

    def sm(n):
        for _ in range(n):
            F.softmax(s, 1)

    record(res, "softmax", sm)
    print(json.dumps(res))


def main():
    configs = [{"BENCH_THREADS": "1"}, {"BENCH_THREADS": "2", "OMP_WAIT_POLICY": "passive"}]
    runs = []
    for extra in configs:
        env = dict(os.environ)
        env.pop("OMP_WAIT_POLICY", None)
        env.update(extra)
        p = subprocess.run([sys.executable, os.path.abspath(__file__), "--child"], env=env,
                           capture_output=True, text=True)
        if p.returncode != 0:
            sys.stderr.write(p.stderr)
            sys.exit("bench_norm_torch: the child run failed")
        runs.append(json.loads(p.stdout.strip().splitlines()[-1]))
    print(json.dumps({"t1": runs[0], "t2": runs[1]}))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(int(os.environ.get("BENCH_THREADS", "1")))
    else:
        main()
