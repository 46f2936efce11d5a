#!/usr/bin/python3
"""Generates tests/golden/torch_norm_ref.lua: golden values and gradients of
batch_norm, layer_norm, softmax, log_softmax, cross_entropy, nll_loss and
embedding from PyTorch 1.13 (torch.nn.functional).

Run with Debian's python (apt-get install python3-torch):

    /usr/bin/python3 tests/golden/gen_torch_norm.py

Each case draws its inputs from a fixed seed, calls the function with the
options recorded beside them, and stores the output and the gradients of
sum(output * W) (W: fixed random weights stored too) with respect to every
float input; batch_norm cases in training also store the running statistics
after the call. Most cases are float64 (compared to 1e-9 relative in
tests/lua/nn_norm_spec.lua); a few are float32 (compared to 1e-5).
CI never needs torch: only this generator does.

Conventions in the output: tensors are {shape = {...}, data = {...}} with the
data flat in row-major order; class ids, embedding ids, ignore_index,
padding_idx and dims are written 1-based, as brasa's users give them.
Embedding id 0 is brasa's padding id (a zero row): torch sees the weight
with a zero row prepended, so brasa's ids index it directly.
"""

import math
import os

import torch
import torch.nn.functional as F


def lua_number(v):
    v = float(v)
    if math.isnan(v):
        return "0/0"
    if math.isinf(v):
        return "math.huge" if v > 0 else "-math.huge"
    return "%.17g" % v


def lua_tensor(t, one_based=False):
    t = t.detach()
    shape = ", ".join(str(s) for s in t.shape)
    if t.dtype in (torch.int64, torch.int32):
        flat = [str(int(v) + (1 if one_based else 0)) for v in t.reshape(-1).tolist()]
    else:
        flat = [lua_number(v) for v in t.double().reshape(-1).tolist()]
    lines = [", ".join(flat[i:i + 6]) for i in range(0, len(flat), 6)]
    return "{shape = {%s}, data = {%s}}" % (shape, ",\n      ".join(lines))


class Ids:
    """Integer ids already in brasa's 1-based convention (written as is)."""

    def __init__(self, t):
        self.t = t


def lua_value(v, indent="  "):
    if isinstance(v, Ids):
        return lua_tensor(v.t)
    if isinstance(v, torch.Tensor):
        return lua_tensor(v, one_based=v.dtype in (torch.int64, torch.int32))
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return lua_number(v)
    if isinstance(v, str):
        return '"%s"' % v
    if isinstance(v, (list, tuple)):
        return "{" + ", ".join(lua_value(x, indent) for x in v) + "}"
    if isinstance(v, dict):
        inner = indent + "  "
        parts = ["%s%s = %s" % (inner, k, lua_value(v[k], inner)) for k in sorted(v)]
        return "{\n" + ",\n".join(parts) + "\n" + indent + "}"
    raise TypeError(type(v))


GEN = torch.Generator().manual_seed(20240401)


def randn(*shape, dtype=torch.float64):
    return torch.randn(tuple(shape), generator=GEN, dtype=torch.float64).to(dtype)


def leaf(*shape, dtype=torch.float64):
    return randn(*shape, dtype=dtype).requires_grad_(True)


def dtype_name(dt):
    return "f64" if dt == torch.float64 else "f32"


def finish(case, out, leaves):
    """Adds the output, the weights W and the gradients of sum(out * W)."""
    W = randn(*out.shape, dtype=out.dtype)
    names = sorted(k for k, v in leaves.items() if v is not None)
    gs = torch.autograd.grad((out * W).sum(), [leaves[k] for k in names], allow_unused=True)
    case["out"] = out
    case["W"] = W
    case["grads"] = {k: (g if g is not None else torch.zeros_like(leaves[k])) for k, g in zip(names, gs)}
    return case


# ---- cases ----------------------------------------------------------------------------


