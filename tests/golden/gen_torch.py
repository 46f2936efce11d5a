#!/usr/bin/python3
"""Generates tests/golden/torch_ref.lua: golden gradients from PyTorch 1.13.

Run with Debian's python (apt-get install python3-torch):

    /usr/bin/python3 tests/golden/gen_torch.py

Every case draws its inputs from a fixed seed in float64, evaluates a
composite function written from primitives that brasa also has, and records
the inputs, the value and the gradients with respect to every input. The
output is a Lua table literal; tests/lua/golden_torch_spec.lua rebuilds the
same functions in brasa from the same numbers and compares (1e-6 relative).
CI never needs torch: only this generator does.

Conventions in the output: tensors are {shape = {...}, data = {...}} with the
data flat in row-major order; index tensors are stored 1-based (as brasa's
users see them); numbers are written with 17 significant digits.
"""

import math
import os

import torch

torch.set_default_dtype(torch.float64)


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
        flat = [lua_number(v) for v in t.reshape(-1).tolist()]
    lines, line = [], []
    for s in flat:
        line.append(s)
        if len(line) == 6:
            lines.append(", ".join(line))
            line = []
    if line:
        lines.append(", ".join(line))
    body = (",\n        ").join(lines)
    return "{shape = {%s}, data = {\n        %s}}" % (shape, body)


def lua_value(v, indent="    "):
    if isinstance(v, torch.Tensor):
        if v.dtype in (torch.int64, torch.int32):
            return lua_tensor(v, one_based=True)
        return lua_tensor(v)
    if isinstance(v, dict):
        inner = indent + "  "
        parts = ["%s%s = %s" % (inner, k, lua_value(v[k], inner)) for k in sorted(v)]
        return "{\n" + ",\n".join(parts) + "\n" + indent + "}"
    if isinstance(v, (int, float)):
        return lua_number(v)
    if isinstance(v, str):
        return '"%s"' % v
    raise TypeError(type(v))


def leaf(*shape, gen):
    return torch.randn(*shape, generator=gen).requires_grad_(True)


def grads_of(value, named):
    names = sorted(named)
    gs = torch.autograd.grad(value, [named[k] for k in names], retain_graph=True)
    return {k: g for k, g in zip(names, gs)}


def mlp_cross_entropy(gen):
    """2-layer tanh MLP, softmax cross-entropy from logsumexp and gather, and
    the same loss through a one-hot target; plus a Hessian-vector product."""
    x = leaf(5, 4, gen=gen)
    W1 = leaf(4, 6, gen=gen)
    b1 = leaf(6, gen=gen)
    W2 = leaf(6, 3, gen=gen)
    b2 = leaf(3, gen=gen)
    target = torch.tensor([2, 0, 1, 2, 1])
    v = torch.randn(4, 6, generator=gen)

    def loss_fn():
        h = torch.tanh(x @ W1 + b1)
        logits = h @ W2 + b2
        lse = torch.logsumexp(logits, 1)
        picked = logits.gather(1, target.view(-1, 1)).squeeze(1)
        loss_gather = (lse - picked).mean()
        onehot = torch.nn.functional.one_hot(target, 3).to(torch.float64)
        log_softmax = logits - torch.logsumexp(logits, 1, keepdim=True)
        loss_onehot = -(onehot * log_softmax).sum(1).mean()
        return loss_gather, loss_onehot

    loss_gather, loss_onehot = loss_fn()
    # same value as torch's own cross_entropy
    ref = torch.nn.functional.cross_entropy((torch.tanh(x @ W1 + b1) @ W2 + b2), target)
    assert abs(ref.item() - loss_gather.item()) < 1e-12
    named = {"x": x, "W1": W1, "b1": b1, "W2": W2, "b2": b2}
    g_gather = grads_of(loss_gather, named)
    g_onehot = grads_of(loss_onehot, named)
    gW1 = torch.autograd.grad(loss_fn()[0], W1, create_graph=True)[0]
    hvp = torch.autograd.grad((gW1 * v).sum(), W1)[0]
    return {
        "inputs": dict(named, target=target, v=v),
        "loss": loss_gather.item(),
        "loss_onehot": loss_onehot.item(),
        "grads": g_gather,
        "grads_onehot": g_onehot,
        "hvp_W1": hvp,
    }


