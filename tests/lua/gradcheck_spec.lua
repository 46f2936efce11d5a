-- Gradient checks for every differentiable op: float64 central differences
-- against brasa.grad (tests/lua/gradcheck.lua), first order for every op of
-- the registry (lua/brasa/autograd_registry.lua) and second order for the
-- ops it lists. The suite fails when a differentiable op has no check or a
-- Tensor method is not classified in the registry.

local here = debug.getinfo(1, 'S').source:match('^@(.*/)') or './'
package.path = here .. '?.lua;' .. package.path

local brasa = require 'brasa'
local G = require 'gradcheck'
local R = require 'brasa.autograd_registry'

local F64 = {dtype = 'f64'}
local I64 = {dtype = 'i64'}

local cases, cases2 = {}, {}

-- case(list, name, ops, make, fn, opts): make() builds the inputs (after the
-- seed is set), fn(...) is the function under test.
local function add(list, name, ops, make, fn, o)
  list[#list + 1] = {name = name, ops = ops, make = make, fn = fn, o = o}
end
local function case(...) add(cases, ...) end
local function case2(...) add(cases2, ...) end

local randn, uniform, away, strided, transposed = G.randn, G.uniform, G.away, G.strided, G.transposed
local function ix(list) return brasa.tensor(list, I64) end

-- ---- elementwise unary --------------------------------------------------------

-- name -> a maker of one input of the given shape inside the op's domain
local unary_domain = {
  neg = function(s) return randn(s) end,
  abs = function(s) return away(s, -2, 2, {0}, 0.1) end,
  exp = function(s) return randn(s) end,
  log = function(s) return uniform(s, 0.5, 3) end,
  log1p = function(s) return uniform(s, -0.5, 2) end,
  expm1 = function(s) return randn(s) end,
  sqrt = function(s) return uniform(s, 0.5, 3) end,
  rsqrt = function(s) return uniform(s, 0.5, 3) end,
  sin = function(s) return randn(s) end,
  cos = function(s) return randn(s) end,
  tan = function(s) return uniform(s, -1.2, 1.2) end,
  tanh = function(s) return randn(s) end,
  sigmoid = function(s) return randn(s) end,
  relu = function(s) return away(s, -2, 2, {0}, 0.1) end,
  sign = function(s) return away(s, -2, 2, {0}, 0.1) end,
  floor = function(s) return away(s, -3, 3, 'int', 0.05) end,
  ceil = function(s) return away(s, -3, 3, 'int', 0.05) end,
  round = function(s) return away(s, -3, 3, 'half', 0.05) end,
  trunc = function(s) return away(s, -3, 3, 'int', 0.05) end,
  reciprocal = function(s) return away(s, -2, 2, {0}, 0.4) end,
  square = function(s) return randn(s) end,
  erf = function(s) return randn(s) end,
  asin = function(s) return uniform(s, -0.9, 0.9) end,
  acos = function(s) return uniform(s, -0.9, 0.9) end,
  atan = function(s) return randn(s) end,
  sinh = function(s) return randn(s) end,
  cosh = function(s) return randn(s) end,
  log2 = function(s) return uniform(s, 0.5, 3) end,
  log10 = function(s) return uniform(s, 0.5, 3) end,
  exp2 = function(s) return randn(s) end,
}
local unary_names = {}
for k in pairs(unary_domain) do unary_names[#unary_names + 1] = k end
table.sort(unary_names)

for _, op in ipairs(unary_names) do
  local dom = unary_domain[op]
  local f = function(x) return x[op](x) end
  case(op .. ' [3x4]', {op}, function() return {dom{3, 4}} end, f)
  case(op .. ' strided [2x3]', {op}, function() return {strided(dom{2, 3})} end, f)
  case(op .. ' transposed [3x2]', {op}, function() return {transposed(dom{3, 2})} end, f)
  case(op .. ' 0-dim', {op}, function() return {dom{}} end, f)
  case(op .. '_ on a non-leaf', {op .. '_'}, function() return {dom{2, 3}} end,
    function(x) local y = x:clone(); return y[op .. '_'](y) end)
  case('brasa.' .. op .. ' of a transposed view', {op}, function() return {dom{3, 2}} end,
    function(x) return brasa[op](x:t()) end)
end
case('unary minus', {'__unm', 'neg'}, function() return {randn{3, 4}} end, function(x) return -x end)

-- ---- elementwise binary ----------------------------------------------------------

-- Operands for each op: make(shape_a, shape_b) -> a, b within the domain.
local function fmod_pair(sa, sb)
  -- a = b * (k + f) with f in [0.2, 0.8]: a / b stays away from integers
  local b = uniform(sb, 0.6, 1.5)
  local k = brasa.randint(-2, 2, sa):double()
  local fr = brasa.rand(sa, F64) * 0.6 + 0.2
  local a = brasa.no_grad(function() return b:expand_as(k) * (k + fr) end)
  if #sa < #sb or (#sa == #sb and a:numel() < b:numel()) then
    error('fmod_pair: the first operand must have the broadcast shape')
  end
  return G.leaf(a:contiguous()), b
end

local binary_domain = {
  add = function(sa, sb) return randn(sa), randn(sb) end,
  sub = function(sa, sb) return randn(sa), randn(sb) end,
  mul = function(sa, sb) return randn(sa), randn(sb) end,
  div = function(sa, sb) return randn(sa), away(sb, -2, 2, {0}, 0.4) end,
  pow = function(sa, sb) return uniform(sa, 0.5, 2), randn(sb) end,
  maximum = function(sa, sb) return randn(sa), randn(sb) end,
  minimum = function(sa, sb) return randn(sa), randn(sb) end,
  atan2 = function(sa, sb) return randn(sa), away(sb, -2, 2, {0}, 0.2) end,
  fmod = fmod_pair,
  remainder = fmod_pair,
}
local meta = {add = '__add', sub = '__sub', mul = '__mul', div = '__div', pow = '__pow', remainder = '__mod'}
local binary_names = {}
for k in pairs(binary_domain) do binary_names[#binary_names + 1] = k end
table.sort(binary_names)

local shape_pairs = {
  {{3, 4}, {3, 4}}, {{3, 4}, {1, 4}}, {{2, 3, 4}, {4}}, {{2, 3, 4}, {3, 1}}, {{3, 4}, {}},
}

for _, op in ipairs(binary_names) do
  local dom = binary_domain[op]
  local f = function(a, b) return a[op](a, b) end
  for _, sp in ipairs(shape_pairs) do
    local sa, sb = sp[1], sp[2]
    case(string.format('%s %s with %s', op, G.shape_str(sa), G.shape_str(sb)), {op},
      function() return {dom(sa, sb)} end, f)
    if op ~= 'fmod' and op ~= 'remainder' then   -- the broadcast operand first
      case(string.format('%s %s with %s', op, G.shape_str(sb), G.shape_str(sa)), {op},
        function() return {dom(sb, sa)} end, f)
    end
  end
  if op ~= 'fmod' and op ~= 'remainder' then
    case(op .. ' [3x1] with [1x4]', {op}, function()
      local a, b = dom({3, 1}, {1, 4}); return {a, b} end, f)
  end
  case(op .. ' of non-contiguous operands', {op}, function()
    local a, b = dom({3, 4}, {3, 4})
    return {strided(a), strided(b)}
  end, f)
  case(op .. ' transposed with contiguous', {op}, function()
    local a, b = dom({4, 3}, {4, 3})
    return {transposed(a), b}
  end, f)
  case(op .. ' of an expanded operand', {op}, function()
    local a, b = dom({3, 4}, {1, 4})
    return {a, b}
  end, function(a, b) return a[op](a, b:expand(3, 4)) end)
  if meta[op] then
    local mm = meta[op]
    case(op .. ' via the ' .. mm .. ' operator', {op, mm}, function() return {dom({3, 4}, {4})} end,
      function(a, b)
        if op == 'add' then return a + b elseif op == 'sub' then return a - b
        elseif op == 'mul' then return a * b elseif op == 'div' then return a / b
        elseif op == 'pow' then return a ^ b else return a % b end
      end)
  end
  -- in place on a non-leaf, with a broadcast operand
  case(op .. '_ on a non-leaf', {op .. '_'}, function() return {dom({3, 4}, {4})} end,
    function(a, b) local y = a:clone(); return y[op .. '_'](y, b) end)
end

-- Lua numbers on either side
case('x + 2.5 and 2.5 + x', {'add', '__add'}, function() return {randn{3, 4}} end,
  function(x) return {x + 2.5, 2.5 + x, x:add(3)} end)
case('x - 2.5 and 2.5 - x', {'sub', '__sub'}, function() return {randn{3, 4}} end,
  function(x) return {x - 2.5, 2.5 - x, x:sub(1)} end)
case('x * 2.5 and 2.5 * x', {'mul', '__mul'}, function() return {randn{3, 4}} end,
  function(x) return {x * 2.5, -1.5 * x, x:mul(3)} end)
case('x / 2.5 and 2.5 / x', {'div', '__div'}, function() return {away({3, 4}, -2, 2, {0}, 0.4)} end,
  function(x) return {x / 2.5, 2.5 / x, x:div(4)} end)
case('x ^ 3, x ^ 2.5, 2 ^ x', {'pow', '__pow'}, function() return {randn{3, 4}, uniform({3, 4}, 0.5, 2)} end,
  function(x, p) return {x ^ 3, p ^ 2.5, 2 ^ x, x:pow(2), p ^ -0.5} end)
case('x % 1.7 and 5.3 % x (Lua semantics: remainder)', {'remainder', '__mod'},
  function() return {away({3, 4}, -3.3, 3.3, {-1.7, 0, 1.7}, 0.05), uniform({3, 4}, 2.4, 2.6)} end,
  function(x, y) return {x % 1.7, 5.3 % y, -5.3 % y, x:remainder(-1.7)} end)
case('fmod with numbers', {'fmod'},
  function() return {away({3, 4}, -3.3, 3.3, {-1.7, 0, 1.7}, 0.05), uniform({3, 4}, 2.4, 2.6)} end,
  function(x, y) return {x:fmod(1.7), brasa.fmod(x, -1.7), brasa.fmod(brasa.full_like(y, -5.3), y)} end)
case('maximum/minimum/atan2 with numbers', {'maximum', 'minimum', 'atan2'},
  function() return {away({3, 4}, -2, 2, {0.3}, 0.1)} end,
  function(x) return {x:maximum(0.3), x:minimum(0.3), x:atan2(0.7)} end)
case('0-dim tensor with [3x4] (both sides)', {'mul', 'add', 'div'},
  function() return {randn{}, randn{3, 4}} end,
  function(s, x) return {s * x, x + s, x / (s:exp())} end)
case('with integer and bool tensors (promotion to f64)', {'mul', 'add', 'div', 'sub'},
  function() return {randn{3, 4}} end,
  function(x)
    local i = brasa.tensor({1, -2, 3, 4}, I64)
    local m = brasa.tensor({{true}, {false}, {true}}, {dtype = 'bool'})
    return {x * i, i + x, x / i, x * m, m - x}
  end)
case('f32 with f64 (promotion): gradients keep each input dtype', {'mul', 'add'},
  function() return {G.leaf(brasa.randn(3, 4)), randn{3, 4}} end,
  function(a, b) return {a * b, a + b} end,
  {expected = function(W, inputs)
     local a, b = inputs[1]:detach(), inputs[2]:detach()
     return {(W[1] * b):float() + W[2]:float(), W[1] * a:double() + W[2]}
   end})
case('in place with a Lua number', {'mul_', 'add_', 'sub_', 'div_', 'pow_'},
  function() return {uniform({3, 4}, 0.5, 2)} end,
  function(x)
    local y = x:clone()
    y:mul_(2.5); y:add_(1); y:sub_(0.5); y:div_(3); y:pow_(1.5)
    return y
  end)

-- ---- activations, clamp, where ---------------------------------------------------------

case('clamp(-0.5, 0.5)', {'clamp'}, function() return {away({3, 4}, -2, 2, {-0.5, 0.5}, 0.05)} end,
  function(x) return x:clamp(-0.5, 0.5) end)
case('clamp(min) and clamp(nil, max)', {'clamp'},
  function() return {strided(away({3, 4}, -2, 2, {-0.5, 0.5, 1}, 0.05))} end,
  function(x) return {x:clamp(-0.5), x:clamp(nil, 0.5), brasa.clamp(x, 0.5, 1)} end)
case('leaky_relu', {'leaky_relu'}, function() return {away({3, 4}, -2, 2, {0}, 0.05)} end,
  function(x) return {x:leaky_relu(), x:leaky_relu(0.2)} end)
case('elu', {'elu'}, function() return {away({3, 4}, -2, 2, {0}, 0.05)} end,
  function(x) return {x:elu(), x:elu(0.5)} end)
case('softplus', {'softplus'}, function() return {randn{3, 4}} end,
  function(x) return {x:softplus(), x:softplus(2)} end)
case('softplus past its threshold', {'softplus'},
  function() return {away({3, 4}, -2, 2, {0.5}, 0.05)} end,
  function(x) return x:softplus(2, 1) end)
case('gelu (erf and tanh)', {'gelu'}, function() return {randn{3, 4}} end,
  function(x) return {x:gelu(), x:gelu('tanh')} end)
case('where with tensors', {'where'}, function() return {randn{3, 4}, randn{3, 4}} end,
  function(a, b) return brasa.where(a:gt(0):detach(), a, b) end)
case('where with broadcast condition and operands', {'where'},
  function() return {randn{3, 1}, randn{1, 4}} end,
  function(a, b)
    local c = brasa.tensor({{true, false, true, false}}, {dtype = 'bool'})
    return brasa.where(c, a, b)
  end)
case('where with numbers', {'where'}, function() return {randn{3, 4}} end,
  function(a)
    local c = brasa.tensor({{true, false, true, false}}, {dtype = 'bool'})
    return {brasa.where(c, a, 0), brasa.where(c, 1.5, a)}
  end)

-- ---- reductions ---------------------------------------------------------------------------

local dim_choices = {1, 2, 3, -1, {1, 3}}
local function dstr(d) return type(d) == 'table' and '{' .. table.concat(d, ',') .. '}' or tostring(d) end

local red_domain = {
  sum = function() return randn{2, 3, 4} end,
  mean = function() return randn{2, 3, 4} end,
  prod = function() return away({2, 3, 4}, -1.5, 1.5, {0}, 0.3) end,
  logsumexp = function() return randn{2, 3, 4} end,
}
for _, op in ipairs({'sum', 'mean', 'prod', 'logsumexp'}) do
  local dom = red_domain[op]
  case(op .. ' over all', {op}, function() return {dom()} end, function(x) return x[op](x) end)
  case(op .. ' over all of a transposed view', {op}, function() return {dom()} end,
    function(x) local t = x:transpose(1, 3); return t[op](t) end)
  for _, d in ipairs(dim_choices) do
    for _, keep in ipairs({false, true}) do
      case(string.format('%s(%s, keepdim=%s)', op, dstr(d), tostring(keep)), {op},
        function() return {dom()} end, function(x) return x[op](x, d, keep) end)
    end
  end
end

-- every reduction over each dim of a non-contiguous input, and of 0-dim inputs
local strided_reductions = {
  {'sum', function(x, d) return x:sum(d) end}, {'mean', function(x, d) return x:mean(d, true) end},
  {'prod', function(x, d) return x:prod(d) end}, {'logsumexp', function(x, d) return x:logsumexp(d) end},
  {'var', function(x, d) return x:var(d) end}, {'std', function(x, d) return x:std(d, {keepdim = true}) end},
  {'norm', function(x, d) return x:norm(2, d) end}, {'max', function(x, d) return (x:max(d)) end},
  {'min', function(x, d) return (x:min(d, true)) end}, {'cumsum', function(x, d) return x:cumsum(d) end},
  {'cumprod', function(x, d) return x:cumprod(d) end},
}
for _, r in ipairs(strided_reductions) do
  local op, f = r[1], r[2]
  for _, d in ipairs({1, 2, 3}) do
    case(string.format('%s(%d) of a strided [2x3x4]', op, d), {op},
      function() return {strided(away({2, 3, 4}, -1.5, 1.5, {0}, 0.3))} end,
      function(x) return f(x, d) end)
  end
  case(op .. ' of a permuted view, all dims', {op},
    function() return {away({2, 3, 4}, -1.5, 1.5, {0}, 0.3)} end,
    function(x)
      local p = x:permute(3, 1, 2)
      return {f(p, 1), f(p, 2), f(p, -1)}
    end)
end
case('reductions of a 0-dim tensor', {'sum', 'mean', 'prod', 'logsumexp', 'max', 'min', 'norm', 'cumsum'},
  function() return {away({}, 0.5, 1.5, {1}, 0.1)} end,
  function(x)
    return {x:sum(), x:sum(1), x:mean(), x:prod(), x:logsumexp(), x:max(), x:min(), x:norm(),
            x:norm(1), x:cumsum(1)}
  end)
-- Values near 1000 are too large for central differences in f64 (the
-- function's rounding, 1e-13, over h): the gradient is softmax's closed form.
case('logsumexp of large values (no overflow)', {'logsumexp'}, function() return {randn{3, 4}} end,
  function(x) return {(x * 10 + 1000):logsumexp(2), (x - 1000):logsumexp()} end,
  {expected = function(W, inputs)
     local x = inputs[1]:detach()
     local e1, e2 = (x * 10):exp(), x:exp()
     local s1 = e1 / e1:sum(2, true) * 10 * W[1]:view(3, 1)
     local s2 = e2 / e2:sum() * W[2]
     return {s1 + s2}
   end})
case('sum and mean of an expanded input over the expanded dims', {'sum', 'mean', 'expand'},
  function() return {randn{3, 1}} end,
  function(x) local e = x:expand(3, 4); return {e:sum(2), e:mean(), (e * e):sum(1, true)} end)

for _, op in ipairs({'var', 'std'}) do
  case(op .. ' over all', {op}, function() return {randn{2, 3, 4}} end,
    function(x) return {x[op](x), x[op](x, nil, {correction = 0})} end)
  for _, d in ipairs(dim_choices) do
    for _, keep in ipairs({false, true}) do
      case(string.format('%s(%s, keepdim=%s)', op, dstr(d), tostring(keep)), {op},
        function() return {randn{2, 3, 4}} end,
        function(x)
          return {x[op](x, d, {keepdim = keep}), x[op](x, d, {correction = 0, keepdim = keep}),
                  x[op](x, d, false, keep)}
        end)
    end
  end
end

for _, p in ipairs({1, 2, 3, math.huge}) do
  local pn = p == math.huge and 'inf' or tostring(p)
  case('norm(' .. pn .. ') over all', {'norm'}, function() return {away({2, 3, 4}, -2, 2, {0}, 0.1)} end,
    function(x) return x:norm(p) end)
  for _, d in ipairs({1, 2, 3, -1}) do
    for _, keep in ipairs({false, true}) do
      case(string.format('norm(%s, %s, keepdim=%s)', pn, dstr(d), tostring(keep)), {'norm'},
        function() return {away({2, 3, 4}, -2, 2, {0}, 0.1)} end,
        function(x) return x:norm(p, d, keep) end)
    end
  end
  if p ~= math.huge then
    case('norm(' .. pn .. ', {1,3}, keepdim)', {'norm'}, function() return {away({2, 3, 4}, -2, 2, {0}, 0.1)} end,
      function(x) return x:norm(p, {1, 3}, true) end)
  end
end

for _, op in ipairs({'max', 'min'}) do
  case(op .. ' over all', {op}, function() return {randn{2, 3, 4}} end, function(x) return x[op](x) end)
  case(op .. ' over all, strided', {op}, function() return {strided(randn{3, 4})} end,
    function(x) return x[op](x) end)
  for _, d in ipairs({1, 2, 3, -1}) do
    for _, keep in ipairs({false, true}) do
      case(string.format('%s(%d, keepdim=%s) values', op, d, tostring(keep)), {op},
        function() return {randn{2, 3, 4}} end,
        function(x) local v = x[op](x, d, keep); return v end)
    end
  end
  case(op .. ' of two tensors (elementwise)', {op}, function() return {randn{3, 4}, randn{4}} end,
    function(a, b) return a[op](a, b) end)
end

for _, op in ipairs({'cumsum', 'cumprod'}) do
  for _, d in ipairs({1, 2, 3, -1}) do
    case(string.format('%s(%d)', op, d), {op},
      function() return {away({2, 3, 4}, -1.5, 1.5, {0}, 0.3)} end,
      function(x) return x[op](x, d) end)
  end
  case(op .. ' of a transposed view', {op}, function() return {away({3, 4}, -1.5, 1.5, {0}, 0.3)} end,
    function(x) return x:t()[op](x:t(), 2) end)
end

-- ---- linear algebra -----------------------------------------------------------------------

local mm_shapes = {
  {{4}, {4}}, {{3, 4}, {4}}, {{4}, {4, 2}}, {{3, 4}, {4, 2}}, {{2, 3, 4}, {4, 5}},
  {{2, 3, 4}, {2, 4, 5}}, {{2, 1, 3, 4}, {3, 4, 2}}, {{4}, {2, 4, 3}}, {{2, 3, 4}, {4}},
  {{3, 4}, {2, 4, 2}},
}
for _, sp in ipairs(mm_shapes) do
  case(string.format('matmul %s @ %s', G.shape_str(sp[1]), G.shape_str(sp[2])), {'matmul'},
    function() return {randn(sp[1]), randn(sp[2])} end, function(a, b) return a:matmul(b) end)
end
case('matmul of transposed operands', {'matmul'},
  function() return {transposed(randn{3, 4}), transposed(randn{4, 2})} end,
  function(a, b) return a:matmul(b) end)
case('matmul of strided operands', {'matmul'},
  function() return {strided(randn{3, 4}), strided(randn{4, 2})} end,
  function(a, b) return brasa.matmul(a, b) end)
case('matmul of an expanded batch', {'matmul'}, function() return {randn{3, 4}, randn{4, 2}} end,
  function(a, b) return a:expand(2, 3, 4):matmul(b:expand(2, 4, 2)) end)
case('mm', {'mm'}, function() return {randn{3, 4}, transposed(randn{4, 2})} end,
  function(a, b) return a:mm(b) end)
case('bmm', {'bmm'}, function() return {randn{2, 3, 4}, randn{2, 4, 2}} end,
  function(a, b) return a:bmm(b) end)
case('bmm of a permuted operand', {'bmm', 'permute'}, function() return {randn{3, 2, 4}, randn{2, 4, 2}} end,
  function(a, b) return a:permute(2, 1, 3):bmm(b) end)
case('dot', {'dot'}, function() return {randn{5}, strided(randn{5})} end,
  function(a, b) return a:dot(b) end)
case('outer', {'outer'}, function() return {randn{3}, randn{4}} end,
  function(a, b) return a:outer(b) end)

-- ---- views and slicing ---------------------------------------------------------------------

case('view', {'view'}, function() return {randn{3, 4}} end,
  function(x) return {x:view(12), x:view(2, -1, 2), x:view({4, 3})} end)
case('reshape (view and copy)', {'reshape'}, function() return {randn{3, 4}} end,
  function(x) return {x:reshape(2, 6), x:t():reshape(12), x:reshape({-1})} end)
case('reshape of a strided leaf', {'reshape'}, function() return {strided(randn{3, 4})} end,
  function(x) return x:reshape(4, 3) end)
case('view_as', {'view_as'}, function() return {randn{3, 4}} end,
  function(x) return x:view_as(brasa.zeros(2, 6)) end)
case('flatten', {'flatten'}, function() return {randn{2, 3, 4}} end,
  function(x) return {x:flatten(), x:flatten(2, 3), x:transpose(1, 2):flatten(1, 2)} end)
case('t', {'t'}, function() return {randn{3, 4}} end, function(x) return x:t() end)
case('transpose', {'transpose'}, function() return {randn{2, 3, 4}} end,
  function(x) return {x:transpose(1, 3), x:transpose(2, -1)} end)
case('permute', {'permute'}, function() return {randn{2, 3, 4}} end,
  function(x) return {x:permute(3, 1, 2), x:permute({2, 3, 1})} end)
case('narrow', {'narrow'}, function() return {randn{4, 5}} end,
  function(x) return {x:narrow(2, 2, 3), x:narrow(1, -2, 2), x:narrow(1, 2, 2):narrow(2, 1, 2)} end)
case('select', {'select'}, function() return {randn{2, 3, 4}} end,
  function(x) return {x:select(2, 3), x:select(1, -1), x:select(3, 2):select(1, 2)} end)
case('squeeze', {'squeeze'}, function() return {randn{3, 1, 4, 1}} end,
  function(x) return {x:squeeze(), x:squeeze(2), x:squeeze(-1)} end)
case('unsqueeze', {'unsqueeze'}, function() return {randn{3, 4}} end,
  function(x) return {x:unsqueeze(1), x:unsqueeze(-1), x:unsqueeze(2)} end)
case('expand', {'expand'}, function() return {randn{3, 1}, randn{4}} end,
  function(a, b) return {a:expand(3, 4), a:expand(2, 3, 5), b:expand(2, -1), b:expand({3, 4})} end)
case('expand_as', {'expand_as'}, function() return {randn{1, 4}} end,
  function(a) return a:expand_as(brasa.zeros(3, 4)) end)
case('contiguous of a transposed view', {'contiguous'}, function() return {randn{3, 4}} end,
  function(x) return {x:t():contiguous(), x:contiguous()} end)
case('clone', {'clone'}, function() return {strided(randn{3, 4})} end, function(x) return x:clone() end)
case('split', {'split'}, function() return {randn{3, 5}} end,
  function(x)
    local p = x:split(2, 2)
    assert(#p == 3)
    local q = x:split(2)
    return {p[1], p[2], p[3], q[1], q[2]}
  end)
case('chunk', {'chunk'}, function() return {randn{5, 4}} end,
  function(x)
    local p = x:chunk(3)
    local q = x:chunk(2, 2)
    local r = {}
    for _, t in ipairs(p) do r[#r + 1] = t end
    for _, t in ipairs(q) do r[#r + 1] = t:exp() end
    return r
  end)
case('indexing x[i], ranges, {a}, {} and negatives', {'__index'}, function() return {randn{3, 4, 2}} end,
  function(x)
    return {x[2], x[{{1, 2}, {}}], x[{{2}, {2, 3}}], x[{{}, 2}], x[{-1, {2, -1}}], x[{{}, {}, 1}]}
  end)
case('indexing with a mask and with an index tensor', {'__index'}, function() return {randn{3, 4}} end,
  function(x)
    local m = brasa.tensor({{true, false, true, true}, {false, false, true, false}, {true, true, false, true}}, {dtype = 'bool'})
    return {x[m], x[ix{3, 1, 3}]}
  end)
case('a chain of views', {'transpose', 'narrow', 'select', 'reshape', 'expand', 'view'},
  function() return {randn{4, 3, 2}} end,
  function(x)
    local v = x:transpose(1, 3):narrow(3, 2, 3):select(1, 2)   -- [3x3]
    return v:reshape(9):view(1, 9):expand(2, 9)
  end)

-- ---- indexing, joining, sorting ------------------------------------------------------------

case('index_select', {'index_select'}, function() return {randn{4, 3}} end,
  function(x) return {x:index_select(1, ix{3, 1, 3}), x:index_select(2, {2, 2, 1, 3}),
                      brasa.index_select(x:t(), 1, ix{1})} end)
case('gather', {'gather'}, function() return {randn{3, 4}} end,
  function(x)
    return {x:gather(2, ix{{1, 4}, {2, 2}, {4, 1}}), x:gather(1, ix{{3, 1, 2, 2}, {1, 1, 3, 2}})}
  end)
case('scatter (tensor source larger than the index)', {'scatter'},
  function() return {randn{3, 5}, randn{3, 3}} end,
  function(t, s)
    return {t:scatter(2, ix{{5, 1}, {2, 3}, {4, 2}}, s), t:scatter(1, ix{{3, 1, 2}, {1, 3, 1}}, s)}
  end)
case('scatter with a number', {'scatter'}, function() return {randn{3, 5}} end,
  function(t) return t:scatter(2, ix{{5, 1}, {2, 3}, {4, 2}}, 0.5) end)
case('scatter_add with repeated indices', {'scatter_add'}, function() return {randn{3, 5}, randn{3, 3}} end,
  function(t, s) return t:scatter_add(2, ix{{5, 5, 1}, {2, 3, 2}, {4, 4, 4}}, s) end)
case('index_add with repeated indices', {'index_add'},
  function() return {randn{4, 3}, randn{3, 3}, randn{4, 3}} end,
  function(t, s, u) return {t:index_add(1, ix{1, 3, 1}, s), t:index_add(2, ix{3, 3, 2}, u:t():t())} end)
case('index ops of non-contiguous inputs', {'index_select', 'gather', 'scatter', 'scatter_add',
  'index_add', 'masked_fill', 'masked_select'},
  function() return {transposed(randn{3, 4}), strided(randn{3, 2})} end,
  function(x, s)
    local m = brasa.tensor({{true, false, false, true}}, {dtype = 'bool'})
    return {x:index_select(2, ix{4, 1}), x:gather(1, ix{{3, 1, 2, 2}}), x:scatter(2, ix{{2, 4}, {1, 3}, {4, 1}}, s),
            x:scatter_add(2, ix{{2, 2}, {1, 1}, {3, 3}}, s), x:index_add(2, ix{4, 4}, s),
            x:masked_fill(m, 3), x:masked_select(m), x:t():index_select(1, ix{2})}
  end)
case('sort and topk of non-contiguous inputs', {'sort', 'topk'},
  function() return {transposed(randn{4, 5})} end,
  function(x) return {(x:sort(1)), (x:sort(2, true)), (x:topk(3, 1)), (x:topk(1, 2, false))} end)
case('masked_fill', {'masked_fill'}, function() return {randn{3, 4}} end,
  function(x)
    local m = brasa.tensor({{true, false, false, true}}, {dtype = 'bool'})
    local m2 = x:gt(0.3):detach()
    return {x:masked_fill(m, 0.5), x:masked_fill(m2, -1)}
  end)
case('masked_fill_ on a non-leaf', {'masked_fill_'}, function() return {randn{3, 4}} end,
  function(x)
    local m = brasa.tensor({{true, false, false, true}}, {dtype = 'bool'})
    local y = x * 2
    y:masked_fill_(m, 0.5)
    return y
  end)
case('masked_select', {'masked_select'}, function() return {randn{3, 4}} end,
  function(x)
    local m = brasa.tensor({{true, false, false, true}}, {dtype = 'bool'})
    return {x:masked_select(m), x:masked_select(x:lt(0):detach())}
  end)
case('cat', {'cat'}, function() return {randn{2, 3}, randn{1, 3}, randn{3, 3}} end,
  function(a, b, c) return {brasa.cat({a, b, c}), brasa.cat({a, b, c}, 1), brasa.cat({a:t(), c:t()}, 2)} end)
case('cat along dim 2 with non-contiguous parts', {'cat'}, function() return {randn{2, 3}, strided(randn{2, 2})} end,
  function(a, b) return brasa.cat({a, b, a}, -1) end)
case('stack', {'stack'}, function() return {randn{2, 3}, randn{2, 3}} end,
  function(a, b) return {brasa.stack({a, b}), brasa.stack({a, b, a}, 2), brasa.stack({b, a}, -1)} end)
case('sort values', {'sort'}, function() return {randn{3, 4}} end,
  function(x)
    local v1 = x:sort()
    local v2 = x:sort(1, true)
    local v3 = brasa.sort(x:t(), 2)
    return {v1, v2, v3}
  end)
case('topk values', {'topk'}, function() return {randn{3, 5}} end,
  function(x)
    local v1 = x:topk(2)
    local v2 = x:topk(2, 1, false)
    return {v1, v2}
  end)

-- ---- casts and copies ------------------------------------------------------------------------

-- f = sum(out:double() * W): the gradient is W rounded to the cast's dtype.
local function rounded(dtype)
  return function(W, inputs)
    local r = W[1]:to(dtype):to(inputs[1].dtype)
    return {r}
  end
end
case('to(f32) and back', {'to'}, function() return {randn{3, 4}} end,
  function(x) return x:to('f32') end, {expected = rounded('f32')})
case('float()', {'float'}, function() return {randn{3, 4}} end,
  function(x) return x:float() end, {expected = rounded('f32')})
case('half()', {'half'}, function() return {randn{3, 4}} end,
  function(x) return x:half() end, {expected = rounded('f16')})
case('bfloat16()', {'bfloat16'}, function() return {randn{3, 4}} end,
  function(x) return x:bfloat16() end, {expected = rounded('bf16')})
case('double() of an f32 leaf', {'double', 'to'},
  function() return {G.leaf(brasa.randn(3, 4))} end,
  function(x) return {x:double(), x:to(brasa.zeros(1, F64))} end,
  {expected = function(W) return {W[1]:float() + W[2]:float()} end})
case('type(dtype)', {'type'}, function() return {randn{3, 4}} end,
  function(x) return x:type('f32') end, {expected = rounded('f32')})
case('f32 -> f64 -> f32 keeps the gradient', {'to', 'float', 'double'},
  function() return {G.leaf(brasa.randn(2, 3))} end,
  function(x) return x:double():exp():float() end,
  {expected = function(W, inputs)
     local e = inputs[1]:detach():double():exp()
     return {(W[1]:float():double() * e):float()}
   end})
-- Moves between devices: a round trip through the GPU where there is one
-- (tests/gpu/test_gpu.lua compares GPU gradients with CPU ones in depth).
case('cpu() and cuda() round trip', {'cpu', 'cuda'}, function() return {randn{3, 4}} end,
  function(x)
    local y = brasa.cuda.is_available() and x:cuda():exp():cpu() or x:cpu():exp()
    return y
  end)
case('copy_ into a non-leaf', {'copy_'}, function() return {randn{3, 4}, randn{4}} end,
  function(x, s) local y = x * 2; y:copy_(s); return y end, {allow_unused = true})
case('copy into a non-leaf computed from the source', {'copy'}, function() return {randn{3, 4}} end,
  function(x) local y = x:exp(); y:copy(x:sin()); return y * x end)

-- ---- second order ---------------------------------------------------------------------------

case2('matmul [3x4] @ [4x2]', {'matmul'}, function() return {randn{3, 4}, randn{4, 2}} end,
  function(a, b) return a:matmul(b) end)
case2('matmul batched broadcast', {'matmul'}, function() return {randn{2, 1, 3, 4}, randn{3, 4, 2}} end,
  function(a, b) return a:matmul(b) end)
case2('matmul vector-matrix of a product', {'matmul'}, function() return {randn{4}, randn{4, 3}} end,
  function(a, b) return (a * a):matmul(b):tanh() end)
case2('mm', {'mm'}, function() return {randn{3, 4}, randn{4, 2}} end,
  function(a, b) return a:mm(b):sigmoid() end)
case2('bmm', {'bmm'}, function() return {randn{2, 3, 4}, randn{2, 4, 2}} end,
  function(a, b) return a:bmm(b) end)
case2('mul', {'mul'}, function() return {randn{3, 4}, randn{4}} end,
  function(a, b) return a * b * a end)
case2('div', {'div'}, function() return {randn{3, 4}, away({3, 4}, -2, 2, {0}, 0.4)} end,
  function(a, b) return a / b end)
case2('pow (tensor exponent)', {'pow'}, function() return {uniform({3, 4}, 0.5, 2), randn{3, 4}} end,
  function(a, b) return a ^ b end)
case2('pow (number exponent and base)', {'pow'}, function() return {uniform({3, 4}, 0.5, 2)} end,
  function(a) return {a ^ 3, a ^ 2.5, 2 ^ a} end)
for _, op in ipairs({'exp', 'log', 'tanh', 'sigmoid', 'sqrt', 'rsqrt', 'sin', 'cos', 'tan', 'reciprocal',
                     'square', 'erf', 'asin', 'acos', 'atan', 'sinh', 'cosh', 'log1p', 'expm1', 'log2',
                     'log10', 'exp2', 'abs', 'neg', 'relu'}) do
  local dom = unary_domain[op]
  case2(op, {op}, function() return {dom{3, 4}} end, function(x) return x[op](x) end)
end
case2('atan2', {'atan2'}, function() return {randn{3, 4}, away({3, 4}, -2, 2, {0}, 0.2)} end,
  function(a, b) return a:atan2(b) end)
case2('maximum, minimum of products', {'maximum', 'minimum'}, function() return {randn{3, 4}, randn{3, 4}} end,
  function(a, b) return {(a * b):maximum(a), (a * a):minimum(b)} end)
case2('leaky_relu', {'leaky_relu'}, function() return {away({3, 4}, -2, 2, {0}, 0.05)} end,
  function(x) return (x * x * x):leaky_relu(0.1) end)
case2('elu', {'elu'}, function() return {away({3, 4}, -2, 2, {0}, 0.05)} end,
  function(x) return x:elu(0.7) end)
case2('softplus', {'softplus'}, function() return {randn{3, 4}} end,
  function(x) return {x:softplus(), x:softplus(2)} end)
case2('gelu', {'gelu'}, function() return {randn{3, 4}} end,
  function(x) return {x:gelu(), x:gelu('tanh')} end)
case2('clamp of a product', {'clamp'}, function() return {away({3, 4}, -1.4, 1.4, {-1, 0, 1}, 0.1)} end,
  function(x) return (x * x * x):clamp(-1, 1) end)
case2('where of nonlinear branches', {'where'}, function() return {randn{3, 4}, randn{3, 4}} end,
  function(a, b) return brasa.where(a:gt(0):detach(), a:exp(), b * b) end)
for _, d in ipairs({false, 2}) do
  local ds = d and '(' .. d .. ')' or ''
  case2('sum' .. ds .. ' squared', {'sum'}, function() return {randn{3, 4}} end,
    function(x) return (d and x:sum(d) or x:sum()):square() end)
  case2('mean' .. ds .. ' squared', {'mean'}, function() return {randn{3, 4}} end,
    function(x) return (d and x:mean(d, true) or x:mean()):square() end)
  case2('var' .. ds, {'var'}, function() return {randn{3, 4}} end,
    function(x) return d and x:var(d) or x:var() end)
  case2('std' .. ds, {'std'}, function() return {randn{3, 4}} end,
    function(x) return d and x:std(d, {keepdim = true}) or x:std() end)
  case2('logsumexp' .. ds, {'logsumexp'}, function() return {randn{3, 4}} end,
    function(x) return d and x:logsumexp(d) or x:logsumexp() end)
  case2('prod' .. ds, {'prod'}, function() return {away({3, 4}, -1.5, 1.5, {0}, 0.3)} end,
    function(x) return d and x:prod(d) or x:prod() end)
  case2('max' .. ds .. ' of a square', {'max'}, function() return {randn{3, 4}} end,
    function(x) return d and (x * x):max(d) or (x * x):max() end)
  case2('min' .. ds .. ' of a cube', {'min'}, function() return {randn{3, 4}} end,
    function(x) return d and (x * x * x):min(d, true) or (x * x * x):min() end)
end
for _, p in ipairs({1, 2, 3, math.huge}) do
  case2('norm(' .. tostring(p) .. ')', {'norm'}, function() return {away({3, 4}, -2, 2, {0}, 0.1)} end,
    function(x) return {x:norm(p), x:norm(p, 2)} end)
end
case2('cumsum of a square, cumprod', {'cumsum', 'cumprod'}, function() return {away({3, 4}, -1.5, 1.5, {0}, 0.3)} end,
  function(x) return {(x * x):cumsum(2), x:cumprod(1)} end)
case2('views of a product', {'transpose', 'narrow', 'select', 'reshape', 'expand', 'permute'},
  function() return {randn{2, 3, 4}} end,
  function(x)
    local y = x * x
    return {y:transpose(1, 3):narrow(2, 2, 2), y:select(2, 2):reshape(8):expand(3, 8), y:permute(3, 1, 2)}
  end)
case2('index ops of a product', {'gather', 'index_select', 'scatter_add', 'index_add', 'masked_fill', 'sort', 'topk'},
  function() return {randn{3, 4}} end,
  function(x)
    local y = x * x:exp()
    return {y:gather(2, ix{{1, 4}, {2, 2}, {4, 1}}), y:index_select(1, ix{3, 1, 3}),
            y:scatter_add(2, ix{{1, 1}, {2, 3}, {4, 4}}, x:narrow(2, 1, 2) * x:narrow(2, 3, 2)),
            y:index_add(1, ix{1, 1}, x:narrow(1, 2, 2):sin()),
            y:masked_fill(x:gt(0):detach(), 0), (y:sort(2)), (y:topk(2))}
  end)
case2('cat and stack of nonlinear parts', {'cat', 'stack'}, function() return {randn{2, 3}, randn{1, 3}} end,
  function(a, b) return {brasa.cat({a:exp(), b * b}), brasa.stack({a:tanh(), a * b}, 2)} end)

-- ---- running -------------------------------------------------------------------------------

-- Each case's inputs come from a seed derived from its name, so adding a
-- case does not change the others' (GRADCHECK_SEED shifts them all, to try
-- other inputs).
local seed_shift = tonumber(os.getenv('GRADCHECK_SEED') or '0')
local function seed_of(name)
  local h = 5381
  for k = 1, #name do h = (h * 33 + name:byte(k)) % 2147483647 end
  return h + seed_shift
end

local function run(c, second)
  brasa.manual_seed(seed_of((second and '2: ' or '1: ') .. c.name))
  local inputs = c.make()
  local o = c.o or {}
  local ok, msg
  if second then
    ok, msg = G.check2(c.fn, inputs, o)
  elseif o.expected then
    ok, msg = G.check_closed(c.fn, inputs, o.expected, o)
  else
    ok, msg = G.check(c.fn, inputs, o)
  end
  assert(ok, c.name .. ': ' .. tostring(msg))
end

describe('first-order gradient checks', function()
  for _, c in ipairs(cases) do
    it(c.name, function() run(c, false) end)
  end
end)

-- More cases live beside this file, one file per family of ops, each a
-- function(case, case2, G) adding its checks (gradcheck_cases_*.lua).
for _, family in ipairs {'nn_conv', 'nn_pool', 'nn_norm', 'nn_loss', 'nn_misc'} do
  local path = here .. 'gradcheck_cases_' .. family .. '.lua'
  local f = io.open(path)
  if f then
    f:close()
    dofile(path)(case, case2, G)
  end
end

describe('second-order gradient checks', function()
  for _, c in ipairs(cases2) do
    it(c.name, function() run(c, true) end)
  end
end)

describe('the registry of differentiable ops', function()
  local checked, checked2 = {}, {}
  for _, c in ipairs(cases) do for _, op in ipairs(c.ops) do checked[op] = true end end
  for _, c in ipairs(cases2) do for _, op in ipairs(c.ops) do checked2[op] = true end end

  it('every differentiable method, function and operator has a first-order check', function()
    local missing = {}
    for _, list in ipairs({R.differentiable, R.functions, R.metamethods}) do
      for _, op in ipairs(list) do
        if not checked[op] then missing[#missing + 1] = op end
      end
    end
    for _, op in ipairs(R.nn_functional) do
      if not checked['F.' .. op] then missing[#missing + 1] = 'nn.functional.' .. op end
    end
    assert(#missing == 0, 'differentiable ops without a gradient check: ' .. table.concat(missing, ', '))
  end)

  it('every op listed for second order has a second-order check', function()
    local missing = {}
    for _, op in ipairs(R.second_order) do
      if not checked2[op] then missing[#missing + 1] = op end
    end
    assert(#missing == 0, 'ops without a second-order check: ' .. table.concat(missing, ', '))
  end)

  it('every check names ops the registry knows', function()
    local known = R.set_of(R.differentiable)
    for _, op in ipairs(R.functions) do known[op] = true end
    for _, op in ipairs(R.nn_functional) do known['F.' .. op] = true end
    for _, op in ipairs(R.metamethods) do known[op] = true end
    local unknown = {}
    for _, list in ipairs({cases, cases2}) do
      for _, c in ipairs(list) do
        for _, op in ipairs(c.ops) do
          if not known[op] then unknown[#unknown + 1] = op .. ' (' .. c.name .. ')' end
        end
      end
    end
    assert(#unknown == 0, 'checks name ops missing from the registry: ' .. table.concat(unknown, ', '))
  end)

  it('every Tensor method is classified exactly once', function()
    local diff, nondiff = R.set_of(R.differentiable), R.set_of(R.not_differentiable)
    local unclassified, both = {}, {}
    for name in pairs(brasa.Tensor) do
      if diff[name] and nondiff[name] then both[#both + 1] = name end
      if not diff[name] and not nondiff[name] then unclassified[#unclassified + 1] = name end
    end
    table.sort(unclassified)
    table.sort(both)
    assert(#unclassified == 0, 'Tensor methods in neither list of lua/brasa/autograd_registry.lua '
      .. '(classify them, and add gradient checks for the differentiable ones): '
      .. table.concat(unclassified, ', '))
    assert(#both == 0, 'Tensor methods in both lists: ' .. table.concat(both, ', '))
  end)

  it('every name in the registry exists', function()
    local stale = {}
    for _, list in ipairs({R.differentiable, R.not_differentiable}) do
      for _, name in ipairs(list) do
        if brasa.Tensor[name] == nil then stale[#stale + 1] = name end
      end
    end
    for _, name in ipairs(R.functions) do
      if type(brasa[name]) ~= 'function' then stale[#stale + 1] = 'brasa.' .. name end
    end
    for _, name in ipairs(R.nn_functional) do
      if type(brasa.nn.functional[name]) ~= 'function' then stale[#stale + 1] = 'brasa.nn.functional.' .. name end
    end
    local mt = getmetatable(brasa.zeros(1))
    for _, name in ipairs(R.metamethods) do
      if mt[name] == nil then stale[#stale + 1] = name end
    end
    assert(#stale == 0, 'names in the registry that brasa does not have: ' .. table.concat(stale, ', '))
  end)
end)
