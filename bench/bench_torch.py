#!/usr/bin/python3
"""bench_torch.py: the peer of bench/bench_lua.lua, in PyTorch.

The same measurements, written the same way:
  tiny ops    a + b, a.add(b), a + 1, a.exp() on 1-element f32 tensors (ns/call)
  tiny graph  y = (a * b).sum(); y.backward()  (us/iteration)
  MLP step    784-256-128-10: x.matmul(w1) + b1, relu, ..., MSE ((out - y)^2
              mean), backward, SGD under torch.no_grad (p.sub_(p.grad * lr);
              p.grad = None), batch 1 and 128 (us/step)

PyTorch at its best on this machine: the script runs itself twice in child
processes, once with torch.set_num_threads(1) and once with 2 threads and
OMP_WAIT_POLICY=passive (set in the environment before torch is imported),
and reports both and, for every figure, the faster.

Every figure is the median of BENCH_REPEATS samples (default 5), each lasting
>= BENCH_MIN_S seconds (default 0.3). BENCH_OUT=file appends "key value"
lines for bench/run.sh. Needs Debian's python3-torch: run with /usr/bin/python3.
"""
import json
import os
import subprocess
import sys
import time

REPEATS = int(os.environ.get("BENCH_REPEATS", "5"))
MIN_S = float(os.environ.get("BENCH_MIN_S", "0.3"))


def measure(fn):
    """fn(n) runs n iterations; returns (median s/iteration, iterations/sample)."""
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
    return med, n


def blas_threads():
    """OpenBLAS's own thread count in this process, or -1 if unknown: a
    PyTorch built with BLAS=OpenBLAS (Debian's) does not pass
    torch.set_num_threads on to it, so its GEMMs may use more threads."""
    import ctypes
    for name in ("libopenblas.so.0", "libblas.so.3"):
        try:
            return int(ctypes.CDLL(name).openblas_get_num_threads())
        except (OSError, AttributeError):
            pass
    return -1


def child(threads):
    """One configuration; prints a JSON object of results on stdout."""
    import torch
    torch.set_num_threads(threads)
    res = {"threads": torch.get_num_threads(), "version": torch.__version__,
           "blas_threads": blas_threads()}

    a, b = torch.tensor([1.5]), torch.tensor([2.5])

    def t_add(n):
        for _ in range(n):
            r = a + b

    def t_method(n):
        for _ in range(n):
            r = a.add(b)

    def t_number(n):
        for _ in range(n):
            r = a + 1

    def t_exp(n):
        for _ in range(n):
            r = a.exp()

    for key, fn in (("tiny_add", t_add), ("tiny_method_add", t_method),
                    ("tiny_add_number", t_number), ("tiny_exp", t_exp)):
        t, n = measure(fn)
        res[key + "_ns"] = t * 1e9
        res[key + "_n"] = n

    ga = torch.tensor([1.5], requires_grad=True)
    gb = torch.tensor([2.5], requires_grad=True)

    def graph(n):
        for _ in range(n):
            y = (ga * gb).sum()
            y.backward()

    t, n = measure(graph)
    res["graph_us"], res["graph_n"] = t * 1e6, n

    for batch in (1, 128):
        torch.manual_seed(0)

        def param(*shape):
            p = torch.randn(*shape) * 0.05
            p.requires_grad = True
            return p

        w1, b1 = param(784, 256), param(256)
        w2, b2 = param(256, 128), param(128)
        w3, b3 = param(128, 10), param(10)
        params = [w1, b1, w2, b2, w3, b3]
        x, y = torch.randn(batch, 784), torch.randn(batch, 10)
        lr = 0.01

        def step():
            h1 = (x.matmul(w1) + b1).relu()
            h2 = (h1.matmul(w2) + b2).relu()
            o = h2.matmul(w3) + b3
            d = o - y
            loss = (d * d).mean()
            loss.backward()
            with torch.no_grad():
                for p in params:
                    p.sub_(p.grad * lr)
                    p.grad = None
            return loss

        loss0 = step().item()

        def steps(n):
            for _ in range(n):
                step()

        t, n = measure(steps)
        loss1 = step().item()
        assert loss1 == loss1 and loss1 < loss0 * 10, "MLP step diverged"
        res["mlp%d_us" % batch], res["mlp%d_n" % batch] = t * 1e6, n
    print(json.dumps(res))


def main():
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
            sys.exit("bench_torch: the child run (%s) failed" % name)
        runs.append((name, json.loads(p.stdout.strip().splitlines()[-1])))

    r1, r2 = runs[0][1], runs[1][1]
    print("bench_torch: PyTorch %s; median of %d repeats, samples >= %.2f s"
          % (r1["version"], REPEATS, MIN_S))
    print("runs: (1) torch.set_num_threads(1); (2) 2 threads with OMP_WAIT_POLICY=passive")
    print("OpenBLAS threads inside torch (GEMMs): run (1) %d, run (2) %d"
          % (r1["blas_threads"], r2["blas_threads"]))
    rows = [("tiny op a + b", "tiny_add_ns", "ns"), ("tiny op a.add(b)", "tiny_method_add_ns", "ns"),
            ("tiny op a + 1", "tiny_add_number_ns", "ns"), ("tiny op a.exp()", "tiny_exp_ns", "ns"),
            ("tiny graph (a*b).sum().backward()", "graph_us", "us"),
            ("MLP step batch 1", "mlp1_us", "us"), ("MLP step batch 128", "mlp128_us", "us")]
    print("\n%-36s %14s %14s %14s" % ("", "1 thread", "2 threads", "best"))
    out = os.environ.get("BENCH_OUT")
    lines = []
    for label, key, unit in rows:
        v1, v2 = r1[key], r2[key]
        best = min(v1, v2)
        fmt = "%11.0f %s" if unit == "ns" else "%11.2f %s"
        print("  %-34s %s %s %s" % (label, fmt % (v1, unit), fmt % (v2, unit), fmt % (best, unit)))
        lines.append("torch_%s %.6g\n" % (key, best))
        lines.append("torch_%s_threads %d\n" % (key, 1 if v1 <= v2 else 2))
    if out:
        with open(out, "a") as f:
            f.writelines(lines)
            f.write("torch_version %s\n" % r1["version"])


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(int(os.environ.get("BENCH_THREADS", "1")))
    else:
        main()
