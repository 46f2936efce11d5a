#!/usr/bin/python3
"""Generates tests/golden/torch_optim_ref.lua: PyTorch 1.13 references for
brasa.optim (tests/lua/optim_spec.lua compares against them).

Run with Debian's python (apt-get install python3-torch):

    /usr/bin/python3 tests/golden/gen_torch_optim.py

Three parts:
  trajectories  each optimiser (with weight decay, momentum, Nesterov,
                amsgrad, centered RMSprop, parameter groups, parameters
                without a gradient on some steps) run 20 steps on a fixed
                quadratic: loss = sum(a * (p - c)^2) / 2 over two
                parameters w [3x4] and b [5], gradient a * (p - c) set by
                hand; the parameters after every step are recorded. float64
                (the spec checks 1e-6 relative) and a few in float32.
  schedules     each learning-rate schedule on SGD (two groups in some) for
                30 steps: the learning rates after construction and after
                every step (and momentum or beta1 for OneCycleLR);
                ReduceLROnPlateau fed a fixed sequence of metrics.
  clipping      clip_grad_norm_ (norm types 2, 1, inf, 3) and
                clip_grad_value_ on three gradients: total norm and results.

Output conventions as tests/golden/gen_torch.py: tensors are {shape = {...},
data = {...}} flat in row-major order, numbers with 17 significant digits.
CI never needs torch: only this generator does.
"""

import math
import os

import torch

torch.set_default_dtype(torch.float64)
torch.set_num_threads(1)


# ---- Lua literals -------------------------------------------------------------------

def lua_number(v):
    v = float(v)
    if math.isnan(v):
        return "0/0"
    if math.isinf(v):
        return "math.huge" if v > 0 else "-math.huge"
    return "%.17g" % v


def lua_tensor(t):
    t = t.detach().to(torch.float64)
    shape = ", ".join(str(s) for s in t.shape)
    flat = [lua_number(v) for v in t.reshape(-1).tolist()]
    rows = [", ".join(flat[i:i + 6]) for i in range(0, len(flat), 6)]
    return "{shape = {%s}, data = {%s}}" % (shape, ",\n      ".join(rows))


def lua_value(v, indent=""):
    if isinstance(v, torch.Tensor):
        return lua_tensor(v)
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return lua_number(v) if isinstance(v, float) else str(v)
    if isinstance(v, str):
        return '"%s"' % v
    if v is None:
        return "nil"
    inner = indent + "  "
    if isinstance(v, (list, tuple)):
        if all(isinstance(x, (int, float, bool, str)) for x in v):
            return "{" + ", ".join(lua_value(x) for x in v) + "}"
        return "{\n" + ",\n".join(inner + lua_value(x, inner) for x in v) + "\n" + indent + "}"
    if isinstance(v, dict):
        parts = ["%s%s = %s" % (inner, k, lua_value(v[k], inner)) for k in sorted(v)]
        return "{\n" + ",\n".join(parts) + "\n" + indent + "}"
    raise TypeError(type(v))


# ---- trajectories ---------------------------------------------------------------------

STEPS = 20


def problem():
    gen = torch.Generator().manual_seed(1234)
    w0 = torch.randn(3, 4, generator=gen)
    b0 = torch.randn(5, generator=gen)
    aw = 0.5 + 2.5 * torch.rand(3, 4, generator=gen)
    ab = 0.5 + 2.5 * torch.rand(5, generator=gen)
    cw = torch.randn(3, 4, generator=gen)
    cb = torch.randn(5, generator=gen)
    return dict(w0=w0, b0=b0, aw=aw, ab=ab, cw=cw, cb=cb)


OPTIMISERS = {
    "SGD": torch.optim.SGD, "Adam": torch.optim.Adam, "AdamW": torch.optim.AdamW,
    "RMSprop": torch.optim.RMSprop, "Adagrad": torch.optim.Adagrad,
    "Adadelta": torch.optim.Adadelta,
}

