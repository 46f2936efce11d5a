#!/usr/bin/python3
"""Generates tests/golden/torch_pool_ref.lua: golden values and gradients of
pooling and resampling from PyTorch 1.13.

Run with Debian's python (apt-get install python3-torch):

    /usr/bin/python3 tests/golden/gen_torch_pool.py

Each case names a brasa.nn.functional function and its arguments, written
both as the PyTorch call and as the Lua argument list; the input x is drawn
in float64 from a fixed seed, the upstream gradient gy likewise, and the
case records the output y, the indices (max pooling, 1-based as brasa's users
see them) and gx = d sum(y * gy) / dx. tests/lua/nn_pool_spec.lua runs the
same calls in brasa on the same numbers (f64 tightly, f32 loosely). CI never
needs torch: only this generator does.

Conventions: tensors are {shape = {...}, data = {...}} with the data flat in
row-major order; numbers are written with 17 significant digits.
"""

import math
import os

import torch
import torch.nn.functional as F

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
    return "{shape = {%s}, data = {\n        %s}}" % (shape, ",\n        ".join(lines))


# ---- cases: (name, function, input shape, torch kwargs, Lua argument list) ----------

CASES = [
    # max_pool2d
    ("max2d_k2", "max_pool2d", (1, 2, 6, 6), dict(kernel_size=2), "2"),
    ("max2d_k2_odd", "max_pool2d", (2, 3, 7, 5), dict(kernel_size=2, return_indices=True),
     "2, {return_indices = true}"),
    ("max2d_k3_s2_odd", "max_pool2d", (2, 3, 7, 9), dict(kernel_size=3, stride=2), "3, 2"),
    ("max2d_pad_ceil", "max_pool2d", (2, 2, 8, 7),
     dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
     "3, {stride = 2, padding = 1, ceil_mode = true}"),
    ("max2d_rect_dilation", "max_pool2d", (1, 2, 9, 8),
     dict(kernel_size=(3, 2), stride=(2, 1), padding=(1, 0), dilation=(2, 1)),
     "{kernel_size = {3, 2}, stride = {2, 1}, padding = {1, 0}, dilation = {2, 1}}"),
    ("max2d_overlap_indices", "max_pool2d", (2, 2, 5, 6),
     dict(kernel_size=2, stride=1, return_indices=True), "2, {stride = 1, return_indices = true}"),
    ("max2d_unbatched_ceil", "max_pool2d", (3, 5, 5), dict(kernel_size=2, ceil_mode=True),
     "2, {ceil_mode = true}"),
    ("max2d_k3_ceil_partial", "max_pool2d", (1, 1, 10, 10),
     dict(kernel_size=3, ceil_mode=True, return_indices=True),
     "3, {ceil_mode = true, return_indices = true}"),
    ("max2d_dilation_pad_ceil", "max_pool2d", (1, 2, 11, 10),
     dict(kernel_size=3, stride=3, padding=1, dilation=2, ceil_mode=True, return_indices=True),
     "3, {stride = 3, padding = 1, dilation = 2, ceil_mode = true, return_indices = true}"),
    # max_pool1d
    ("max1d_k3_s2_p1", "max_pool1d", (2, 3, 11), dict(kernel_size=3, stride=2, padding=1),
     "3, {stride = 2, padding = 1}"),
    ("max1d_dilation_ceil", "max_pool1d", (2, 2, 9),
     dict(kernel_size=2, dilation=2, ceil_mode=True, return_indices=True),
     "2, {dilation = 2, ceil_mode = true, return_indices = true}"),
    ("max1d_unbatched", "max_pool1d", (3, 8), dict(kernel_size=2, return_indices=True),
     "2, {return_indices = true}"),
    # avg_pool2d
    ("avg2d_k2", "avg_pool2d", (1, 2, 6, 6), dict(kernel_size=2), "2"),
    ("avg2d_k2_odd", "avg_pool2d", (2, 3, 7, 5), dict(kernel_size=2), "2"),
    ("avg2d_k2_divisor", "avg_pool2d", (1, 2, 5, 6), dict(kernel_size=2, divisor_override=3),
     "2, {divisor_override = 3}"),
    ("avg2d_pad", "avg_pool2d", (2, 2, 7, 9), dict(kernel_size=3, stride=2, padding=1),
     "3, 2, {padding = 1}"),
    ("avg2d_pad_exclude", "avg_pool2d", (2, 2, 7, 9),
     dict(kernel_size=3, stride=2, padding=1, count_include_pad=False),
     "3, {stride = 2, padding = 1, count_include_pad = false}"),
    ("avg2d_ceil_include", "avg_pool2d", (1, 2, 8, 8),
     dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
     "3, {stride = 2, padding = 1, ceil_mode = true}"),
    ("avg2d_ceil_exclude", "avg_pool2d", (1, 2, 8, 7),
     dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
     "3, {stride = 2, padding = 1, ceil_mode = true, count_include_pad = false}"),
    ("avg2d_ceil_nopad", "avg_pool2d", (1, 1, 10, 10), dict(kernel_size=3, ceil_mode=True),
     "3, {ceil_mode = true}"),
    ("avg2d_divisor", "avg_pool2d", (1, 2, 6, 7),
     dict(kernel_size=(3, 2), stride=(1, 2), padding=(1, 1), divisor_override=5),
     "{3, 2}, {stride = {1, 2}, padding = {1, 1}, divisor_override = 5}"),
    ("avg2d_unbatched", "avg_pool2d", (3, 5, 5), dict(kernel_size=2, stride=1), "2, 1"),
    # avg_pool1d
    ("avg1d_k3_s2_p1", "avg_pool1d", (2, 3, 10), dict(kernel_size=3, stride=2, padding=1),
     "3, {stride = 2, padding = 1}"),
    ("avg1d_ceil_exclude", "avg_pool1d", (2, 2, 11),
     dict(kernel_size=4, stride=3, padding=2, ceil_mode=True, count_include_pad=False),
     "4, {stride = 3, padding = 2, ceil_mode = true, count_include_pad = false}"),
    # adaptive
    ("aavg2d_3x3", "adaptive_avg_pool2d", (2, 3, 7, 9), dict(output_size=(3, 3)), "{3, 3}"),
    ("aavg2d_keep_w", "adaptive_avg_pool2d", (1, 2, 10, 6), dict(output_size=(4, None)),
     "{4, false}"),
    ("aavg2d_grow", "adaptive_avg_pool2d", (1, 1, 3, 3), dict(output_size=5), "5"),
    ("aavg2d_1", "adaptive_avg_pool2d", (2, 2, 5, 4), dict(output_size=1), "1"),
    ("aavg1d_4", "adaptive_avg_pool1d", (2, 3, 10), dict(output_size=4), "4"),
    ("aavg1d_unbatched", "adaptive_avg_pool1d", (3, 7), dict(output_size=5), "5"),
    ("amax2d_3x4", "adaptive_max_pool2d", (2, 2, 7, 9),
     dict(output_size=(3, 4), return_indices=True), "{3, 4}, {return_indices = true}"),
    ("amax2d_keep_h", "adaptive_max_pool2d", (1, 2, 5, 7), dict(output_size=(None, 2)),
     "{false, 2}"),
    ("amax2d_unbatched", "adaptive_max_pool2d", (2, 6, 5), dict(output_size=4), "4"),
    ("amax1d_3", "adaptive_max_pool1d", (2, 2, 10), dict(output_size=3, return_indices=True),
     "3, {return_indices = true}"),
    # interpolate
    ("near2d_scale2", "interpolate", (1, 2, 3, 4), dict(scale_factor=2), "{scale_factor = 2}"),
    ("near2d_size", "interpolate", (1, 2, 3, 4), dict(size=(5, 7)), "{size = {5, 7}}"),
    ("near2d_scale1_5", "interpolate", (1, 2, 5, 5), dict(scale_factor=1.5),
     "{scale_factor = 1.5}"),
    ("near2d_down", "interpolate", (1, 1, 7, 8), dict(size=(3, 5)), "{3, 5}"),
    ("bilin_scale2", "interpolate", (1, 2, 3, 4),
     dict(scale_factor=2, mode="bilinear", align_corners=False),
     "{scale_factor = 2, mode = 'bilinear', align_corners = false}"),
    ("bilin_scale2_align", "interpolate", (1, 2, 3, 4),
     dict(scale_factor=2, mode="bilinear", align_corners=True),
     "{scale_factor = 2, mode = 'bilinear', align_corners = true}"),
    ("bilin_size", "interpolate", (2, 1, 4, 3), dict(size=(5, 7), mode="bilinear"),
     "{size = {5, 7}, mode = 'bilinear'}"),
    ("bilin_size_align", "interpolate", (2, 1, 4, 3),
     dict(size=(5, 7), mode="bilinear", align_corners=True),
     "{size = {5, 7}, mode = 'bilinear', align_corners = true}"),
    ("bilin_down", "interpolate", (1, 1, 8, 6), dict(scale_factor=0.5, mode="bilinear"),
     "{scale_factor = 0.5, mode = 'bilinear'}"),
    ("bilin_scale_xy", "interpolate", (1, 2, 4, 5),
     dict(scale_factor=(1.5, 2.5), mode="bilinear"),
     "{scale_factor = {1.5, 2.5}, mode = 'bilinear'}"),
    ("bilin_recompute", "interpolate", (1, 1, 5, 6),
     dict(scale_factor=1.7, mode="bilinear", recompute_scale_factor=True),
     "{scale_factor = 1.7, mode = 'bilinear', recompute_scale_factor = true}"),
    ("linear1d_size", "interpolate", (2, 3, 4), dict(size=9, mode="linear"),
     "{size = 9, mode = 'linear'}"),
    ("linear1d_align", "interpolate", (2, 2, 4),
     dict(scale_factor=2.5, mode="linear", align_corners=True),
     "{scale_factor = 2.5, mode = 'linear', align_corners = true}"),
    ("near1d_scale3", "interpolate", (2, 2, 5), dict(scale_factor=3), "{scale_factor = 3}"),
    ("area2d", "interpolate", (1, 2, 7, 9), dict(size=(3, 4), mode="area"),
     "{size = {3, 4}, mode = 'area'}"),
    ("upsample_bilinear", "upsample_bilinear", (1, 2, 3, 3), dict(scale_factor=2),
     "{scale_factor = 2}"),
    ("upsample_nearest", "upsample_nearest", (1, 2, 3, 3), dict(size=(4, 7)), "{size = {4, 7}}"),
]


