#!/usr/bin/python3
"""Generates tests/golden/numpy_ref.lua: NumPy reference results on fixed
inputs, as one Lua table literal, so the spec (tests/lua/golden_numpy_spec.lua)
needs no NumPy at test time.

    apt-get install -y python3-numpy && /usr/bin/python3 tests/golden/gen_numpy.py

Each case is {name, fn, dtype, inputs = {...}, args = {...}, expected, [indices]}:
- inputs are nested lists of numbers, exactly representable in `dtype` (f32
  inputs are rounded to float32 first, then written exactly);
- expected is computed in float64 from those inputs (the reference is more
  precise than the dtype under test); the spec compares at 1e-6 relative for
  f64 and 1e-5 for f32 (with a small absolute floor near zero);
- dims in args are Lua's (1-based); indices are 1-based.
Regenerating must give the same file (fixed seed, no dates).
"""
import math
import os
import sys

import numpy as np

rng = np.random.default_rng(20240611)
cases = []


def as_dtype(a, dtype):
    a = np.asarray(a, dtype=np.float64)
    if dtype == 'f32':
        a = a.astype(np.float32).astype(np.float64)
    return a


def add(name, fn, dtype, inputs, expected, args=None, indices=None):
    cases.append(dict(name=name, fn=fn, dtype=dtype, inputs=inputs, args=args or {},
                      expected=expected, indices=indices))


# ---- elementwise --------------------------------------------------------------

def unary(fn, f, lo, hi, n=7, extra=()):
    for dtype in ('f64', 'f32'):
        x = np.concatenate([np.array(extra, dtype=np.float64), rng.uniform(lo, hi, n)])
        x = as_dtype(x, dtype)
        add(f'{fn}_{dtype}', fn, dtype, [x], f(x))


erf = np.vectorize(math.erf)
unary('exp', np.exp, -5, 5, extra=(0.0,))
unary('log', np.log, 0.01, 100, extra=(1.0,))
unary('log1p', np.log1p, -0.9, 10, extra=(1e-10,))
unary('expm1', np.expm1, -3, 3, extra=(1e-10,))
unary('sqrt', np.sqrt, 0, 50, extra=(0.0, 4.0))
unary('rsqrt', lambda x: 1 / np.sqrt(x), 0.01, 50)
unary('sin', np.sin, -6, 6)
unary('cos', np.cos, -6, 6)
unary('tan', np.tan, -1.4, 1.4)
unary('tanh', np.tanh, -5, 5, extra=(20.0, -20.0))
unary('sigmoid', lambda x: 1 / (1 + np.exp(-x)), -10, 10, extra=(0.0, 30.0, -30.0))
unary('erf', erf, -3, 3, extra=(0.0,))
unary('asin', np.arcsin, -0.99, 0.99)
unary('acos', np.arccos, -0.99, 0.99)
unary('atan', np.arctan, -10, 10)
unary('sinh', np.sinh, -4, 4)
unary('cosh', np.cosh, -4, 4)
unary('log2', np.log2, 0.01, 100, extra=(8.0,))
unary('log10', np.log10, 0.01, 100, extra=(1000.0,))
unary('exp2', np.exp2, -10, 10, extra=(3.0,))
unary('round', np.round, -4, 4, extra=(0.5, 1.5, 2.5, -0.5, -2.5))   # half to even
unary('trunc', np.trunc, -4, 4, extra=(-1.5,))
unary('reciprocal', lambda x: 1 / x, 0.1, 10, extra=(-2.0,))

# gelu (exact, erf form), softplus (beta 1, threshold 20), elu (alpha 1)
for dtype in ('f64', 'f32'):
    x = as_dtype(np.concatenate([[0.0, -1.0, 1.0], rng.uniform(-4, 4, 6)]), dtype)
    add(f'gelu_{dtype}', 'gelu', dtype, [x], x * 0.5 * (1 + erf(x / math.sqrt(2))))
    x = as_dtype(np.concatenate([[0.0, 25.0], rng.uniform(-6, 6, 6)]), dtype)
    add(f'softplus_{dtype}', 'softplus', dtype, [x], np.where(x > 20, x, np.log1p(np.exp(x))))
    x = as_dtype(np.concatenate([[0.0], rng.uniform(-4, 4, 7)]), dtype)
    add(f'elu_{dtype}', 'elu', dtype, [x], np.where(x > 0, x, np.expm1(x)))

