#!/usr/bin/env python3
"""tests/gpu/bench_cnn_torch.py: the Fashion-MNIST CNN epoch of
tests/gpu/bench_cnn.lua through PyTorch, on the same GPU, for the table of
tests/gpu/run.sh.

    python3 tests/gpu/bench_cnn_torch.py [--data DIR] [--modes gpu,pinned,loader]
        [--amp-modes gpu] [--batches N] [--warmup N] [--eval N] [--device cuda]

The same architecture (conv 1->32 3x3 pad 1, ReLU, max pool 2, conv
32->64 3x3 pad 1, ReLU, max pool 2, Linear 3136->128, ReLU, Linear
128->10), PyTorch's default initialisation (irrelevant to the time), Adam
lr 1e-3 (PyTorch's default foreach implementation), cross-entropy, batches
of 128, the 60000 training images shuffled each epoch. The losses are summed
on the GPU and read back every --read-every batches (32, as brasa's fit on a
GPU): PyTorch at its best, with no host wait per step; --read-every 1 is the
usual loop with loss.item() at every step. f32 means f32: TF32 is off for matmuls and
cuDNN convolutions, as brasa's default (brasa.cuda.allow_tf32(false) covers
both; PyTorch's own default would let cuDNN convolutions use TF32; --tf32
turns it on for both libraries' matmuls and convolutions here, for a run of
brasa with allow_tf32(true)). cudnn.benchmark off (PyTorch's default). Read
from the same IDX files with gzip. How batches reach the GPU, one line per
mode:

  gpu     the whole training set already on the GPU (188 MB), batches cut by
          index on the GPU: PyTorch's best case, no host-to-device copies;
  pinned  the set in pinned host memory, each batch gathered on the CPU by
          index_select and copied with non_blocking=True: what brasa's
          DataLoader{device = 'cuda'} does (brasa gathers in a background
          thread, here the main thread gathers);
  loader  torch.utils.data.DataLoader(TensorDataset, shuffle=True,
          pin_memory=True), then .to(device, non_blocking=True): the usual
          user code.

AMP (--amp-modes): torch.autocast(device_type='cuda', dtype=float16) around
the forward pass and the loss, with torch.amp.GradScaler, as brasa's fit
with amp = true (f16 and loss scaling on a GPU).

A warm-up of --warmup batches precedes the timed epoch (cuDNN, the caching
allocators). Time: wall clock around the epoch, synchronised on both sides.
Sanity: the loss on --eval test images must go down.

Prints lines in bench_cnn.lua's format:
  cnn <label> <s/epoch> <images/s> <images timed> <eval loss before> <eval loss after>
      <eval accuracy after> <train loss> <ok|LOSS_NOT_DOWN> <path>
  cnn_fail <label> <reason>
"""
import argparse
import gzip
import os
import sys
import time