def batch_norm_cases():
    cases = []
    configs = [
        ((8, 5), True, 0.1, 1e-5, True, torch.float64),
        ((4, 3, 7), True, 0.3, 1e-3, True, torch.float64),
        ((3, 4, 5, 6), True, 0.1, 1e-5, True, torch.float64),
        ((2, 3, 33), True, 0.1, 1e-5, False, torch.float64),   # long runs, no affine
        ((6, 2, 1, 1), True, 0.5, 1e-5, True, torch.float64),
        ((5, 4), False, 0.1, 1e-5, True, torch.float64),
        ((3, 4, 5, 6), False, 0.1, 1e-3, True, torch.float64),
        ((8, 4, 3, 3), True, 0.1, 1e-5, True, torch.float32),
        ((32, 6), True, 0.1, 1e-5, True, torch.float32),
    ]
    for shape, training, momentum, eps, affine, dt in configs:
        C = shape[1]
        x = leaf(*shape, dtype=dt) * 2 + 0.5
        x = x.detach().requires_grad_(True)
        w = leaf(C, dtype=dt) if affine else None
        b = leaf(C, dtype=dt) if affine else None
        rm = randn(C, dtype=dt) * 0.1
        rv = (randn(C, dtype=dt).abs() + 0.5)
        case = {
            "op": "batch_norm", "dtype": dtype_name(dt), "training": training,
            "momentum": momentum, "eps": eps,
            "inputs": {"x": x, "running_mean": rm.clone(), "running_var": rv.clone()},
        }
        if affine:
            case["inputs"]["weight"] = w
            case["inputs"]["bias"] = b
        out = F.batch_norm(x, rm, rv, w, b, training=training, momentum=momentum, eps=eps)
        case["running_mean_after"] = rm
        case["running_var_after"] = rv
        cases.append(finish(case, out, {"x": x, "weight": w, "bias": b}))
    return cases


def layer_norm_cases():
    cases = []
    configs = [
        ((4, 10), (10,), True, 1e-5, torch.float64),
        ((2, 3, 4, 5), (4, 5), True, 1e-5, torch.float64),
        ((3, 7), (7,), False, 1e-3, torch.float64),
        ((5, 2, 6), (2, 6), True, 1e-5, torch.float64),
        ((16, 20), (20,), True, 1e-5, torch.float32),
    ]
    for shape, ns, affine, eps, dt in configs:
        x = leaf(*shape, dtype=dt)
        w = leaf(*ns, dtype=dt) if affine else None
        b = leaf(*ns, dtype=dt) if affine else None
        case = {"op": "layer_norm", "dtype": dtype_name(dt), "normalized_shape": list(ns),
                "eps": eps, "inputs": {"x": x}}
        if affine:
            case["inputs"]["weight"] = w
            case["inputs"]["bias"] = b
        out = F.layer_norm(x, ns, w, b, eps)
        cases.append(finish(case, out, {"x": x, "weight": w, "bias": b}))
    return cases


def softmax_cases():
    cases = []
    configs = [((4, 7), -1), ((3, 4, 5), 1), ((3, 4, 5), 0), ((2, 3, 20), 1), ((6,), 0),
               ((3, 130), 1)]
    for name, fn in (("softmax", F.softmax), ("log_softmax", F.log_softmax)):
        for shape, dim in configs:
            for dt in (torch.float64, torch.float32):
                x = (randn(*shape, dtype=dt) * 3).requires_grad_(True)
                out = fn(x, dim)
                case = {"op": name, "dtype": dtype_name(dt), "dim": dim + 1 if dim >= 0 else dim,
                        "inputs": {"x": x}}
                cases.append(finish(case, out, {"x": x}))
    return cases


def class_targets(shape, C, ignore=None):
    t = torch.randint(0, C, shape, generator=GEN)
    if ignore is not None:
        t.view(-1)[::3] = ignore
    return t


