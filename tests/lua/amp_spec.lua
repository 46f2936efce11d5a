-- brasa.amp: autocast regions (which ops cast to what, gradients in f32
-- and equal to hand-cast references, nesting, restoring on error, regions
-- to close), the GradScaler (scaling, unscaling, skipped steps, PyTorch's
-- backoff and growth schedule, state), fit{amp = true} on real data, a
-- golden forward from PyTorch 1.13's CPU autocast
-- (tests/golden/torch_amp_ref.lua, written by tests/golden/gen_torch_amp.py),
-- bad input, and the documentation's examples (entries brasa.amp*).

local brasa = require 'brasa'
local amp = brasa.amp
local nn, optim = brasa.nn, brasa.optim
local F = nn.functional
local doc = require 'brasa.doc'
local examples = require 'doc_examples'

local here = debug.getinfo(1, 'S').source:match('^@(.*/)') or './'

-- ---- helpers -------------------------------------------------------------------------

local function max_diff(a, b)
  return (a:double() - b:double()):abs():max():item()
end

-- a and b equal to the last bit (as f64).
local function same(label, a, b)
  assert.are.same(a.shape, b.shape, label .. ': shape')
  local d = max_diff(a, b)
  assert(d == 0, label .. ': differs by ' .. d)
end

local function errmsg(fn)
  local ok, err = pcall(fn)
  assert(not ok, 'no error raised')
  return tostring(err)
end

local function raises(fn, ...)
  local msg = errmsg(fn)
  for _, w in ipairs({...}) do
    assert(msg:find(w, 1, true), 'the message lacks "' .. w .. '": ' .. msg)
  end
end

local function off()
  assert.is_false(amp.is_autocast_enabled(), 'autocast was left on')
end

local CPU = {device = 'cpu'}

-- ---- which ops cast to what ------------------------------------------------------------