# binary, with broadcasting: [3x4] op [4]
for dtype in ('f64', 'f32'):
    a = as_dtype(rng.uniform(-3, 3, (3, 4)), dtype)
    b = as_dtype(rng.uniform(-3, 3, 4), dtype)
    add(f'atan2_{dtype}', 'atan2', dtype, [a, b], np.arctan2(a, b))
    add(f'fmod_{dtype}', 'fmod', dtype, [a, b], np.fmod(a, b))
    p = as_dtype(rng.uniform(0.1, 3, (3, 4)), dtype)
    add(f'pow_{dtype}', 'pow', dtype, [p, b], np.power(p, b))
    add(f'div_{dtype}', 'div', dtype, [a, b], a / b)

# ---- reductions on a fixed 3-D input --------------------------------------------

for dtype in ('f64', 'f32'):
    x = as_dtype(rng.normal(0, 2, (3, 4, 5)), dtype)
    for axis in (None, 0, 1, 2):
        dim = None if axis is None else axis + 1
        tag = 'all' if axis is None else f'dim{dim}'
        add(f'var_{tag}_{dtype}', 'var', dtype, [x], np.var(x, axis=axis, ddof=1),
            dict(dim=dim, correction=1))
        add(f'var0_{tag}_{dtype}', 'var', dtype, [x], np.var(x, axis=axis, ddof=0),
            dict(dim=dim, correction=0))
        add(f'std_{tag}_{dtype}', 'std', dtype, [x], np.std(x, axis=axis, ddof=1),
            dict(dim=dim, correction=1))
        m = np.max(x, axis=axis, keepdims=True)
        lse = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
        lse = lse.reshape(()) if axis is None else np.squeeze(lse, axis=axis)
        add(f'logsumexp_{tag}_{dtype}', 'logsumexp', dtype, [x], lse, dict(dim=dim))
        for p in (1, 2, 3, math.inf):
            if axis is None:
                ref = np.linalg.norm(x.reshape(-1), ord=p)
            else:
                ref = np.linalg.norm(x, ord=p, axis=axis)
            ptag = 'inf' if p == math.inf else str(p)
            add(f'norm{ptag}_{tag}_{dtype}', 'norm', dtype, [x], ref, dict(dim=dim, p=p))
        add(f'mean_{tag}_{dtype}', 'mean', dtype, [x], np.mean(x, axis=axis), dict(dim=dim))
        add(f'sum_{tag}_{dtype}', 'sum', dtype, [x], np.sum(x, axis=axis), dict(dim=dim))

# large values: logsumexp must not overflow
big = np.array([[1000.0, 999.0, 998.0], [-1000.0, -1001.0, -1002.0]])
add('logsumexp_large_f64', 'logsumexp', 'f64', [big],
    np.log(np.sum(np.exp(big - big.max(axis=1, keepdims=True)), axis=1)) + big.max(axis=1),
    dict(dim=2))

# ---- cumulative -------------------------------------------------------------

for dtype in ('f64', 'f32'):
    x = as_dtype(rng.uniform(0.5, 1.5, (2, 3, 4)), dtype)
    for axis in (0, 1, 2):
        add(f'cumsum_dim{axis + 1}_{dtype}', 'cumsum', dtype, [x], np.cumsum(x, axis=axis),
            dict(dim=axis + 1))
        add(f'cumprod_dim{axis + 1}_{dtype}', 'cumprod', dtype, [x], np.cumprod(x, axis=axis),
            dict(dim=axis + 1))

# ---- matmul --------------------------------------------------------------------