def cross_entropy_cases():
    cases = []
    configs = [
        # (input shape, reduction, weighted, ignore (0-based class), smoothing, dtype)
        ((8, 5), "mean", False, None, 0.0, torch.float64),
        ((8, 5), "sum", False, None, 0.0, torch.float64),
        ((8, 5), "none", False, None, 0.0, torch.float64),
        ((8, 5), "mean", True, None, 0.0, torch.float64),
        ((8, 5), "mean", False, 2, 0.0, torch.float64),
        ((8, 5), "mean", True, 2, 0.0, torch.float64),
        ((8, 5), "mean", False, None, 0.1, torch.float64),
        ((8, 5), "mean", True, 1, 0.25, torch.float64),
        ((8, 5), "sum", True, 1, 0.25, torch.float64),
        ((8, 5), "none", True, 3, 0.3, torch.float64),
        ((4, 5, 3), "mean", False, None, 0.0, torch.float64),
        ((4, 5, 3), "mean", True, 0, 0.2, torch.float64),
        ((3, 4, 2, 2), "none", False, None, 0.1, torch.float64),
        ((7,), "mean", False, None, 0.0, torch.float64),
        ((32, 10), "mean", False, None, 0.0, torch.float32),
        ((16, 40), "mean", True, 4, 0.1, torch.float32),
    ]
    for shape, red, weighted, ignore, smoothing, dt in configs:
        C = shape[1] if len(shape) > 1 else shape[0]
        tshape = (shape[0],) + shape[2:] if len(shape) > 1 else ()
        x = (randn(*shape, dtype=dt) * 2).requires_grad_(True)
        t = class_targets(tshape, C, ignore) if tshape else torch.tensor(int(torch.randint(0, C, (), generator=GEN)))
        w = (randn(C, dtype=dt).abs() + 0.2) if weighted else None
        kw = {"reduction": red, "label_smoothing": smoothing}
        if ignore is not None:
            kw["ignore_index"] = ignore
        out = F.cross_entropy(x, t, weight=w, **kw)
        case = {"op": "cross_entropy", "dtype": dtype_name(dt), "reduction": red,
                "label_smoothing": smoothing, "inputs": {"x": x, "target": t}}
        if ignore is not None:
            case["ignore_index"] = ignore + 1
        if weighted:
            case["class_weight"] = w
        cases.append(finish(case, out, {"x": x}))
    # probability targets
    for shape, red, weighted, smoothing in (((6, 4), "mean", False, 0.0), ((6, 4), "sum", True, 0.2),
                                            ((3, 4, 5), "none", True, 0.1)):
        C = shape[1]
        x = leaf(*shape)
        p = torch.softmax(randn(*shape), 1).requires_grad_(True)
        w = (randn(C).abs() + 0.2) if weighted else None
        out = F.cross_entropy(x, p, weight=w, reduction=red, label_smoothing=smoothing)
        case = {"op": "cross_entropy", "dtype": "f64", "reduction": red,
                "label_smoothing": smoothing, "inputs": {"x": x, "target": p}}
        if weighted:
            case["class_weight"] = w
        cases.append(finish(case, out, {"x": x, "target": p}))
    return cases


def nll_cases():
    cases = []
    for shape, red, weighted, ignore in (((6, 4), "mean", True, 1), ((6, 4), "none", False, None),
                                         ((3, 4, 5), "sum", True, None), ((6, 4), "mean", False, 3)):
        C = shape[1]
        tshape = (shape[0],) + shape[2:]
        x = leaf(*shape)
        t = class_targets(tshape, C, ignore)
        w = (randn(C).abs() + 0.2) if weighted else None
        kw = {"reduction": red}
        if ignore is not None:
            kw["ignore_index"] = ignore
        out = F.nll_loss(x, t, weight=w, **kw)
        case = {"op": "nll_loss", "dtype": "f64", "reduction": red, "inputs": {"x": x, "target": t}}
        if ignore is not None:
            case["ignore_index"] = ignore + 1
        if weighted:
            case["class_weight"] = w
        cases.append(finish(case, out, {"x": x}))
    return cases


def embedding_cases():
    cases = []
    for V, D, idshape, pad in ((7, 3, (4, 5), None), (6, 4, (10,), 3), (5, 2, (2, 3, 2), None)):
        w = leaf(V, D)
        ids = torch.randint(0, V + 1, idshape, generator=GEN)   # brasa ids: 0 pads, 1..V
        ext = torch.cat([torch.zeros(1, D, dtype=w.dtype), w])   # row 0: the padding vector
        out = F.embedding(ids, ext, padding_idx=pad)
        case = {"op": "embedding", "dtype": "f64", "inputs": {"weight": w, "ids": Ids(ids)}}
        if pad is not None:
            case["padding_idx"] = pad   # a row of ext = brasa's 1-based id
        cases.append(finish(case, out, {"weight": w}))
    return cases


def main():
    torch.set_num_threads(1)
    groups = [batch_norm_cases(), layer_norm_cases(), softmax_cases(), cross_entropy_cases(),
              nll_cases(), embedding_cases()]
    cases = [c for g in groups for c in g]
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "torch_norm_ref.lua")
    with open(path, "w") as f:
        f.write("-- Generated by tests/golden/gen_torch_norm.py with PyTorch %s.\n" % torch.__version__)
        f.write("-- Do not edit: run /usr/bin/python3 tests/golden/gen_torch_norm.py again.\n")
        f.write("return {\n")
        f.write('  torch_version = "%s",\n' % torch.__version__)
        f.write("  cases = {\n")
        for c in cases:
            f.write("    %s,\n" % lua_value(c, "    "))
        f.write("  },\n}\n")
    print("wrote %d cases to %s" % (len(cases), path))


if __name__ == "__main__":
    main()