def fail(label, why):
    print("cnn_fail %s %s" % (label, str(why).replace("\n", " | ")), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=os.environ.get("BRASA_FASHION_MNIST_DIR",
                                                     "/usr/share/datasets/fashion-mnist"))
    ap.add_argument("--modes", default="gpu,pinned,loader")
    ap.add_argument("--amp-modes", default="gpu")
    ap.add_argument("--batches", type=int, default=0, help="time N batches and extrapolate (0: an epoch)")
    ap.add_argument("--warmup", type=int, default=30)
    ap.add_argument("--eval", type=int, default=2000)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--tf32", action="store_true", help="TF32 in matmuls and convolutions")
    ap.add_argument("--read-every", type=int, default=32,
                    help="read the summed loss back every N batches (1: loss.item() each step)")
    args = ap.parse_args()

    try:
        import torch
        import torch.nn as nn
    except Exception as e:  # no PyTorch on this machine
        fail("torch", "no PyTorch: %s" % e)
        return 0
    dev = torch.device(args.device)
    torch.backends.cudnn.allow_tf32 = args.tf32
    torch.backends.cuda.matmul.allow_tf32 = args.tf32
    if dev.type == "cuda" and not torch.cuda.is_available():
        fail("torch", "PyTorch sees no GPU")
        return 0

    def read_idx(path):
        with gzip.open(path, "rb") as f:
            raw = f.read()
        ndim = raw[3]
        dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
        t = torch.frombuffer(bytearray(raw[4 + 4 * ndim:]), dtype=torch.uint8)
        return t.reshape(dims)

    try:
        xtr = read_idx(os.path.join(args.data, "train-images-idx3-ubyte.gz"))
        ytr = read_idx(os.path.join(args.data, "train-labels-idx1-ubyte.gz"))
        xte = read_idx(os.path.join(args.data, "t10k-images-idx3-ubyte.gz"))
        yte = read_idx(os.path.join(args.data, "t10k-labels-idx1-ubyte.gz"))
    except Exception as e:
        fail("torch", "no data: %s" % e)
        return 0
    xtr = xtr.float().div_(255).reshape(-1, 1, 28, 28)
    ytr = ytr.long()
    n_all = xtr.shape[0]
    xev = xte[:args.eval].float().div_(255).reshape(-1, 1, 28, 28).to(dev)
    yev = yte[:args.eval].long().to(dev)
    bs = args.batch_size
    xtr_gpu, ytr_gpu = xtr.to(dev), ytr.to(dev)
    xtr_pin, ytr_pin = (xtr.pin_memory(), ytr.pin_memory()) if dev.type == "cuda" else (xtr, ytr)

    def make_model():
        torch.manual_seed(1)
        return nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(64 * 7 * 7, 128), nn.ReLU(),
            nn.Linear(128, 10),
        ).to(dev)

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize()

    def batches(mode, n, gen):
        """Batches (x, y) on the device of the first n training images, shuffled."""
        if mode == "gpu":
            perm = torch.randperm(n, device=dev, generator=gen)
            for i in range(0, n, bs):
                idx = perm[i:i + bs]
                yield xtr_gpu.index_select(0, idx), ytr_gpu.index_select(0, idx)
        elif mode == "pinned":
            perm = torch.randperm(n, generator=gen)
            for i in range(0, n, bs):
                idx = perm[i:i + bs]
                xb = torch.index_select(xtr_pin, 0, idx).pin_memory()
                yb = torch.index_select(ytr_pin, 0, idx).pin_memory()
                yield xb.to(dev, non_blocking=True), yb.to(dev, non_blocking=True)
        elif mode == "loader":
            ds = torch.utils.data.TensorDataset(xtr[:n], ytr[:n])
            dl = torch.utils.data.DataLoader(ds, batch_size=bs, shuffle=True, generator=gen,
                                             pin_memory=dev.type == "cuda")
            for xb, yb in dl:
                yield xb.to(dev, non_blocking=True), yb.to(dev, non_blocking=True)
        else:
            raise ValueError("unknown mode " + mode)

    def evaluate(model, loss_fn):
        model.eval()
        with torch.no_grad():
            out = model(xev)
            loss = loss_fn(out, yev).item()
            acc = (out.argmax(1) == yev).float().mean().item()
        model.train()
        return loss, acc

    def run(mode, amp):
        label = "torch_%s%s" % (mode, "_amp" if amp else "_f32")
        model = make_model()
        loss_fn = nn.CrossEntropyLoss()
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        scaler = torch.amp.GradScaler("cuda") if amp else None
        gen = torch.Generator(device=dev if mode == "gpu" else "cpu")
        gen.manual_seed(2)
        loss0, _ = evaluate(model, loss_fn)

        def epoch(n):
            total, pending, seen, k = 0.0, None, 0, 0
            for xb, yb in batches(mode, n, gen):
                opt.zero_grad(set_to_none=True)
                if amp:
                    with torch.autocast(device_type="cuda", dtype=torch.float16):
                        loss = loss_fn(model(xb), yb)
                    scaler.scale(loss).backward()
                    scaler.step(opt)
                    scaler.update()
                else:
                    loss = loss_fn(model(xb), yb)
                    loss.backward()
                    opt.step()
                part = loss.detach() * xb.shape[0]
                pending = part if pending is None else pending + part
                seen += xb.shape[0]
                k += 1
                if k % args.read_every == 0:
                    total += pending.item()
                    pending = None
            if pending is not None:
                total += pending.item()
            return total / max(seen, 1)

        epoch(min(n_all, args.warmup * bs))
        n = n_all if args.batches <= 0 else min(n_all, args.batches * bs)
        sync()
        t0 = time.perf_counter()
        train_loss = epoch(n)
        sync()
        dt = time.perf_counter() - t0
        loss1, acc1 = evaluate(model, loss_fn)
        path = "torch%s,%s,tf32conv=%s,tf32mm=%s,read_every=%d" % (
            torch.__version__, mode, torch.backends.cudnn.allow_tf32,
            torch.backends.cuda.matmul.allow_tf32, args.read_every)
        print("cnn %s %.3f %.0f %d %.4f %.4f %.4f %.4f %s %s" % (
            label, dt * n_all / n, n / dt, n, loss0, loss1, acc1, train_loss,
            "ok" if loss1 < loss0 else "LOSS_NOT_DOWN", path), flush=True)

    todo = [(m, False) for m in args.modes.split(",") if m] + \
           [(m, True) for m in args.amp_modes.split(",") if m and dev.type == "cuda"]
    for mode, amp in todo:
        try:
            run(mode, amp)
        except Exception as e:
            fail("torch_%s%s" % (mode, "_amp" if amp else "_f32"), e)
    return 0


if __name__ == "__main__":
    sys.exit(main())