describe('autocast: op classes', function()
  after_each(off)

  it('runs matmul, mm, bmm, linear and the convolutions in bf16 on the CPU', function()
    brasa.manual_seed(1)
    local a, b = brasa.randn(4, 3), brasa.randn(3, 5)
    local lin = nn.Linear(3, 6)
    amp.autocast(function()
      assert.equal('bf16', a:matmul(b).dtype)
      assert.equal('bf16', a:mm(b).dtype)
      assert.equal('bf16', brasa.randn(2, 4, 3):bmm(brasa.randn(2, 3, 5)).dtype)
      assert.equal('bf16', brasa.randn(2, 4, 3):matmul(b).dtype)        -- folded batch
      assert.equal('bf16', brasa.randn(3):matmul(b).dtype)              -- vector @ matrix
      assert.equal('bf16', lin(a).dtype)                                 -- the bias joins in bf16
      assert.equal('bf16', F.linear(a, lin.weight, lin.bias).dtype)
      assert.equal('bf16', F.conv2d(brasa.randn(2, 3, 6, 6), brasa.randn(4, 3, 3, 3), brasa.randn(4)).dtype)
      assert.equal('bf16', F.conv1d(brasa.randn(2, 3, 7), brasa.randn(4, 3, 3)).dtype)
      assert.equal('bf16', F.conv_transpose2d(brasa.randn(2, 3, 4, 4), brasa.randn(3, 2, 3, 3)).dtype)
      assert.equal('bf16', F.conv_transpose1d(brasa.randn(2, 3, 5), brasa.randn(3, 2, 3)).dtype)
      assert.equal('bf16', nn.Conv2d(3, 4, 3)(brasa.randn(1, 3, 5, 5)).dtype)
    end, CPU)
    assert.equal('f32', a:matmul(b).dtype)
    assert.equal('f32', lin(a).dtype)
  end)

  it('runs softmax, the losses and the reductions in f32', function()
    local h = brasa.randn(6, 4):to('bf16')
    local y = brasa.tensor({1, 2, 3, 4, 1, 2}, {dtype = 'i64'})
    amp.autocast(function()
      assert.equal('f32', F.softmax(h, 2).dtype)
      assert.equal('f32', F.log_softmax(h, 2).dtype)
      assert.equal('f32', F.cross_entropy(h, y).dtype)
      assert.equal('f32', nn.CrossEntropyLoss()(h, y).dtype)
      assert.equal('f32', F.nll_loss(F.log_softmax(h, 2):to('bf16'), y).dtype)
      assert.equal('f32', F.mse_loss(h, brasa.zeros(6, 4)).dtype)
      assert.equal('f32', F.l1_loss(h, brasa.zeros(6, 4)).dtype)
      assert.equal('f32', F.binary_cross_entropy_with_logits(h, brasa.ones(6, 4)).dtype)
      for _, r in ipairs {h:sum(), h:mean(), h:sum(2), h:mean(1), h:prod(), h:var(), h:std(), h:norm(),
                          h:logsumexp(2), h:cumsum(2)} do
        assert.equal('f32', r.dtype)
      end
      assert.equal('bf16', h:relu().dtype)     -- other ops: the inputs' dtype
      assert.equal('bf16', h:max().dtype)
      assert.equal('bf16', (h * 2).dtype)
    end, CPU)
    assert.equal('bf16', h:sum().dtype)
    assert.equal('bf16', F.softmax(h, 2).dtype)
  end)

  it('computes the f32 ops on the upcast values', function()
    local h = brasa.randn(5, 7):to('bf16')
    local want = F.log_softmax(h:float(), 2)
    local got = amp.autocast(function() return F.log_softmax(h, 2) end, CPU)
    same('log_softmax', got, want)
    same('sum', amp.autocast(function() return h:sum() end, CPU), h:float():sum())
  end)

  it('leaves f64, integers and other devices alone', function()
    local a, b = brasa.randn(3, 3, {dtype = 'f64'}), brasa.randn(3, 3, {dtype = 'f64'})
    amp.autocast(function()
      assert.equal('f64', a:matmul(b).dtype)
      assert.equal('f64', a:sum().dtype)
      assert.equal('i64', brasa.tensor({1, 2}, {dtype = 'i64'}):sum().dtype)
    end, CPU)
    amp.autocast(function()   -- on for CUDA only: CPU tensors are not touched
      assert.equal('f32', brasa.randn(2, 2):matmul(brasa.randn(2, 2)).dtype)
      assert.is_true(amp.is_autocast_enabled('cuda'))
      assert.is_false(amp.is_autocast_enabled('cpu'))
    end, {device = 'cuda'})
  end)

  it('uses f16 when asked, on the CPU too', function()
    local y = amp.autocast(function() return brasa.randn(2, 3):matmul(brasa.randn(3, 2)) end,
      {device = 'cpu', dtype = 'half'})
    assert.equal('f16', y.dtype)
  end)

  it('keeps batch_norm, layer_norm, pooling and activations working on half inputs', function()
    local model = nn.Sequential{nn.Conv2d(2, 4, 3, {padding = 1}), nn.BatchNorm2d(4), nn.ReLU(),
                                nn.MaxPool2d(2), nn.Flatten(), nn.Linear(4 * 3 * 3, 5), nn.LayerNorm(5)}
    local x = brasa.randn(3, 2, 6, 6)
    local out = amp.autocast(function() return model(x) end, CPU)
    local ref = model(x)
    assert.are.same({3, 5}, out.shape)
    assert(max_diff(out, ref) < 0.1, 'bf16 network far from f32: ' .. max_diff(out, ref))
  end)
end)

-- ---- gradients ---------------------------------------------------------------------------

