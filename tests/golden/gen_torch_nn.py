#!/usr/bin/python3
"""Generates tests/golden/torch_nn_ref.lua: golden values for brasa.nn's
layers and losses from PyTorch 1.13.

Run with Debian's python (apt-get install python3-torch):

    /usr/bin/python3 tests/golden/gen_torch_nn.py

Every case builds a torch module in float64 from a fixed seed, records its
state_dict (parameters and buffers), an input, a fixed upstream gradient G,
the output and the gradients of sum(output * G) with respect to the input and
every parameter. The brasa spec (tests/lua/nn_layers_spec.lua and
nn_loss_spec.lua) builds the same layer from `ctor` (a Lua expression),
loads the same state with load_state_dict, and compares (1e-6 relative).
CI never needs torch: only this generator does.

Conventions: tensors are {shape = {...}, data = {...}} (row-major); class
ids and embedding ids are stored 1-based (as brasa's users see them) where
a case says so, with 0 for padding / ignored positions.
"""

import math
import os

import torch
import torch.nn as tnn
import torch.nn.functional as TF

torch.set_default_dtype(torch.float64)

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "torch_nn_ref.lua")


def num(v):
    v = float(v)
    if math.isnan(v):
        return "0/0"
    if math.isinf(v):
        return "math.huge" if v > 0 else "-math.huge"
    return "%.17g" % v


def tensor(t, shift=0):
    t = t.detach()
    shape = ", ".join(str(s) for s in t.shape)
    if t.dtype in (torch.int64, torch.int32):
        flat = [str(int(v) + shift) for v in t.reshape(-1).tolist()]
        kind = ', dtype = "i64"'
    else:
        flat = [num(v) for v in t.reshape(-1).tolist()]
        kind = ""
    lines = [", ".join(flat[i:i + 8]) for i in range(0, len(flat), 8)]
    return "{shape = {%s}%s, data = {%s}}" % (shape, kind, ",\n      ".join(lines))


def value(v, indent="  "):
    if isinstance(v, Ids):
        return tensor(v.t, 1)
    if isinstance(v, torch.Tensor):
        return tensor(v)
    if isinstance(v, dict):
        inner = indent + "  "
        parts = ["%s[%s] = %s" % (inner, lua_str(k), value(v[k], inner)) for k in sorted(v)]
        return "{\n" + ",\n".join(parts) + "\n" + indent + "}"
    if isinstance(v, (list, tuple)):
        return "{" + ", ".join(value(x, indent) for x in v) + "}"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return num(v)
    if isinstance(v, str):
        return lua_str(v)
    raise TypeError(type(v))


