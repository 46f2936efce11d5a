#!/usr/bin/python3
"""bench_optim_torch.py: the peer of bench/bench_optim.lua, in PyTorch.

An optimiser step over 1M f32 parameters (tensors of 1000x500, 500x800,
100x999 and 100 elements, gradients set): torch.optim.Adam, AdamW with
amsgrad and SGD with momentum, each with foreach=False and foreach=True;
and torch.nn.utils.clip_grad_norm_ with a max_norm that never clips.

PyTorch at its best on this machine: the script runs itself in child
processes with torch.set_num_threads(1) and with 2 threads and
OMP_WAIT_POLICY=passive (set before torch is imported), and reports for
every figure the fastest of all (threads x foreach) and how it got it.
Output: "key value" lines (us per step) that bench_optim.lua reads.
Each figure is the fastest of BENCH_REPEATS samples (default 15) of >=
BENCH_MIN_S seconds (default 0.05), as bench_optim.lua measures brasa.
Needs Debian's python3-torch: run with /usr/bin/python3.
"""
import json
import os
import subprocess
import sys
import time

REPEATS = int(os.environ.get("BENCH_REPEATS", "15"))
MIN_S = float(os.environ.get("BENCH_MIN_S", "0.05"))
SHAPES = [(1000, 500), (500, 800), (100, 999), (100,)]


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
        n *= 4
    samples = []
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        fn(n)
        samples.append((time.perf_counter() - t0) / n)
    return min(samples)


def child(threads):
    import torch
    torch.set_num_threads(threads)
    res = {}

    def setup():
        torch.manual_seed(0)
        params = []
        for s in SHAPES:
            p = torch.randn(*s).requires_grad_()
            p.grad = torch.randn(*s) * 1e-3
            params.append(p)
        assert sum(p.numel() for p in params) == 1000000
        return params

    makers = {
        "adam": lambda ps, fe: torch.optim.Adam(ps, lr=1e-3, foreach=fe),
        "adamw_amsgrad": lambda ps, fe: torch.optim.AdamW(ps, lr=1e-3, amsgrad=True, foreach=fe),
        "sgd_momentum": lambda ps, fe: torch.optim.SGD(ps, lr=1e-3, momentum=0.9, foreach=fe),
    }
    for key, make in makers.items():
        for fe in (False, True):
            params = setup()
            opt = make(params, fe)
            opt.step()

            def steps(n):
                for _ in range(n):
                    opt.step()

            res["%s_foreach_%s" % (key, fe)] = measure(steps) * 1e6
    params = setup()

    def clip(n):
        for _ in range(n):
            torch.nn.utils.clip_grad_norm_(params, 1e9)

    res["clip"] = measure(clip) * 1e6
    print(json.dumps(res))


def main():
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        child(int(sys.argv[2]))
        return
    configs = [("1 thread", 1, {}), ("2 threads passive", 2, {"OMP_WAIT_POLICY": "passive"})]
    best = {}
    import torch
    print("torch_version", torch.__version__)
    for label, threads, env in configs:
        e = dict(os.environ)
        e.update(env)
        out = subprocess.run([sys.executable, __file__, "--child", str(threads)], env=e,
                             capture_output=True, text=True, check=True).stdout
        res = json.loads(out.strip().splitlines()[-1])
        print("# PyTorch %s: %s" % (label, ", ".join("%s %.1f us" % kv for kv in sorted(res.items()))))
        for k, v in res.items():
            key, how = k, label
            if "_foreach_" in k:
                key, fe = k.split("_foreach_")
                how = "%s, foreach=%s" % (label, fe)
            if key not in best or v < best[key][0]:
                best[key] = (v, how)
    for key, (v, how) in sorted(best.items()):
        print("torch_%s_us %.3f" % (key, v))
        print("torch_%s_how %s" % (key, how.replace(" ", "_")))


if __name__ == "__main__":
    main()