describe('autocast: gradients', function()
  after_each(off)

  -- An MLP's loss with autocast, and by hand: the same casts written out.
  local function mlp_case(dtype)
    brasa.manual_seed(7)
    local model = nn.Sequential{nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 3)}
    local x, y = brasa.randn(10, 5), brasa.randint(1, 3, 10)
    local l1, l2 = model[1], model[3]
    local params = model:parameters()
    local loss = amp.autocast(function() return nn.CrossEntropyLoss()(model(x), y) end,
      {device = 'cpu', dtype = dtype})
    assert.equal('f32', loss.dtype)
    loss:backward()
    local got = {}
    for i, p in ipairs(params) do
      assert.equal('f32', p.grad.dtype)
      got[i] = p.grad:clone()
      p.grad = nil
    end
    local function h(t) return t:to(dtype) end
    local z1 = h(x):matmul(h(l1.weight):t()) + h(l1.bias)
    local z2 = z1:tanh():matmul(h(l2.weight):t()) + h(l2.bias)
    local ref = F.cross_entropy(z2:float(), y)
    same('loss', loss, ref)
    ref:backward()
    for i, p in ipairs(params) do same('gradient ' .. i, got[i], p.grad) end
    -- and close to the f32 gradients, within the half dtype's precision
    for _, p in ipairs(params) do p.grad = nil end
    nn.CrossEntropyLoss()(model(x), y):backward()
    for i, p in ipairs(params) do
      local scale = p.grad:abs():max():item() + 1e-3
      assert(max_diff(got[i], p.grad) < 0.05 * scale, 'gradient ' .. i .. ' far from f32')
    end
  end

  it('reach f32 parameters in f32, equal to casting by hand (bf16)', function() mlp_case('bf16') end)
  it('reach f32 parameters in f32, equal to casting by hand (f16)', function() mlp_case('f16') end)

  it('flow through a convolution the same way', function()
    brasa.manual_seed(3)
    local conv = nn.Conv2d(2, 3, 3, {padding = 1})
    local x = brasa.randn(2, 2, 5, 5, {requires_grad = true})
    local out = amp.autocast(function() return conv(x):sum() end, CPU)
    out:backward()
    local gw, gb, gx = conv.weight.grad:clone(), conv.bias.grad:clone(), x.grad:clone()
    assert.equal('f32', gw.dtype)
    assert.equal('f32', gx.dtype)
    conv.weight.grad, conv.bias.grad, x.grad = nil, nil, nil
    local ref = F.conv2d(x:to('bf16'), conv.weight:to('bf16'), conv.bias:to('bf16'), {padding = 1}):float():sum()
    same('output', out, ref)
    ref:backward()
    same('weight gradient', gw, conv.weight.grad)
    same('bias gradient', gb, conv.bias.grad)
    same('input gradient', gx, x.grad)
  end)

  it('are the same when backward runs inside the region (autocast is off during backward)', function()
    brasa.manual_seed(5)
    local w = brasa.randn(4, 3, {requires_grad = true})
    local x = brasa.randn(6, 4)
    -- an f32 graph: its backward calls matmul, which autocast would run in bf16
    local function loss() return x:matmul(w):tanh():matmul(w:t()):sum() end
    loss():backward()
    local want = w.grad:clone()
    w.grad = nil
    amp.autocast(function()
      local l = amp.autocast(loss, {device = 'cpu', enabled = false})   -- built in f32
      l:backward()
      assert.is_true(amp.is_autocast_enabled('cpu'))   -- restored after backward
    end, CPU)
    assert.equal('f32', w.grad.dtype)
    same('gradient', w.grad, want)
  end)
end)

-- ---- regions -------------------------------------------------------------------------------

