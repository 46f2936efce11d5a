-- brasa.optim: optimisers, clipping and learning-rate schedules against
-- PyTorch 1.13 (tests/golden/torch_optim_ref.lua, written by
-- tests/golden/gen_torch_optim.py; this spec does not need torch), state
-- dicts that resume runs exactly, bad input, and the documentation's
-- examples (entries brasa.optim.*).

local here = debug.getinfo(1, 'S').source:match('^@(.*/)') or './'
local ref = dofile(here .. '../golden/torch_optim_ref.lua')

local brasa = require 'brasa'
local optim = require 'brasa.optim'
local doc = require 'brasa.doc'
local examples = require 'doc_examples'

-- ---- helpers -------------------------------------------------------------------------

local function T(r, dtype)
  return brasa.tensor(r.data, {dtype = dtype or 'f64'}):reshape(r.shape)
end

local function leaf(r, dtype)
  return T(r, dtype):requires_grad_()
end

-- Largest error of got against want beyond rtol * |want| + atol (<= 0: fine).
local function check_close(label, got, want, rtol, atol)
  assert(brasa.is_tensor(got), label .. ': no tensor')
  assert.are.same(want.shape, got.shape, label .. ': shape')
  for k = 1, #want.data do
    local g, w = got:_flat(k), want.data[k]
    if not (math.abs(g - w) <= rtol * math.abs(w) + atol) then
      error(string.format('%s: element %d: brasa %.17g, torch %.17g', label, k, g, w), 2)
    end
  end
end

local function check_number(label, got, want, rtol)
  if not (math.abs(got - want) <= (rtol or 1e-12) * math.abs(want) + 1e-15) then
    error(string.format('%s: brasa %.17g, torch %.17g', label, got, want), 2)
  end
end

local function same_values(a, b)
  if table.concat(a.shape, 'x') ~= table.concat(b.shape, 'x') then return false end
  for k = 1, a:numel() do
    if a:_flat(k) ~= b:_flat(k) then return false end
  end
  return true
end

-- Expects fn to raise an error containing every string given.
local function raises(fn, ...)
  local ok, err = pcall(fn)
  assert(not ok, 'expected an error')
  err = tostring(err)
  for _, s in ipairs {...} do
    assert(err:find(s, 1, true), string.format('error %q does not mention %q', err, s))
  end
  return err
end

-- ---- the quadratic of the trajectories -------------------------------------------------

local P = ref.trajectories.problem

-- Params w, b in dtype and the gradient function of the quadratic.
local function quadratic(dtype)
  local params = {w = leaf(P.w0, dtype), b = leaf(P.b0, dtype)}
  local a = {w = T(P.aw, dtype), b = T(P.ab, dtype)}
  local c = {w = T(P.cw, dtype), b = T(P.cb, dtype)}
  local function set_grads(step, skip)
    brasa.no_grad(function()
      for _, n in ipairs {'w', 'b'} do
        if not (skip == 'b_odd' and n == 'b' and step % 2 == 1) then
          params[n].grad = a[n] * (params[n] - c[n])
        end
      end
    end)
  end
  return params, set_grads
end

local function make_optimizer(case, params)
  local cls = optim[case.optimizer]
  if not case.groups then return cls({params.w, params.b}, case.options) end
  local groups = {}
  for i, g in ipairs(case.groups) do
    local list = {}
    for j, n in ipairs(g.params) do list[j] = params[n] end
    local grp = {params = list}
    for k, v in pairs(g.options) do grp[k] = v end
    groups[i] = grp
  end
  return cls(groups, case.options)
end

local function tolerances(dtype)
  if dtype == 'f64' then return 1e-6, 1e-12 end
  return 2e-5, 1e-6
end

