#!/usr/bin/python3
"""bench_train_torch.py: the PyTorch side of bench/bench_train.lua.

    OMP_WAIT_POLICY=passive /usr/bin/python3 bench/bench_train_torch.py --model mlp --threads 2 --epochs 2

Trains the same model with the same recipe as brasa's worker (Adam lr 1e-3,
batches of 128, a new random order each epoch, the running accuracy counted
as Keras's fit does) on the 60,000 Fashion-MNIST training images read from
the Debian package dataset-fashion-mnist, then predicts the 10,000 test
images in batches of 1,000. Prints one line:

    RESULT epochs=t1,t2 infer_s=... rss_mib=... test_acc=... train_acc=... threads=...

rss_mib is the process's peak resident memory (VmHWM of /proc/self/status).
Needs Debian's python3-torch: run with /usr/bin/python3. OMP_WAIT_POLICY must
be set in the environment before torch is imported (bench_train.lua does).
"""
import argparse
import gzip
import time

import numpy as np
import torch
from torch import nn

DATA = '/usr/share/datasets/fashion-mnist'


def read_idx(path):
    """An IDX file (gzipped) as a numpy array."""
    with gzip.open(path, 'rb') as f:
        raw = f.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], 'big') for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load(prefix):
    x = read_idx(f'{DATA}/{prefix}-images-idx3-ubyte.gz')
    y = read_idx(f'{DATA}/{prefix}-labels-idx1-ubyte.gz')
    x = torch.from_numpy(x.astype(np.float32) / 255).reshape(-1, 1, 28, 28)
    return x, torch.from_numpy(y.astype(np.int64))


def build(name):
    if name == 'mlp':
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(),
                             nn.Linear(128, 10))
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10))


def epoch(model, opt, loss_fn, x, y, batch):
    """One pass in a random order; returns the running accuracy."""
    model.train()
    n = x.shape[0]
    perm = torch.randperm(n)
    correct = 0
    for first in range(0, n, batch):
        idx = perm[first:first + batch]
        xb, yb = x[idx], y[idx]
        opt.zero_grad()
        out = model(xb)
        loss = loss_fn(out, yb)
        loss.backward()
        opt.step()
        loss.item()                       # fit reads the loss of every batch
        correct += (out.argmax(1) == yb).sum().item()
    return correct / n


def peak_rss_mib():
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith('VmHWM:'):
                return int(line.split()[1]) / 1024
    return float('nan')


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--model', default='mlp', choices=['mlp', 'cnn'])
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--epochs', type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    x, y = load('train')
    xt, yt = load('t10k')
    model = build(args.model)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    times, acc = [], 0.0
    for _ in range(args.epochs):
        t0 = time.perf_counter()
        acc = epoch(model, opt, loss_fn, x, y, 128)
        times.append(time.perf_counter() - t0)
    model.eval()
    t0 = time.perf_counter()
    with torch.no_grad():
        scores = torch.cat([model(xt[i:i + 1000]) for i in range(0, xt.shape[0], 1000)])
    infer = time.perf_counter() - t0
    test_acc = (scores.argmax(1) == yt).float().mean().item()
    print('RESULT epochs=%s infer_s=%.4f rss_mib=%.1f test_acc=%.4f train_acc=%.4f threads=%d' % (
        ','.join('%.4f' % t for t in times), infer, peak_rss_mib(), test_acc, acc, torch.get_num_threads()))


if __name__ == '__main__':
    main()