describe('autocast: regions', function()
  after_each(off)

  it('calls a function with arguments and returns its results', function()
    local a, b, c = amp.autocast(function(p, q) return p + q, amp.is_autocast_enabled('cpu'), 'x' end, CPU, 2, 3)
    assert.equal(5, a)
    assert.is_true(b)
    assert.equal('x', c)
    assert.is_false(amp.is_autocast_enabled('cpu'))
    assert.is_true(amp.autocast(function() return amp.is_autocast_enabled('cuda') end))   -- no opts: both
  end)

  it('nests and restores each level', function()
    amp.autocast(function()
      assert.equal('bf16', amp.get_autocast_dtype('cpu'))
      amp.autocast(function()
        assert.equal('f16', amp.get_autocast_dtype('cpu'))
        amp.autocast(function()
          assert.is_false(amp.is_autocast_enabled('cpu'))
          assert.equal('f32', brasa.randn(2, 2):matmul(brasa.randn(2, 2)).dtype)
        end, {device = 'cpu', enabled = false})
        assert.is_true(amp.is_autocast_enabled('cpu'))
        assert.equal('f16', amp.get_autocast_dtype('cpu'))
      end, {device = 'cpu', dtype = 'f16'})
      assert.equal('bf16', amp.get_autocast_dtype('cpu'))
      assert.is_true(amp.is_autocast_enabled('cpu'))
    end, CPU)
  end)

  it('restores the state when the function raises', function()
    local ok, err = pcall(amp.autocast, function() error('boom') end, {device = 'cpu', dtype = 'f16'})
    assert.is_false(ok)
    assert.truthy(tostring(err):find('boom', 1, true))
    assert.is_false(amp.is_autocast_enabled('cpu'))
    assert.equal('bf16', amp.get_autocast_dtype('cpu'))
    ok = pcall(amp.autocast, function()
      pcall(amp.autocast, function() error('inner') end, {device = 'cpu', enabled = false})
      assert.is_true(amp.is_autocast_enabled('cpu'))
      error('outer')
    end, CPU)
    assert.is_false(ok)
  end)

  it('gives a to-be-closed value', function()
    do
      local ac <close> = amp.autocast{device = 'cpu', dtype = 'bf16'}
      assert.equal('bf16', brasa.randn(2, 2):matmul(brasa.randn(2, 2)).dtype)
      do
        local inner <close> = amp.autocast{device = 'cpu', enabled = false}
        assert.is_false(amp.is_autocast_enabled('cpu'))
      end
      assert.is_true(amp.is_autocast_enabled('cpu'))
    end
    assert.is_false(amp.is_autocast_enabled())
    local ok = pcall(function()
      local ac <close> = amp.autocast(CPU)
      error('boom')
    end)
    assert.is_false(ok)
    assert.is_false(amp.is_autocast_enabled())
    local r = amp.autocast(CPU)
    assert.is_true(amp.is_autocast_enabled('cpu'))
    r:close()
    r:close()   -- a second close does nothing
    assert.is_false(amp.is_autocast_enabled())
    assert.truthy(tostring(r):find('closed', 1, true))
  end)

  it('rejects bad options', function()
    raises(function() amp.autocast{dtype = 'f32'} end, "dtype must be 'f16' or 'bf16'", "'f32'")
    raises(function() amp.autocast{dtype = 'int8'} end, "'int8'")
    raises(function() amp.autocast{dtyp = 'f16'} end, "unknown option 'dtyp'")
    raises(function() amp.autocast{device = 'tpu'} end, "device must be 'cpu' or 'cuda'")
    raises(function() amp.autocast{enabled = 'yes'} end, 'enabled must be true or false')
    raises(function() amp.autocast('bf16') end, 'options must be a table')
    raises(function() amp.autocast(function() end, 'bf16') end, 'options must be a table')
    raises(function() amp.autocast({}, 1) end, 'one argument')
    raises(function() amp.is_autocast_enabled('gpu') end, 'device')
    raises(function() amp.get_autocast_dtype() end, 'device')
    assert.is_false(amp.is_autocast_enabled())   -- nothing was left on by a failed call
    local msg = errmsg(function() amp.autocast{dtype = 'f32'} end)
    assert.truthy(msg:find('amp_spec.lua', 1, true), 'the error points at the caller: ' .. msg)
  end)
end)

-- ---- GradScaler --------------------------------------------------------------------------------

