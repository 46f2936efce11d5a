-- bench_norm.lua: batch norm, cross-entropy and softmax in brasa beside
-- PyTorch 1.13 on the same machine (bench/bench_norm_torch.py), in float32:
--
--   bn2d       F.batch_norm on 128x32x28x28 in training (weight and bias),
--              forward + backward of (y * G):sum() w.r.t. x, weight, bias
--   ce_small   F.cross_entropy on 128x10 logits, forward + backward
--   ce_large   F.cross_entropy on 4096x1000 logits, forward + backward
--   softmax    F.softmax on 4096x1000 along the last dim, forward only
--
-- Both sides run at 1 and at 2 threads (PyTorch's 2-thread run with
-- OMP_WAIT_POLICY=passive) and the ratio compares the better of each.
-- Figures are medians of BENCH_REPEATS samples (default 5) of >= BENCH_MIN_S
-- seconds (default 0.3); a second table gives the fastest sample of each,
-- which suffers least from other work on a shared machine (timing:
-- bench/timing.lua, on brasa.clock's wall clock). Run with the brasa
-- executable (or plain lua5.4 with the paths set):
--   build/brasa bench/bench_norm.lua
-- PyTorch's column
-- needs /usr/bin/python3 with torch (Debian: python3-torch); without it only
-- brasa's figures are printed.

local brasa = require 'brasa'
local F = require 'brasa.nn.functional'

local timing = dofile(((arg and arg[0] or ''):match('^(.*)/') or 'bench') .. '/timing.lua')
local clock_name = timing.clock_name

local REPEATS, MIN_S = timing.settings(5, 0.3)

-- fn(n) runs n iterations: the median and the fastest sample, in seconds
-- per iteration.
local function measure(fn)
  local m, fastest = timing.measure(fn, REPEATS, MIN_S)
  return m, fastest
end

local function run(threads)
  brasa.set_num_threads(threads)
  brasa.manual_seed(0)
  local res = {}
  local function record(key, fn)
    local med, best = measure(fn)
    res[key .. '_us'], res[key .. '_min_us'] = med * 1e6, best * 1e6
  end
  local x = brasa.randn(128, 32, 28, 28):requires_grad_()
  local w, b = brasa.randn(32):requires_grad_(), brasa.randn(32):requires_grad_()
  local rm, rv = brasa.zeros(32), brasa.ones(32)
  local G = brasa.randn(128, 32, 28, 28)
  record('bn2d', function(n)
    for _ = 1, n do
      local y = F.batch_norm(x, rm, rv, w, b, {training = true})
      brasa.grad((y * G):sum(), {x, w, b})
    end
  end)
  local xd = x:detach()
  record('bn2d_objective', function(n)
    for _ = 1, n do local _ = (xd * G):sum() end
  end)
  for key, s in pairs({ce_small = {128, 10}, ce_large = {4096, 1000}}) do
    local logits = brasa.randn(s[1], s[2]):requires_grad_()
    local t = brasa.randint(1, s[2], {s[1]}, {dtype = 'i64'})
    record(key, function(n)
      for _ = 1, n do
        local loss = F.cross_entropy(logits, t)
        loss:backward()
        logits.grad = nil
      end
    end)
  end
  local sx = brasa.randn(4096, 1000)
  record('softmax', function(n)
    for _ = 1, n do local _ = F.softmax(sx, 2) end
  end)
  return res
end

print(string.format('bench_norm: brasa %s, %s', brasa.version, brasa.blas_info and brasa.blas_info() or ''))
print(string.format('clock: %s; median of %d repeats, samples >= %.2f s', clock_name, REPEATS, MIN_S))
local la = io.open('/proc/loadavg')
if la then
  print('load average: ' .. la:read('l'):match('^(%S+ %S+ %S+)') .. ' (figures are only comparable on an idle machine)')
  la:close()
end
local threads0 = brasa.get_num_threads()
local b1, b2 = run(1), run(2)
brasa.set_num_threads(threads0)

-- PyTorch's figures, when it is there.
local torch
local p = io.popen('/usr/bin/python3 bench/bench_norm_torch.py 2>/dev/null')
if p then
  local out = p:read('a')
  p:close()
  local json = out and out:match('(%b{})%s*$')
  if json then
    -- the object is flat numbers and strings under t1 and t2: read it with patterns
    torch = {}
    for side, body in json:gmatch('"(t%d)":%s*(%b{})') do
      local t = {}
      for k, v in body:gmatch('"([%w_]+)":%s*([%d%.eE+-]+)') do t[k] = tonumber(v) end
      t.version = body:match('"version":%s*"([^"]*)"')
      torch[side] = t
    end
  end
end

local rows = {
  {'bn2d_us', 'batch_norm 128x32x28x28 fwd+bwd'},
  {'bn2d_objective_us', '  of which (y * G):sum() objective'},
  {'ce_small_us', 'cross_entropy 128x10 fwd+bwd'},
  {'ce_large_us', 'cross_entropy 4096x1000 fwd+bwd'},
  {'softmax_us', 'softmax 4096x1000 fwd'},
}
-- One table for the medians, one for the fastest samples.
for _, stat in ipairs({{'', 'median'}, {'_min', 'fastest sample'}}) do
  print(string.format('\n%-36s %10s %10s %10s %10s %8s', '(us, ' .. stat[2] .. ')', 'brasa 1t', 'brasa 2t',
    'torch 1t', 'torch 2t', 'ratio'))
  for _, r in ipairs(rows) do
    local k = r[1]:gsub('_us$', stat[1] .. '_us')
    local bb = math.min(b1[k], b2[k])
    local line = string.format('  %-34s %10.1f %10.1f', r[2], b1[k], b2[k])
    if torch and torch.t1 and torch.t1[k] then
      local tb = math.min(torch.t1[k], torch.t2[k])
      line = line .. string.format(' %10.1f %10.1f %7.2fx', torch.t1[k], torch.t2[k], bb / tb)
    end
    print(line)
  end
end
if torch and torch.t1 then
  print(string.format('(ratio: best brasa / best PyTorch %s time over 1 and 2 threads; < 1: brasa is faster)',
    torch.t1.version or ''))
else
  print('(PyTorch absent: /usr/bin/python3 cannot import torch)')
end