# name, optimiser, options, groups (None: one group {w, b}; else a list of
# (param names, options)), skip ("b_odd": b has no gradient on odd steps), dtype
TRAJECTORIES = [
    ("sgd", "SGD", dict(lr=0.1), None, None, "f64"),
    ("sgd_momentum", "SGD", dict(lr=0.05, momentum=0.9), None, None, "f64"),
    ("sgd_nesterov", "SGD", dict(lr=0.05, momentum=0.9, nesterov=True), None, None, "f64"),
    ("sgd_dampening_wd", "SGD", dict(lr=0.05, momentum=0.8, dampening=0.5, weight_decay=0.1), None, None, "f64"),
    ("sgd_maximize", "SGD", dict(lr=0.01, momentum=0.5, maximize=True), None, None, "f64"),
    ("adam", "Adam", dict(lr=0.1), None, None, "f64"),
    ("adam_wd", "Adam", dict(lr=0.05, weight_decay=0.1), None, None, "f64"),
    ("adam_amsgrad", "Adam", dict(lr=0.1, betas=[0.8, 0.99], eps=1e-6, amsgrad=True), None, None, "f64"),
    ("adam_maximize", "Adam", dict(lr=0.01, maximize=True), None, None, "f64"),
    ("adamw", "AdamW", dict(lr=0.1), None, None, "f64"),
    ("adamw_amsgrad_wd", "AdamW", dict(lr=0.05, weight_decay=0.3, amsgrad=True), None, None, "f64"),
    ("rmsprop", "RMSprop", dict(lr=0.01), None, None, "f64"),
    ("rmsprop_momentum", "RMSprop", dict(lr=0.01, momentum=0.9, alpha=0.9), None, None, "f64"),
    ("rmsprop_centered", "RMSprop", dict(lr=0.01, centered=True, momentum=0.5, weight_decay=0.1), None, None, "f64"),
    ("rmsprop_centered_plain", "RMSprop", dict(lr=0.02, centered=True, eps=1e-4), None, None, "f64"),
    ("adagrad", "Adagrad", dict(lr=0.1), None, None, "f64"),
    ("adagrad_decay", "Adagrad", dict(lr=0.2, lr_decay=0.05, initial_accumulator_value=0.1, weight_decay=0.1), None, None, "f64"),
    ("adadelta", "Adadelta", dict(), None, None, "f64"),
    ("adadelta_wd", "Adadelta", dict(lr=0.5, rho=0.95, eps=1e-5, weight_decay=0.1), None, None, "f64"),
    ("adam_groups", "Adam", dict(lr=0.1), [(["w"], dict()), (["b"], dict(lr=0.01, betas=[0.5, 0.9]))], None, "f64"),
    ("sgd_groups", "SGD", dict(lr=0.1, momentum=0.9),
     [(["w"], dict(lr=0.02)), (["b"], dict(momentum=0.5, nesterov=True))], None, "f64"),
    ("rmsprop_groups", "RMSprop", dict(lr=0.01), [(["b"], dict(centered=True)), (["w"], dict(lr=0.005))], None, "f64"),
    ("adam_skip", "Adam", dict(lr=0.1), None, "b_odd", "f64"),
    ("sgd_momentum_skip", "SGD", dict(lr=0.05, momentum=0.9), None, "b_odd", "f64"),
    ("adam_f32", "Adam", dict(lr=0.1, amsgrad=True), None, None, "f32"),
    ("sgd_nesterov_f32", "SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01), None, None, "f32"),
    ("rmsprop_centered_f32", "RMSprop", dict(lr=0.01, centered=True, momentum=0.5), None, None, "f32"),
    ("adagrad_f32", "Adagrad", dict(lr=0.1), None, None, "f32"),
    ("adadelta_f32", "Adadelta", dict(), None, None, "f32"),
    ("adamw_f32", "AdamW", dict(lr=0.1), None, None, "f32"),
]


def trajectory(prob, cls, opts, groups, skip, dtype):
    dt = torch.float64 if dtype == "f64" else torch.float32
    params = {"w": prob["w0"].clone().to(dt).requires_grad_(True),
              "b": prob["b0"].clone().to(dt).requires_grad_(True)}
    a = {"w": prob["aw"].to(dt), "b": prob["ab"].to(dt)}
    c = {"w": prob["cw"].to(dt), "b": prob["cb"].to(dt)}
    kw = dict(opts)
    if "betas" in kw:
        kw["betas"] = tuple(kw["betas"])
    if groups is None:
        arg = [params["w"], params["b"]]
    else:
        arg = []
        for names, gopts in groups:
            g = dict(gopts)
            if "betas" in g:
                g["betas"] = tuple(g["betas"])
            g["params"] = [params[n] for n in names]
            arg.append(g)
    opt = OPTIMISERS[cls](arg, foreach=False, **kw)
    steps = []
    for k in range(1, STEPS + 1):
        opt.zero_grad(set_to_none=True)
        for n, p in params.items():
            if skip == "b_odd" and n == "b" and k % 2 == 1:
                continue
            with torch.no_grad():
                p.grad = a[n] * (p - c[n])
        opt.step()
        steps.append({"w": params["w"].detach().clone(), "b": params["b"].detach().clone()})
    return steps


def trajectories():
    prob = problem()
    out = {"problem": prob, "steps": STEPS, "cases": []}
    for name, cls, opts, groups, skip, dtype in TRAJECTORIES:
        case = {"name": name, "optimizer": cls, "options": opts, "dtype": dtype,
                "trajectory": trajectory(prob, cls, opts, groups, skip, dtype)}
        if groups is not None:
            case["groups"] = [{"params": names, "options": gopts} for names, gopts in groups]
        if skip is not None:
            case["skip"] = skip
        out["cases"].append(case)
    return out


# ---- schedules -------------------------------------------------------------------------

SCHED_STEPS = 30

LAMBDAS = {
    "exp95": lambda e: 0.95 ** e,
    "inverse": lambda e: 1.0 / (1 + e),
}

S = torch.optim.lr_scheduler

# name, schedule, options, optimiser (name, options, group lrs)
SCHEDULES = [
    ("step", "StepLR", dict(step_size=7, gamma=0.5), ("SGD", dict(lr=0.1), None)),
    ("step_groups", "StepLR", dict(step_size=3), ("SGD", dict(lr=0.1), [0.1, 0.02])),
    ("multistep", "MultiStepLR", dict(milestones=[5, 12, 12, 20], gamma=0.3), ("SGD", dict(lr=0.1), None)),
    ("exponential", "ExponentialLR", dict(gamma=0.9), ("SGD", dict(lr=0.1), [0.1, 0.5])),
    ("cosine", "CosineAnnealingLR", dict(T_max=10, eta_min=0.001), ("SGD", dict(lr=0.1), None)),
    ("cosine_groups", "CosineAnnealingLR", dict(T_max=30), ("SGD", dict(lr=0.1), [0.1, 0.01])),
    ("warm_restarts", "CosineAnnealingWarmRestarts", dict(T_0=5, T_mult=2, eta_min=0.01), ("SGD", dict(lr=0.1), None)),
    ("warm_restarts_1", "CosineAnnealingWarmRestarts", dict(T_0=7), ("SGD", dict(lr=0.1), [0.1, 0.3])),
    ("onecycle_sgd", "OneCycleLR", dict(max_lr=0.5, total_steps=30), ("SGD", dict(lr=0.1, momentum=0.9), None)),
    ("onecycle_adam_linear", "OneCycleLR",
     dict(max_lr=[0.01, 0.02], epochs=3, steps_per_epoch=10, pct_start=0.25, anneal_strategy="linear",
          div_factor=10.0, final_div_factor=100.0), ("Adam", dict(lr=0.001), [0.001, 0.002])),
    ("onecycle_three_phase", "OneCycleLR",
     dict(max_lr=0.1, total_steps=30, three_phase=True, cycle_momentum=False), ("SGD", dict(lr=0.1), None)),
    ("linear_warmup", "LinearLR", dict(start_factor=0.25, total_iters=8), ("SGD", dict(lr=0.1), None)),
    ("linear_decay", "LinearLR", dict(start_factor=1.0, end_factor=0.1, total_iters=20), ("SGD", dict(lr=0.1), [0.1, 0.2])),
    ("linear_default", "LinearLR", dict(), ("SGD", dict(lr=0.1), None)),
    ("lambda", "LambdaLR", dict(lr_lambda="exp95"), ("SGD", dict(lr=0.1), None)),
    ("lambda_groups", "LambdaLR", dict(lr_lambda=["exp95", "inverse"]), ("SGD", dict(lr=0.1), [0.1, 0.3])),
    ("plateau_min", "ReduceLROnPlateau", dict(patience=2), ("SGD", dict(lr=0.1), None)),
    ("plateau_max_abs", "ReduceLROnPlateau",
     dict(mode="max", factor=0.5, patience=1, threshold=0.01, threshold_mode="abs", cooldown=2, min_lr=0.01),
     ("SGD", dict(lr=0.1), [0.1, 0.05])),
    ("plateau_cooldown", "ReduceLROnPlateau", dict(factor=0.2, patience=0, cooldown=3, min_lr=[1e-4, 1e-3]),
     ("SGD", dict(lr=0.1), [0.1, 0.02])),
]


def metrics():
    """30 losses: falling, then a plateau with small wiggles, then a drop."""
    out = []
    for k in range(SCHED_STEPS):
        if k < 8:
            v = 1.0 / (1 + k)
        elif k < 22:
            v = 0.12 + 0.005 * ((k * 7) % 3)
        else:
            v = 0.1 - 0.01 * (k - 21)
        out.append(v)
    return out


def schedule(sched, sopts, optdesc, metric_list):
    cls, oopts, group_lrs = optdesc
    if group_lrs is None:
        params = [torch.zeros(2, requires_grad=True)]
    else:
        params = [{"params": [torch.zeros(2, requires_grad=True)], "lr": lr} for lr in group_lrs]
    opt = OPTIMISERS[cls](params, **oopts)
    kw = dict(sopts)
    if sched == "LambdaLR":
        lam = kw["lr_lambda"]
        kw["lr_lambda"] = [LAMBDAS[n] for n in lam] if isinstance(lam, list) else LAMBDAS[lam]
    s = getattr(S, sched)(opt, **kw)

    def snapshot():
        row = {"lr": [g["lr"] for g in opt.param_groups]}
        if sched == "OneCycleLR":
            if "betas" in opt.defaults:
                row["momentum"] = [g["betas"][0] for g in opt.param_groups]
            elif kw.get("cycle_momentum", True):
                row["momentum"] = [g["momentum"] for g in opt.param_groups]
        return row

    rows = [snapshot()]
    for k in range(SCHED_STEPS):
        opt.step()
        if sched == "ReduceLROnPlateau":
            s.step(metric_list[k])
        else:
            s.step()
        rows.append(snapshot())
    return rows


def schedules():
    ms = metrics()
    out = {"steps": SCHED_STEPS, "metrics": ms, "cases": []}
    for name, sched, sopts, optdesc in SCHEDULES:
        cls, oopts, group_lrs = optdesc
        case = {"name": name, "scheduler": sched, "options": sopts, "optimizer": cls,
                "optimizer_options": oopts, "rows": schedule(sched, sopts, optdesc, ms)}
        if group_lrs is not None:
            case["group_lrs"] = group_lrs
        out["cases"].append(case)
    return out


# ---- clipping ---------------------------------------------------------------------------

def clipping():
    gen = torch.Generator().manual_seed(99)
    grads = [3 * torch.randn(3, 4, generator=gen), 3 * torch.randn(5, generator=gen),
             3 * torch.randn(2, 2, 2, generator=gen)]
    cases = []
    for name, kind, arg, p in [("norm2", "norm", 1.0, 2.0), ("norm1", "norm", 2.0, 1.0),
                               ("norminf", "norm", 0.5, math.inf), ("norm3", "norm", 1.0, 3.0),
                               ("norm2_big", "norm", 1000.0, 2.0), ("value", "value", 0.5, None)]:
        ps = [torch.zeros_like(g, requires_grad=True) for g in grads]
        for q, g in zip(ps, grads):
            q.grad = g.clone()
        case = {"name": name, "kind": kind, "arg": arg}
        if kind == "norm":
            case["norm_type"] = p
            case["total"] = float(torch.nn.utils.clip_grad_norm_(ps, arg, norm_type=p))
        else:
            torch.nn.utils.clip_grad_value_(ps, arg)
        case["clipped"] = [q.grad.clone() for q in ps]
        cases.append(case)
    return {"grads": grads, "cases": cases}


def main():
    ref = {"torch_version": torch.__version__, "trajectories": trajectories(),
           "schedules": schedules(), "clipping": clipping()}
    here = os.path.dirname(os.path.abspath(__file__))
    path = os.path.join(here, "torch_optim_ref.lua")
    with open(path, "w") as f:
        f.write("-- Generated by tests/golden/gen_torch_optim.py with PyTorch %s: do not edit.\n" % torch.__version__)
        f.write("return " + lua_value(ref) + "\n")
    print("wrote", path)


if __name__ == "__main__":
    main()