describe('GradScaler', function()
  local function setup(opts, values)
    local w = brasa.tensor(values or {1.0, -2.0, 3.0}, {requires_grad = true})
    local opt = optim.SGD({w}, {lr = 0.1})
    return w, opt, amp.GradScaler(opts)
  end

  -- One iteration; bad: an inf (or NaN) put in the gradient before step.
  local function iterate(w, opt, scaler, bad)
    opt:zero_grad()
    scaler:scale((w * w):sum()):backward()
    if bad then w.grad[1] = bad end
    scaler:step(opt)
    scaler:update()
  end

  it('scales the loss and unscales the gradients exactly', function()
    local w, opt, scaler = setup({init_scale = 256})
    assert.equal(256.0, scaler:get_scale())
    local loss = (w * w):sum()
    local s = scaler:scale(loss)
    assert.equal(14 * 256, s:item())
    s:backward()
    same('scaled gradient', w.grad, brasa.tensor{512, -1024, 1536})
    scaler:unscale_(opt)
    same('unscaled gradient', w.grad, brasa.tensor{2, -4, 6})
    scaler:step(opt)   -- does not unscale twice
    same('stepped', w:detach(), brasa.tensor{0.8, -1.6, 2.4})
    scaler:update()
    local t = scaler:scale({a = loss, b = {loss * 2}})
    assert.equal(14 * 256, t.a:item())
    assert.equal(28 * 256, t.b[1]:item())
  end)

  it('skips the step on an inf or a NaN and backs off', function()
    local w, opt, scaler = setup({init_scale = 1024})
    iterate(w, opt, scaler, 1 / 0)
    same('unchanged after inf', w:detach(), brasa.tensor{1, -2, 3})
    assert.equal(512.0, scaler:get_scale())
    iterate(w, opt, scaler, 0 / 0)
    same('unchanged after NaN', w:detach(), brasa.tensor{1, -2, 3})
    assert.equal(256.0, scaler:get_scale())
    iterate(w, opt, scaler, -1 / 0)
    assert.equal(128.0, scaler:get_scale())
    iterate(w, opt, scaler)
    same('stepped', w:detach(), brasa.tensor{0.8, -1.6, 2.4})
    assert.equal(128.0, scaler:get_scale())
    -- the optimiser's state did not see the skipped steps
    assert.is_nil(opt.state[w] and opt.state[w].step)
  end)

  it('finds an overflow in any gradient, also non-contiguous ones', function()
    local a = brasa.randn(4, 3, {requires_grad = true})
    local b = brasa.randn(5, {requires_grad = true})
    local opt = optim.SGD({a, b}, {lr = 0.1})
    local scaler = amp.GradScaler{init_scale = 8}
    opt:zero_grad()
    scaler:scale(a:sum() + b:sum()):backward()
    b.grad[5] = 1 / 0
    scaler:unscale_(opt)
    assert.equal(1.0, a.grad[{1, 1}])
    scaler:step(opt)
    scaler:update()
    assert.equal(4.0, scaler:get_scale())
    -- the C helper on a transposed gradient
    local g = (brasa.arange(1, 6):float():view(2, 3) * 4):t()
    assert.is_false(require('brasa.core')._amp.unscale({g}, 0.25))
    same('transposed gradient', g, brasa.arange(1, 6):float():view(2, 3):t())
    local h = brasa.tensor{1, 2}
    assert.is_true(require('brasa.core')._amp.unscale({g, h:t(), brasa.tensor{0 / 0}}, 1))
  end)

  it("grows and backs off as PyTorch's _amp_update_scale_", function()
    -- growth_interval 3: the scale doubles after 3 good steps in a row; an
    -- overflow halves it and restarts the count.
    local w, opt, scaler = setup({init_scale = 16, growth_interval = 3}, {0.001, 0.002, 0.003})
    local pattern = {false, false, false, false, true, false, false, false, false, false, false, true, true, false}
    local scale, tracker = 16, 0
    for i, bad in ipairs(pattern) do
      iterate(w, opt, scaler, bad and 1 / 0 or nil)
      if bad then
        scale, tracker = scale * 0.5, 0
      else
        tracker = tracker + 1
        if tracker == 3 then scale, tracker = scale * 2, 0 end
      end
      assert.equal(scale, scaler:get_scale(), 'scale after step ' .. i)
      assert.equal(tracker, scaler:state_dict()._growth_tracker, 'tracker after step ' .. i)
    end
    assert.equal(16 * 2 * 0.5 * 2 * 2 * 0.5 * 0.5, scaler:get_scale())
    -- a scale that would grow to infinity stays
    local big = amp.GradScaler{init_scale = 2^127, growth_interval = 1}
    local w2 = brasa.tensor({1e-30}, {requires_grad = true})
    local o2 = optim.SGD({w2}, {lr = 0})
    o2:zero_grad()
    big:scale(w2:sum()):backward()
    big:step(o2)
    big:update()
    assert.equal(2^127, big:get_scale())
    -- the scale lives in f32, as PyTorch's
    local odd = amp.GradScaler{init_scale = 0.1}
    assert.equal(string.unpack('f', string.pack('f', 0.1)), odd:get_scale())
  end)

  it('keeps its state in a state_dict', function()
    local w, opt, scaler = setup({init_scale = 64, growth_interval = 5})
    iterate(w, opt, scaler)
    iterate(w, opt, scaler)
    local sd = scaler:state_dict()
    assert.are.same({scale = 64.0, growth_factor = 2.0, backoff_factor = 0.5, growth_interval = 5,
                     _growth_tracker = 2}, sd)
    local other = amp.GradScaler()
    other:load_state_dict(sd)
    assert.are.same(sd, other:state_dict())
    for _ = 1, 3 do
      iterate(w, opt, scaler)
    end
    assert.equal(128.0, scaler:get_scale())
    raises(function() other:load_state_dict({}) end, 'empty')
    raises(function() other:load_state_dict({scale = 1}) end, 'growth_factor')
    raises(function() amp.GradScaler{enabled = false}:load_state_dict(sd) end, 'disabled')
    assert.are.same({}, amp.GradScaler{enabled = false}:state_dict())
  end)

  it('passes everything through when disabled', function()
    local w, opt, scaler = setup({enabled = false})
    local loss = (w * w):sum()
    assert.equal(loss, scaler:scale(loss))
    assert.equal(1.0, scaler:get_scale())
    assert.is_false(scaler:is_enabled())
    loss:backward()
    scaler:unscale_(opt)
    scaler:step(opt)
    scaler:update()
    same('stepped', w:detach(), brasa.tensor{0.8, -1.6, 2.4})
  end)

  it('enforces the order of unscale_, step and update', function()
    local w, opt, scaler = setup({init_scale = 4})
    opt:zero_grad()
    scaler:scale((w * w):sum()):backward()
    scaler:unscale_(opt)
    raises(function() scaler:unscale_(opt) end, 'already been called')
    scaler:step(opt)
    raises(function() scaler:step(opt) end, 'already been called since the last update')
    raises(function() scaler:unscale_(opt) end, 'after step')
    scaler:update()
    raises(function() scaler:update() end, 'no inf checks')
    opt:zero_grad()
    raises(function() scaler:step(opt) end, 'no inf checks')
    raises(function() scaler:step(opt, function() end) end, 'closure')
    raises(function() scaler:step({}) end, 'optimiser expected')
    raises(function() scaler:scale('loss') end, 'a tensor or a table')
  end)

  it('rejects bad options and f16 gradients', function()
    raises(function() amp.GradScaler{init_scale = 0} end, 'init_scale')
    raises(function() amp.GradScaler{growth_factor = 1} end, 'growth_factor', '> 1')
    raises(function() amp.GradScaler{backoff_factor = 1} end, 'backoff_factor')
    raises(function() amp.GradScaler{growth_interval = 0} end, 'growth_interval')
    raises(function() amp.GradScaler{growth_interval = 2.5} end, 'growth_interval')
    raises(function() amp.GradScaler{scale = 2} end, "unknown option 'scale'")
    raises(function() amp.GradScaler{enabled = 1} end, 'enabled')
    raises(function() amp.GradScaler('big') end, 'options must be a table')
    raises(function() amp.GradScaler():set_growth_factor(0.5) end, 'growth_factor')
    raises(function() amp.GradScaler():update(-1) end, 'new_scale')
    local w = brasa.tensor({1, 2}, {dtype = 'f16', requires_grad = true})
    local opt = optim.SGD({w}, {lr = 0.1})
    local scaler = amp.GradScaler()
    scaler:scale(w:sum()):backward()
    raises(function() scaler:step(opt) end, 'f16')
    raises(function() require('brasa.core')._amp.unscale({brasa.ones(2)}, 0) end, 'inverse scale')
  end)
end)