describe('brasa.optim against PyTorch ' .. ref.torch_version, function()
  describe('trajectories over ' .. ref.trajectories.steps .. ' steps on a fixed quadratic', function()
    for _, case in ipairs(ref.trajectories.cases) do
      it(case.name .. ' (' .. case.dtype .. ')', function()
        local params, set_grads = quadratic(case.dtype)
        local opt = make_optimizer(case, params)
        local rtol, atol = tolerances(case.dtype)
        for k, want in ipairs(case.trajectory) do
          opt:zero_grad()
          set_grads(k, case.skip)
          opt:step()
          check_close(case.name .. ' step ' .. k .. ' w', params.w, want.w, rtol, atol)
          check_close(case.name .. ' step ' .. k .. ' b', params.b, want.b, rtol, atol)
        end
      end)
    end
  end)

  describe('learning-rate schedules over ' .. ref.schedules.steps .. ' steps', function()
    local lambdas = {
      exp95 = function(e) return 0.95 ^ e end,
      inverse = function(e) return 1.0 / (1 + e) end,
    }
    for _, case in ipairs(ref.schedules.cases) do
      it(case.name .. ' (' .. case.scheduler .. ')', function()
        local params
        if case.group_lrs then
          params = {}
          for i, lr in ipairs(case.group_lrs) do params[i] = {params = {brasa.zeros(2, {requires_grad = true})}, lr = lr} end
        else
          params = {brasa.zeros(2, {requires_grad = true})}
        end
        local opt = optim[case.optimizer](params, case.optimizer_options)
        local opts = {}
        for k, v in pairs(case.options) do opts[k] = v end
        if opts.lr_lambda then
          if type(opts.lr_lambda) == 'table' then
            local fs = {}
            for i, n in ipairs(opts.lr_lambda) do fs[i] = lambdas[n] end
            opts.lr_lambda = fs
          else
            opts.lr_lambda = lambdas[opts.lr_lambda]
          end
        end
        local sched = optim[case.scheduler](opt, opts)
        local function check(k, row)
          local lrs = sched:get_last_lr()
          assert.are.equal(#row.lr, #lrs)
          for i, want in ipairs(row.lr) do
            check_number(string.format('%s step %d group %d lr', case.name, k, i), lrs[i], want)
            check_number(string.format('%s step %d group %d group.lr', case.name, k, i), opt.param_groups[i].lr, want)
          end
          if row.momentum then
            for i, want in ipairs(row.momentum) do
              local g = opt.param_groups[i]
              local got = g.betas and g.betas[1] or g.momentum
              check_number(string.format('%s step %d group %d momentum', case.name, k, i), got, want)
            end
          end
        end
        check(0, case.rows[1])
        for k = 1, ref.schedules.steps do
          opt:step()
          if case.scheduler == 'ReduceLROnPlateau' then sched:step(ref.schedules.metrics[k]) else sched:step() end
          check(k, case.rows[k + 1])
        end
      end)
    end
  end)

  describe('gradient clipping', function()
    for _, case in ipairs(ref.clipping.cases) do
      it(case.name, function()
        for _, dtype in ipairs {'f64', 'f32'} do
          local rtol = dtype == 'f64' and 1e-12 or 1e-6
          local ps = {}
          for i, g in ipairs(ref.clipping.grads) do
            ps[i] = brasa.zeros(g.shape, {dtype = dtype, requires_grad = true})
            ps[i].grad = T(g, dtype)
          end
          if case.kind == 'norm' then
            local total = optim.clip_grad_norm(ps, case.arg, case.norm_type)
            assert.are.equal('number', type(total))
            check_number(case.name .. ' total (' .. dtype .. ')', total, case.total, rtol)
          else
            assert.is_nil(optim.clip_grad_value(ps, case.arg))
          end
          for i, want in ipairs(case.clipped) do
            check_close(case.name .. ' grad ' .. i .. ' (' .. dtype .. ')', ps[i].grad, want, rtol, 1e-15)
          end
        end
      end)
    end

    it('skips parameters without a gradient and returns 0 when none has one', function()
      local a, b = brasa.zeros(3, {requires_grad = true}), brasa.zeros(2, {requires_grad = true})
      assert.are.equal(0, optim.clip_grad_norm({a, b}, 1))
      a.grad = brasa.tensor {3, 4, 0}
      assert.are.equal(5, optim.clip_grad_norm({a, b}, 10))
      assert.is_nil(b.grad)
      optim.clip_grad_norm(a, 1)   -- one tensor is fine too
      assert.is_true(math.abs(a.grad:norm():item() - 1) < 1e-5)
      optim.clip_grad_value({a}, 0.5)
      assert.are.same({0.5, 0.5, 0}, a.grad:totable())
    end)

    it('clips huge gradients the same on one thread and two', function()
      local n = brasa.get_num_threads()
      local g = brasa.randn(300001) * 10
      local function run(threads)
        brasa.set_num_threads(threads)
        local p = brasa.zeros(300001, {requires_grad = true})
        p.grad = g:clone()
        local total = optim.clip_grad_norm({p}, 1.0)
        return total, p.grad
      end
      local t1, g1 = run(1)
      local t2, g2 = run(2)
      brasa.set_num_threads(n)
      assert.are.equal(t1, t2)
      assert.is_true(same_values(g1, g2))
    end)
  end)
end)

-- ---- behaviour ---------------------------------------------------------------------------

-- Every optimiser with options that use every state it has.
local CONFIGS = {
  {'SGD', {lr = 0.05, momentum = 0.9, nesterov = true}},
  {'Adam', {lr = 0.1, amsgrad = true, weight_decay = 0.01}},
  {'AdamW', {lr = 0.1, amsgrad = true}},
  {'RMSprop', {lr = 0.01, centered = true, momentum = 0.5}},
  {'Adagrad', {lr = 0.1, lr_decay = 0.01, initial_accumulator_value = 0.1}},
  {'Adadelta', {lr = 1.0, rho = 0.95}},
}

describe('optimisers', function()
  it('resume exactly from state_dict / load_state_dict', function()
    for _, cfg in ipairs(CONFIGS) do
      local name, opts = cfg[1], cfg[2]
      local params, set_grads = quadratic('f64')
      local opt = optim[name]({params.w, params.b}, opts)
      for k = 1, 10 do
        opt:zero_grad()
        set_grads(k)
        opt:step()
      end
      local sd = opt:state_dict()
      -- A second run from copies of the parameters and the saved state.
      local params2, set_grads2 = quadratic('f64')
      brasa.no_grad(function()
        params2.w:copy_(params.w)
        params2.b:copy_(params.b)
      end)
      local opt2 = optim[name]({params2.w, params2.b}, {lr = 123})   -- options come from sd
      opt2:load_state_dict(sd)
      assert.are.equal(opt.param_groups[1].lr, opt2.param_groups[1].lr, name)
      for k = 11, 20 do
        opt:zero_grad()
        opt2:zero_grad()
        set_grads(k)
        set_grads2(k)
        opt:step()
        opt2:step()
      end
      assert.is_true(same_values(params.w, params2.w), name .. ': w differs after resuming')
      assert.is_true(same_values(params.b, params2.b), name .. ': b differs after resuming')
    end
  end)

  it('state_dict is a snapshot with 1-based parameter indices', function()
    local params, set_grads = quadratic('f64')
    local opt = optim.Adam({{params = {params.w}}, {params = {params.b}, lr = 0.5}}, {lr = 0.1})
    set_grads(1)
    opt:step()
    local sd = opt:state_dict()
    assert.are.same({1}, sd.param_groups[1].params)
    assert.are.same({2}, sd.param_groups[2].params)
    assert.are.equal(0.5, sd.param_groups[2].lr)
    assert.are.equal(1, sd.state[1].step)
    local before = sd.state[1].exp_avg:clone()
    set_grads(2)
    opt:step()
    assert.is_true(same_values(before, sd.state[1].exp_avg))
    assert.are.equal(1, sd.state[2].step)
    assert.are.equal(2, opt.state[params.b].step)
  end)

  it('load_state_dict checks everything before changing anything', function()
    local params, set_grads = quadratic('f64')
    local opt = optim.Adam({params.w, params.b}, {lr = 0.1})
    set_grads(1)
    opt:step()
    local sd = opt:state_dict()
    local other = optim.Adam({params.w}, {lr = 0.1})
    raises(function() other:load_state_dict(sd) end, 'Adam', 'load_state_dict', '2 parameters')
    local two = optim.Adam({{params = {params.w}}, {params = {params.b}}})
    raises(function() two:load_state_dict(sd) end, 'Adam', '1 parameter groups', 'has 2')
    local bad = opt:state_dict()
    bad.state[2].exp_avg = brasa.zeros(3, {dtype = 'f64'})
    local fresh = optim.Adam({params.w, params.b}, {lr = 0.3})
    raises(function() fresh:load_state_dict(bad) end, "state 'exp_avg' of parameter 2", '[3]', '[5]')
    assert.are.equal(0.3, fresh.param_groups[1].lr)
    assert.is_nil(next(fresh.state))
    local sgd = optim.SGD({params.w, params.b}, {momentum = 0.9})
    raises(function() sgd:load_state_dict(sd) end, 'SGD', 'load_state_dict', "unknown option '")
    raises(function() sgd:load_state_dict(42) end, 'SGD', 'load_state_dict')
  end)

  it('skip parameters without a gradient and record no graph', function()
    local w = brasa.tensor({1, 2}, {requires_grad = true})
    local b = brasa.tensor({3}, {requires_grad = true})
    local opt = optim.Adam({w, b}, {lr = 0.1})
    w.grad = brasa.tensor {1, -1}
    opt:step()
    assert.is_nil(opt.state[b])
    assert.are.same({3}, b:totable())
    assert.is_not_nil(opt.state[w])
    assert.is_true(w.is_leaf)
    assert.is_true(w.requires_grad)
    assert.is_nil(w.grad_fn)
    assert.is_true(math.abs(w[1] - 0.9) < 1e-6 and math.abs(w[2] - 2.1) < 1e-6)
  end)

  it('make a graph that saved a parameter refuse backward after the step', function()
    local w = brasa.tensor({1, 2}, {requires_grad = true})
    local opt = optim.SGD({w}, {lr = 0.1})
    local y = (w * w):sum()
    w.grad = brasa.tensor {1, 1}
    opt:step()
    local ok = pcall(function() y:backward() end)
    assert.is_false(ok)
  end)

  it('zero_grad sets gradients to nil, or to zeros with set_to_none = false', function()
    local w = brasa.tensor({1, 2}, {requires_grad = true})
    local opt = optim.SGD({w})
    w.grad = brasa.tensor {5, 6}
    local g = w.grad
    opt:zero_grad({set_to_none = false})
    assert.are.equal(g, w.grad)
    assert.are.same({0, 0}, w.grad:totable())
    opt:zero_grad()
    assert.is_nil(w.grad)
    opt:zero_grad()   -- nothing to clear is fine
  end)

  it('step(closure) evaluates the closure with gradients on and returns its loss', function()
    local w = brasa.tensor({3}, {requires_grad = true, dtype = 'f64'})
    local opt = optim.SGD({w}, {lr = 0.25})
    local loss = brasa.no_grad(function()
      return opt:step(function()
        opt:zero_grad()
        local l = (w * w):sum()
        l:backward()
        return l
      end)
    end)
    assert.are.equal(9, loss:item())
    assert.are.equal(1.5, w[1])   -- 3 - 0.25 * 6
  end)

  it('accept a module (anything with parameters()) and single tensors', function()
    local w = brasa.zeros(2, {requires_grad = true})
    local model = {parameters = function() return {w} end}
    local opt = optim.SGD(model, {lr = 1})
    w.grad = brasa.tensor {1, 2}
    opt:step()
    assert.are.same({-1, -2}, w:totable())
    local opt2 = optim.Adam(w)
    assert.are.equal(1, #opt2.param_groups[1].params)
    assert.are.equal(1e-3, opt2.param_groups[1].lr)
  end)

  it('give parameter groups their own options and fill the rest from the defaults', function()
    local a, b = brasa.zeros(2, {requires_grad = true}), brasa.zeros(3, {requires_grad = true})
    local opt = optim.SGD({{params = {a}}, {params = {b}, lr = 0.5, momentum = 0.9}}, {lr = 0.1})
    assert.are.equal(0.1, opt.param_groups[1].lr)
    assert.are.equal(0, opt.param_groups[1].momentum)
    assert.are.equal(0.5, opt.param_groups[2].lr)
    assert.are.equal(0.9, opt.param_groups[2].momentum)
    local c = brasa.zeros(1, {requires_grad = true})
    opt:add_param_group({params = {c}, lr = 0.01})
    assert.are.equal(3, #opt.param_groups)
    assert.are.equal(0.01, opt.param_groups[3].lr)
    assert.is_string(tostring(opt))
  end)

  it('update f32, f64, f16 and bf16 parameters, and non-contiguous ones', function()
    local function run(dtype, transpose)
      local w = brasa.tensor({{1, 2, 3}, {4, 5, 6}}, {dtype = dtype})
      if transpose then w = w:t() else w = w:t():contiguous() end
      w:requires_grad_()
      local opt = optim.Adam({w}, {lr = 0.1, amsgrad = true})
      for _ = 1, 3 do
        w.grad = brasa.no_grad(function() return (w * 2):detach() end)
        opt:step()
      end
      return w:double()
    end
    local want = run('f64', false)
    check_close('non-contiguous', run('f64', true), {shape = want.shape, data = want:reshape(-1):totable()}, 0, 0)
    for _, dt in ipairs {'f32', 'f16', 'bf16'} do
      local tol = dt == 'f32' and 1e-6 or 2e-2
      check_close(dt, run(dt, false), {shape = want.shape, data = want:reshape(-1):totable()}, tol, tol)
    end
  end)

  it('give the same result on one thread and two for large parameters', function()
    local n = brasa.get_num_threads()
    brasa.manual_seed(7)
    local w0, g = brasa.randn(200003), brasa.randn(200003)
    local function run(threads, name, opts)
      brasa.set_num_threads(threads)
      local w = w0:clone():requires_grad_()
      local opt = optim[name]({w}, opts)
      for _ = 1, 2 do
        w.grad = g:clone()
        opt:step()
      end
      return w
    end
    for _, cfg in ipairs(CONFIGS) do
      local a = run(1, cfg[1], cfg[2])
      local b = run(2, cfg[1], cfg[2])
      assert.is_true(same_values(a, b), cfg[1])
    end
    brasa.set_num_threads(n)
  end)
end)

describe('bad input', function()
  local w = brasa.zeros(2, {requires_grad = true})

  it('names the optimiser and the offending parameter or option', function()
    for _, name in ipairs {'SGD', 'Adam', 'AdamW', 'RMSprop', 'Adagrad', 'Adadelta'} do
      local cls = optim[name]
      raises(function() cls({w, 'x'}) end, name, 'params[2]', 'not a tensor')
      raises(function() cls({w}, {lr = -0.1}) end, name, "option 'lr'", '>= 0', '-0.1')
      raises(function() cls({w}, {lr = 'fast'}) end, name, "option 'lr'", 'fast')
      raises(function() cls({w}, {learning_rate = 0.1}) end, name, "unknown option 'learning_rate'", 'lr')
      raises(function() cls({}) end, name, 'empty')
      raises(function() cls(42) end, name, 'params')
      raises(function() cls({w}, 0.1) end, name, 'options must be a table')
      raises(function() cls({{params = {w}, lrr = 1}}) end, name, "unknown option 'lrr'")
    end
  end)

  it('checks values that PyTorch checks', function()
    raises(function() optim.Adam({w}, {betas = {0.9, 1.5}}) end, 'Adam', 'betas')
    raises(function() optim.Adam({w}, {betas = 0.9}) end, 'Adam', 'betas')
    raises(function() optim.Adam({w}, {amsgrad = 1}) end, 'Adam', 'amsgrad', 'true or false')
    raises(function() optim.SGD({w}, {nesterov = true}) end, 'SGD', 'nesterov', 'momentum')
    raises(function() optim.SGD({w}, {momentum = 0.9, dampening = 0.1, nesterov = true}) end, 'SGD', 'dampening')
    raises(function() optim.Adadelta({w}, {rho = 1.5}) end, 'Adadelta', "option 'rho'")
    raises(function() optim.RMSprop({w}, {momentum = -1}) end, 'RMSprop', "option 'momentum'")
    raises(function() optim.Adagrad({w}, {lr_decay = -1}) end, 'Adagrad', "option 'lr_decay'")
  end)

  it('refuses integer, non-leaf and repeated parameters', function()
    raises(function() optim.SGD({brasa.zeros(2, {dtype = 'i64'})}) end, 'SGD', 'params[1]', 'i64', 'floating-point')
    local y = w * 2
    raises(function() optim.SGD({y}) end, 'SGD', 'params[1]', 'leaf')
    raises(function() optim.SGD({w, w}) end, 'SGD', 'params[2]', 'more than once')
    raises(function() optim.SGD({{params = {w}}, {params = {w}}}) end, 'SGD', 'parameter group 2', 'more than once')
  end)

  it('checks options changed by hand at the next step, naming the group', function()
    local a, b = brasa.zeros(2, {requires_grad = true}), brasa.zeros(2, {requires_grad = true})
    local opt = optim.SGD({{params = {a}}, {params = {b}}}, {lr = 0.1})
    opt.param_groups[2].lr = -1
    a.grad = brasa.ones(2)
    raises(function() opt:step() end, 'SGD', "option 'lr'", 'parameter group 2')
    raises(function() opt:step(42) end, 'SGD', 'closure')
  end)

  it('reports mismatched state and gradient tensors from the C kernels', function()
    local C = require('brasa.core')._optim
    local p, g = brasa.zeros(2, 3), brasa.zeros(2, 3)
    raises(function() C.adam_step(p, g, brasa.zeros(3), brasa.zeros(2, 3), 1, 0.1, 0.9, 0.999, 1e-8, 0, false, nil, false) end,
           'Adam', 'exp_avg', '[3]', '[2x3]')
    raises(function() C.adam_step(p, brasa.zeros(6), brasa.zeros(2, 3), brasa.zeros(2, 3), 1, 0.1, 0.9, 0.999, 1e-8, 0, false, nil, false) end,
           'Adam', 'gradient', '[6]', '[2x3]')
    raises(function() C.adam_step(p, g, brasa.zeros(2, 3), brasa.zeros(2, 3), 1, 0.1, 0.9, 0.999, 1e-8, 0, true, nil, false) end,
           'Adam', 'max_exp_avg_sq', 'missing')
    raises(function() C.sgd_step(p, g, brasa.zeros(2, 3, {dtype = 'f64'}), 0.1, 0.9, 0, 0, false, false, true) end,
           'SGD', 'momentum_buffer', 'f64', 'f32')
    raises(function() C.adagrad_step(brasa.zeros(2, {dtype = 'i64'}), brasa.zeros(2, {dtype = 'i64'}), brasa.zeros(2, {dtype = 'i64'}), 1, 0.1, 0, 0, 1e-10, false) end,
           'Adagrad', 'floating-point')
    raises(function() C.sgd_step(p, g, nil, 0.1, 0.9, 0, 0, false, false, true) end, 'SGD', 'momentum_buffer', 'missing')
  end)

  it('names the clipping function and the argument', function()
    raises(function() optim.clip_grad_norm({w}, -1) end, 'clip_grad_norm', 'max_norm')
    raises(function() optim.clip_grad_norm({w}, 1, 0) end, 'clip_grad_norm', 'norm_type')
    raises(function() optim.clip_grad_norm({w, 3}, 1) end, 'clip_grad_norm', 'params[2]')
    raises(function() optim.clip_grad_value({w}, 'big') end, 'clip_grad_value', 'clip_value')
    raises(function() optim.clip_grad_value(7, 1) end, 'clip_grad_value', 'params')
  end)

  it('names the schedule and the option', function()
    local opt = optim.SGD({w}, {lr = 0.1})
    raises(function() optim.StepLR(opt) end, 'StepLR', "option 'step_size' is required")
    raises(function() optim.StepLR(opt, {step_size = 2, gama = 0.5}) end, 'StepLR', "unknown option 'gama'", 'gamma')
    raises(function() optim.StepLR(opt, 0) end, 'StepLR', "option 'step_size'", 'integer > 0')
    raises(function() optim.StepLR({}, 3) end, 'StepLR', 'optimiser')
    raises(function() optim.ExponentialLR(opt, 'fast') end, 'ExponentialLR', "option 'gamma'")
    raises(function() optim.LambdaLR(opt, {function() return 1 end, function() return 1 end}) end, 'LambdaLR', '2 functions')
    raises(function() optim.OneCycleLR(opt, 0.1) end, 'OneCycleLR', 'total_steps')
    raises(function() optim.ReduceLROnPlateau(opt, {mode = 'maximum'}) end, 'ReduceLROnPlateau', "option 'mode'")
    raises(function() optim.ReduceLROnPlateau(opt, {factor = 2}) end, 'ReduceLROnPlateau', "option 'factor'")
    raises(function() optim.ReduceLROnPlateau(opt):step('x') end, 'ReduceLROnPlateau', 'metric')
    raises(function() optim.LinearLR(opt, {start_factor = 2}) end, 'LinearLR', "option 'start_factor'")
    local oc = optim.OneCycleLR(opt, 0.1, {total_steps = 2})
    oc:step()
    oc:step()
    raises(function() oc:step() end, 'OneCycleLR', 'total_steps is 2')
    assert.are.equal(2, oc.last_epoch)
  end)
end)

describe('schedules', function()
  it('resume from state_dict / load_state_dict', function()
    local function build()
      local w = brasa.zeros(2, {requires_grad = true})
      return optim.SGD({w}, {lr = 0.1, momentum = 0.9})
    end
    local kinds = {
      function(opt) return optim.StepLR(opt, 4) end,
      function(opt) return optim.MultiStepLR(opt, {3, 7}) end,
      function(opt) return optim.CosineAnnealingLR(opt, 6) end,
      function(opt) return optim.CosineAnnealingWarmRestarts(opt, 3, {T_mult = 2}) end,
      function(opt) return optim.OneCycleLR(opt, 1.0, {total_steps = 25}) end,
      function(opt) return optim.LinearLR(opt, {total_iters = 15}) end,
      function(opt) return optim.LambdaLR(opt, function(e) return 1 / (e + 1) end) end,
      function(opt) return optim.ReduceLROnPlateau(opt, {patience = 1}) end,
    }
    for i, make in ipairs(kinds) do
      local opt = build()
      local s = make(opt)
      local function advance(sched, k)
        if getmetatable(sched) == optim.ReduceLROnPlateau then sched:step(1 + (k % 3 == 0 and 0 or 1)) else sched:step() end
      end
      for k = 1, 10 do advance(s, k) end
      local osd, ssd = opt:state_dict(), s:state_dict()
      local opt2 = build()
      local s2 = make(opt2)
      opt2:load_state_dict(osd)
      s2:load_state_dict(ssd)
      for k = 11, 20 do
        advance(s, k)
        advance(s2, k)
        assert.are.same(s:get_last_lr(), s2:get_last_lr(), 'schedule ' .. i .. ' step ' .. k)
        assert.are.equal(opt.param_groups[1].momentum, opt2.param_groups[1].momentum)
      end
    end
  end)

  it('are reachable as optim.lr_scheduler.X and take their main option in the table too', function()
    local opt = optim.SGD({brasa.zeros(1, {requires_grad = true})}, {lr = 1})
    assert.are.equal(optim.StepLR, optim.lr_scheduler.StepLR)
    local s = optim.lr_scheduler.StepLR(opt, {step_size = 1, gamma = 0.5})
    s:step()
    assert.are.same({0.5}, s:get_last_lr())
    s:step(4)   -- closed form
    assert.are.same({1 / 16}, s:get_last_lr())
    assert.is_string(tostring(s))
  end)
end)

-- ---- documentation -------------------------------------------------------------------------

describe('the documentation of brasa.optim', function()
  local public = {}
  for k, v in pairs(optim) do
    if k:sub(1, 1) ~= '_' and (type(v) == 'function' or (type(v) == 'table' and k ~= 'lr_scheduler')) then
      public[#public + 1] = k
    end
  end
  table.sort(public)

  it('has an entry bound to every public function and class', function()
    local missing = {}
    for _, k in ipairs(public) do
      local e = doc.get('brasa.optim.' .. k)
      if not e or doc.get(optim[k]) ~= e then missing[#missing + 1] = k end
    end
    for _, m in ipairs {'step', 'zero_grad', 'state_dict', 'load_state_dict', 'add_param_group'} do
      if not doc.get('brasa.optim.Optimizer:' .. m) then missing[#missing + 1] = 'Optimizer:' .. m end
    end
    for _, m in ipairs {'step', 'get_last_lr', 'state_dict', 'load_state_dict'} do
      if not doc.get('brasa.optim.Scheduler:' .. m) then missing[#missing + 1] = 'Scheduler:' .. m end
    end
    assert(#missing == 0, 'without a doc entry: ' .. table.concat(missing, ', '))
  end)

  it('runs every example and shows what it prints', function()
    local bad = {}
    for _, name in ipairs(doc.names()) do
      if name:find('^brasa%.optim') then
        local e = doc.get(name)
        local ok, err, printed = examples.run(e, {brasa = brasa, optim = optim})
        if not ok then
          bad[#bad + 1] = name .. ': ' .. tostring(err)
        else
          examples.compare(e, printed, bad)
        end
      end
    end
    assert(#bad == 0, table.concat(bad, '\n'))
  end)
end)