for dtype in ('f64', 'f32'):
    a = as_dtype(rng.normal(size=(4, 5)), dtype)
    b = as_dtype(rng.normal(size=(5, 3)), dtype)
    add(f'matmul_4x5_5x3_{dtype}', 'matmul', dtype, [a, b], a @ b)
    a = as_dtype(rng.normal(size=(2, 4, 5)), dtype)
    b = as_dtype(rng.normal(size=(2, 5, 3)), dtype)
    add(f'matmul_batched_{dtype}', 'matmul', dtype, [a, b], a @ b)
    a = as_dtype(rng.normal(size=(3, 1, 2, 4)), dtype)
    b = as_dtype(rng.normal(size=(2, 4, 3)), dtype)
    add(f'matmul_broadcast_{dtype}', 'matmul', dtype, [a, b], a @ b)
    a = as_dtype(rng.normal(size=(5,)), dtype)
    b = as_dtype(rng.normal(size=(2, 5, 3)), dtype)
    add(f'matmul_vec_batched_{dtype}', 'matmul', dtype, [a, b], a @ b)
    a = as_dtype(rng.normal(size=(6, 4)), dtype)
    b = as_dtype(rng.normal(size=(6, 3)), dtype)
    add(f'matmul_at_b_{dtype}', 'matmul_t', dtype, [a, b], a.T @ b)

# ---- sorting -------------------------------------------------------------------

for dtype in ('f64', 'f32'):
    x = as_dtype(rng.normal(size=(3, 6)), dtype)
    x[1, 2] = x[1, 4] = x[1, 0]     # ties: stable order expected
    for axis in (0, 1):
        for desc in (False, True):
            key = -x if desc else x
            idx = np.argsort(key, axis=axis, kind='stable')
            vals = np.take_along_axis(x, idx, axis=axis)
            add(f'sort_dim{axis + 1}_{"desc" if desc else "asc"}_{dtype}', 'sort', dtype, [x],
                vals, dict(dim=axis + 1, descending=desc), indices=idx + 1)
    k = 3
    idx = np.argsort(-x, axis=1, kind='stable')[:, :k]
    add(f'topk3_{dtype}', 'topk', dtype, [x], np.take_along_axis(x, idx, axis=1),
        dict(k=k, dim=2), indices=idx + 1)


# ---- writing -------------------------------------------------------------------

def lua_num(v):
    v = float(v)
    if math.isnan(v):
        return '0/0'
    if math.isinf(v):
        return 'math.huge' if v > 0 else '-math.huge'
    if v == int(v) and abs(v) < 2 ** 53:
        return repr(float(v))
    return repr(v)


def lua_val(v):
    if v is None:
        return 'nil'
    if isinstance(v, bool):
        return 'true' if v else 'false'
    if isinstance(v, str):
        return "'" + v + "'"
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        return str(int(v))
    if isinstance(v, dict):
        return '{' + ', '.join(f'{k} = {lua_val(v[k])}' for k in sorted(v) if v[k] is not None) + '}'
    if isinstance(v, (list, tuple)):
        return '{' + ', '.join(lua_val(e) for e in v) + '}'
    if isinstance(v, np.ndarray):
        if v.ndim == 0:
            return lua_int(v) if v.dtype.kind in 'iu' else lua_num(v)
        return '{' + ', '.join(lua_val(e) for e in v) + '}'
    return lua_num(v)


def lua_int(v):
    return str(int(v))


def main():
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'numpy_ref.lua')
    lines = ['-- Generated by tests/golden/gen_numpy.py (NumPy %s): do not edit.' % np.__version__,
             '-- Reference results on fixed inputs; see that script for the layout.',
             'return {']
    for c in cases:
        fields = [f"name = '{c['name']}'", f"fn = '{c['fn']}'", f"dtype = '{c['dtype']}'",
                  'args = ' + lua_val(c['args']),
                  'inputs = {' + ', '.join(lua_val(np.asarray(x)) for x in c['inputs']) + '}',
                  'expected = ' + lua_val(np.asarray(c['expected'], dtype=np.float64))]
        if c['indices'] is not None:
            fields.append('indices = ' + lua_val(np.asarray(c['indices'], dtype=np.int64)))
        lines.append('  {' + ', '.join(fields) + '},')
    lines.append('}')
    with open(out, 'w') as f:
        f.write('\n'.join(lines) + '\n')
    print(f'{len(cases)} cases written to {out}', file=sys.stderr)


if __name__ == '__main__':
    main()