-- ---- fit ------------------------------------------------------------------------------------------

describe('fit with amp', function()
  local ok_digits, digits = pcall(brasa.data.digits)

  local function accuracy(model, x, y)
    return brasa.no_grad(function() return brasa.metrics.accuracy(y, model(x)) end)
  end

  local function digits_run(amp_opt)
    brasa.manual_seed(11)
    local x = digits.x / 16
    local n = 1200
    local xtr, ytr = x:narrow(1, 1, n), digits.y:narrow(1, 1, n)
    local xte, yte = x:narrow(1, n + 1, 597), digits.y:narrow(1, n + 1, 597)
    local model = nn.Sequential{nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10)}
    local hist = model:fit(xtr, ytr, {
      loss = nn.CrossEntropyLoss(), optimizer = optim.Adam(model:parameters(), {lr = 3e-3}),
      epochs = 10, batch_size = 32, metrics = {'accuracy'}, verbose = 0, amp = amp_opt,
    })
    for _, p in ipairs(model:parameters()) do assert.equal('f32', p.dtype) end
    return hist, accuracy(model, xte, yte)
  end

  if not ok_digits then
    pending("needs scikit-learn's digits (tools/setup.sh): " .. tostring(digits))
  else
    it('trains in bf16 on the CPU to a sane accuracy', function()
      local hist, acc = digits_run(true)
      off()
      assert(acc > 0.9, 'test accuracy ' .. acc)
      assert(hist.history.loss[10] < hist.history.loss[1] / 3, 'the loss did not fall')
      assert(hist.history.accuracy[10] > 0.9)
      local _, acc32 = digits_run(false)
      assert(math.abs(acc - acc32) < 0.05, string.format('bf16 %.3f against f32 %.3f', acc, acc32))
    end)

    it('trains in f16 with a GradScaler', function()
      local hist, acc = digits_run({dtype = 'f16', init_scale = 2^20, growth_interval = 50})
      off()
      assert(acc > 0.9, 'test accuracy ' .. acc)
      assert(hist.history.loss[10] < hist.history.loss[1] / 3)
    end)
  end

  it('trains a small CNN under bf16 autocast', function()
    brasa.manual_seed(5)
    -- two classes of 8x8 images: a bright top half or a bright bottom half
    local n = 128
    local y = brasa.randint(1, 2, n)
    local x = brasa.randn(n, 1, 8, 8) * 0.3
    local top = y:eq(1):float():view(n, 1, 1, 1)
    local rows = brasa.arange(1, 8):le(4):float():view(1, 1, 8, 1)
    x = x + top * rows + (1 - top) * (1 - rows)
    local model = nn.Sequential{nn.Conv2d(1, 4, 3, {padding = 1}), nn.BatchNorm2d(4), nn.ReLU(),
                                nn.MaxPool2d(2), nn.Flatten(), nn.Linear(4 * 4 * 4, 2)}
    model:fit(x, y, {loss = nn.CrossEntropyLoss(), optimizer = optim.Adam(model:parameters(), {lr = 1e-2}),
                     epochs = 5, batch_size = 16, verbose = 0, amp = 'bf16'})
    off()
    model:eval()
    assert(accuracy(model, x, y) > 0.95)
  end)

  it('rejects bad amp options', function()
    local model = nn.Linear(2, 2)
    local x, y = brasa.randn(4, 2), brasa.randint(1, 2, 4)
    raises(function() model:fit(x, y, {loss = 'cross_entropy', amp = 'f32', verbose = 0}) end, "'f16' or 'bf16'")
    raises(function() model:fit(x, y, {loss = 'cross_entropy', amp = 3, verbose = 0}) end, 'amp must be')
    raises(function() model:fit(x, y, {loss = 'cross_entropy', amp = {init_scale = 8}, verbose = 0}) end,
      'f16 only')
    raises(function() model:fit(x, y, {loss = 'cross_entropy', amp = {dtype = 'f16', scale = 8}, verbose = 0}) end,
      "unknown option 'scale'")
    off()
  end)
