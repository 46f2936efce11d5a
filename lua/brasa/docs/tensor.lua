-- brasa.docs.tensor: help entries of the tensor API (brasa.doc).
--
-- One entry per public function of the module ('brasa.zeros', 'brasa.exp')
-- and per tensor method ('Tensor:exp'), plus the tensor fields
-- ('Tensor.shape') and two topics: 'Tensor indexing' and 'Tensor operators'.
-- An op that is both a method and a module function (x:exp() and
-- brasa.exp(x) are the same function value) has both entries; the value is
-- bound to the method's entry.
--
-- Examples are runnable Lua with `brasa` in scope. A line
--   print(expr)  --> shown
-- shows what the print writes, tensor headers and spacing left out;
-- tests/lua/doc_spec.lua runs every example and checks those results.
--
-- This file is loaded from lua/brasa/init.lua before the module has finished
-- building itself, so it finds function values through brasa.core (the C
-- module: the same values as brasa's, its Tensor field the methods table).
-- Functions written in Lua on the module table itself (brasa.no_grad,
-- enable_grad, is_tensor) are bound later by M.bind_all(brasa).

local doc = require 'brasa.doc'

local M = {}

local list = {}   -- the entries of this file, in order

local function entry(name, sig, summary, text, example, see)
  list[#list + 1] = {name, sig, summary, text = text, example = example, see = see}
end

-- 'x:sum(dim?)' -> 'brasa.sum(x, dim?)', for every form in a signature.
local function module_form(sig)
  return (sig:gsub('x:([%w_]+)%(%)', 'brasa.%1(x)'):gsub('x:([%w_]+)%(', 'brasa.%1(x, '))
end

-- A method only: 'Tensor:NAME'.
local function method(name, sig, summary, text, example)
  entry('Tensor:' .. name, sig, summary, text, example)
end

-- A module function only: 'brasa.NAME'.
local function fn(name, sig, summary, text, example)
  entry('brasa.' .. name, sig, summary, text, example)
end

-- An op that is both: 'Tensor:NAME' and 'brasa.NAME', one text.
local function op(name, sig, summary, text, example)
  local both = sig .. '\n' .. module_form(sig)
  entry('Tensor:' .. name, both, summary, text, example)
  entry('brasa.' .. name, both, summary, text,
    '-- brasa.' .. name .. '(x, ...) is x:' .. name .. '(...)\n' .. example, 'Tensor:' .. name)
end

---------------------------------------------------------------------------
-- Shared texts
---------------------------------------------------------------------------

local DIMS = 'Dims are 1-based (negative ones count from the end: -1 is the last); 0 is never a valid dim.'

local PROMOTION = [=[
Operands broadcast with NumPy's rules and a Lua number may stand on either
side. The result dtype follows PyTorch's promotion: the "larger" kind wins
(bool < integer < float) and, within a kind, the larger dtype; a Lua number
only decides the kind (i64 * 0.5 is f32, an i32 tensor + 1 stays i32, an
f16 tensor * 2.5 stays f16). Division always gives a float (i64 / i64 is
f32), and bool arithmetic is i64 (true + true is 2). f16 and bf16 compute
in f32 and store their own dtype, rounding once: the CPU widens the
operands and narrows the result, a GPU kernel reads and writes the halves
itself. A Lua number is used as an f32, not rounded to the half first.]=]

local INPLACE = [=[
The in-place form writes the result into x and returns x. Two rules: the
other operand must broadcast to x's shape (x itself never grows), and the
result dtype must be x's (an i64 tensor cannot take add_(0.5) or div_(2):
use the out-of-place op). A leaf that requires grad cannot be changed in
place outside brasa.no_grad.]=]

local FLOAT_UNARY = [=[
Integer and bool inputs give f32; f16 and bf16 stay in their dtype (computed
in f32, rounded once). Differentiable.]=]

local SAME_UNARY = [=[
The result keeps x's dtype (integers stay integers).]=]

---------------------------------------------------------------------------
-- Creation
---------------------------------------------------------------------------

local OPTS = [=[
opts is an optional table: dtype = 'f32' (the default) | 'f64' | 'f16' |
'bf16' | 'i64' | 'i32' | 'u8' | 'bool' (long names such as 'float32',
'float', 'double', 'int64', 'long', 'half', 'bfloat16' work too and are
reported by their short name); requires_grad = true makes a leaf that
collects gradients (float dtypes only); device = 'cpu'.]=]

fn('tensor', 'brasa.tensor(data, opts?)',
  'A new tensor from a number, a boolean, a nested table or another tensor.',
  [=[
data is a number or boolean (a 0-dim tensor), a nested table of numbers or
booleans (one level per dim; every row must have the same length, or the
call raises "ragged data"), or a tensor (a copy outside the graph, cast to
opts.dtype when given). Numbers give f32 unless opts.dtype says otherwise
(integers too: brasa.tensor{1, 2} is f32, brasa.arange gives i64);
booleans give bool.
]=] .. OPTS,
  [=[
local x = brasa.tensor{{1, 2, 3}, {4, 5, 6}}
print(x.shape[1], x.shape[2], x.dtype)  --> 2 3 f32
print(brasa.tensor({1, 2}, {dtype = 'i64'}))  --> [1, 2]
print(brasa.tensor(3.5))  --> 3.5000
print(brasa.tensor{true, false})  --> [true, false]
local w = brasa.tensor({0.5, -1}, {requires_grad = true})
print(w.requires_grad)  --> true]=])

fn('zeros', 'brasa.zeros(sizes..., opts?) | brasa.zeros({sizes}, opts?)',
  'A tensor of zeros.',
  'Sizes are integers, given one by one or as one table ({} is a 0-dim tensor).\n' .. OPTS,
  [=[
print(brasa.zeros(2, 3))  --> [[0., 0., 0.], [0., 0., 0.]]
print(brasa.zeros({2}, {dtype = 'i64'}))  --> [0, 0]
print(#brasa.zeros({}).shape)  --> 0]=])

fn('ones', 'brasa.ones(sizes..., opts?) | brasa.ones({sizes}, opts?)',
  'A tensor of ones.',
  'Sizes are integers, given one by one or as one table.\n' .. OPTS,
  [=[
print(brasa.ones(2, 2))  --> [[1., 1.], [1., 1.]]
local b = brasa.ones(3, {requires_grad = true})
print(b.requires_grad)  --> true]=])

fn('empty', 'brasa.empty(sizes..., opts?) | brasa.empty({sizes}, opts?)',
  'A tensor whose values are not set (fill it before reading).',
  'Like brasa.zeros without the cost of writing zeros: the values are whatever the memory held.\n' .. OPTS,
  [=[
local x = brasa.empty(2, 3):fill(7)
print(x)  --> [[7., 7., 7.], [7., 7., 7.]]]=])

fn('full', 'brasa.full(sizes..., value, opts?) | brasa.full({sizes}, value, opts?)',
  'A tensor filled with one value.',
  'The last number before opts is the value.\n' .. OPTS,
  [=[
print(brasa.full(2, 2, 7))  --> [[7., 7.], [7., 7.]]
print(brasa.full({3}, 1, {dtype = 'i64'}))  --> [1, 1, 1]]=])

fn('rand', 'brasa.rand(sizes..., opts?) | brasa.rand({sizes}, opts?)',
  'Uniform random numbers in [0, 1).',
  'Drawn from brasa\'s generator: brasa.manual_seed(n) makes them repeat.\n' .. OPTS,
  [=[
brasa.manual_seed(1)
local x = brasa.rand(2, 3)
print(x.shape[1], x.shape[2], x:ge(0):all():item(), x:lt(1):all():item())  --> 2 3 true true]=])

fn('randn', 'brasa.randn(sizes..., opts?) | brasa.randn({sizes}, opts?)',
  'Standard normal random numbers (mean 0, standard deviation 1).',
  'Drawn from brasa\'s generator: brasa.manual_seed(n) makes them repeat.\n' .. OPTS,
  [=[
brasa.manual_seed(1)
local w = brasa.randn(3, 2, {requires_grad = true})
print(w.shape[1], w.shape[2], w.requires_grad)  --> 3 2 true
print(brasa.randn(10000):mean():abs():item() < 0.05)  --> true]=])

fn('randint', 'brasa.randint(lo, hi, sizes..., opts?) | brasa.randint(lo, hi, {sizes}, opts?)',
  'Uniform random integers in [lo, hi], both ends included (like math.random).',
  'The dtype is i64 unless opts.dtype says otherwise.\n' .. OPTS,
  [=[
local d = brasa.randint(1, 6, 1000)   -- a thousand dice
print(d.dtype, d:min():item(), d:max():item())  --> i64 1 6]=])

fn('randperm', 'brasa.randperm(n)',
  'A random permutation of 1..n (i64).',
  'The values are 1-based, ready to index with (x:index_select(1, p), x[p]).',
  [=[
local p = brasa.randperm(5)
print((p:sort()))  --> [1, 2, 3, 4, 5]
local x = brasa.tensor{10, 20, 30, 40, 50}
print(x[p]:sum())  --> 150.]=])

fn('arange', 'brasa.arange(n, opts?) | brasa.arange(a, b, step?, opts?)',
  'The numbers a, a + step, ... up to b, b included (like `for i = a, b, step`).',
  [=[
arange(n) is 1..n. The end b is included when the steps land on it: the
count is floor((b - a) / step) + 1 (0 when b is before a). Integer
arguments give i64, any float argument gives f32; opts.dtype overrides.
Step may be negative; it must not be 0.]=],
  [=[
print(brasa.arange(1, 5))  --> [1, 2, 3, 4, 5]
print(brasa.arange(4))  --> [1, 2, 3, 4]
print(brasa.arange(5, 1, -2))  --> [5, 3, 1]
print(brasa.arange(0, 1, 0.25))  --> [0.0000, 0.2500, 0.5000, 0.7500, 1.0000]
print(brasa.arange(1, 3, {dtype = 'f64'}).dtype)  --> f64]=])

fn('linspace', 'brasa.linspace(a, b, n, opts?)',
  'n evenly spaced numbers from a to b, both included.',
  'f32 unless opts.dtype says otherwise.',
  [=[
print(brasa.linspace(0, 1, 5))  --> [0.0000, 0.2500, 0.5000, 0.7500, 1.0000]]=])

fn('eye', 'brasa.eye(n, m?, opts?)',
  'The identity matrix: n x m (m = n by default), ones on the diagonal.',
  nil,
  [=[
print(brasa.eye(2))  --> [[1., 0.], [0., 1.]]
print(brasa.eye(2, 3, {dtype = 'i64'}))  --> [[1, 0, 0], [0, 1, 0]]]=])

local LIKE = 'Same shape and device as x; its dtype unless opts.dtype is given; opts.requires_grad as for brasa.zeros.'
fn('zeros_like', 'brasa.zeros_like(x, opts?)', 'Zeros shaped like x.', LIKE, [=[
local x = brasa.tensor({{1, 2}, {3, 4}}, {dtype = 'i64'})
print(brasa.zeros_like(x))  --> [[0, 0], [0, 0]]]=])
fn('ones_like', 'brasa.ones_like(x, opts?)', 'Ones shaped like x.', LIKE, [=[
local x = brasa.zeros(2, 2)
print(brasa.ones_like(x, {dtype = 'i64'}))  --> [[1, 1], [1, 1]]]=])
fn('full_like', 'brasa.full_like(x, value, opts?)', 'A tensor shaped like x filled with value.', LIKE, [=[
print(brasa.full_like(brasa.zeros(3), 7))  --> [7., 7., 7.]]=])
fn('rand_like', 'brasa.rand_like(x, opts?)', 'Uniform numbers in [0, 1) shaped like x.', LIKE, [=[
local r = brasa.rand_like(brasa.zeros(2, 3))
print(r.shape[1], r.shape[2], r:lt(1):all():item())  --> 2 3 true]=])
fn('randn_like', 'brasa.randn_like(x, opts?)', 'Standard normal numbers shaped like x.', LIKE, [=[
local r = brasa.randn_like(brasa.zeros(4, {dtype = 'f64'}))
print(r.dtype, r:numel())  --> f64 4]=])

---------------------------------------------------------------------------
-- Engine settings and information
---------------------------------------------------------------------------

fn('manual_seed', 'brasa.manual_seed(n)',
  'Seeds brasa\'s random generator, so rand, randn, randint, randperm, dropout and shuffles repeat.',
  'It does not seed Lua\'s math.random (call math.randomseed too if you use it).',
  [=[
brasa.manual_seed(42)
local a = brasa.rand(3)
brasa.manual_seed(42)
print(a:equal(brasa.rand(3)))  --> true]=])

fn('initial_seed', 'brasa.initial_seed() -> integer',
  'The seed the generator started from: the last manual_seed, or the one drawn at start-up.',
  nil,
  [=[
brasa.manual_seed(7)
print(brasa.initial_seed())  --> 7]=])

fn('set_num_threads', 'brasa.set_num_threads(n)',
  'The number of threads brasa\'s kernels and OpenBLAS use (n >= 1).',
  [=[
One setting governs both brasa's thread pool and OpenBLAS, and the two never
run at once (oversubscribing a few cores costs several times the time).
The default is the number of cores.]=],
  [=[
local n = brasa.get_num_threads()
brasa.set_num_threads(1)
print(brasa.get_num_threads())  --> 1
brasa.set_num_threads(n)]=])

fn('get_num_threads', 'brasa.get_num_threads() -> integer',
  'The number of threads kernels use (see brasa.set_num_threads).', nil,
  [=[
print(brasa.get_num_threads() >= 1)  --> true]=])

fn('blas_info', 'brasa.blas_info() -> string',
  'Which BLAS library matrix products use, with its build configuration.', nil,
  [=[
print(brasa.blas_info():match('^%a+') ~= nil)  --> true
-- e.g. OpenBLAS 0.3.21 NO_LAPACKE DYNAMIC_ARCH NO_AFFINITY Haswell MAX_THREADS=64]=])

fn('clock', 'brasa.clock() -> number',
  'Seconds of a monotonic wall clock (for timing code; os.clock counts CPU time of all threads).', nil,
  [=[
local t0 = brasa.clock()
local y = brasa.randn(256, 256):matmul(brasa.randn(256, 256))
print(brasa.clock() - t0 >= 0)  --> true]=])

fn('bytes_in_use', 'brasa.bytes_in_use() -> integer',
  'Bytes of tensor memory allocated on the CPU right now.',
  [=[
Memory is freed when the last reference to a tensor goes; the collector is
told how many bytes tensors hold, so loops do not need collectgarbage().]=],
  [=[
local before = brasa.bytes_in_use()
local x = brasa.zeros(1000)              -- 4000 bytes of f32
print(brasa.bytes_in_use() - before >= 4000)  --> true]=])

fn('interrupt', 'brasa.interrupt()',
  'Asks running and later ops to stop: they raise "interrupted" until brasa.clear_interrupt().',
  [=[
Kernels poll the flag at chunk boundaries, so a long matrix product stops
early; the REPL calls this on Ctrl-C and clears it before the next line.
In a script, call brasa.clear_interrupt() before going on.]=],
  [=[
brasa.interrupt()
local ok, err = pcall(function() return brasa.ones(100, 100):exp() end)
brasa.clear_interrupt()
print(ok, err:match('interrupted'))  --> false interrupted
print(brasa.ones(2):exp():sum():item() > 5)  --> true]=])

fn('clear_interrupt', 'brasa.clear_interrupt()',
  'Clears the flag set by brasa.interrupt(), so ops run again.', nil,
  [=[
brasa.interrupt()
brasa.clear_interrupt()
print(brasa.ones(2):sum())  --> 2.]=])

fn('dtype_name', 'brasa.dtype_name(name) -> string',
  'The short name of a dtype: accepts long names such as \'float32\', \'half\' or \'int64\'.',
  'Raises on an unknown name, listing the valid ones.',
  [=[
print(brasa.dtype_name('float32'), brasa.dtype_name('half'), brasa.dtype_name('long'))  --> f32 f16 i64]=])

fn('cat', 'brasa.cat(tensors, dim?)',
  'Joins a list of tensors along an existing dim (1 by default).',
  'All tensors have the same shape except along dim. ' .. DIMS .. ' Differentiable.',
  [=[
local a, b = brasa.tensor{{1, 2}}, brasa.tensor{{3, 4}}
print(brasa.cat({a, b}))  --> [[1., 2.], [3., 4.]]
print(brasa.cat({a, b}, 2))  --> [[1., 2., 3., 4.]]]=])

fn('stack', 'brasa.stack(tensors, dim?)',
  'Joins a list of same-shaped tensors along a new dim (1 by default).',
  'dim may be 1..ndim + 1 (or negative). Differentiable.',
  [=[
local a, b = brasa.tensor{1, 2}, brasa.tensor{3, 4}
print(brasa.stack({a, b}))  --> [[1., 2.], [3., 4.]]
print(brasa.stack({a, b}, 2))  --> [[1., 3.], [2., 4.]]]=])

fn('where', 'brasa.where(cond, a, b)',
  'Elementwise choice: a where cond is true, b elsewhere.',
  [=[
cond is a bool tensor; a and b are tensors or numbers; the three broadcast
together and a and b promote as in arithmetic (where(c, 1, 0) is i64).
Differentiable in a and b.]=],
  [=[
local x = brasa.tensor{-2, 0.5, 3}
print(brasa.where(x:gt(0), x, 0))  --> [0.0000, 0.5000, 3.0000]
print(brasa.where(x:gt(0), 1, -1))  --> [-1, 1, 1]]=])

fn('is_tensor', 'brasa.is_tensor(v) -> boolean',
  'True when v is a brasa tensor.', nil,
  [=[
print(brasa.is_tensor(brasa.zeros(1)), brasa.is_tensor(3), brasa.is_tensor({}))  --> true false false]=])

entry('brasa.version', 'brasa.version', 'The version of brasa, a string like "0.1.0".', nil,
  [=[
print(type(brasa.version), brasa.version:match('^%d+%.%d+') ~= nil)  --> string true]=])

entry('brasa.Tensor', 'brasa.Tensor',
  'The table of tensor methods: x:exp() looks up brasa.Tensor.exp.',
  [=[
Every tensor shares this table; adding a function to it adds a method to
all tensors. help('Tensor:NAME') documents each method.]=],
  [=[
local names = {}
for k in pairs(brasa.Tensor) do names[#names + 1] = k end
print(#names > 100, brasa.Tensor.exp == brasa.exp)  --> true true]=])

fn('read_idx', 'brasa.read_idx(path) -> tensor',
  'Reads a tensor from an IDX file (the MNIST format), plain or gzip-compressed.',
  [=[
The header gives the element type and the sizes: type code 0x08 gives a u8
tensor, 0x0C i32, 0x0D f32, 0x0E f64. A missing, short or malformed file
raises an error naming the path. brasa.data.read_idx is the same function.]=],
  [=[
local path = os.tmpname()
local f = assert(io.open(path, 'wb'))
f:write(string.char(0, 0, 0x08, 2), string.pack('>i4>i4', 2, 3), string.char(1, 2, 3, 4, 5, 6))
f:close()
local x = brasa.read_idx(path)
os.remove(path)
print(x.dtype, x)  --> u8 [[1, 2, 3], [4, 5, 6]]]=])

---------------------------------------------------------------------------
-- Fields, indexing, operators
---------------------------------------------------------------------------

entry('Tensor.shape', 'x.shape -> {sizes}',
  'The sizes of x as a new Lua table ({} for a 0-dim tensor).',
  'A fresh table each time: changing it does not reshape x (use x:view or x:reshape).',
  [=[
local x = brasa.zeros(2, 3)
print(x.shape[1], x.shape[2], #x.shape)  --> 2 3 2
print(#brasa.tensor(5).shape)  --> 0]=])

entry('Tensor.dtype', 'x.dtype -> string',
  'The element type\'s short name: f32, f64, f16, bf16, i64, i32, u8 or bool.',
  'Change it with x:to(dtype) or the casts x:float(), x:long(), ...',
  [=[
print(brasa.zeros(2).dtype, brasa.arange(3).dtype, brasa.tensor{true}.dtype)  --> f32 i64 bool]=])

entry('Tensor.device', 'x.device -> string',
  'Where x lives: \'cpu\', or \'cuda:0\' for a GPU tensor.', nil,
  [=[
print(brasa.zeros(2).device)  --> cpu]=])

entry('Tensor.ndim', 'x.ndim -> integer',
  'The number of dims (#x.shape; x:dim() is the same).', nil,
  [=[
print(brasa.zeros(2, 3).ndim, brasa.tensor(1).ndim)  --> 2 0]=])

entry('Tensor.T', 'x.T',
  'The transpose of a matrix (x:t()): a view, no copy.', nil,
  [=[
local x = brasa.tensor{{1, 2, 3}, {4, 5, 6}}
print(x.T)  --> [[1., 4.], [2., 5.], [3., 6.]]]=])

entry('Tensor.grad', 'x.grad -> tensor or nil',
  'The gradient accumulated into a leaf by backward (nil before the first one).',
  [=[
backward adds into x.grad, so clear it between steps (x:zero_grad() or
x.grad = nil; optimisers do it for their parameters). x.grad == x.grad: the
same Lua value each time. It may be assigned a tensor of x's shape or nil.]=],
  [=[
local x = brasa.tensor({1, 2, 3}, {requires_grad = true})
print(x.grad)  --> nil
local y = (x * x):sum()
y:backward()
print(x.grad)  --> [2., 4., 6.]
x.grad = nil]=])

entry('Tensor.requires_grad', 'x.requires_grad -> boolean',
  'Whether ops on x are recorded for backward (settable on leaves: x.requires_grad = true).',
  'Only float tensors can require gradients. Results of ops on such tensors require grad too (outside brasa.no_grad).',
  [=[
local x = brasa.tensor{1, 2}
x.requires_grad = true
print(x.requires_grad, (x * 2).requires_grad)  --> true true
print(brasa.no_grad(function() return (x * 2).requires_grad end))  --> false]=])

entry('Tensor.is_leaf', 'x.is_leaf -> boolean',
  'True for a tensor not made by a recorded op (created by the user, or detached).',
  'Only leaves collect .grad during backward.',
  [=[
local x = brasa.tensor({1, 2}, {requires_grad = true})
print(x.is_leaf, (x * 2).is_leaf)  --> true false]=])

entry('Tensor.grad_fn', 'x.grad_fn -> string or nil',
  'The name of the backward node that made x (\'MulBackward\'), nil for leaves.', nil,
  [=[
local x = brasa.tensor({1, 2}, {requires_grad = true})
print(x.grad_fn, (x * 2).grad_fn)  --> nil MulBackward]=])

entry('Tensor indexing', 'x[i] | x[{i, j, ...}] | x[{{a, b}, {}, ...}] | x[mask] | x[ids]; x[...] = v',
  'Torch7-style indexing: 1-based numbers and inclusive ranges; reads give views or Lua values.',
  [=[
Every index is 1-based and negative ones count from the end (-1 is the last).
A table key holds one entry per dim, from the first; dims left out are kept
whole. Each entry is
  i        a number: selects i and drops the dim;
  {a, b}   a range from a to b, both included: keeps the dim;
  {a}      the single index a, keeping the dim with size 1;
  {}       the whole dim.
An index that names every dim with numbers (x[{2, 3}], or x[i] on a 1-D
tensor) gives a Lua value (a float, an integer for integer dtypes, a boolean
for bool) that is outside the graph: use x:select or a range to stay in it.
Otherwise the result is a view sharing x's memory (writing into the view
writes into x). x[mask] with a bool tensor gives the selected elements as a
1-D copy; x[ids] with an integer tensor of 1-based ids picks rows (dim 1)
like x:index_select(1, ids). An out-of-range index or 0 raises.

Writes: x[key] = v, where v is a number (fills) or a tensor (copied,
broadcast to the indexed part); x[mask] = number fills where mask is true.
A leaf that requires grad can be written only inside brasa.no_grad, and
writing into a tensor computed from such leaves (part of a graph) is not
supported yet: build the values first (brasa.where, masked_fill, cat), or
write into x:detach():clone().]=],
  [=[
local x = brasa.tensor{{1, 2, 3}, {4, 5, 6}}
print(x[2])  --> [4., 5., 6.]
print(x[{2, 3}], x[{-1, 1}])  --> 6.0 4.0
print(x[{{}, 2}])  --> [2., 5.]
print(x[{{1, 2}, {2, 3}}])  --> [[2., 3.], [5., 6.]]
print(x[{{2}, {}}])  --> [[4., 5., 6.]]
print(x[x:gt(3)])  --> [4., 5., 6.]
print(x[brasa.tensor({2, 1}, {dtype = 'i64'})])  --> [[4., 5., 6.], [1., 2., 3.]]
x[{1, 2}] = 0
x[{{}, 3}] = brasa.tensor{7, 8}
x[x:eq(4)] = -1
print(x)  --> [[1., 0., 7.], [-1., 5., 8.]]]=])

entry('Tensor operators', 'x + y | x - y | x * y | x / y | x ^ y | x % y | -x | #x',
  'Elementwise arithmetic with broadcasting; a Lua number may stand on either side.',
  PROMOTION .. [=[


x % y is remainder: the result has the sign of y, like Lua's % on numbers
and PyTorch's remainder (-3 % 2 is 1); x:fmod(y) keeps the sign of x. * is elementwise: use x:matmul(y) for matrix products. #x is the
size of the first dim. == compares identity (one Lua value per tensor), not
values: use x:eq(y) or x:equal(y). < and <= raise an error pointing to
x:lt(y) and x:le(y), because Lua would turn their result into a boolean;
use x:gt, x:ge, x:eq, x:ne likewise. There is no // operator: use
x:div(y):floor().]=],
  [=[
local x = brasa.tensor{1, 2, 3}
print(x + 1, 10 - x)  --> [2., 3., 4.] [9., 8., 7.]
print(x * x, x / 2)  --> [1., 4., 9.] [0.5000, 1.0000, 1.5000]
print(x ^ 2, 2 ^ x, -x)  --> [1., 4., 9.] [2., 4., 8.] [-1., -2., -3.]
print(brasa.tensor{-3, 5} % 2)  --> [1., 1.]
print(#x, x == x, x == x:clone())  --> 3 true false
local i = brasa.arange(3)
print((i * 0.5).dtype, (i / i).dtype, (brasa.tensor{true} + true).dtype)  --> f32 f32 i64
local ok, err = pcall(function() return x < x end)
print(ok, err:find('use x:lt(y)', 1, true) ~= nil)  --> false true]=])

---------------------------------------------------------------------------
-- Elementwise unary ops, and their in-place forms
---------------------------------------------------------------------------

-- {name, summary, kind, input, shown result, text?}; kind: 'float' (ints give
-- f32), 'same' (keeps the dtype), 'bool' (bool result).
local UNARY = {
  {'neg', 'Negation, -x.', 'same', '{-1, 2}', '[1., -2.]', 'Not defined for bool (use logical_not).'},
  {'abs', 'Absolute value.', 'same', '{-1.5, 2}', '[1.5000, 2.0000]', 'The gradient at 0 is 0.'},
  {'exp', 'e to the power x.', 'float', '{0, 1, 2}', '[1.0000, 2.7183, 7.3891]'},
  {'log', 'Natural logarithm (-inf at 0, nan below).', 'float', '{1, 10}', '[0.0000, 2.3026]'},
  {'log1p', 'log(1 + x), accurate for small x.', 'float', '{0, 1}', '[0.0000, 0.6931]'},
  {'expm1', 'exp(x) - 1, accurate for small x.', 'float', '{0, 1}', '[0.0000, 1.7183]'},
  {'sqrt', 'Square root (nan below 0).', 'float', '{1, 4, 9}', '[1., 2., 3.]',
    'The gradient at 0 is inf.'},
  {'rsqrt', 'Reciprocal square root, 1 / sqrt(x).', 'float', '{1, 4}', '[1.0000, 0.5000]'},
  {'sin', 'Sine (radians).', 'float', '{0, 1}', '[0.0000, 0.8415]'},
  {'cos', 'Cosine (radians).', 'float', '{0, 1}', '[1.0000, 0.5403]'},
  {'tan', 'Tangent (radians).', 'float', '{0, 1}', '[0.0000, 1.5574]'},
  {'tanh', 'Hyperbolic tangent.', 'float', '{0, 1}', '[0.0000, 0.7616]'},
  {'sigmoid', 'The logistic function 1 / (1 + exp(-x)).', 'float', '{0, 1}', '[0.5000, 0.7311]'},
  {'relu', 'max(x, 0).', 'same', '{-1, 0, 2}', '[0., 0., 2.]', 'The gradient at 0 is 0.'},
  {'sign', '-1, 0 or 1 by the sign of x.', 'same', '{-3, 0, 2}', '[-1., 0., 1.]', 'Its gradient is 0.'},
  {'floor', 'Rounds down.', 'same', '{-1.5, 1.5}', '[-2., 1.]', 'Its gradient is 0.'},
  {'ceil', 'Rounds up.', 'same', '{-1.5, 1.5}', '[-1., 2.]', 'Its gradient is 0.'},
  {'round', 'Rounds to the nearest integer, halves to even (2.5 -> 2).', 'same', '{0.5, 1.5, 2.5, 2.7}',
    '[0., 2., 2., 3.]', 'Its gradient is 0.'},
  {'trunc', 'Rounds toward zero.', 'same', '{-1.7, 1.7}', '[-1., 1.]', 'Its gradient is 0.'},
  {'reciprocal', '1 / x.', 'float', '{1, 2, 4}', '[1.0000, 0.5000, 0.2500]'},
  {'square', 'x * x.', 'same', '{-2, 3}', '[4., 9.]', 'Not defined for bool.'},
  {'erf', 'The error function.', 'float', '{0, 1}', '[0.0000, 0.8427]'},
  {'asin', 'Arcsine (nan outside [-1, 1]).', 'float', '{0, 1}', '[0.0000, 1.5708]'},
  {'acos', 'Arccosine (nan outside [-1, 1]).', 'float', '{0, 1}', '[1.5708, 0.0000]'},
  {'atan', 'Arctangent.', 'float', '{0, 1}', '[0.0000, 0.7854]'},
  {'sinh', 'Hyperbolic sine.', 'float', '{0, 1}', '[0.0000, 1.1752]'},
  {'cosh', 'Hyperbolic cosine.', 'float', '{0, 1}', '[1.0000, 1.5431]'},
  {'log2', 'Base-2 logarithm.', 'float', '{1, 8}', '[0., 3.]'},
  {'log10', 'Base-10 logarithm.', 'float', '{1, 100}', '[0., 2.]'},
  {'exp2', '2 to the power x.', 'float', '{1, 3}', '[2., 8.]'},
  {'logical_not', 'Logical negation: true where x is zero (or false).', 'bool', '{0, 2}', '[true, false]',
    'Any dtype; the result is bool. Not differentiable.'},
  {'isnan', 'True where x is NaN.', 'bool', '{1, 0/0}', '[false, true]', 'The result is bool.'},
  {'isinf', 'True where x is +inf or -inf.', 'bool', '{1, 1/0, -1/0}', '[false, true, true]',
    'The result is bool.'},
}

for _, u in ipairs(UNARY) do
  local name, summary, kind, input, shown, extra = u[1], u[2], u[3], u[4], u[5], u[6]
  local text = kind == 'float' and FLOAT_UNARY or kind == 'same' and SAME_UNARY or nil
  if extra then text = text and (text .. ' ' .. extra) or extra end
  op(name, 'x:' .. name .. '()', summary .. ' Elementwise.', text,
    'local x = brasa.tensor' .. input .. '\nprint(x:' .. name .. '())  --> ' .. shown)
  if kind ~= 'bool' then
    method(name .. '_', 'x:' .. name .. '_() -> x',
      'In-place ' .. name .. ': writes ' .. name .. '(x) into x and returns x.',
      'See Tensor:' .. name .. '. The result must keep x\'s dtype' ..
      (kind == 'float' and ' (an integer tensor cannot take ' .. name .. '_: use x:' .. name .. '())' or '') ..
      '; a leaf that requires grad can be changed in place only inside brasa.no_grad.',
      'local x = brasa.tensor' .. input .. '\nx:' .. name .. '_()\nprint(x)  --> ' .. shown)
  end
end

---------------------------------------------------------------------------
-- Elementwise binary ops
---------------------------------------------------------------------------

-- {name, signature args, summary, example lines, extra text}
local ARITH = {
  {'add', 'y', 'Elementwise sum, x + y.',
    'local x = brasa.tensor{1, 2}\nprint(x:add(brasa.tensor{10, 20}), x:add(1))  --> [11., 22.] [2., 3.]\n' ..
    'print(brasa.arange(2):add(0.5))  --> [1.5000, 2.5000]'},
  {'sub', 'y', 'Elementwise difference, x - y.',
    'local x = brasa.tensor{5, 7}\nprint(x:sub(brasa.tensor{1, 2}), brasa.sub(10, x))  --> [4., 5.] [5., 3.]'},
  {'mul', 'y', 'Elementwise product, x * y (not the matrix product: see matmul).',
    'local x = brasa.tensor{{1, 2}, {3, 4}}\nprint(x:mul(brasa.tensor{10, 100}))  --> [[10., 200.], [30., 400.]]\n' ..
    'print(brasa.arange(3):mul(0.5))  --> [0.5000, 1.0000, 1.5000]'},
  {'div', 'y', 'Elementwise quotient, x / y (always a float result).',
    'local i = brasa.tensor({1, 2, 3}, {dtype = \'i64\'})\nprint(i:div(2))  --> [0.5000, 1.0000, 1.5000]\n' ..
    'print(i:div(i).dtype, brasa.tensor{1, -1}:div(0))  --> f32 [inf, -inf]',
    'Integer division by zero gives inf or nan, as in floats.'},
  {'pow', 'y', 'Elementwise power, x ^ y.',
    'local x = brasa.tensor{1, 2, 3}\nprint(x:pow(2), brasa.pow(2, x))  --> [1., 4., 9.] [2., 4., 8.]\n' ..
    'print(brasa.arange(3):pow(2))  --> [1, 4, 9]',
    'An integer tensor to an integer power stays integer; to a float power it is f32.'},
  {'maximum', 'y', 'Elementwise maximum of x and y.',
    'print(brasa.tensor{1, 5}:maximum(brasa.tensor{3, 3}), brasa.tensor{1, 5}:maximum(4))  --> [3., 5.] [4., 5.]',
    'x:max(y) with a tensor y is the same. Where x == y the gradient is split equally.'},
  {'minimum', 'y', 'Elementwise minimum of x and y.',
    'print(brasa.tensor{1, 5}:minimum(brasa.tensor{3, 3}), brasa.tensor{1, 5}:minimum(4))  --> [1., 3.] [1., 4.]',
    'x:min(y) with a tensor y is the same. Where x == y the gradient is split equally.'},
  {'atan2', 'other', 'Elementwise atan(x / other) in the right quadrant: the angle of the point (other, x), in [-pi, pi].',
    'local y = brasa.tensor{1, 1, -1}\nprint(y:atan2(brasa.tensor{1, -1, -1}))  --> [0.7854, 2.3562, -2.3562]',
    'x is the y coordinate (first argument of C\'s atan2). Integer inputs give f32.'},
  {'fmod', 'y', 'Elementwise remainder of x / y with the sign of x (C\'s fmod).',
    'print(brasa.tensor{-3, 5, 5.5}:fmod(2))  --> [-1.0000, 1.0000, 1.5000]',
    'Unlike Lua\'s % on numbers (-3 % 2 == 1), the result takes the sign of x: see Tensor:remainder. Integer division by zero raises.'},
  {'remainder', 'y', 'Elementwise remainder of x / y with the sign of y (Python\'s and Lua\'s %); x % y is the same.',
    'print(brasa.tensor{-3, 5, 5.5}:remainder(2))  --> [1.0000, 1.0000, 1.5000]',
    'x:fmod(y) keeps the sign of x instead. Integer division by zero raises.'},
}

for _, b in ipairs(ARITH) do
  local name, arg, summary, example, extra = b[1], b[2], b[3], b[4], b[5]
  local text = PROMOTION .. (extra and ('\n\n' .. extra) or '') .. '\nDifferentiable.'
  op(name, 'x:' .. name .. '(' .. arg .. ')', summary, text, example)
end

local INPLACE_EX = {
  add = {'{1, 2}', '(10)', '[11., 12.]'},
  sub = {'{1, 2}', '(brasa.tensor{1, 1})', '[0., 1.]'},
  mul = {'{1, 2}', '(3)', '[3., 6.]'},
  div = {'{1, 2}', '(4)', '[0.2500, 0.5000]'},
  pow = {'{1, 2, 3}', '(2)', '[1., 4., 9.]'},
  maximum = {'{1, 5}', '(brasa.tensor{3, 3})', '[3., 5.]'},
  minimum = {'{1, 5}', '(brasa.tensor{3, 3})', '[1., 3.]'},
  atan2 = {'{1, -1}', '(brasa.tensor{1, 1})', '[0.7854, -0.7854]'},
  fmod = {'{5, -5}', '(3)', '[2., -2.]'},
  remainder = {'{5, -5}', '(3)', '[2., 1.]'},
}
for _, b in ipairs(ARITH) do
  local name = b[1]
  local ex = INPLACE_EX[name]
  method(name .. '_', 'x:' .. name .. '_(y) -> x',
    'In-place ' .. name .. ': writes x:' .. name .. '(y) into x and returns x.',
    INPLACE .. '\nSee Tensor:' .. name .. '.',
    'local x = brasa.tensor' .. ex[1] .. '\nx:' .. name .. '_' .. ex[2] .. '\nprint(x)  --> ' .. ex[3] ..
    (name == 'add' and '\nlocal i = brasa.arange(2)\nprint(pcall(i.add_, i, 0.5))  --> false ' ..
      'add_: result type f32 cannot be stored in place in a i64 tensor' or ''))
end

local CMP = {
  {'eq', 'x == y', '{1, 2, 3}', '(2)', '[false, true, false]'},
  {'ne', 'x ~= y', '{1, 2, 3}', '(2)', '[true, false, true]'},
  {'lt', 'x < y', '{1, 2, 3}', '(2)', '[true, false, false]'},
  {'le', 'x <= y', '{1, 2, 3}', '(2)', '[true, true, false]'},
  {'gt', 'x > y', '{1, 2, 3}', '(2)', '[false, false, true]'},
  {'ge', 'x >= y', '{1, 2, 3}', '(2)', '[false, true, true]'},
}
for _, c in ipairs(CMP) do
  local name, what, input, arg, shown = c[1], c[2], c[3], c[4], c[5]
  op(name, 'x:' .. name .. '(y)', 'Elementwise comparison ' .. what .. ', a bool tensor.',
    [=[
y is a tensor or a number; x and y broadcast and compare after promotion.
The result is bool and not differentiable. Lua's own comparison operators
cannot give tensors: use these methods (x < y raises).]=],
    'local x = brasa.tensor' .. input .. '\nprint(x:' .. name .. arg .. ')  --> ' .. shown ..
    '\nprint(x:' .. name .. '(brasa.tensor{2, 2, 2}):sum())  --> ' ..
    ({eq = 1, ne = 2, lt = 1, le = 2, gt = 1, ge = 2})[name])
end

local LOGICAL = {
  {'logical_and', 'and', '[true, false, false]'},
  {'logical_or', 'or', '[true, true, false]'},
  {'logical_xor', 'exclusive or', '[false, true, false]'},
}
for _, l in ipairs(LOGICAL) do
  op(l[1], 'x:' .. l[1] .. '(y)', 'Elementwise logical ' .. l[2] .. ', a bool tensor.',
    'Any dtype: nonzero counts as true. y is a tensor or a value; the two broadcast. Not differentiable.',
    'local a, b = brasa.tensor{true, true, false}, brasa.tensor{true, false, false}\nprint(a:' .. l[1] ..
    '(b))  --> ' .. l[3])
end

---------------------------------------------------------------------------
-- Activations and clamping
---------------------------------------------------------------------------

op('clamp', 'x:clamp(min?, max?)', 'Limits every element to [min, max].',
  'Either bound may be nil (no limit on that side); min > max raises. The gradient is 1 inside the range and 0 where the value was clamped. Not defined for bool.',
  [=[
local x = brasa.tensor{-1, 0.5, 2}
print(x:clamp(0, 1))  --> [0.0000, 0.5000, 1.0000]
print(x:clamp(nil, 1), x:clamp(0))  --> [-1.0000, 0.5000, 1.0000] [0.0000, 0.5000, 2.0000]]=])

op('leaky_relu', 'x:leaky_relu(slope?)', 'x where x > 0, slope * x elsewhere (slope 0.01 by default).', nil,
  [=[
print(brasa.tensor{-1, 0, 2}:leaky_relu(0.1))  --> [-0.1000, 0.0000, 2.0000]]=])

op('elu', 'x:elu(alpha?)', 'x where x > 0, alpha * (exp(x) - 1) elsewhere (alpha 1 by default).', nil,
  [=[
print(brasa.tensor{-1, 0, 2}:elu())  --> [-0.6321, 0.0000, 2.0000]]=])

op('softplus', 'x:softplus(beta?, threshold?)', 'log(1 + exp(beta * x)) / beta, a smooth relu (beta 1).',
  'Where beta * x > threshold (20 by default) the result is x itself, which avoids overflow.',
  [=[
print(brasa.tensor{-1, 0, 2}:softplus())  --> [0.3133, 0.6931, 2.1269]]=])

op('gelu', 'x:gelu(approximate?)', 'The Gaussian error linear unit, x * Phi(x).',
  'approximate = \'none\' (the default, exact with erf) or \'tanh\' (the tanh approximation).',
  [=[
local x = brasa.tensor{-1, 0, 2}
print(x:gelu())  --> [-0.1587, 0.0000, 1.9545]
print(x:gelu('tanh'))  --> [-0.1588, 0.0000, 1.9546]]=])

---------------------------------------------------------------------------
-- Reductions
---------------------------------------------------------------------------

local REDUCE = [=[
dim is a dim or a table of dims; without it every element is reduced and
the result is a 0-dim tensor (shape {}). keepdim = true keeps the reduced
dims with size 1. ]=] .. DIMS

op('sum', 'x:sum(dim?, keepdim?)', 'Sum of elements, over all of them or along dims.',
  REDUCE .. ' Integer and bool sums are i64. Differentiable.',
  [=[
local x = brasa.tensor{{1, 2}, {3, 4}}
print(x:sum())  --> 10.
print(x:sum(1), x:sum(2))  --> [4., 6.] [3., 7.]
print(x:sum(-1, true))  --> [[3.], [7.]]
print(brasa.tensor{true, true, false}:sum())  --> 2]=])

op('mean', 'x:mean(dim?, keepdim?)', 'Mean of elements, over all of them or along dims.',
  REDUCE .. ' Integer inputs give f32. Differentiable.',
  [=[
local x = brasa.tensor{{1, 2}, {3, 4}}
print(x:mean(), x:mean(1))  --> 2.5000 [2., 3.]
print(brasa.arange(4):float():mean())  --> 2.5000]=])

op('prod', 'x:prod(dim?, keepdim?)', 'Product of elements, over all of them or along dims.',
  REDUCE .. [=[
 Integer products are i64.
Gradient limitation: the gradient is computed as prod / x, so it is NaN
(0/0) at an element that is zero; it is exact when no element is zero.]=],
  [=[
local x = brasa.tensor{{1, 2}, {3, 4}}
print(x:prod(), x:prod(1))  --> 24. [3., 8.]
local w = brasa.tensor({2, 3, 4}, {requires_grad = true})
w:prod():backward()
print(w.grad)  --> [12., 8., 6.]]=])

op('logsumexp', 'x:logsumexp(dim?, keepdim?)', 'log(sum(exp(x))), computed without overflow.',
  REDUCE .. ' Differentiable (its gradient is the softmax).',
  [=[
local x = brasa.tensor{{1, 2}, {3, 4}}
print(x:logsumexp(2))  --> [2.3133, 4.3133]
print(brasa.tensor{1000, 1000}:logsumexp())  --> 1000.6932]=])

local VAR = [=[
dim is a dim or a table of dims (nil: all elements). opts is a table
{correction = 1, keepdim = false} (unbiased = false is correction = 0), or
give unbiased and keepdim as booleans. The sum of squared deviations is
divided by N - correction: by default N - 1 (Bessel's correction, as in
PyTorch). ]=] .. DIMS .. ' Differentiable.'

op('var', 'x:var(dim?, opts?) | x:var(dim?, unbiased?, keepdim?)', 'Variance, over all elements or along dims.',
  VAR,
  [=[
local x = brasa.tensor{1, 2, 3, 4}
print(x:var())  --> 1.6667
print(x:var(1, {correction = 0}), x:var(1, false))  --> 1.2500 1.2500
print(brasa.tensor{{1, 2}, {3, 5}}:var(2))  --> [0.5000, 2.0000]]=])

op('std', 'x:std(dim?, opts?) | x:std(dim?, unbiased?, keepdim?)', 'Standard deviation (square root of var).',
  VAR,
  [=[
local x = brasa.tensor{1, 2, 3, 4}
print(x:std())  --> 1.2910
print(x:std(1, {unbiased = false}))  --> 1.1180]=])

local MAXMIN = [=[
x:%s() reduces all elements to a 0-dim tensor. x:%s(dim, keepdim?)
returns two tensors: the values along dim and their 1-based indices (i64).
x:%s(y) with a tensor y is the elementwise %s. ]=] .. DIMS .. [=[

Ties: the index of the first occurrence is returned. Gradient: along a dim
it goes to the returned index; over all elements it is shared equally by
the elements that tie for the %s.]=]

op('max', 'x:max() | x:max(dim, keepdim?) -> values, indices | x:max(y)', 'Largest element(s).',
  MAXMIN:format('max', 'max', 'max', 'maximum', 'maximum'),
  [=[
local x = brasa.tensor{{1, 5}, {7, 2}}
print(x:max())  --> 7.
local v, i = x:max(2)
print(v, i)  --> [5., 7.] [2, 1]
print(brasa.tensor{3, 1, 3}:max(1))  --> 3. 1
print(x:max(brasa.tensor{4, 4}))  --> [[4., 5.], [7., 4.]]
local w = brasa.tensor({3, 1, 3}, {requires_grad = true})
w:max():backward()
print(w.grad)  --> [0.5000, 0.0000, 0.5000]]=])

op('min', 'x:min() | x:min(dim, keepdim?) -> values, indices | x:min(y)', 'Smallest element(s).',
  MAXMIN:format('min', 'min', 'min', 'minimum', 'minimum'),
  [=[
local x = brasa.tensor{{1, 5}, {7, 2}}
print(x:min())  --> 1.
local v, i = x:min(2)
print(v, i)  --> [1., 2.] [1, 2]
print(brasa.tensor{3, 1, 1}:min(1))  --> 1. 2
print(x:min(brasa.tensor{4, 4}))  --> [[1., 4.], [4., 2.]]]=])

local ARG = [=[
Without dim the index is into the flattened tensor (C order, 1-based), as a
0-dim i64 tensor; with dim, 1-based indices along it (keepdim keeps the dim
with size 1). Ties give the first occurrence. ]=] .. DIMS

op('argmax', 'x:argmax(dim?, keepdim?)', 'The 1-based index of the largest element.', ARG,
  [=[
local x = brasa.tensor{{2, 1}, {2, 5}}
print(x:argmax())  --> 4
print(x:argmax(2), x:argmax(1, true))  --> [1, 2] [[1, 2]]
print(brasa.tensor{3, 1, 3}:argmax())  --> 1]=])

op('argmin', 'x:argmin(dim?, keepdim?)', 'The 1-based index of the smallest element.', ARG,
  [=[
local x = brasa.tensor{{2, 1}, {0, 5}}
print(x:argmin())  --> 3
print(x:argmin(2))  --> [2, 1]
print(brasa.tensor{1, 3, 1}:argmin())  --> 1]=])

op('cumsum', 'x:cumsum(dim?)', 'Running sums along dim (1 by default).', DIMS .. ' Differentiable.',
  [=[
print(brasa.tensor{1, 2, 3}:cumsum())  --> [1., 3., 6.]
print(brasa.tensor{{1, 2}, {3, 4}}:cumsum(2))  --> [[1., 3.], [3., 7.]]]=])

op('cumprod', 'x:cumprod(dim?)', 'Running products along dim (1 by default).',
  DIMS .. [=[

Gradient limitation: the gradient divides by x, so it is NaN where an
element is zero; exact when no element is zero.]=],
  [=[
print(brasa.tensor{1, 2, 3, 4}:cumprod())  --> [1., 2., 6., 24.]
print(brasa.tensor{{1, 2}, {3, 4}}:cumprod(2))  --> [[1., 2.], [3., 12.]]]=])

op('all', 'x:all()', 'True (a 0-dim bool tensor) when every element is nonzero.',
  'Over all elements (there is no dim form). An empty tensor gives true.',
  [=[
print(brasa.tensor{1, 2}:all(), brasa.tensor{1, 0}:all())  --> true false
print(brasa.tensor{1, 2}:gt(0):all():item())  --> true]=])

op('any', 'x:any()', 'True (a 0-dim bool tensor) when some element is nonzero.',
  'Over all elements (there is no dim form). An empty tensor gives false.',
  [=[
print(brasa.tensor{0, 2}:any(), brasa.zeros(3):any())  --> true false]=])

op('norm', 'x:norm(p?, dim?, keepdim?)', 'The p-norm (sum |x|^p)^(1/p), 2 by default.',
  'p = 1: sum of absolute values; math.huge: the largest absolute value. dim as in sum (nil: all elements). Differentiable.',
  [=[
local x = brasa.tensor{{3, 4}, {-6, 8}}
print(x:norm())  --> 11.1803
print(x:norm(2, 2))  --> [5., 10.]
print(x:norm(1, 2), x:norm(math.huge))  --> [7., 14.] 8.]=])

---------------------------------------------------------------------------
-- Shapes and views
---------------------------------------------------------------------------

op('view', 'x:view(sizes...) | x:view({sizes})', 'The same elements seen with another shape (no copy).',
  [=[
The number of elements must match; one size may be -1 (inferred). x's
memory must be laid out compatibly (a transposed tensor usually is not):
then view raises and x:reshape (which copies when needed) works.]=],
  [=[
local x = brasa.arange(6)
print(x:view(2, 3))  --> [[1, 2, 3], [4, 5, 6]]
print(x:view({3, -1}))  --> [[1, 2], [3, 4], [5, 6]]]=])

op('reshape', 'x:reshape(sizes...) | x:reshape({sizes})', 'Another shape for the same elements: a view when possible, a copy otherwise.',
  'One size may be -1 (inferred). Elements keep their C (row-major) order.',
  [=[
local x = brasa.arange(6):view(2, 3)
print(x:t():reshape(6))  --> [1, 4, 2, 5, 3, 6]
print(x:reshape(3, -1).shape[1])  --> 3]=])

op('view_as', 'x:view_as(other)', 'x viewed with other\'s shape (x:view(other.shape)).', nil,
  [=[
print(brasa.arange(4):view_as(brasa.zeros(2, 2)))  --> [[1, 2], [3, 4]]]=])

op('flatten', 'x:flatten(start?, stop?)', 'Merges dims start..stop (both included; 1 and -1 by default) into one.',
  DIMS .. ' A view when possible.',
  [=[
local x = brasa.zeros(2, 3, 4)
print(x:flatten().shape[1])  --> 24
local y = x:flatten(2)
print(y.shape[1], y.shape[2])  --> 2 12]=])

op('t', 'x:t()', 'Transpose of a matrix (a view); 0-dim and 1-D tensors come back as they are.', nil,
  [=[
print(brasa.tensor{{1, 2, 3}, {4, 5, 6}}:t())  --> [[1., 4.], [2., 5.], [3., 6.]]]=])

op('transpose', 'x:transpose(dim1?, dim2?)', 'Swaps two dims (1 and 2 by default): a view.', DIMS,
  [=[
local x = brasa.zeros(2, 3, 4)
local y = x:transpose(1, 3)
print(y.shape[1], y.shape[2], y.shape[3])  --> 4 3 2]=])

op('permute', 'x:permute(dims...) | x:permute({dims})', 'Reorders all dims: dim k of the result is dim dims[k] of x (a view).',
  DIMS,
  [=[
local x = brasa.zeros(2, 3, 4)
local y = x:permute(3, 1, 2)
print(y.shape[1], y.shape[2], y.shape[3])  --> 4 2 3]=])

op('narrow', 'x:narrow(dim, start, length)', 'length elements along dim from start (1-based; negative from the end): a view.',
  DIMS,
  [=[
local x = brasa.tensor{1, 2, 3, 4, 5}
print(x:narrow(1, 2, 3), x:narrow(1, -2, 2))  --> [2., 3., 4.] [4., 5.]]=])

op('select', 'x:select(dim, index)', 'The slice at a 1-based index along dim, dropping that dim: a view.',
  DIMS .. ' Unlike x[i], a selected single element stays a 0-dim tensor in the graph.',
  [=[
local x = brasa.tensor{{1, 2}, {3, 4}}
print(x:select(1, 2), x:select(2, -1))  --> [3., 4.] [2., 4.]]=])

op('squeeze', 'x:squeeze(dim?)', 'Removes dims of size 1 (all of them, or only dim if it has size 1).', DIMS,
  [=[
local x = brasa.zeros(1, 3, 1)
print(#x:squeeze().shape, #x:squeeze(1).shape, #x:squeeze(2).shape)  --> 1 2 3]=])

op('unsqueeze', 'x:unsqueeze(dim)', 'Inserts a dim of size 1 at position dim (1..ndim + 1, or negative).',
  '-1 appends a last dim. A view.',
  [=[
local x = brasa.tensor{1, 2, 3}
print(x:unsqueeze(1))  --> [[1., 2., 3.]]
print(x:unsqueeze(-1))  --> [[1.], [2.], [3.]]]=])

op('expand', 'x:expand(sizes...) | x:expand({sizes})', 'Repeats dims of size 1 to a larger size without copying (a view).',
  'A size of -1 keeps that dim; new leading dims may be added. Do not write into an expanded tensor: its elements share memory. The gradient sums over the repeats.',
  [=[
local x = brasa.tensor{{1}, {2}}
print(x:expand(2, 3))  --> [[1., 1., 1.], [2., 2., 2.]]
print(x:expand(-1, 2))  --> [[1., 1.], [2., 2.]]]=])

op('expand_as', 'x:expand_as(other)', 'x:expand(other.shape).', nil,
  [=[
print(brasa.tensor{1, 2}:expand_as(brasa.zeros(2, 2)))  --> [[1., 2.], [1., 2.]]]=])

op('contiguous', 'x:contiguous()', 'x itself if its elements are in C order in memory, else a C-order copy.',
  'Differentiable.',
  [=[
local x = brasa.zeros(2, 3):t()
print(x:is_contiguous(), x:contiguous():is_contiguous())  --> false true]=])

op('clone', 'x:clone()', 'A copy of x with its own memory (differentiable: stays in the graph).',
  'Use x:detach():clone() for a copy outside the graph.',
  [=[
local x = brasa.tensor{1, 2}
local y = x:clone()
y[1] = 9
print(x, y)  --> [1., 2.] [9., 2.]]=])

op('numel', 'x:numel() -> integer', 'The number of elements.', nil,
  [=[
print(brasa.zeros(2, 3):numel(), brasa.tensor(5):numel())  --> 6 1]=])

op('split', 'x:split(size, dim?) -> {tensors}', 'Cuts x along dim (1 by default) into pieces of size elements (the last may be smaller).',
  'The pieces are views, in a Lua list. ' .. DIMS,
  [=[
local parts = brasa.arange(5):split(2)
print(#parts, parts[1], parts[3])  --> 3 [1, 2] [5]]=])

op('chunk', 'x:chunk(n, dim?) -> {tensors}', 'Cuts x along dim (1 by default) into n pieces of nearly equal size (views).',
  'Each piece has ceil(size / n) elements along dim, the last fewer, so there may be fewer than n pieces. ' .. DIMS,
  [=[
local parts = brasa.arange(5):chunk(2)
print(#parts, parts[1], parts[2])  --> 2 [1, 2, 3] [4, 5]]=])

---------------------------------------------------------------------------
-- Indexing ops
---------------------------------------------------------------------------

local IDS = [=[
Indices are 1-based, given as an i64/i32 tensor or a Lua list of integers;
0 or an index past the end raises.]=]

op('index_select', 'x:index_select(dim, index)', 'The slices of x at the given 1-based indices along dim (a copy).',
  IDS .. ' ' .. DIMS .. ' Differentiable (its gradient uses index_add).',
  [=[
local x = brasa.tensor{{1, 2}, {3, 4}, {5, 6}}
print(x:index_select(1, {3, 1}))  --> [[5., 6.], [1., 2.]]
print(x:index_select(2, brasa.tensor({2}, {dtype = 'i64'})))  --> [[2.], [4.], [6.]]]=])

op('gather', 'x:gather(dim, index)', 'Picks one element of x along dim for each entry of index.',
  [=[
index has as many dims as x; the result has index's shape. For dim = 2:
out[i][j] = x[i][index[i][j]]. ]=] .. IDS .. ' Differentiable (its gradient uses scatter_add).',
  [=[
local x = brasa.tensor{{1, 2}, {3, 4}}
local idx = brasa.tensor({{2}, {1}}, {dtype = 'i64'})
print(x:gather(2, idx))  --> [[2.], [3.]]]=])

op('scatter', 'x:scatter(dim, index, src)', 'A copy of x with src\'s values written at the 1-based positions index gives along dim.',
  [=[
The inverse of gather: for dim = 2, out[i][index[i][j]] = src[i][j]. src is
a tensor (shaped like index) or a number. x itself is not changed. Where an
index repeats, one of the writes wins.]=] .. ' ' .. IDS,
  [=[
local x = brasa.zeros(4)
print(x:scatter(1, {1, 3}, brasa.tensor{5, 6}))  --> [5., 0., 6., 0.]
print(x:scatter(1, {2, 4}, 7))  --> [0., 7., 0., 7.]]=])

op('scatter_add', 'x:scatter_add(dim, index, src)', 'A copy of x with src\'s values added at the positions index gives along dim.',
  'Like scatter, but repeated indices accumulate: for dim = 2, out[i][index[i][j]] += src[i][j]. ' .. IDS,
  [=[
local counts = brasa.zeros(3):scatter_add(1, {1, 1, 3}, brasa.ones(3))
print(counts)  --> [2., 0., 1.]]=])

op('index_add', 'x:index_add(dim, index, src)', 'A copy of x with slice k of src added to slice index[k] of x along dim.',
  'index is 1-D with one entry per slice of src along dim; repeats accumulate. ' .. IDS,
  [=[
local x = brasa.zeros(3, 2)
print(x:index_add(1, {1, 3, 1}, brasa.ones(3, 2)))  --> [[2., 2.], [0., 0.], [1., 1.]]]=])

op('masked_fill', 'x:masked_fill(mask, value)', 'A copy of x with value where the bool mask is true.',
  'mask broadcasts to x\'s shape. Differentiable in x (the filled positions get no gradient).',
  [=[
local x = brasa.tensor{{1, 2}, {3, 4}}
print(x:masked_fill(x:gt(2), 0))  --> [[1., 2.], [0., 0.]]
print(x:masked_fill(brasa.tensor{true, false}, -1))  --> [[-1., 2.], [-1., 4.]]]=])

method('masked_fill_', 'x:masked_fill_(mask, value) -> x', 'Writes value into x where the bool mask is true; returns x.',
  'In place; x[mask] = value is the same. See Tensor:masked_fill.',
  [=[
local x = brasa.tensor{1, 2, 3}
x:masked_fill_(x:ge(2), 0)
print(x)  --> [1., 0., 0.]]=])

op('masked_select', 'x:masked_select(mask)', 'The elements of x where the bool mask is true, as a 1-D tensor (C order).',
  'mask broadcasts to x\'s shape; x[mask] is the same. Differentiable.',
  [=[
local x = brasa.tensor{{1, 2}, {3, 4}}
print(x:masked_select(x:gt(1)))  --> [2., 3., 4.]]=])

op('nonzero', 'x:nonzero()', 'The 1-based positions of the nonzero elements: an N x ndim i64 tensor.',
  'Row k holds the indices (one per dim) of the k-th nonzero element in C order.',
  [=[
print(brasa.tensor{0, 5, 0, 2}:nonzero())  --> [[2], [4]]
print(brasa.tensor{{1, 0}, {0, 1}}:nonzero())  --> [[1, 1], [2, 2]]]=])

op('sort', 'x:sort(dim?, descending?) -> values, indices', 'Sorts along dim (the last by default), ascending unless descending = true.',
  [=[
Returns the sorted values and the 1-based indices (i64) they came from.
The sort is stable: equal values keep their order. NaN sorts as larger
than every number. ]=] .. DIMS .. ' Differentiable in the values.',
  [=[
local v, i = brasa.tensor{2, 1, 3, 1}:sort()
print(v, i)  --> [1., 1., 2., 3.] [2, 4, 1, 3]
print(brasa.tensor{{1, 5}, {7, 2}}:sort(2, true))  --> [[5., 1.], [7., 2.]] [[2, 1], [1, 2]]]=])

op('topk', 'x:topk(k, dim?, largest?, sorted?) -> values, indices', 'The k largest (or smallest) elements along dim (the last by default).',
  [=[
largest = false gives the k smallest; sorted = true (the default) orders
them, largest first (smallest first when largest = false). Indices are
1-based (i64). ]=] .. DIMS .. ' Differentiable in the values.',
  [=[
local v, i = brasa.tensor{1, 5, 7, 2}:topk(2)
print(v, i)  --> [7., 5.] [3, 2]
print(brasa.tensor{1, 5, 7, 2}:topk(1, 1, false))  --> [1.] [1]]=])

op('one_hot', 'x:one_hot(num_classes?)', 'Class ids 1..C as one-hot rows: shape x.shape .. {C}, i64.',
  [=[
x holds integer class ids from 1 (0 raises: ids are 1-based). Without
num_classes, C is the largest id in x.]=],
  [=[
local y = brasa.tensor({1, 3, 2}, {dtype = 'i64'})
print(y:one_hot())  --> [[1, 0, 0], [0, 0, 1], [0, 1, 0]]
print(y:one_hot(4):float():sum(1))  --> [1., 1., 1., 0.]]=])

---------------------------------------------------------------------------
-- Linear algebra
---------------------------------------------------------------------------

op('matmul', 'x:matmul(y)', 'Matrix product with NumPy\'s rules for 1-D and batched operands.',
  [=[
2-D @ 2-D is the matrix product; a 1-D operand acts as a row (left) or a
column (right) vector and its dim is dropped (1-D @ 1-D is the dot
product, a 0-dim tensor); more dims are batches that broadcast. Inner sizes
must agree: the error names both shapes. Through OpenBLAS (CPU) or cuBLAS.
Differentiable.]=],
  [=[
local a = brasa.tensor{{1, 2}, {3, 4}}
print(a:matmul(brasa.tensor{{1}, {1}}))  --> [[3.], [7.]]
print(a:matmul(brasa.tensor{1, 1}), brasa.tensor{1, 1}:matmul(a))  --> [3., 7.] [4., 6.]
print(brasa.ones(5, 2, 3):matmul(brasa.ones(3, 4)).shape[1])  --> 5]=])

op('mm', 'x:mm(y)', 'Matrix product of two matrices (2-D only; see matmul for other shapes).', 'Differentiable.',
  [=[
print(brasa.tensor{{1, 2}, {3, 4}}:mm(brasa.eye(2)))  --> [[1., 2.], [3., 4.]]]=])

op('bmm', 'x:bmm(y)', 'Batched matrix product: [B x n x k] times [B x k x m] gives [B x n x m].',
  'Both 3-D with the same batch size B (no broadcasting; see matmul). Differentiable.',
  [=[
local r = brasa.ones(2, 2, 3):bmm(brasa.ones(2, 3, 1))
print(r.shape[1], r.shape[2], r.shape[3], r[{1, 1, 1}])  --> 2 2 1 3.0]=])

op('dot', 'x:dot(y)', 'Dot product of two 1-D tensors of the same length (a 0-dim tensor).', 'Differentiable.',
  [=[
print(brasa.tensor{1, 2}:dot(brasa.tensor{3, 4}))  --> 11.]=])

op('outer', 'x:outer(y)', 'Outer product of two 1-D tensors: out[i][j] = x[i] * y[j].', 'Differentiable.',
  [=[
print(brasa.tensor{1, 2}:outer(brasa.tensor{3, 4, 5}))  --> [[3., 4., 5.], [6., 8., 10.]]]=])

---------------------------------------------------------------------------
-- Casts and devices
---------------------------------------------------------------------------

local CASTS = {
  {'float', 'f32', '{1.5, 2}', '[1.5000, 2.0000]'},
  {'double', 'f64', '{1.5, 2}', '[1.5000, 2.0000]'},
  {'half', 'f16', '{1.5, 2}', '[1.5000, 2.0000]'},
  {'bfloat16', 'bf16', '{1.5, 2}', '[1.5000, 2.0000]'},
  {'long', 'i64', '{1.7, -1.7}', '[1, -1]'},
  {'int', 'i32', '{1.7, -1.7}', '[1, -1]'},
  {'byte', 'u8', '{1, 300}', '[1, 44]'},
  {'bool', 'bool', '{0, 2}', '[false, true]'},
}
for _, c in ipairs(CASTS) do
  method(c[1], 'x:' .. c[1] .. '()', 'x converted to ' .. c[2] .. ' (x:to(\'' .. c[2] .. '\')).',
    [=[
A copy in the new dtype (x itself when it already has it). Floats to
integers truncate toward zero; out-of-range values wrap for u8; nonzero is
true for bool. Casts between float dtypes are differentiable.]=],
    'local x = brasa.tensor' .. c[3] .. '\nprint(x:' .. c[1] .. '())  --> ' .. c[4] ..
    '\nprint(x:' .. c[1] .. '().dtype)  --> ' .. c[2])
end

method('to', 'x:to(dtype) | x:to(device) | x:to(other)', 'x converted to a dtype, moved to a device, or to other\'s dtype.',
  [=[
dtype is a name ('f64', 'float64', 'long', ...); device is 'cpu' or
'cuda' ('cuda:0'), the latter where the CUDA backend is built; other is a
tensor whose dtype is taken. Returns x itself when nothing changes.]=],
  [=[
local x = brasa.tensor{1, 2}
print(x:to('f64').dtype, x:to('int64').dtype, x:to(brasa.arange(1)).dtype)  --> f64 i64 i64
print(x:to('cpu') == x)  --> true]=])

method('type', 'x:type() -> string | x:type(dtype)', 'Without argument, the type name (\'brasa.Tensor(f32)\'); with one, x:to(dtype).', nil,
  [=[
local x = brasa.tensor{1, 2}
print(x:type())  --> brasa.Tensor(f32)
print(x:type('i64'))  --> [1, 2]]=])

---------------------------------------------------------------------------
-- Data access and filling
---------------------------------------------------------------------------

method('item', 'x:item()', 'The only element of x as a Lua value: a float, an integer for integer dtypes, a boolean for bool.',
  'x must have exactly one element (any shape). The value is outside the graph.',
  [=[
print(brasa.tensor{2.5}:item(), brasa.arange(3):sum():item(), brasa.tensor(true):item())  --> 2.5 6 true
print(math.type(brasa.arange(1):item()))  --> integer]=])

method('totable', 'x:totable()', 'The elements as nested Lua tables (a plain value for a 0-dim tensor).',
  'Floats, integers or booleans by dtype, as x:item(); brasa.tensor(t) converts back.',
  [=[
local t = brasa.tensor{{1, 2}, {3, 4}}:totable()
print(#t, t[2][1])  --> 2 3.0
print(brasa.tensor(5):totable())  --> 5.0]=])

method('size', 'x:size(dim?)', 'The sizes as a table (like x.shape), or the size of one dim (1-based, negative from the end).',
  nil,
  [=[
local x = brasa.zeros(2, 3)
print(x:size(1), x:size(-1), #x:size())  --> 2 3 2]=])

method('stride', 'x:stride(dim?)', 'The strides (in elements) as a table, or the stride of one dim.',
  'The step in memory between neighbours along each dim: a transpose swaps them.',
  [=[
local x = brasa.zeros(2, 3)
print(x:stride(1), x:stride(2), x:t():stride(1))  --> 3 1 1]=])

method('dim', 'x:dim() -> integer', 'The number of dims (x.ndim).', nil,
  [=[
print(brasa.zeros(2, 3):dim())  --> 2]=])

method('is_contiguous', 'x:is_contiguous() -> boolean', 'Whether x\'s elements lie in C (row-major) order in memory.',
  'Views made by t, transpose, permute, expand or ranges may not be; x:contiguous() makes a C-order copy.',
  [=[
local x = brasa.zeros(2, 3)
print(x:is_contiguous(), x:t():is_contiguous())  --> true false]=])

local COPY = [=[
src broadcasts to x's shape and is cast to x's dtype; x keeps its shape,
dtype and identity (views of x see the new values). Recorded in the graph
when x or src require grad (not on a leaf that requires grad, outside
brasa.no_grad).]=]
method('copy', 'x:copy(src) -> x', 'Copies src\'s values into x in place and returns x.', COPY,
  [=[
local x = brasa.zeros(2, 2)
x:copy(brasa.tensor{1, 2})
print(x)  --> [[1., 2.], [1., 2.]]]=])
method('copy_', 'x:copy_(src) -> x', 'Copies src\'s values into x in place (the same as x:copy).', COPY,
  [=[
local x = brasa.zeros(3, {dtype = 'i64'})
x:copy_(brasa.tensor{1.7, 2, 3})
print(x)  --> [1, 2, 3]]=])

local FILL = 'value is a number or a boolean (stored as 1 or 0 in numeric dtypes). In place; returns x.'
method('fill', 'x:fill(value) -> x', 'Sets every element of x to value.', FILL,
  [=[
print(brasa.zeros(3):fill(7))  --> [7., 7., 7.]]=])
method('fill_', 'x:fill_(value) -> x', 'Sets every element of x to value (the same as x:fill).', FILL,
  [=[
local x = brasa.zeros(2, {dtype = 'bool'})
x:fill_(true)
print(x)  --> [true, true]]=])
method('zero_', 'x:zero_() -> x', 'Sets every element of x to zero; returns x.', nil,
  [=[
print(brasa.ones(3):zero_())  --> [0., 0., 0.]]=])

method('uniform_', 'x:uniform_(a?, b?) -> x', 'Fills x with uniform random numbers in [a, b) (0 and 1 by default).',
  'From brasa\'s generator (brasa.manual_seed). In place; returns x.',
  [=[
local x = brasa.empty(1000):uniform_(-1, 1)
print(x:ge(-1):all():item(), x:lt(1):all():item())  --> true true]=])

method('normal_', 'x:normal_(mean?, std?) -> x', 'Fills x with normal random numbers (mean 0, std 1 by default).',
  'From brasa\'s generator (brasa.manual_seed). In place; returns x.',
  [=[
local x = brasa.empty(10000):normal_(5, 0.1)
print(math.abs(x:mean():item() - 5) < 0.01)  --> true]=])

method('bernoulli_', 'x:bernoulli_(p?) -> x', 'Fills x with 1 (probability p, 0.5 by default) or 0.',
  'From brasa\'s generator (brasa.manual_seed). In place; returns x. Dropout masks are made this way.',
  [=[
local m = brasa.empty(1000):bernoulli_(0.2)
print(m:eq(0):logical_or(m:eq(1)):all():item(), m:mean():item() < 0.3)  --> true true]=])

method('allclose', 'x:allclose(y, rtol?, atol?) -> boolean', 'Whether |x - y| <= atol + rtol * |y| everywhere (rtol 1e-5, atol 1e-8).',
  'y is a tensor that broadcasts with x, or a number. Any NaN makes it false. Computed in f64 outside the graph.',
  [=[
local x = brasa.tensor{1, 2, 3}
print(x:allclose(brasa.tensor{1, 2, 3.000001}), x:allclose(x + 0.1))  --> true false
print(x:allclose(x + 0.1, 0, 0.2))  --> true]=])

method('equal', 'x:equal(y) -> boolean', 'Whether x and y have the same shape and the same values.',
  'Values compare after promotion (an f32 1 equals an i64 1). Outside the graph.',
  [=[
local x = brasa.tensor{1, 2}
print(x:equal(brasa.tensor{1, 2}), x:equal(brasa.tensor{{1, 2}}), x:equal(brasa.arange(2)))  --> true false true]=])

---------------------------------------------------------------------------
-- Registration and binding
---------------------------------------------------------------------------

--- Rewraps a text to lines of at most `width` (76) characters: paragraphs
-- are separated by blank lines; indented lines (lists, code) stay as written.
function M.reflow(text, width)
  if not text then return nil end
  width = width or 76
  local out, words = {}, {}
  local function flush()
    local line = ''
    for _, w in ipairs(words) do
      if line ~= '' and #line + 1 + #w > width then
        out[#out + 1] = line
        line = w
      else
        line = line == '' and w or line .. ' ' .. w
      end
    end
    if line ~= '' then out[#out + 1] = line end
    words = {}
  end
  for line in (text .. '\n'):gmatch('([^\n]*)\n') do
    if line:match('^%s*$') then
      flush()
      if out[#out] ~= '' then out[#out + 1] = '' end
    elseif line:match('^%s') then
      flush()
      out[#out + 1] = line
    else
      for w in line:gmatch('%S+') do words[#words + 1] = w end
    end
  end
  flush()
  while out[#out] == '' do out[#out] = nil end
  return table.concat(out, '\n')
end

for _, e in ipairs(list) do
  e.text = M.reflow(e.text)
  doc.add(e)
end

-- The submodule tables of brasa whose own files document them.
local SUBMODULES = {nn = true, optim = true, data = true, metrics = true, callbacks = true,
                    plot = true, text = true, help = true, doc = true}

--- Binds every documented function of the core to its entry: 'Tensor:NAME'
-- to methods[NAME]; 'brasa.NAME' to module[NAME] unless that value is also
-- the method NAME (then the method's entry keeps it); 'brasa.autograd.NAME'
-- to module.autograd[NAME] unless that value is already bound. Reads the
-- module with rawget, so submodules that load on first use stay unloaded.
function M.bind(module, methods)
  methods = methods or rawget(module, 'Tensor') or {}
  local names = doc.names()
  for _, name in ipairs(names) do
    local m = name:match('^Tensor:([%w_]+)$')
    if m then doc.bind(rawget(methods, m), name) end
  end
  for _, name in ipairs(names) do
    local k = name:match('^brasa%.([%w_]+)$')
    if k then
      local v = rawget(module, k)
      local shared = v ~= nil and rawget(methods, k) == v and doc.get('Tensor:' .. k) ~= nil
      if (type(v) == 'function' or type(v) == 'table') and not shared and not SUBMODULES[k] then
        doc.bind(v, name)
      end
    end
  end
  local ag = rawget(module, 'autograd')
  if type(ag) == 'table' then
    for _, name in ipairs(names) do
      local k = name:match('^brasa%.autograd%.([%w_]+)$')
      if k and ag[k] ~= nil and not doc.get(ag[k]) then doc.bind(ag[k], name) end
    end
  end
end

--- Binds the functions of the finished module table (call it once `brasa`
-- is complete: init.lua does, right after require 'brasa.docs'), including
-- those written in Lua on the module itself (no_grad, enable_grad,
-- is_tensor).
function M.bind_all(brasa)
  M.bind(brasa, rawget(brasa, 'Tensor'))
end

-- What can be bound now: the C module's functions and the methods table
-- (Lua-written methods such as allclose are installed on it already).
local core = package.loaded['brasa.core']
if core then M.bind(core, core.Tensor) end

M.entries = list
return M