def lua_str(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


class Ids:
    """0-based ids stored 1-based (brasa's convention)."""

    def __init__(self, t):
        self.t = t


torch.manual_seed(20240604)   # module initialisation draws from the global generator
gen = torch.Generator().manual_seed(20240604)


def randn(*shape):
    return torch.randn(*shape, generator=gen)


def rand(*shape):
    return torch.rand(*shape, generator=gen)


def randint(lo, hi, shape):
    return torch.randint(lo, hi, shape, generator=gen)


LAYERS = {}
LOSSES = {}


def layer_case(name, ctor, module, x, train=True, randomize=False):
    """Runs module on x (train or eval mode) and records everything."""
    module = module.double()
    if randomize:   # random affine parameters / statistics instead of 1 and 0
        with torch.no_grad():
            for k, t in module.state_dict().items():
                if t.dtype.is_floating_point:
                    if "var" in k:
                        t.copy_(rand(*t.shape) + 0.5)
                    else:
                        t.copy_(randn(*t.shape))
    module.train(train)
    state = {k: v.clone() for k, v in module.state_dict().items()}
    x = x.clone().requires_grad_(x.dtype.is_floating_point)
    y = module(x)
    G = randn(*y.shape)
    params = dict(module.named_parameters())
    leaves = ([x] if x.requires_grad else []) + [params[k] for k in sorted(params)]
    grads = torch.autograd.grad((y * G).sum(), leaves, allow_unused=True)
    names = (["input"] if x.requires_grad else []) + sorted(params)
    gd = {}
    for k, g in zip(names, grads):
        gd[k] = g if g is not None else torch.zeros_like(dict(zip(names, leaves))[k])
    after = {k: v.clone() for k, v in module.state_dict().items() if "running" in k}
    case = {"ctor": ctor, "state": state, "input": x.detach() if x.dtype.is_floating_point else Ids(x),
            "G": G, "output": y.detach(), "grads": gd, "train": train}
    if after:
        case["after"] = after
    LAYERS[name] = case


# ---- Linear -------------------------------------------------------------------------

layer_case("linear", "nn.Linear(5, 3, {dtype = 'f64'})", tnn.Linear(5, 3), randn(4, 5))
layer_case("linear_nobias", "nn.Linear(5, 3, {bias = false, dtype = 'f64'})", tnn.Linear(5, 3, bias=False),
           randn(4, 5))
layer_case("linear_3d", "nn.Linear(4, 2, {dtype = 'f64'})", tnn.Linear(4, 2), randn(2, 3, 4))

# ---- convolutions -------------------------------------------------------------------

layer_case("conv1d", "nn.Conv1d(3, 4, 3, {stride = 2, padding = 1, dtype = 'f64'})",
           tnn.Conv1d(3, 4, 3, stride=2, padding=1), randn(2, 3, 9))
layer_case("conv1d_groups_dilation", "nn.Conv1d(4, 6, 3, {groups = 2, dilation = 2, dtype = 'f64'})",
           tnn.Conv1d(4, 6, 3, groups=2, dilation=2), randn(2, 4, 11))
layer_case("conv1d_same", "nn.Conv1d(2, 3, 4, {padding = 'same', bias = false, dtype = 'f64'})",
           tnn.Conv1d(2, 3, 4, padding="same", bias=False), randn(2, 2, 7))
layer_case("conv2d", "nn.Conv2d(1, 4, 3, {padding = 1, dtype = 'f64'})",
           tnn.Conv2d(1, 4, 3, padding=1), randn(2, 1, 6, 5))
layer_case("conv2d_rect", "nn.Conv2d(4, 6, {3, 2}, {stride = {2, 1}, padding = {1, 0}, groups = 2, dtype = 'f64'})",
           tnn.Conv2d(4, 6, (3, 2), stride=(2, 1), padding=(1, 0), groups=2), randn(2, 4, 7, 6))
layer_case("conv2d_dilation", "nn.Conv2d(3, 2, 3, {dilation = 2, stride = 2, dtype = 'f64'})",
           tnn.Conv2d(3, 2, 3, dilation=2, stride=2), randn(1, 3, 9, 8))
layer_case("conv2d_same_nobias", "nn.Conv2d(2, 3, {2, 3}, {padding = 'same', bias = false, dtype = 'f64'})",
           tnn.Conv2d(2, 3, (2, 3), padding="same", bias=False), randn(2, 2, 5, 6))
layer_case("conv2d_depthwise", "nn.Conv2d(3, 3, 3, {groups = 3, padding = 1, dtype = 'f64'})",
           tnn.Conv2d(3, 3, 3, groups=3, padding=1), randn(2, 3, 5, 5))
layer_case("conv_transpose1d", "nn.ConvTranspose1d(3, 2, 3, {stride = 2, padding = 1, output_padding = 1, dtype = 'f64'})",
           tnn.ConvTranspose1d(3, 2, 3, stride=2, padding=1, output_padding=1), randn(2, 3, 5))
layer_case("conv_transpose2d", "nn.ConvTranspose2d(4, 2, 3, {stride = 2, padding = 1, output_padding = 1, dtype = 'f64'})",
           tnn.ConvTranspose2d(4, 2, 3, stride=2, padding=1, output_padding=1), randn(2, 4, 4, 3))
layer_case("conv_transpose2d_groups", "nn.ConvTranspose2d(4, 6, {2, 3}, {stride = {1, 2}, groups = 2, dilation = {2, 1}, dtype = 'f64'})",
           tnn.ConvTranspose2d(4, 6, (2, 3), stride=(1, 2), groups=2, dilation=(2, 1)), randn(1, 4, 3, 4))
layer_case("conv_transpose2d_gan", "nn.ConvTranspose2d(3, 2, 4, {stride = 2, padding = 1, bias = false, dtype = 'f64'})",
           tnn.ConvTranspose2d(3, 2, 4, stride=2, padding=1, bias=False), randn(2, 3, 4, 4))

# ---- pooling --------------------------------------------------------------------------


def distinct(*shape):
    """Values without ties (max pooling's gradient is then unambiguous)."""
    n = 1
    for s in shape:
        n *= s
    return (torch.randperm(n, generator=gen).double() / n + 0.01 * randn(n)).reshape(*shape)


layer_case("max_pool1d", "nn.MaxPool1d(2)", tnn.MaxPool1d(2), distinct(2, 3, 9))
layer_case("max_pool1d_opts", "nn.MaxPool1d(3, {stride = 2, padding = 1, dilation = 2, ceil_mode = true})",
           tnn.MaxPool1d(3, stride=2, padding=1, dilation=2, ceil_mode=True), distinct(2, 2, 10))
layer_case("max_pool2d", "nn.MaxPool2d(2)", tnn.MaxPool2d(2), distinct(2, 3, 6, 7))
layer_case("max_pool2d_opts", "nn.MaxPool2d({3, 2}, {stride = {2, 1}, padding = {1, 0}, ceil_mode = true})",
           tnn.MaxPool2d((3, 2), stride=(2, 1), padding=(1, 0), ceil_mode=True), distinct(1, 2, 7, 5))
layer_case("avg_pool1d", "nn.AvgPool1d(3, {stride = 2, padding = 1})", tnn.AvgPool1d(3, stride=2, padding=1),
           randn(2, 3, 8))
layer_case("avg_pool2d", "nn.AvgPool2d(2)", tnn.AvgPool2d(2), randn(2, 3, 6, 7))
layer_case("avg_pool2d_opts",
           "nn.AvgPool2d(3, {stride = 2, padding = 1, ceil_mode = true, count_include_pad = false})",
           tnn.AvgPool2d(3, stride=2, padding=1, ceil_mode=True, count_include_pad=False), randn(1, 2, 6, 7))
layer_case("adaptive_avg_pool1d", "nn.AdaptiveAvgPool1d(3)", tnn.AdaptiveAvgPool1d(3), randn(2, 3, 8))
layer_case("adaptive_avg_pool2d", "nn.AdaptiveAvgPool2d({2, 3})", tnn.AdaptiveAvgPool2d((2, 3)), randn(2, 3, 5, 7))
layer_case("adaptive_max_pool1d", "nn.AdaptiveMaxPool1d(4)", tnn.AdaptiveMaxPool1d(4), distinct(2, 3, 9))
layer_case("adaptive_max_pool2d", "nn.AdaptiveMaxPool2d({3, 2})", tnn.AdaptiveMaxPool2d((3, 2)),
           distinct(2, 2, 7, 5))


class Global(tnn.Module):
    def __init__(self, kind, n):
        super().__init__()
        self.kind, self.n = kind, n

    def forward(self, x):
        dims = tuple(range(2, 2 + self.n))
        return x.mean(dims) if self.kind == "avg" else x.amax(dims)


layer_case("global_avg_pool1d", "nn.GlobalAvgPool1d()", Global("avg", 1), randn(2, 3, 5))
layer_case("global_avg_pool2d", "nn.GlobalAvgPool2d()", Global("avg", 2), randn(2, 3, 4, 5))
layer_case("global_max_pool1d", "nn.GlobalMaxPool1d()", Global("max", 1), distinct(2, 3, 5))
layer_case("global_max_pool2d", "nn.GlobalMaxPool2d()", Global("max", 2), distinct(2, 3, 4, 5))
layer_case("upsample_nearest", "nn.Upsample{scale_factor = 2}", tnn.Upsample(scale_factor=2), randn(2, 2, 3, 4))
layer_case("upsample_bilinear", "nn.Upsample{size = {5, 7}, mode = 'bilinear'}",
           tnn.Upsample(size=(5, 7), mode="bilinear"), randn(1, 2, 3, 4))
layer_case("upsample_bilinear_corners", "nn.Upsample{scale_factor = 2, mode = 'bilinear', align_corners = true}",
           tnn.Upsample(scale_factor=2, mode="bilinear", align_corners=True), randn(1, 2, 3, 3))
layer_case("upsample_linear", "nn.Upsample{scale_factor = 3, mode = 'linear'}",
           tnn.Upsample(scale_factor=3, mode="linear"), randn(2, 2, 4))

# ---- normalisation ---------------------------------------------------------------------

layer_case("batch_norm1d_train", "nn.BatchNorm1d(4, {dtype = 'f64'})", tnn.BatchNorm1d(4), randn(6, 4),
           randomize=True)
layer_case("batch_norm1d_3d_train", "nn.BatchNorm1d(3, {momentum = 0.3, dtype = 'f64'})",
           tnn.BatchNorm1d(3, momentum=0.3), randn(4, 3, 5), randomize=True)
layer_case("batch_norm1d_eval", "nn.BatchNorm1d(4, {dtype = 'f64'})", tnn.BatchNorm1d(4), randn(5, 4),
           train=False, randomize=True)
layer_case("batch_norm2d_train", "nn.BatchNorm2d(3, {dtype = 'f64'})", tnn.BatchNorm2d(3), randn(4, 3, 5, 4),
           randomize=True)
layer_case("batch_norm2d_eval", "nn.BatchNorm2d(3, {eps = 1e-3, dtype = 'f64'})", tnn.BatchNorm2d(3, eps=1e-3),
           randn(2, 3, 4, 5), train=False, randomize=True)
layer_case("batch_norm2d_noaffine", "nn.BatchNorm2d(2, {affine = false, dtype = 'f64'})",
           tnn.BatchNorm2d(2, affine=False), randn(3, 2, 3, 3))
layer_case("batch_norm2d_nostats", "nn.BatchNorm2d(2, {track_running_stats = false, dtype = 'f64'})",
           tnn.BatchNorm2d(2, track_running_stats=False), randn(3, 2, 3, 3), train=False, randomize=True)
layer_case("layer_norm", "nn.LayerNorm(5, {dtype = 'f64'})", tnn.LayerNorm(5), randn(3, 5), randomize=True)
layer_case("layer_norm_2d", "nn.LayerNorm({3, 4}, {eps = 1e-3, dtype = 'f64'})", tnn.LayerNorm((3, 4), eps=1e-3),
           randn(2, 3, 4), randomize=True)
layer_case("layer_norm_noaffine", "nn.LayerNorm(6, {elementwise_affine = false, dtype = 'f64'})",
           tnn.LayerNorm(6, elementwise_affine=False), randn(2, 3, 6))


class ShiftedEmbedding(tnn.Module):
    """brasa's embedding: 1-based ids, 0 gives a zero vector (no gradient)."""

    def __init__(self, n, d):
        super().__init__()
        self.weight = tnn.Parameter(randn(n, d))

    def forward(self, ids):   # ids are 0-based here; -1 is padding
        rows = self.weight[ids.clamp(min=0)]
        return rows * (ids >= 0).unsqueeze(-1).double()


ids = randint(0, 7, (3, 4))
ids[0, 1] = -1
ids[2, 3] = -1
layer_case("embedding", "nn.Embedding(7, 3, {dtype = 'f64'})", ShiftedEmbedding(7, 3), ids)

# ---- activations ------------------------------------------------------------------------

ACTS = [
    ("relu", "nn.ReLU()", tnn.ReLU()),
    ("leaky_relu", "nn.LeakyReLU(0.2)", tnn.LeakyReLU(0.2)),
    ("leaky_relu_default", "nn.LeakyReLU()", tnn.LeakyReLU()),
    ("elu", "nn.ELU{alpha = 0.7}", tnn.ELU(alpha=0.7)),
    ("selu", "nn.SELU()", tnn.SELU()),
    ("gelu", "nn.GELU()", tnn.GELU()),
    ("gelu_tanh", "nn.GELU('tanh')", tnn.GELU(approximate="tanh")),
    ("silu", "nn.SiLU()", tnn.SiLU()),
    ("sigmoid", "nn.Sigmoid()", tnn.Sigmoid()),
    ("tanh", "nn.Tanh()", tnn.Tanh()),
    ("softplus", "nn.Softplus()", tnn.Softplus()),
    ("softplus_beta", "nn.Softplus{beta = 2, threshold = 3}", tnn.Softplus(beta=2, threshold=3)),
    ("softmax", "nn.Softmax{dim = 2}", tnn.Softmax(dim=1)),
    ("softmax_dim1", "nn.Softmax(1)", tnn.Softmax(dim=0)),
    ("softmax_last", "nn.Softmax()", tnn.Softmax(dim=-1)),
    ("log_softmax", "nn.LogSoftmax{dim = 2}", tnn.LogSoftmax(dim=1)),
]
for name, ctor, m in ACTS:
    x = randn(3, 5) * 2
    if name.startswith("softmax") or name.startswith("log_softmax"):
        x = randn(2, 4, 3)
    layer_case("act_" + name, ctor, m, x)

layer_case("flatten", "nn.Flatten()", tnn.Flatten(), randn(2, 3, 2, 2))
layer_case("flatten_range", "nn.Flatten(2, 3)", tnn.Flatten(1, 2), randn(2, 3, 2, 2))
layer_case("identity", "nn.Identity()", tnn.Identity(), randn(2, 3))


class Reshape(tnn.Module):
    def __init__(self, *s):
        super().__init__()
        self.s = s

    def forward(self, x):
        return x.reshape(x.shape[0], *self.s)


layer_case("reshape", "nn.Reshape(3, -1)", Reshape(3, -1), randn(2, 12))

# ---- a small CNN (the course's shape, scaled down) -----------------------------------------

cnn = tnn.Sequential(tnn.Conv2d(1, 4, 3, padding=1), tnn.ReLU(), tnn.MaxPool2d(2), tnn.Flatten(),
                     tnn.Linear(4 * 3 * 3, 5))
layer_case("cnn", "nn.Sequential{nn.Conv2d(1, 4, 3, {padding = 1, dtype = 'f64'}), nn.ReLU(), nn.MaxPool2d(2), "
           "nn.Flatten(), nn.Linear(36, 5, {dtype = 'f64'})}", cnn, distinct(2, 1, 6, 6))


def renumber(state):   # torch's 0-based Sequential keys as brasa's 1-based ones
    out = {}
    for k, v in state.items():
        head, _, rest = k.partition(".")
        out["%d.%s" % (int(head) + 1, rest) if head.isdigit() else k] = v
    return out


c = LAYERS["cnn"]
c["state"] = renumber(c["state"])
c["grads"] = {("input" if k == "input" else renumber({k: 0}).popitem()[0]): v for k, v in c["grads"].items()}

# ---- losses ------------------------------------------------------------------------------


def loss_case(name, ctor, fn, inputs, targets, extra=None):
    """fn(*inputs, *targets) -> loss (any reduction); records value and the
    gradients of sum(loss * G) with respect to the inputs."""
    leaves = [x.clone().requires_grad_(True) for x in inputs]
    value = fn(*leaves, *targets)
    G = randn(*value.shape) if value.dim() > 0 else torch.tensor(1.0)
    grads = torch.autograd.grad((value * G).sum(), leaves)
    case = {"ctor": ctor, "inputs": list(inputs), "G": G, "value": value.detach(),
            "grads": list(grads)}
    case["targets"] = [Ids(t) if not t.dtype.is_floating_point and name.find("cosine") < 0 else t
                       for t in targets]
    if extra:
        case.update(extra)
    LOSSES[name] = case


REDS = ["mean", "sum", "none"]

for red in REDS:
    x, t = randn(4, 3), randn(4, 3)
    loss_case("mse_" + red, "nn.MSELoss{reduction = '%s'}" % red, tnn.MSELoss(reduction=red), [x], [t])
    loss_case("l1_" + red, "nn.L1Loss{reduction = '%s'}" % red, tnn.L1Loss(reduction=red), [x], [t])
    for d in [0.5, 1.0, 2.0]:
        loss_case("huber_%s_%g" % (red, d), "nn.HuberLoss{reduction = '%s', delta = %r}" % (red, d),
                  tnn.HuberLoss(reduction=red, delta=d), [randn(5, 2) * 2], [randn(5, 2)])
    for b in [0.0, 0.5, 1.0]:
        loss_case("smooth_l1_%s_%g" % (red, b), "nn.SmoothL1Loss{reduction = '%s', beta = %r}" % (red, b),
                  tnn.SmoothL1Loss(reduction=red, beta=b), [randn(5, 2) * 2], [randn(5, 2)])
    p, y = rand(4, 3) * 0.9 + 0.05, (rand(4, 3) > 0.5).double()
    loss_case("bce_" + red, "nn.BCELoss{reduction = '%s'}" % red, tnn.BCELoss(reduction=red), [p], [y])
    w = rand(4, 3) + 0.5
    loss_case("bce_weight_" + red, "nn.BCELoss{reduction = '%s', weight = T(R.weight)}" % red,
              tnn.BCELoss(reduction=red, weight=w), [p], [rand(4, 3)], {"weight": w})
    z = randn(4, 3) * 3
    loss_case("bce_logits_" + red, "nn.BCEWithLogitsLoss{reduction = '%s'}" % red,
              tnn.BCEWithLogitsLoss(reduction=red), [z], [y])
    pw, w2 = rand(3) * 2 + 0.5, rand(4, 3) + 0.5
    loss_case("bce_logits_pos_weight_" + red,
              "nn.BCEWithLogitsLoss{reduction = '%s', pos_weight = T(R.pos_weight), weight = T(R.weight)}" % red,
              tnn.BCEWithLogitsLoss(reduction=red, pos_weight=pw, weight=w2), [z], [rand(4, 3)],
              {"pos_weight": pw, "weight": w2})
    scores = randn(5, 4) * 2
    cls = randint(0, 4, (5,))
    loss_case("ce_" + red, "nn.CrossEntropyLoss{reduction = '%s'}" % red, tnn.CrossEntropyLoss(reduction=red),
              [scores], [cls])
    cw = rand(4) + 0.5
    loss_case("ce_weight_" + red, "nn.CrossEntropyLoss{reduction = '%s', weight = T(R.weight)}" % red,
              tnn.CrossEntropyLoss(reduction=red, weight=cw), [scores], [cls], {"weight": cw})
    loss_case("ce_smooth_" + red, "nn.CrossEntropyLoss{reduction = '%s', label_smoothing = 0.1}" % red,
              tnn.CrossEntropyLoss(reduction=red, label_smoothing=0.1), [scores], [cls])
    loss_case("ce_smooth_weight_" + red,
              "nn.CrossEntropyLoss{reduction = '%s', label_smoothing = 0.2, weight = T(R.weight)}" % red,
              tnn.CrossEntropyLoss(reduction=red, label_smoothing=0.2, weight=cw), [scores], [cls],
              {"weight": cw})
    # padding targets: brasa's 0 with ignore_index = 0 is torch's -1 with ignore_index = -1
    padded = cls.clone()
    padded[1] = -1
    padded[3] = -1
    loss_case("ce_ignore_" + red,
              "nn.CrossEntropyLoss{reduction = '%s', ignore_index = 0, weight = T(R.weight), label_smoothing = 0.1}"
              % red, tnn.CrossEntropyLoss(reduction=red, ignore_index=-1, weight=cw, label_smoothing=0.1),
              [scores], [padded], {"weight": cw})
    probs = torch.softmax(randn(5, 4), 1)
    loss_case("ce_probs_" + red, "nn.CrossEntropyLoss{reduction = '%s'}" % red,
              tnn.CrossEntropyLoss(reduction=red), [scores], [probs])
    loss_case("ce_probs_smooth_weight_" + red,
              "nn.CrossEntropyLoss{reduction = '%s', label_smoothing = 0.1, weight = T(R.weight)}" % red,
              tnn.CrossEntropyLoss(reduction=red, label_smoothing=0.1, weight=cw), [scores], [probs],
              {"weight": cw})
    onehot = TF.one_hot(cls, 4).double()
    loss_case("ce_onehot_" + red, "nn.CrossEntropyLoss{reduction = '%s'}" % red,
              tnn.CrossEntropyLoss(reduction=red), [scores], [onehot])
    s3, c3 = randn(2, 4, 3), randint(0, 4, (2, 3))
    loss_case("ce_spatial_" + red, "nn.CrossEntropyLoss{reduction = '%s', weight = T(R.weight)}" % red,
              tnn.CrossEntropyLoss(reduction=red, weight=cw), [s3], [c3], {"weight": cw})

    # from_logits = false: Keras's formula on outputs that went through a softmax
    def keras_ce(p, t, red=red, ls=0.0, w=None, ignore=None):
        q = (p / p.sum(1, keepdim=True)).clamp(1e-7, 1 - 1e-7).log()
        if t.dtype.is_floating_point:
            return TF.cross_entropy(q, t, reduction=red, label_smoothing=ls, weight=w)  # log_softmax(log q) = log q
        return TF.cross_entropy(q, t, reduction=red, label_smoothing=ls, weight=w,
                                ignore_index=-100 if ignore is None else ignore)

    sm = torch.softmax(randn(5, 4), 1)
    loss_case("ce_probs_out_" + red, "nn.CrossEntropyLoss{reduction = '%s', from_logits = false}" % red,
              keras_ce, [sm], [cls])
    loss_case("ce_probs_out_onehot_" + red, "nn.CrossEntropyLoss{reduction = '%s', from_logits = false}" % red,
              keras_ce, [sm], [onehot])
    loss_case("ce_probs_out_opts_" + red,
              "nn.CrossEntropyLoss{reduction = '%s', from_logits = false, label_smoothing = 0.1, "
              "weight = T(R.weight), ignore_index = 0}" % red,
              lambda p, t, red=red: keras_ce(p, t, red, 0.1, cw, -1), [sm], [padded], {"weight": cw})

    logp = torch.log_softmax(randn(5, 4), 1)
    loss_case("nll_" + red, "nn.NLLLoss{reduction = '%s'}" % red, tnn.NLLLoss(reduction=red), [logp], [cls])
    loss_case("nll_weight_ignore_" + red,
              "nn.NLLLoss{reduction = '%s', weight = T(R.weight), ignore_index = 0}" % red,
              tnn.NLLLoss(reduction=red, weight=cw, ignore_index=-1), [logp], [padded], {"weight": cw})

    x1, x2 = randn(5, 4), randn(5, 4)
    yy = torch.tensor([1, -1, 1, -1, -1])
    for m in [0.0, 0.3]:
        loss_case("cosine_%s_%g" % (red, m), "nn.CosineEmbeddingLoss{reduction = '%s', margin = %r}" % (red, m),
                  tnn.CosineEmbeddingLoss(reduction=red, margin=m), [x1, x2], [yy])

for red in REDS + ["batchmean"]:
    lp = torch.log_softmax(randn(4, 5), 1)
    tp = torch.softmax(randn(4, 5), 1)
    tp[0, 2] = 0.0   # a zero target contributes 0
    loss_case("kl_" + red, "nn.KLDivLoss{reduction = '%s'}" % red, tnn.KLDivLoss(reduction=red), [lp], [tp])
    loss_case("kl_log_target_" + red, "nn.KLDivLoss{reduction = '%s', log_target = true}" % red,
              tnn.KLDivLoss(reduction=red, log_target=True), [lp], [torch.log_softmax(randn(4, 5), 1)])

# ---- output ------------------------------------------------------------------------------

with open(OUT, "w") as f:
    f.write("-- Generated by tests/golden/gen_torch_nn.py with PyTorch %s (float64).\n" % torch.__version__)
    f.write("-- Do not edit: run /usr/bin/python3 tests/golden/gen_torch_nn.py again.\n")
    f.write("return {\n  torch_version = %s,\n" % lua_str(torch.__version__))
    f.write("  layers = %s,\n" % value(LAYERS, "  "))
    f.write("  losses = %s,\n" % value(LOSSES, "  "))
    f.write("}\n")
print("wrote", OUT, len(LAYERS), "layer cases,", len(LOSSES), "loss cases")