end)

-- ---- golden: PyTorch's CPU autocast -----------------------------------------------------------------

describe('golden: PyTorch 1.13 CPU autocast (bf16)', function()
  local ok, ref = pcall(dofile, here .. '../golden/torch_amp_ref.lua')
  if not ok then
    pending('tests/golden/torch_amp_ref.lua is missing: ' .. tostring(ref))
    return
  end
  local function T(r) return brasa.tensor(r.data):reshape(r.shape) end

  it('gives the same MLP output, loss and f32 gradients', function()
    local model = nn.Sequential{nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 4)}
    local names = {'0.weight', '0.bias', '2.weight', '2.bias'}
    local params = {model[1].weight, model[1].bias, model[3].weight, model[3].bias}
    brasa.no_grad(function()
      for i, p in ipairs(params) do p:copy(T(ref.params[names[i]])) end
    end)
    local x, y = T(ref.x), brasa.tensor(ref.y, {dtype = 'i64'})
    local out, loss = amp.autocast(function()
      local o = model(x)
      return o, F.cross_entropy(o, y)
    end, {device = 'cpu'})
    assert.equal(ref.out_dtype, out.dtype)
    assert.equal(ref.loss_dtype, loss.dtype)
    -- torch fuses the bias into one rounding, brasa rounds the product and
    -- then the sum: a bf16 ulp or two (2^-8 relative each) apart
    local want = T(ref.out)
    local tol = 3 * 2^-8 * (want:abs():max():item())
    assert(max_diff(out, want) <= tol, 'output: ' .. max_diff(out, want) .. ' > ' .. tol)
    assert(math.abs(loss:item() - ref.loss) <= 1e-2 * math.abs(ref.loss), 'loss ' .. loss:item() .. ' vs ' .. ref.loss)
    loss:backward()
    for i, p in ipairs(params) do
      local g = T(ref.grads[names[i]])
      assert.equal('f32', p.grad.dtype)
      local gtol = 0.03 * (g:abs():max():item() + 1e-3)
      assert(max_diff(p.grad, g) <= gtol, names[i] .. ' gradient: ' .. max_diff(p.grad, g))
    end
  end)