def call(fn, x, kw):
    if fn == "upsample_bilinear":
        return F.interpolate(x, mode="bilinear", align_corners=True, **kw)
    if fn == "upsample_nearest":
        return F.interpolate(x, mode="nearest", **kw)
    return getattr(F, fn)(x, **kw)


def run_case(name, fn, shape, kw, lua_args, gen):
    x = torch.randn(*shape, generator=gen).requires_grad_(True)
    out = call(fn, x, kw)
    indices = None
    if isinstance(out, tuple):
        out, indices = out
    gy = torch.randn(*out.shape, generator=gen)
    (gx,) = torch.autograd.grad(out, x, gy)
    parts = [
        '    fn = "%s",' % fn,
        "    args = {%s}," % lua_args,
        "    x = %s," % lua_tensor(x),
        "    gy = %s," % lua_tensor(gy),
        "    y = %s," % lua_tensor(out),
        "    gx = %s," % lua_tensor(gx),
    ]
    if indices is not None:
        parts.append("    indices = %s," % lua_tensor(indices, one_based=True))
    return "  %s = {\n%s\n  }," % (name, "\n".join(parts))


def main():
    gen = torch.Generator().manual_seed(20240414)
    body = [run_case(*c, gen=gen) for c in CASES]
    order = ", ".join('"%s"' % c[0] for c in CASES)
    text = (
        "-- Generated by tests/golden/gen_torch_pool.py with PyTorch %s (float64).\n"
        "-- Do not edit: run /usr/bin/python3 tests/golden/gen_torch_pool.py again.\n"
        "return {\n  torch_version = \"%s\",\n  order = {%s},\n%s\n}\n"
        % (torch.__version__, torch.__version__, order, "\n".join(body)))
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "torch_pool_ref.lua")
    with open(path, "w") as f:
        f.write(text)
    print("wrote %s (%d cases)" % (path, len(CASES)))


if __name__ == "__main__":
    main()
