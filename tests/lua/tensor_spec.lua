-- Tensors from Lua: creation, fields, views, Torch7-style indexing,
-- elementwise ops with broadcasting and PyTorch's promotion, reductions,
-- matmul, half precision, identity, and the `brasa -e` executable.
-- Every expected value is a closed form, hand-computed, or a naive Lua loop.
-- Run by CTest (lua5.4 busted) with LUA_PATH/LUA_CPATH pointing at the tree.

local brasa = require 'brasa'

-- ---- helpers ------------------------------------------------------------

local function near(a, b, rtol, atol)
  rtol, atol = rtol or 1e-6, atol or 1e-7
  if a ~= a or b ~= b then return a ~= a and b ~= b end
  if a == b then return true end
  return math.abs(a - b) <= atol + rtol * math.abs(b)
end

-- Compares nested tables (or numbers/booleans) elementwise; fails with the path.
local function check_close(got, want, rtol, atol, path)
  path = path or ''
  if type(want) == 'table' then
    assert(type(got) == 'table', 'at ' .. path .. ': expected a table, got ' .. tostring(got))
    assert(#got == #want, ('at %s: length %d, expected %d'):format(path, #got, #want))
    for i = 1, #want do check_close(got[i], want[i], rtol, atol, path .. '[' .. i .. ']') end
  elseif type(want) == 'number' then
    assert(type(got) == 'number', 'at ' .. path .. ': expected a number, got ' .. tostring(got))
    assert(near(got, want, rtol, atol), ('at %s: got %.17g, expected %.17g'):format(path, got, want))
  else
    assert(got == want, ('at %s: got %s, expected %s'):format(path, tostring(got), tostring(want)))
  end
end

local function values(t) return t:totable() end

local function assert_tensor(t, shape, dtype, want, rtol, atol)
  assert.are.same(shape, t.shape)
  if dtype then assert.are.equal(dtype, t.dtype) end
  if want ~= nil then check_close(t:totable(), want, rtol, atol) end
end

-- A Lua 2-D table of size n x m from f(i, j).
local function table2(n, m, f)
  local r = {}
  for i = 1, n do
    r[i] = {}
    for j = 1, m do r[i][j] = f(i, j) end
  end
  return r
end

-- Naive matrix product of Lua tables.
local function lmatmul(a, b)
  local n, k, m = #a, #b, #b[1]
  assert(#a[1] == k)
  return table2(n, m, function(i, j)
    local s = 0
    for p = 1, k do s = s + a[i][p] * b[p][j] end
    return s
  end)
end

local function flat(t, out)
  out = out or {}
  if type(t) ~= 'table' then out[#out + 1] = t return out end
  for _, v in ipairs(t) do flat(v, out) end
  return out
end

local function errmsg(fn, ...)
  local ok, err = pcall(fn, ...)
  assert(not ok, 'expected an error')
  return tostring(err)
end

-- ---- creation -------------------------------------------------------------

describe('creation', function()
  it('builds f32 tensors from nested tables', function()
    local x = brasa.tensor{{1, 2, 3}, {4, 5, 6}}
    assert_tensor(x, {2, 3}, 'f32', {{1, 2, 3}, {4, 5, 6}})
    assert.are.equal(2, x.ndim)
    assert.are.equal(6, x:numel())
    local y = brasa.tensor{{{1}, {2}}, {{3}, {4}}}
    assert_tensor(y, {2, 2, 1}, 'f32', {{{1}, {2}}, {{3}, {4}}})
    -- f32 storage rounds: 0.1 is not exactly representable
    local z = brasa.tensor{0.1}
    assert.are.equal(0.10000000149011612, z[1])
    assert.are.equal(0.1, brasa.tensor({0.1}, {dtype = 'f64'})[1])
  end)

  it('builds 0-dim tensors from numbers and booleans', function()
    local s = brasa.tensor(3.5)
    assert.are.same({}, s.shape)
    assert.are.equal('f32', s.dtype)
    assert.are.equal(3.5, s:item())
    local i = brasa.tensor(7, {dtype = 'i64'})
    assert.are.equal(7, i:item())
    assert.are.equal('integer', math.type(i:item()))
    local b = brasa.tensor(true)
    assert.are.equal('bool', b.dtype)
    assert.are.equal(true, b:item())
  end)

  it('infers bool from boolean data and honours the dtype option', function()
    local b = brasa.tensor{true, false, true}
    assert_tensor(b, {3}, 'bool', {true, false, true})
    assert.are.equal('boolean', type(b[2]))
    local i = brasa.tensor({{1, 2}, {3, 4}}, {dtype = 'i64'})
    assert_tensor(i, {2, 2}, 'i64', {{1, 2}, {3, 4}})
    assert.are.equal('integer', math.type(i[{2, 1}]))
    local d = brasa.tensor({1.5, 2.5}, {dtype = 'f64'})
    assert_tensor(d, {2}, 'f64', {1.5, 2.5})
    local u = brasa.tensor({0, 255}, {dtype = 'u8'})
    assert_tensor(u, {2}, 'u8', {0, 255})
    local bi = brasa.tensor({true, false}, {dtype = 'i32'})
    assert_tensor(bi, {2}, 'i32', {1, 0})
    -- integer data above 2^53 stays exact in i64
    local big = brasa.tensor({9007199254740993}, {dtype = 'i64'})
    assert.are.equal(9007199254740993, big[1])
  end)

  it('copies a tensor given to brasa.tensor (no shared storage)', function()
    local a = brasa.tensor{1, 2, 3}
    local b = brasa.tensor(a)
    b[1] = 10
    assert.are.same({1, 2, 3}, a:totable())
    assert.are.same({10, 2, 3}, b:totable())
    local c = brasa.tensor(a, {dtype = 'i64'})
    assert.are.equal('i64', c.dtype)
  end)

  it('zeros, ones, full and empty take sizes or one table', function()
    assert_tensor(brasa.zeros(2, 3), {2, 3}, 'f32', {{0, 0, 0}, {0, 0, 0}})
    assert_tensor(brasa.zeros({2, 3}), {2, 3}, 'f32', {{0, 0, 0}, {0, 0, 0}})
    assert_tensor(brasa.ones(3, {dtype = 'i64'}), {3}, 'i64', {1, 1, 1})
    assert_tensor(brasa.ones({2}, {dtype = 'bool'}), {2}, 'bool', {true, true})
    assert_tensor(brasa.full(2, 2, 7.5), {2, 2}, 'f32', {{7.5, 7.5}, {7.5, 7.5}})
    assert_tensor(brasa.full({3}, -2, {dtype = 'i32'}), {3}, 'i32', {-2, -2, -2})
    local e = brasa.empty(4, 5)
    assert.are.same({4, 5}, e.shape)
    assert.are.equal('f32', e.dtype)
    assert.are.same({}, brasa.zeros().shape)
    assert.are.same({0, 3}, brasa.zeros(0, 3).shape)
    assert.are.equal(0, brasa.zeros(0, 3):numel())
  end)

  it('rand is uniform in [0, 1) and randn is standard normal', function()
    brasa.manual_seed(1)
    local r = brasa.rand(20000)
    assert.is_true(r:min():item() >= 0)
    assert.is_true(r:max():item() < 1)
    assert.is_true(math.abs(r:mean():item() - 0.5) < 0.01)
    -- var of U(0,1) is 1/12
    assert.is_true(math.abs(r:var():item() - 1 / 12) < 0.005)
    local n = brasa.randn(20000, {dtype = 'f64'})
    assert.are.equal('f64', n.dtype)
    assert.is_true(math.abs(n:mean():item()) < 0.03)
    assert.is_true(math.abs(n:std():item() - 1) < 0.03)
    -- about 68.3% within one sigma
    local inside = n:abs():lt(1):sum():item() / 20000
    assert.is_true(math.abs(inside - 0.6827) < 0.015)
  end)

  it('randint includes both ends, like math.random', function()
    brasa.manual_seed(2)
    local r = brasa.randint(1, 3, 3000)
    assert.are.equal('i64', r.dtype)
    assert.are.same({3000}, r.shape)
    local counts = {0, 0, 0}
    for _, v in ipairs(r:totable()) do
      assert.is_true(v >= 1 and v <= 3, 'value out of [1, 3]: ' .. v)
      counts[v] = counts[v] + 1
    end
    for k = 1, 3 do assert.is_true(counts[k] > 850, 'value ' .. k .. ' rare: ' .. counts[k]) end
    local m = brasa.randint(-2, -2, 2, 2)
    assert_tensor(m, {2, 2}, 'i64', {{-2, -2}, {-2, -2}})
    local d = brasa.randint(0, 9, {4}, {dtype = 'i32'})
    assert.are.equal('i32', d.dtype)
  end)

  -- randint's bounds reach the kernel as exact int64s (bt_RandomArgs.lo/hi).
  it('randint covers ranges wider than 2^53 exactly', function()
    local r = brasa.randint(math.mininteger, math.maxinteger, 200)
    local distinct = {}
    for _, v in ipairs(r:totable()) do distinct[v] = true end
    local n = 0
    for _ in pairs(distinct) do n = n + 1 end
    assert.is_true(n > 150, n .. ' distinct values of 200')
    local e = brasa.randint(2 ^ 53 + 1, 2 ^ 53 + 1, 3)
    assert.are.same({2 ^ 53 + 1, 2 ^ 53 + 1, 2 ^ 53 + 1}, e:totable())
  end)

  it('arange includes the end and takes a step', function()
    assert_tensor(brasa.arange(1, 5), {5}, 'i64', {1, 2, 3, 4, 5})
    assert_tensor(brasa.arange(4), {4}, 'i64', {1, 2, 3, 4})
    assert_tensor(brasa.arange(1, 10, 3), {4}, 'i64', {1, 4, 7, 10})
    assert_tensor(brasa.arange(1, 9, 3), {3}, 'i64', {1, 4, 7})
    assert_tensor(brasa.arange(5, 1, -2), {3}, 'i64', {5, 3, 1})
    assert_tensor(brasa.arange(0, 1, 0.25), {5}, 'f32', {0, 0.25, 0.5, 0.75, 1})
    assert_tensor(brasa.arange(0, 1, 0.1), {11}, 'f32',
                  {0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0}, 1e-6)
    assert_tensor(brasa.arange(1.5, 3.5), {3}, 'f32', {1.5, 2.5, 3.5})
    assert_tensor(brasa.arange(1, 3, {dtype = 'f64'}), {3}, 'f64', {1, 2, 3})
    assert.are.same({0}, brasa.arange(3, 1).shape)
  end)

  it('linspace and eye', function()
    assert_tensor(brasa.linspace(0, 1, 5), {5}, 'f32', {0, 0.25, 0.5, 0.75, 1})
    assert_tensor(brasa.linspace(-1, 1, 3, {dtype = 'f64'}), {3}, 'f64', {-1, 0, 1})
    assert_tensor(brasa.linspace(2, 2, 1), {1}, 'f32', {2})
    assert_tensor(brasa.eye(3), {3, 3}, 'f32', {{1, 0, 0}, {0, 1, 0}, {0, 0, 1}})
    assert_tensor(brasa.eye(2, 3), {2, 3}, 'f32', {{1, 0, 0}, {0, 1, 0}})
    assert_tensor(brasa.eye(2, {dtype = 'i64'}), {2, 2}, 'i64', {{1, 0}, {0, 1}})
  end)

  it('*_like keep shape and dtype unless told', function()
    local x = brasa.tensor({{1, 2, 3}, {4, 5, 6}}, {dtype = 'f64'})
    assert_tensor(brasa.zeros_like(x), {2, 3}, 'f64', {{0, 0, 0}, {0, 0, 0}})
    assert_tensor(brasa.ones_like(x), {2, 3}, 'f64', {{1, 1, 1}, {1, 1, 1}})
    assert_tensor(brasa.full_like(x, 4), {2, 3}, 'f64', {{4, 4, 4}, {4, 4, 4}})
    assert_tensor(brasa.zeros_like(x, {dtype = 'i32'}), {2, 3}, 'i32')
    local r = brasa.rand_like(x)
    assert_tensor(r, {2, 3}, 'f64')
    assert.is_true(r:min():item() >= 0 and r:max():item() < 1)
    assert_tensor(brasa.randn_like(x), {2, 3}, 'f64')
    -- a new tensor, not a view
    local z = brasa.zeros_like(x)
    z[{1, 1}] = 9
    assert.are.equal(1, x[{1, 1}])
  end)

  it('manual_seed reproduces streams, which do not depend on the thread count', function()
    local saved = brasa.get_num_threads()
    brasa.manual_seed(1234)
    local a1, b1 = brasa.rand(100), brasa.randn(3, 7)
    brasa.manual_seed(1234)
    local a2, b2 = brasa.rand(100), brasa.randn(3, 7)
    assert.are.same(a1:totable(), a2:totable())
    assert.are.same(b1:totable(), b2:totable())
    -- consecutive draws differ
    assert.is_false(a1:equal(brasa.rand(100)))
    brasa.manual_seed(1235)
    assert.is_false(a1:equal(brasa.rand(100)))
    -- big enough to be split across threads
    local n = 300000
    brasa.set_num_threads(1)
    brasa.manual_seed(99)
    local s1, n1, i1 = brasa.rand(n), brasa.randn(n), brasa.randint(1, 1000, n)
    brasa.set_num_threads(2)
    assert.are.equal(2, brasa.get_num_threads())
    brasa.manual_seed(99)
    local s2, n2, i2 = brasa.rand(n), brasa.randn(n), brasa.randint(1, 1000, n)
    brasa.set_num_threads(saved)
    assert.is_true(s1:equal(s2))
    assert.is_true(n1:equal(n2))
    assert.is_true(i1:equal(i2))
  end)
end)

-- ---- fields -------------------------------------------------------------

describe('fields', function()
  it('x.shape is a fresh Lua table', function()
    local x = brasa.zeros(2, 3, 4)
    local s = x.shape
    assert.are.same({2, 3, 4}, s)
    s[1] = 100
    assert.are.same({2, 3, 4}, x.shape)
    assert.are.same({2, 3, 4}, x:size())
    assert.are.equal(3, x:size(2))
    assert.are.equal(4, x:size(-1))
    assert.are.equal(2, #x)
  end)

  it('dtypes have short names; long aliases are accepted', function()
    for _, name in ipairs{'f32', 'f64', 'f16', 'bf16', 'i64', 'i32', 'u8', 'bool'} do
      assert.are.equal(name, brasa.zeros(2, {dtype = name}).dtype)
    end
    local aliases = {
      float32 = 'f32', float = 'f32', float64 = 'f64', double = 'f64', int64 = 'i64',
      long = 'i64', int32 = 'i32', int = 'i32', half = 'f16', float16 = 'f16',
      bfloat16 = 'bf16', uint8 = 'u8', bool = 'bool',
    }
    for long, short in pairs(aliases) do
      assert.are.equal(short, brasa.zeros(2, {dtype = long}).dtype, long)
      assert.are.equal(short, brasa.tensor({1}, {dtype = long}).dtype, long)
      assert.are.equal(short, brasa.ones(1):to(long).dtype, long)
    end
  end)

  it('item and totable convert by dtype', function()
    assert.are.equal('float', math.type(brasa.tensor{2}:item()))
    assert.are.equal(2.0, brasa.tensor{2}:item())
    assert.are.equal('integer', math.type(brasa.tensor({2}, {dtype = 'i32'}):item()))
    assert.are.equal(true, brasa.tensor{true}:item())
    assert.are.equal(-3, brasa.tensor({{-3}}, {dtype = 'i64'}):item())
    assert.are.same({{1, 2}, {3, 4}}, brasa.tensor{{1, 2}, {3, 4}}:totable())
    local t = brasa.tensor({{5, 6}}, {dtype = 'i64'}):totable()
    assert.are.equal('integer', math.type(t[1][2]))
    assert.are.same({false, true}, brasa.tensor{false, true}:totable())
    assert.are.equal(2.5, brasa.tensor(2.5):totable())
    -- totable of a non-contiguous view follows logical order
    assert.are.same({{1, 3}, {2, 4}}, brasa.tensor{{1, 2}, {3, 4}}:t():totable())
  end)
end)

-- ---- views ----------------------------------------------------------------

describe('views', function()
  it('view infers -1 and shares storage', function()
    local x = brasa.arange(1, 12, {dtype = 'f32'})
    local v = x:view(3, -1)
    assert_tensor(v, {3, 4}, 'f32', {{1, 2, 3, 4}, {5, 6, 7, 8}, {9, 10, 11, 12}})
    assert.are.same({2, 6}, x:view({-1, 6}).shape)
    assert.are.same({2, 2, 3}, x:view(2, 2, 3).shape)
    v[{2, 3}] = 100
    assert.are.equal(100, x[7])
    x[1] = -1
    assert.are.equal(-1, v[{1, 1}])
  end)

  it('reshape shares when it can and copies only when it must', function()
    local x = brasa.arange(1, 6, {dtype = 'f32'}):view(2, 3)
    local r = x:reshape(3, 2)      -- contiguous: a view
    r[{1, 1}] = 50
    assert.are.equal(50, x[{1, 1}])
    local t = x:t()                -- 3x2, not contiguous
    assert.is_false(t:is_contiguous())
    assert.has_error(function() t:view(6) end)
    local c = t:reshape(6)         -- must copy
    assert_tensor(c, {6}, 'f32', {50, 4, 2, 5, 3, 6})
    c[1] = 0
    assert.are.equal(50, x[{1, 1}])
  end)

  it('transpose, t and permute are views with swapped strides', function()
    local x = brasa.arange(1, 24, {dtype = 'f32'}):view(2, 3, 4)
    local tr = x:transpose(1, 3)
    assert.are.same({4, 3, 2}, tr.shape)
    assert.are.equal(x[{2, 3, 4}], tr[{4, 3, 2}])
    assert.are.equal(x[{1, 2, 3}], tr[{3, 2, 1}])
    local p = x:permute(3, 1, 2)
    assert.are.same({4, 2, 3}, p.shape)
    for i = 1, 2 do for j = 1, 3 do for k = 1, 4 do
      assert.are.equal(x[{i, j, k}], p[{k, i, j}])
    end end end
    assert.are.same({4, 3, 2}, x:permute{3, 2, 1}.shape)
    local m = brasa.tensor{{1, 2, 3}, {4, 5, 6}}
    local mt = m:t()
    assert_tensor(mt, {3, 2}, 'f32', {{1, 4}, {2, 5}, {3, 6}})
    assert.are.same({1, 3}, mt:stride())
    mt[{3, 1}] = 30
    assert.are.equal(30, m[{1, 3}])
    assert_tensor(m.T, {3, 2}, 'f32', {{1, 4}, {2, 5}, {30, 6}})
    assert_tensor(m:transpose(-1, -2), {3, 2}, 'f32', {{1, 4}, {2, 5}, {30, 6}})
  end)

  it('narrow and select take 1-based positions and share storage', function()
    local x = brasa.arange(1, 12, {dtype = 'f32'}):view(3, 4)
    local n = x:narrow(2, 2, 2)
    assert_tensor(n, {3, 2}, 'f32', {{2, 3}, {6, 7}, {10, 11}})
    n[{1, 1}] = -2
    assert.are.equal(-2, x[{1, 2}])
    assert_tensor(x:narrow(1, -1, 1), {1, 4}, 'f32', {{9, 10, 11, 12}})
    local s = x:select(1, 2)
    assert_tensor(s, {4}, 'f32', {5, 6, 7, 8})
    assert_tensor(x:select(2, -1), {3}, 'f32', {4, 8, 12})
    s[4] = 80
    assert.are.equal(80, x[{2, 4}])
  end)

  it('squeeze, unsqueeze, expand, contiguous and flatten', function()
    local x = brasa.tensor{{{1}, {2}, {3}}}           -- 1x3x1
    assert.are.same({3}, x:squeeze().shape)
    assert.are.same({3, 1}, x:squeeze(1).shape)
    assert.are.same({1, 3}, x:squeeze(3).shape)
    assert.are.same({1, 3, 1}, x:squeeze(2).shape)    -- size 3: unchanged
    local v = brasa.tensor{1, 2, 3}
    assert_tensor(v:unsqueeze(1), {1, 3}, 'f32', {{1, 2, 3}})
    assert_tensor(v:unsqueeze(2), {3, 1}, 'f32', {{1}, {2}, {3}})
    assert_tensor(v:unsqueeze(-1), {3, 1}, 'f32', {{1}, {2}, {3}})
    local e = v:view(1, 3):expand(2, 3)
    assert_tensor(e, {2, 3}, 'f32', {{1, 2, 3}, {1, 2, 3}})
    assert.are.equal(0, e:stride(1))
    assert_tensor(v:view(3, 1):expand(-1, 2), {3, 2}, 'f32', {{1, 1}, {2, 2}, {3, 3}})
    v[2] = 20                                          -- visible through the expansion
    assert.are.equal(20, e[{2, 2}])
    local m = brasa.tensor{{1, 2}, {3, 4}}
    assert.are.equal(rawequal(m:contiguous(), m), true)  -- already contiguous: itself
    local c = m:t():contiguous()
    assert.is_true(c:is_contiguous())
    assert_tensor(c, {2, 2}, 'f32', {{1, 3}, {2, 4}})
    c[{1, 1}] = 9
    assert.are.equal(1, m[{1, 1}])
    local y = brasa.zeros(2, 3, 4)
    assert.are.same({24}, y:flatten().shape)
    assert.are.same({2, 12}, y:flatten(2).shape)
    assert.are.same({6, 4}, y:flatten(1, 2).shape)
    assert_tensor(m:t():flatten(), {4}, 'f32', {1, 3, 2, 4})
  end)
end)

-- ---- indexing --------------------------------------------------------------

describe('indexing', function()
  local function mat() return brasa.tensor{{1, 2, 3}, {4, 5, 6}} end

  it('x[i] is a row view; a 1-D x[i] is a Lua value', function()
    local x = mat()
    local r = x[2]
    assert_tensor(r, {3}, 'f32', {4, 5, 6})
    r[1] = 40
    assert.are.equal(40, x[{2, 1}])
    assert_tensor(x[-1], {3}, 'f32', {40, 5, 6})
    local v = brasa.tensor{7, 8, 9}
    assert.are.equal(8, v[2])
    assert.are.equal(9, v[-1])
    assert.are.equal('float', math.type(v[1]))
  end)

  it('x[{i, j}] is an element of the dtype\'s Lua type', function()
    local x = mat()
    assert.are.equal(6, x[{2, 3}])
    assert.are.equal('float', math.type(x[{2, 3}]))
    assert.are.equal(3, x[{1, -1}])
    assert.are.equal(4, x[{-1, -3}])
    local i = brasa.tensor({{1, 2}, {3, 4}}, {dtype = 'i64'})
    assert.are.equal(3, i[{2, 1}])
    assert.are.equal('integer', math.type(i[{2, 1}]))
    assert.are.equal('integer', math.type(brasa.tensor({1}, {dtype = 'u8'})[1]))
    local b = brasa.tensor{{true, false}}
    assert.are.equal(false, b[{1, 2}])
    assert.are.equal(true, b[{1, 1}])
    -- elements are outside the graph: plain numbers even for graph tensors
    local w = brasa.ones(2, 2, {requires_grad = true})
    assert.are.equal('number', type((w * 2)[{1, 1}]))
  end)

  it('ranges include both ends; {a} keeps the dim; {} is the whole dim', function()
    local x = brasa.arange(1, 20, {dtype = 'f32'}):view(4, 5)
    assert_tensor(x[{{2, 3}, {}}], {2, 5}, 'f32', {{6, 7, 8, 9, 10}, {11, 12, 13, 14, 15}})
    assert_tensor(x[{{}, 2}], {4}, 'f32', {2, 7, 12, 17})
    assert_tensor(x[{{}, {2}}], {4, 1}, 'f32', {{2}, {7}, {12}, {17}})
    assert_tensor(x[{{2}, {4, 5}}], {1, 2}, 'f32', {{9, 10}})
    assert_tensor(x[{3, {2, 4}}], {3}, 'f32', {12, 13, 14})
    assert_tensor(x[{{-2, -1}, {-1}}], {2, 1}, 'f32', {{15}, {20}})
    assert_tensor(x[{{2, -2}, 1}], {2}, 'f32', {6, 11})
    assert_tensor(x[{{2, 3}}], {2, 5}, 'f32', {{6, 7, 8, 9, 10}, {11, 12, 13, 14, 15}})
    assert_tensor(x[{}], {4, 5}, 'f32')
    -- a range view shares storage
    local v = x[{{}, {2}}]
    v[{4, 1}] = -17
    assert.are.equal(-17, x[{4, 2}])
  end)

  it('writes elements, rows, columns and ranges', function()
    local x = brasa.zeros(3, 3)
    x[{1, 2}] = 5
    x[{-1, -1}] = 9
    assert.are.same({{0, 5, 0}, {0, 0, 0}, {0, 0, 9}}, x:totable())
    x[2] = brasa.tensor{1, 2, 3}
    assert.are.same({1, 2, 3}, x[2]:totable())
    x[3] = 7                                     -- fills the row
    assert.are.same({7, 7, 7}, x[3]:totable())
    x[{{}, 2}] = 5
    assert.are.same({{0, 5, 0}, {1, 5, 3}, {7, 5, 7}}, x:totable())
    x[{{1, 2}, {2, 3}}] = brasa.tensor{{-1, -2}, {-3, -4}}
    assert.are.same({{0, -1, -2}, {1, -3, -4}, {7, 5, 7}}, x:totable())
    x[{{}, {1}}] = brasa.tensor{{10}, {20}, {30}}
    assert.are.same({10, 20, 30}, x[{{}, 1}]:totable())
    -- broadcasting source into a range
    x[{{2, 3}, {}}] = brasa.tensor{1, 2, 3}
    assert.are.same({{10, -1, -2}, {1, 2, 3}, {1, 2, 3}}, x:totable())
    local v = brasa.zeros(4, {dtype = 'i64'})
    v[2] = 9007199254740993                      -- exact in i64
    assert.are.equal(9007199254740993, v[2])
    local b = brasa.zeros(2, {dtype = 'bool'})
    b[1] = true
    assert.are.same({true, false}, b:totable())
    -- writing a float into an integer tensor truncates like a cast
    local it = brasa.zeros(2, {dtype = 'i32'})
    it[1] = 3.0
    assert.are.equal(3, it[1])
  end)

  it('bool masks read and write', function()
    local x = brasa.tensor{{1, -2, 3}, {-4, 5, -6}}
    local m = x:gt(0)
    assert.are.equal('bool', m.dtype)
    assert_tensor(x[m], {3}, 'f32', {1, 3, 5})
    x[x:lt(0)] = 0
    assert.are.same({{1, 0, 3}, {0, 5, 0}}, x:totable())
    x[brasa.tensor{{true, false, false}, {false, false, true}}] = 8
    assert.are.same({{8, 0, 3}, {0, 5, 8}}, x:totable())
    assert.are.same({0}, x[brasa.zeros(2, 3, {dtype = 'bool'})].shape)
  end)
end)

-- ---- elementwise --------------------------------------------------------------

describe('elementwise', function()
  it('+ - * / ^ and unary minus, scalars on either side', function()
    local a = brasa.tensor{1, 2, 4}
    local b = brasa.tensor{2, 4, 8}
    assert_tensor(a + b, {3}, 'f32', {3, 6, 12})
    assert_tensor(a - b, {3}, 'f32', {-1, -2, -4})
    assert_tensor(a * b, {3}, 'f32', {2, 8, 32})
    assert_tensor(a / b, {3}, 'f32', {0.5, 0.5, 0.5})
    assert_tensor(a ^ 2, {3}, 'f32', {1, 4, 16})
    assert_tensor(2 ^ a, {3}, 'f32', {2, 4, 16})
    assert_tensor(a ^ b, {3}, 'f32', {1, 16, 65536})
    assert_tensor(-a, {3}, 'f32', {-1, -2, -4})
    assert_tensor(a + 1, {3}, 'f32', {2, 3, 5})
    assert_tensor(1 + a, {3}, 'f32', {2, 3, 5})
    assert_tensor(10 - a, {3}, 'f32', {9, 8, 6})
    assert_tensor(a - 10, {3}, 'f32', {-9, -8, -6})
    assert_tensor(8 / a, {3}, 'f32', {8, 4, 2})
    assert_tensor(a / 8, {3}, 'f32', {0.125, 0.25, 0.5})
    assert_tensor(3 * a, {3}, 'f32', {3, 6, 12})
    assert_tensor(a % 3, {3}, 'f32', {1, 2, 1})
    assert_tensor(a:add(b), {3}, 'f32', {3, 6, 12})
    assert_tensor(brasa.mul(a, 2), {3}, 'f32', {2, 4, 8})
  end)

  it('broadcasts like NumPy', function()
    local col = brasa.tensor{{1}, {2}, {3}}       -- 3x1
    local row = brasa.tensor{10, 20}              -- 2
    assert_tensor(col + row, {3, 2}, 'f32', {{11, 21}, {12, 22}, {13, 23}})
    assert_tensor(row * col, {3, 2}, 'f32', {{10, 20}, {20, 40}, {30, 60}})
    local a = brasa.ones(2, 1, 4)
    local b = brasa.arange(1, 3, {dtype = 'f32'}):view(3, 1)
    local c = a * b
    assert.are.same({2, 3, 4}, c.shape)
    assert.are.equal(3, c[{2, 3, 4}])
    assert.are.equal(2, c[{1, 2, 1}])
    assert_tensor(brasa.tensor(5) - brasa.tensor{1, 2}, {2}, 'f32', {4, 3})
    -- a broadcast operand that is itself a transposed view
    local m = brasa.tensor{{1, 2}, {3, 4}}:t()      -- {{1,3},{2,4}}
    assert_tensor(m + brasa.tensor{100, 200}, {2, 2}, 'f32', {{101, 203}, {102, 204}})
  end)

  it('promotes dtypes like PyTorch', function()
    local i = brasa.tensor({1, 2, 3}, {dtype = 'i64'})
    local r = i * 0.5
    assert_tensor(r, {3}, 'f32', {0.5, 1, 1.5})
    assert_tensor(0.5 * i, {3}, 'f32', {0.5, 1, 1.5})
    assert_tensor(i / brasa.tensor({2, 2, 2}, {dtype = 'i64'}), {3}, 'f32', {0.5, 1, 1.5})
    assert_tensor(i / 2, {3}, 'f32', {0.5, 1, 1.5})
    assert_tensor(i + 1, {3}, 'i64', {2, 3, 4})
    assert_tensor(i * 2, {3}, 'i64', {2, 4, 6})
    local b = brasa.tensor{true, false, true}
    assert_tensor(b + b, {3}, 'i64', {2, 0, 2})
    local h = brasa.tensor({1, 2}, {dtype = 'f16'}) * 2.5
    assert_tensor(h, {2}, 'f16', {2.5, 5})
    assert_tensor(brasa.tensor({1}, {dtype = 'bf16'}) + 1, {1}, 'bf16', {2})
    local i32 = brasa.tensor({1, 2}, {dtype = 'i32'})
    assert_tensor(i32 + brasa.tensor({10, 20}, {dtype = 'i64'}), {2}, 'i64', {11, 22})
    assert_tensor(i32 + 1, {2}, 'i32', {2, 3})
    assert_tensor(brasa.tensor(2, {dtype = 'f64'}) + brasa.tensor{1, 2}, {2}, 'f32', {3, 4})
    assert_tensor(brasa.tensor({1}, {dtype = 'f64'}) + brasa.tensor{1}, {1}, 'f64', {2})
    assert_tensor(brasa.tensor({1}, {dtype = 'u8'}) + brasa.tensor({1}, {dtype = 'i32'}), {1}, 'i32', {2})
    assert_tensor(i + brasa.tensor{0.5, 0.5, 0.5}, {3}, 'f32', {1.5, 2.5, 3.5})
    assert_tensor(brasa.tensor({1, 2}, {dtype = 'f16'}) + brasa.tensor{1, 1}, {2}, 'f32', {2, 3})
  end)

  it('integer arithmetic wraps around like Lua integers; % is Lua\'s modulo', function()
    local big = brasa.tensor({math.maxinteger, math.mininteger}, {dtype = 'i64'})
    assert.are.same({math.maxinteger + 1, math.mininteger + 1}, (big + 1):totable())
    assert.are.same({math.maxinteger * 2, math.mininteger * 2}, (big * 2):totable())
    assert.are.same({-math.maxinteger, math.mininteger}, (-big):totable())
    assert.are.equal(math.maxinteger + 1, brasa.tensor({math.maxinteger, 1}, {dtype = 'i64'}):sum():item())
    assert.are.same({-2, 2}, (brasa.tensor({2147483647, -2147483647}, {dtype = 'i32'}) * 2):totable())
    assert.are.same({44}, (brasa.tensor({200}, {dtype = 'u8'}) + brasa.tensor({100}, {dtype = 'u8'})):totable())
    local i = brasa.tensor({7, -7, 7, -7}, {dtype = 'i64'})
    local d = brasa.tensor({3, 3, -3, -3}, {dtype = 'i64'})
    assert.are.same({7 % 3, -7 % 3, 7 % -3, -7 % -3}, (i % d):totable())      -- {1, 2, -2, -1}
    assert.are.same({1, -1, 1, -1}, i:fmod(d):totable())                      -- C's truncation
    local f = brasa.tensor({7.5, -7.5}, {dtype = 'f64'})
    assert.are.same({7.5 % 2, -7.5 % 2}, (f % 2):totable())                    -- {1.5, 0.5}
    assert.are.same({1.5, -1.5}, f:fmod(2):totable())
    -- INT64_MIN % -1 traps in C on x86: the result is 0
    local m = brasa.tensor({math.mininteger}, {dtype = 'i64'})
    assert.are.same({0}, (m % -1):totable())
    assert.are.same({0}, m:fmod(-1):totable())
    assert.are.same({0}, brasa.tensor({-2147483648}, {dtype = 'i32'}):fmod(-1):totable())
    assert.are.same({math.maxinteger, math.maxinteger + 2}, brasa.tensor({math.maxinteger, 2}, {dtype = 'i64'}):cumsum():totable())
  end)

  it('comparisons return bool', function()
    local a = brasa.tensor{1, 2, 3}
    local b = brasa.tensor{3, 2, 1}
    assert_tensor(a:lt(b), {3}, 'bool', {true, false, false})
    assert_tensor(a:le(b), {3}, 'bool', {true, true, false})
    assert_tensor(a:gt(b), {3}, 'bool', {false, false, true})
    assert_tensor(a:ge(b), {3}, 'bool', {false, true, true})
    assert_tensor(a:eq(b), {3}, 'bool', {false, true, false})
    assert_tensor(a:ne(b), {3}, 'bool', {true, false, true})
    assert_tensor(a:gt(1.5), {3}, 'bool', {false, true, true})
    assert_tensor(brasa.tensor({1, 2}, {dtype = 'i64'}):eq(brasa.tensor{1, 2.5}), {2}, 'bool', {true, false})
  end)

  it('unary functions match math', function()
    local xs = {-2, -0.5, 0, 0.5, 2}
    local x = brasa.tensor(xs, {dtype = 'f64'})
    local cases = {
      exp = math.exp, tanh = function(v) return (math.exp(2 * v) - 1) / (math.exp(2 * v) + 1) end,
      sigmoid = function(v) return 1 / (1 + math.exp(-v)) end,
      relu = function(v) return v > 0 and v or 0 end, abs = math.abs, sin = math.sin, cos = math.cos,
      floor = math.floor, ceil = math.ceil, neg = function(v) return -v end,
      square = function(v) return v * v end,
      sign = function(v) return v > 0 and 1 or v < 0 and -1 or 0 end,
    }
    for name, f in pairs(cases) do
      local got = x[name](x):totable()
      for k, v in ipairs(xs) do
        assert.is_true(near(got[k], f(v), 1e-12, 1e-15), name .. '(' .. v .. ') = ' .. got[k])
      end
    end
    local p = brasa.tensor({0.25, 1, 4}, {dtype = 'f64'})
    assert_tensor(p:sqrt(), {3}, 'f64', {0.5, 1, 2})
    assert_tensor(p:log(), {3}, 'f64', {math.log(0.25), 0, math.log(4)}, 1e-12)
    assert_tensor(p:rsqrt(), {3}, 'f64', {2, 1, 0.5})
    assert_tensor(p:reciprocal(), {3}, 'f64', {4, 1, 0.25})
    assert_tensor(brasa.tensor{-1, 0, 1}:exp(), {3}, 'f32', {math.exp(-1), 1, math.exp(1)}, 1e-6)
    -- unary on a non-contiguous view
    assert_tensor(brasa.tensor{{1, 4}, {9, 16}}:t():sqrt(), {2, 2}, 'f32', {{1, 3}, {2, 4}})
  end)

  it('in-place ops write into the tensor and its views', function()
    local x = brasa.tensor{{1, 2}, {3, 4}}
    local row = x[1]
    x:add_(1)
    assert.are.same({2, 3}, row:totable())
    x:mul_(brasa.tensor{1, 10})
    assert.are.same({{2, 30}, {4, 50}}, x:totable())
    row:exp_()
    check_close(x:totable(), {{math.exp(2), math.exp(30)}, {4, 50}}, 1e-6)
    local c = brasa.zeros(2, 2)
    c:copy(brasa.tensor{7, 8})
    assert.are.same({{7, 8}, {7, 8}}, c:totable())
    c:fill(3)
    assert.are.same({{3, 3}, {3, 3}}, c:totable())
    c:zero_()
    assert.are.same({{0, 0}, {0, 0}}, c:totable())
  end)

  it('where, clamp, maximum and minimum', function()
    local c = brasa.tensor{true, false, true}
    local a, b = brasa.tensor{1, 2, 3}, brasa.tensor{10, 20, 30}
    assert_tensor(brasa.where(c, a, b), {3}, 'f32', {1, 20, 3})
    assert_tensor(brasa.where(c, a, 0), {3}, 'f32', {1, 0, 3})
    assert_tensor(brasa.where(c, 5, b), {3}, 'f32', {5, 20, 5})
    -- broadcast: cond 2x1 against 1x3 values
    local c2 = brasa.tensor{{true}, {false}}
    assert_tensor(brasa.where(c2, a, b), {2, 3}, 'f32', {{1, 2, 3}, {10, 20, 30}})
    local x = brasa.tensor{-2, -0.5, 0.5, 2}
    assert_tensor(x:clamp(-1, 1), {4}, 'f32', {-1, -0.5, 0.5, 1})
    assert_tensor(x:clamp(0), {4}, 'f32', {0, 0, 0.5, 2})
    assert_tensor(x:clamp(nil, 0), {4}, 'f32', {-2, -0.5, 0, 0})
    local y = brasa.tensor{0, 0, 1, 1}
    assert_tensor(x:maximum(y), {4}, 'f32', {0, 0, 1, 2})
    assert_tensor(x:minimum(y), {4}, 'f32', {-2, -0.5, 0.5, 1})
    assert_tensor(x:max(y), {4}, 'f32', {0, 0, 1, 2})
    assert_tensor(brasa.maximum(x, 0), {4}, 'f32', {0, 0, 0.5, 2})
  end)

  it('propagates NaN', function()
    local nan = 0 / 0
    local x = brasa.tensor{1, nan, 3}
    local y = brasa.tensor{2, 2, 2}
    check_close(x:maximum(y):totable(), {2, nan, 3})
    check_close(x:minimum(y):totable(), {1, nan, 2})
    check_close((x + 1):totable(), {2, nan, 4})
    check_close(x:clamp(0, 2):totable(), {1, nan, 2})
    assert.is_true(x:sum():item() ~= x:sum():item())
    assert.is_true(x:max():item() ~= x:max():item())
    assert.is_true(x:min():item() ~= x:min():item())
    assert.are.same({false, true, false}, x:isnan():totable())
    assert.are.same({false, false, true}, brasa.tensor{1, nan, math.huge}:isinf():totable())
  end)
end)

-- ---- reductions -------------------------------------------------------------

describe('reductions', function()
  local x = brasa.tensor{{1, 5, 3}, {4, 2, 6}}

  it('over all elements return 0-dim tensors', function()
    assert_tensor(x:sum(), {}, 'f32', 21)
    assert_tensor(x:mean(), {}, 'f32', 3.5)
    assert_tensor(x:prod(), {}, 'f32', 720)
    assert_tensor(x:max(), {}, 'f32', 6)
    assert_tensor(x:min(), {}, 'f32', 1)
    assert_tensor(x:argmax(), {}, 'i64', 6)
    assert_tensor(x:argmin(), {}, 'i64', 1)
    assert_tensor(brasa.tensor({{1, 2}, {3, 4}}, {dtype = 'i64'}):sum(), {}, 'i64', 10)
    assert_tensor(brasa.tensor{true, true, false}:sum(), {}, 'i64', 2)
    assert_tensor(x:sum(nil, true), {1, 1}, 'f32', {{21}})
  end)

  it('over each dim, with and without keepdim', function()
    assert_tensor(x:sum(1), {3}, 'f32', {5, 7, 9})
    assert_tensor(x:sum(2), {2}, 'f32', {9, 12})
    assert_tensor(x:sum(-1), {2}, 'f32', {9, 12})
    assert_tensor(x:sum(1, true), {1, 3}, 'f32', {{5, 7, 9}})
    assert_tensor(x:sum(2, true), {2, 1}, 'f32', {{9}, {12}})
    assert_tensor(x:mean(1), {3}, 'f32', {2.5, 3.5, 4.5})
    assert_tensor(x:mean(2, true), {2, 1}, 'f32', {{3}, {4}})
    assert_tensor(x:prod(1), {3}, 'f32', {4, 10, 18})
    assert_tensor(x:prod(2), {2}, 'f32', {15, 48})
    assert_tensor(x:sum({1, 2}), {}, 'f32', 21)
    local y = brasa.arange(1, 24, {dtype = 'f64'}):view(2, 3, 4)
    -- closed forms: y[i][j][k] = 12(i-1) + 4(j-1) + k
    local s2 = y:sum(2)
    for i = 1, 2 do for k = 1, 4 do
      assert.are.equal(3 * (12 * (i - 1) + k) + 12, s2[{i, k}])
    end end
    local s13 = y:sum({1, 3}, true)
    assert.are.same({1, 3, 1}, s13.shape)
    for j = 1, 3 do
      local want = 0
      for i = 1, 2 do for k = 1, 4 do want = want + 12 * (i - 1) + 4 * (j - 1) + k end end
      assert.are.equal(want, s13[{1, j, 1}])
    end
    -- reductions of a non-contiguous view
    assert_tensor(x:t():sum(2), {3}, 'f32', {5, 7, 9})
  end)

  it('max and min over a dim return values and 1-based indices', function()
    local v, i = x:max(2)
    assert_tensor(v, {2}, 'f32', {5, 6})
    assert_tensor(i, {2}, 'i64', {2, 3})
    v, i = x:max(1, true)
    assert_tensor(v, {1, 3}, 'f32', {{4, 5, 6}})
    assert_tensor(i, {1, 3}, 'i64', {{2, 1, 2}})
    v, i = x:min(2)
    assert_tensor(v, {2}, 'f32', {1, 2})
    assert_tensor(i, {2}, 'i64', {1, 2})
    v, i = x:min(1)
    assert_tensor(i, {3}, 'i64', {1, 2, 1})
    -- first occurrence on ties
    local _, ti = brasa.tensor{3, 7, 7, 1}:max(1)
    assert.are.equal(2, ti:item())
    assert_tensor(x:argmax(2), {2}, 'i64', {2, 3})
    assert_tensor(x:argmax(1), {3}, 'i64', {2, 1, 2})
    assert_tensor(x:argmin(2, true), {2, 1}, 'i64', {{1}, {2}})
    assert_tensor(x:argmin(-2), {3}, 'i64', {1, 2, 1})
  end)

  it('var and std: unbiased by default, correction = 0 biased', function()
    local d = brasa.tensor({2, 4, 4, 4, 5, 5, 7, 9}, {dtype = 'f64'})
    -- mean 5, sum of squared deviations 32
    assert_tensor(d:var(), {}, 'f64', 32 / 7, 1e-12)
    assert_tensor(d:var(nil, {correction = 0}), {}, 'f64', 4, 1e-12)
    assert_tensor(d:std(nil, {correction = 0}), {}, 'f64', 2, 1e-12)
    assert_tensor(d:std(), {}, 'f64', math.sqrt(32 / 7), 1e-12)
    assert_tensor(d:var(1, false), {}, 'f64', 4, 1e-12)
    assert_tensor(x:var(2), {2}, 'f32', {4, 4}, 1e-6)
    assert_tensor(x:var(1), {3}, 'f32', {4.5, 4.5, 4.5}, 1e-6)
    assert_tensor(x:var(1, {keepdim = true, correction = 0}), {1, 3}, 'f32', {{2.25, 2.25, 2.25}}, 1e-6)
    assert_tensor(x:std(2, {keepdim = true}), {2, 1}, 'f32', {{2}, {2}}, 1e-6)
  end)

  it('norm p = 1, 2 and inf', function()
    local v = brasa.tensor({{3, -4}, {-6, 8}}, {dtype = 'f64'})
    assert_tensor(v:norm(), {}, 'f64', math.sqrt(9 + 16 + 36 + 64), 1e-12)
    assert_tensor(v:norm(2), {}, 'f64', math.sqrt(125), 1e-12)
    assert_tensor(v:norm(1), {}, 'f64', 21, 1e-12)
    assert_tensor(v:norm(math.huge), {}, 'f64', 8, 1e-12)
    assert_tensor(v:norm(2, 2), {2}, 'f64', {5, 10}, 1e-12)
    assert_tensor(v:norm(1, 1), {2}, 'f64', {9, 12}, 1e-12)
    assert_tensor(v:norm(math.huge, 1, true), {1, 2}, 'f64', {{6, 8}}, 1e-12)
  end)

  it('logsumexp does not overflow on large values', function()
    local l = brasa.tensor{1000, 1000}
    assert_tensor(l:logsumexp(), {}, 'f32', 1000 + math.log(2), 1e-6)
    local m = brasa.tensor({{1, 2, 3}, {-1000, -1000, -1000}}, {dtype = 'f64'})
    assert_tensor(m:logsumexp(2), {2}, 'f64',
                  {3 + math.log(1 + math.exp(-1) + math.exp(-2)), -1000 + math.log(3)}, 1e-12)
    assert_tensor(m:logsumexp(1, true), {1, 3}, 'f64', {{1, 2, 3}}, 1e-12)
    assert_tensor(brasa.tensor{-math.huge, 0}:logsumexp(), {}, 'f32', 0)
  end)

  it('cumsum and cumprod', function()
    assert_tensor(brasa.tensor{1, 2, 3, 4}:cumsum(), {4}, 'f32', {1, 3, 6, 10})
    assert_tensor(brasa.tensor{1, 2, 3, 4}:cumprod(1), {4}, 'f32', {1, 2, 6, 24})
    assert_tensor(x:cumsum(1), {2, 3}, 'f32', {{1, 5, 3}, {5, 7, 9}})
    assert_tensor(x:cumsum(2), {2, 3}, 'f32', {{1, 6, 9}, {4, 6, 12}})
    assert_tensor(x:cumprod(-1), {2, 3}, 'f32', {{1, 5, 15}, {4, 8, 48}})
    assert_tensor(brasa.tensor({1, 2, 3}, {dtype = 'i64'}):cumsum(), {3}, 'i64', {1, 3, 6})
  end)

  it('all and any', function()
    assert_tensor(brasa.tensor{true, true}:all(), {}, 'bool', true)
    assert_tensor(brasa.tensor{true, false}:all(), {}, 'bool', false)
    assert_tensor(brasa.tensor{false, true}:any(), {}, 'bool', true)
    assert_tensor(brasa.tensor{0, 0}:any(), {}, 'bool', false)
  end)
end)

-- ---- matmul ---------------------------------------------------------------

describe('matmul', function()
  local function rnd(...)
    return brasa.rand(...) - 0.5
  end

  it('1-D @ 1-D is a 0-dim dot product', function()
    local r = brasa.tensor{1, 2, 3}:matmul(brasa.tensor{4, 5, 6})
    assert_tensor(r, {}, 'f32', 32)
    assert_tensor(brasa.dot(brasa.tensor{1, 2}, brasa.tensor{3, 4}), {}, 'f32', 11)
  end)

  it('1-D @ 2-D and 2-D @ 1-D', function()
    local m = brasa.tensor{{1, 2}, {3, 4}, {5, 6}}
    assert_tensor(brasa.tensor{1, 1, 1}:matmul(m), {2}, 'f32', {9, 12})
    assert_tensor(m:matmul(brasa.tensor{1, -1}), {3}, 'f32', {-1, -1, -1})
  end)

  it('2-D @ 2-D against a naive loop', function()
    brasa.manual_seed(3)
    for _, sz in ipairs{{1, 1, 1}, {2, 3, 4}, {7, 5, 3}, {17, 33, 9}, {64, 48, 40}} do
      local a, b = rnd(sz[1], sz[2]), rnd(sz[2], sz[3])
      local c = a:matmul(b)
      assert.are.same({sz[1], sz[3]}, c.shape)
      check_close(c:totable(), lmatmul(a:totable(), b:totable()), 1e-5, 1e-6)
    end
    local d = brasa.tensor({{1, 2}, {3, 4}}, {dtype = 'f64'})
    assert_tensor(d:matmul(d), {2, 2}, 'f64', {{7, 10}, {15, 22}})
    assert_tensor(d:mm(d), {2, 2}, 'f64', {{7, 10}, {15, 22}})
  end)

  it('transposed and non-contiguous operands', function()
    brasa.manual_seed(4)
    local a0, b0 = rnd(5, 3), rnd(4, 5)
    local a, b = a0:t(), b0:t()                   -- 3x5 and 5x4, transposed views
    check_close(a:matmul(b):totable(), lmatmul(a:totable(), b:totable()), 1e-5, 1e-6)
    local big = rnd(6, 8)
    local s = big[{{2, 5}, {3, 7}}]               -- 4x5, row stride 8
    local s2 = big[{{1, 5}, {1, 6}}]:t()[{{1, 3}, {}}]  -- 3x5 of a transpose
    check_close(s:matmul(s2:t()):totable(), lmatmul(s:totable(), s2:t():totable()), 1e-5, 1e-6)
    local e = brasa.tensor{1, 2, 3}:view(3, 1):expand(3, 4)   -- stride 0 operand
    check_close(e:matmul(brasa.ones(4, 2)):totable(), {{4, 4}, {8, 8}, {12, 12}})
    local stepped = brasa.arange(1, 12, {dtype = 'f32'}):view(6, 2)[{{}, 1}]   -- {1,3,5,7,9,11}, stride 2
    assert_tensor(stepped:matmul(brasa.ones(6)), {}, 'f32', 36)
  end)

  it('batched, with broadcast batch dims', function()
    brasa.manual_seed(5)
    local a = rnd(2, 3, 4)
    local b = rnd(2, 4, 5)
    local c = a:matmul(b)
    assert.are.same({2, 3, 5}, c.shape)
    local at, bt, ct = a:totable(), b:totable(), c:totable()
    for i = 1, 2 do check_close(ct[i], lmatmul(at[i], bt[i]), 1e-5, 1e-6) end
    check_close(brasa.bmm(a, b):totable(), ct, 1e-5, 1e-6)
    -- [2,1,3,4] @ [5,4,2] -> [2,5,3,2]
    local p, q = rnd(2, 1, 3, 4), rnd(5, 4, 2)
    local r = p:matmul(q)
    assert.are.same({2, 5, 3, 2}, r.shape)
    local pt, qt, rt = p:totable(), q:totable(), r:totable()
    for i = 1, 2 do for j = 1, 5 do
      check_close(rt[i][j], lmatmul(pt[i][1], qt[j]), 1e-5, 1e-6)
    end end
    -- batched @ 2-D and 1-D @ batched
    local m = rnd(4, 2)
    local am = a:matmul(m)
    assert.are.same({2, 3, 2}, am.shape)
    for i = 1, 2 do check_close(am:totable()[i], lmatmul(at[i], m:totable()), 1e-5, 1e-6) end
    local v = brasa.tensor{1, 0, -1}
    local vb = v:matmul(a)
    assert.are.same({2, 4}, vb.shape)
    for i = 1, 2 do for k = 1, 4 do
      assert.is_true(near(vb[{i, k}], at[i][1][k] - at[i][3][k], 1e-5, 1e-6))
    end end
    -- a transposed batch operand
    local bt2 = rnd(2, 5, 4):transpose(2, 3)
    local c2 = a:matmul(bt2):totable()
    local b2 = bt2:totable()
    for i = 1, 2 do check_close(c2[i], lmatmul(at[i], b2[i]), 1e-5, 1e-6) end
  end)

  it('matches outer', function()
    assert_tensor(brasa.outer(brasa.tensor{1, 2}, brasa.tensor{3, 4, 5}), {2, 3}, 'f32',
                  {{3, 4, 5}, {6, 8, 10}})
  end)
end)

-- ---- half precision --------------------------------------------------------

describe('f16 and bf16', function()
  it('round trip through f32 with round-to-nearest-even', function()
    local third = brasa.tensor{1 / 3}
    assert.are.equal(0.333251953125, third:half():float()[1])
    assert.are.equal(0.333251953125, third:to('f16')[1])
    assert.are.equal(0.333984375, third:bfloat16():float()[1])
    local h = brasa.tensor({65504, 70000, -70000, 2 ^ -24, 2 ^ -25, 1 + 2 ^ -11, 1 + 3 * 2 ^ -11}, {dtype = 'f64'}):half()
    assert.are.same({65504, math.huge, -math.huge, 2 ^ -24, 0, 1, 1 + 2 ^ -9}, h:double():totable())
    local nan = brasa.tensor{0 / 0}:half():float()[1]
    assert.is_true(nan ~= nan)
    local b = brasa.tensor({1 + 2 ^ -8, 1 + 3 * 2 ^ -8, 3e38 * 10}, {dtype = 'f64'}):bfloat16():double()
    assert.are.same({1, 1 + 2 ^ -6, math.huge}, b:totable())
  end)

  it('compute in f32 and store their own dtype', function()
    local a = brasa.tensor({1, 2048}, {dtype = 'f16'})
    local s = a + 1                                -- 2049 is not an f16
    assert.are.equal('f16', s.dtype)
    assert.are.same({2, 2048}, s:totable())
    local m = brasa.tensor({{1, 2}, {3, 4}}, {dtype = 'f16'})
    assert_tensor(m:matmul(m), {2, 2}, 'f16', {{7, 10}, {15, 22}})
    assert_tensor(m:sum(), {}, 'f16', 10)
    assert_tensor(brasa.tensor({1, 2}, {dtype = 'bf16'}) * brasa.tensor({3, 4}, {dtype = 'bf16'}), {2}, 'bf16', {3, 8})
  end)
end)

-- ---- Lua semantics -----------------------------------------------------------

describe('Lua semantics', function()
  it('< and <= between tensors raise an error naming lt and le', function()
    local a, b = brasa.tensor{1}, brasa.tensor{2}
    for _, f in ipairs{function() return a < b end, function() return a <= b end,
                       function() return a > b end, function() return a >= b end} do
      local msg = errmsg(f)
      assert.is_truthy(msg:find('lt', 1, true), msg)
      assert.is_truthy(msg:find('le', 1, true), msg)
    end
  end)

  it('one Lua value per tensor: x.grad == x.grad, tensors as table keys', function()
    local x = brasa.randn(3, {requires_grad = true})
    ;(x * 2):sum():backward()
    assert.is_true(rawequal(x.grad, x.grad))
    assert_tensor(x.grad, {3}, 'f32', {2, 2, 2})
    local seen = {}
    local p, q = brasa.zeros(1), brasa.zeros(1)
    seen[p] = 'p'
    seen[q] = 'q'
    seen[x] = 'x'
    assert.are.equal('p', seen[p])
    assert.are.equal('q', seen[q])
    assert.are.equal('x', seen[x])
    local n = 0
    for _ in pairs(seen) do n = n + 1 end
    assert.are.equal(3, n)
    -- a method that returns its receiver returns the same value
    assert.is_true(rawequal(p:fill(1), p))
    assert.is_true(rawequal(p:add_(1), p))
    assert.is_true(brasa.is_tensor(p))
    assert.is_false(brasa.is_tensor({}))
    assert.are.equal('brasa.Tensor(f32)', p:type())
  end)

  it('printing shows a header and values', function()
    local s = tostring(brasa.tensor{{1, 2}, {3, 4}})
    assert.is_truthy(s:find('tensor [2x2] f32', 1, true), s)
    assert.is_truthy(s:find('[[1., 2.],', 1, true), s)
    assert.is_truthy(s:find('[3., 4.]]', 1, true), s)
  end)
end)

-- ---- the executable ---------------------------------------------------------

describe('brasa executable', function()
  it("brasa -e prints a matmul's header and values", function()
    local exe = os.getenv('BRASA_EXE')
    if not exe or exe == '' then
      local src = os.getenv('BRASA_SOURCE_DIR') or '.'
      exe = src .. '/build/brasa'
    end
    local f = io.open(exe, 'r')
    if not f then
      pending('brasa executable not found at ' .. exe .. ' (build it first)')
      return
    end
    f:close()
    local p = assert(io.popen(exe .. [[ -e 'print(brasa.tensor{{1,2},{3,4}}:matmul(brasa.ones(2,1)))' 2>&1]]))
    local out = p:read('a')
    local ok = p:close()
    assert.is_true(ok, out)
    assert.is_truthy(out:find('tensor [2x1] f32', 1, true), out)
    local nums = {}
    for n in out:match('%b[]', (out:find('\n') or 0)):gmatch('%-?%d+%.?%d*') do nums[#nums + 1] = tonumber(n) end
    assert.are.same({3, 7}, nums)
  end)
end)