end)

-- ---- documentation -------------------------------------------------------------------------------------

describe('the documentation of brasa.amp', function()
  it('has an entry bound to every function', function()
    for _, k in ipairs {'autocast', 'is_autocast_enabled', 'get_autocast_dtype', 'GradScaler'} do
      assert(doc.get('brasa.amp.' .. k), 'no entry brasa.amp.' .. k)
      assert(doc.get(amp[k]), 'brasa.amp.' .. k .. ' is not bound')
    end
    for k, v in pairs(amp.GradScaler) do
      if type(v) == 'function' and k:sub(1, 1) ~= '_' and k ~= 'new' then
        assert(doc.get(v), 'GradScaler:' .. k .. ' has no entry')
      end
    end
  end)

  it('runs every example and shows what it prints', function()
    local bad = {}
    for _, name in ipairs(doc.names()) do
      if name:find('^brasa%.amp') then
        local e = doc.get(name)
        local ok, err, printed = examples.run(e, {brasa = brasa, nn = nn, optim = optim})
        if not ok then
          bad[#bad + 1] = name .. ': ' .. tostring(err)
        else
          examples.compare(e, printed, bad)
        end
        off()
      end
    end
    assert(#bad == 0, table.concat(bad, '\n'))
  end)
end)

-- ---- the GPU suite, with the CPU standing in -------------------------------------------------------------

describe('tests/gpu/test_gpu_amp.lua', function()
  local exe, src = os.getenv('BRASA_EXE'), os.getenv('BRASA_SOURCE_DIR')
  if not (exe and src) then
    pending('needs BRASA_EXE and BRASA_SOURCE_DIR (set by ctest)')
    return
  end
  it('passes with the CPU standing in for the GPU (BRASA_GPU_TEST_FAKE=1)', function()
    local p = io.popen('BRASA_GPU_TEST_FAKE=1 ' .. exe .. ' ' .. src .. '/tests/gpu/test_gpu_amp.lua 2>&1')
    local out = p:read('a')
    local ok = p:close()
    assert(ok and out:find('0 failed', 1, true), out)
  end)
end)