def gradient_penalty(gen):
    """WGAN-GP: D(x) = tanh(x W1 + b1) w2; penalty = mean((||dD/dx||_2 - 1)^2)
    over the rows, differentiated w.r.t. the weights and x."""
    x = leaf(4, 3, gen=gen)
    W1 = leaf(3, 5, gen=gen)
    b1 = leaf(5, gen=gen)
    w2 = leaf(5, 1, gen=gen)
    out = (torch.tanh(x @ W1 + b1) @ w2).sum()
    gx = torch.autograd.grad(out, x, create_graph=True)[0]
    norms = gx.norm(2, 1)
    penalty = ((norms - 1) ** 2).mean()
    named = {"x": x, "W1": W1, "b1": b1, "w2": w2}
    return {
        "inputs": named,
        "gx": gx,
        "penalty": penalty.item(),
        "grads": grads_of(penalty, named),
    }


def view_chain(gen):
    """transpose, narrow, select, index_select, reshape, expand, then a
    nonlinearity and weights."""
    x = leaf(4, 3, 5, gen=gen)
    w = torch.randn(2, 9, generator=gen)
    idx = torch.tensor([3, 0, 3])

    y = x.transpose(0, 2)          # [5, 3, 4]
    y = y.narrow(0, 1, 3)          # [3, 3, 4]
    y = y.select(1, 2)             # [3, 4]
    y = y.index_select(1, idx)     # [3, 3]
    y = y.reshape(9).expand(2, 9)  # [2, 9]
    value = (torch.sin(y) * w).sum() + (x.permute(2, 0, 1)[1:3, :, 0] ** 2).sum()
    return {
        "inputs": {"x": x, "w": w, "idx": idx},
        "value": value.item(),
        "grads": grads_of(value, {"x": x}),
    }


def attention(gen):
    """softmax(Q K^T / sqrt(d)) V with the softmax written from logsumexp."""
    Q = leaf(2, 4, 3, gen=gen)
    K = leaf(2, 5, 3, gen=gen)
    V = leaf(2, 5, 2, gen=gen)
    w = torch.randn(2, 4, 2, generator=gen)
    scores = Q @ K.transpose(1, 2) / math.sqrt(3)
    attn = torch.exp(scores - torch.logsumexp(scores, -1, keepdim=True))
    out = attn @ V
    value = (out * w).sum()
    named = {"Q": Q, "K": K, "V": V}
    return {
        "inputs": dict(named, w=w),
        "value": value.item(),
        "grads": grads_of(value, named),
    }


def layer_norm(gen):
    """Layer normalisation from mean, var (biased) and sqrt, then a cumsum,
    a sort and max/min reductions."""
    x = leaf(3, 6, gen=gen)
    gamma = leaf(6, gen=gen)
    beta = leaf(6, gen=gen)
    w = torch.randn(3, 6, generator=gen)
    mu = x.mean(1, keepdim=True)
    var = x.var(1, unbiased=False, keepdim=True)
    y = (x - mu) / torch.sqrt(var + 1e-5) * gamma + beta
    value = ((y * w).sum() + y.cumsum(1).pow(2).mean() + y.sort(1).values[:, -2].sum()
             + y.max(0).values.sum() - y.min() + x.std(0).sum() + x.norm(2, 1).sum())
    named = {"x": x, "gamma": gamma, "beta": beta}
    return {
        "inputs": dict(named, w=w),
        "value": value.item(),
        "grads": grads_of(value, named),
    }


def main():
    cases = {}
    for i, fn in enumerate([mlp_cross_entropy, gradient_penalty, view_chain, attention, layer_norm]):
        gen = torch.Generator().manual_seed(1234 + i)
        cases[fn.__name__] = fn(gen)
    here = os.path.dirname(os.path.abspath(__file__))
    path = os.path.join(here, "torch_ref.lua")
    with open(path, "w") as f:
        f.write("-- Generated by tests/golden/gen_torch.py with PyTorch %s (float64).\n"
                % torch.__version__)
        f.write("-- Do not edit: run /usr/bin/python3 tests/golden/gen_torch.py again.\n")
        f.write("return {\n")
        f.write('  torch_version = "%s",\n' % torch.__version__)
        for name in sorted(cases):
            f.write("  %s = %s,\n" % (name, lua_value(cases[name], "  ")))
        f.write("}\n")
    print("wrote", path)


if __name__ == "__main__":
    main()
