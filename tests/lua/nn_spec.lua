-- The module system of brasa.nn: registration, parameters and their names,
-- state_dict round trips and load errors, modes, freezing, apply, the class
-- helper, printing, summary, regularisers, conversion, initialisers and the
-- containers.

local brasa = require 'brasa'
local nn = brasa.nn
local F = nn.functional

local function err(f, ...)
  local ok, e = pcall(f, ...)
  assert.is_false(ok, 'no error')
  return tostring(e)
end

local function course_cnn()
  return nn.Sequential{
    nn.Conv2d(1, 32, 3, {padding = 1}), nn.ReLU(), nn.MaxPool2d(2),
    nn.Flatten(), nn.Linear(32 * 14 * 14, 10),
  }
end

describe('nn', function()
  it('is brasa.nn and require("brasa.nn")', function()
    assert.are.equal(require('brasa.nn'), brasa.nn)
    assert.are.equal(require('brasa.nn.init'), nn.init)
    assert.are.equal(require('brasa.nn.functional'), nn.functional)
  end)
end)

describe('parameters', function()
  it('come in registration order, own before children, without duplicates', function()
    local shared = nn.Linear(3, 3)
    local m = nn.Sequential{nn.Linear(2, 3), shared, nn.ReLU(), shared}
    local ps = m:parameters()
    assert.are.equal(4, #ps)
    assert.are.equal(m[1].weight, ps[1])
    assert.are.equal(m[1].bias, ps[2])
    assert.are.equal(shared.weight, ps[3])
    assert.are.equal(shared.bias, ps[4])
    assert.are.equal(2 * 3 + 3 + 9 + 3, m:num_parameters())
  end)

  it('have dotted names like PyTorch (1-based children of containers)', function()
    local Net = nn.Module:extend('Net')
    function Net:init()
      self.scale = nn.Parameter(brasa.ones(1))
      self.encoder = nn.Sequential{nn.Linear(4, 3), nn.Tanh(), nn.Linear(3, 2)}
      self.head = nn.Linear(2, 1, {bias = false})
    end
    local names = {}
    for name, p in Net():named_parameters() do names[#names + 1] = name .. ':' .. #p.shape end
    assert.are.same({'scale:1', 'encoder.1.weight:2', 'encoder.1.bias:1', 'encoder.3.weight:2',
                     'encoder.3.bias:1', 'head.weight:2'}, names)
  end)

  it('are leaves that require grad; buffers are not parameters', function()
    local bn = nn.BatchNorm2d(4)
    assert.are.equal(2, #bn:parameters())
    for _, p in ipairs(bn:parameters()) do assert.is_true(p.requires_grad and p.is_leaf) end
    local bufs = {}
    for name in bn:named_buffers() do bufs[#bufs + 1] = name end
    assert.are.same({'running_mean', 'running_var', 'num_batches_tracked'}, bufs)
    assert.are.equal('i64', bn.num_batches_tracked.dtype)
    assert.is_false(bn.running_mean.requires_grad)
  end)

  it('follow assignment: replacing and removing', function()
    local m = nn.Linear(2, 2)
    m.bias = nil
    assert.are.equal(1, #m:parameters())
    m.bias = nn.Parameter(brasa.zeros(2))
    assert.are.equal(2, #m:parameters())
    m.extra = brasa.zeros(3)           -- a plain tensor: an attribute
    assert.are.equal(2, #m:parameters())
    assert.matches("cannot assign a number to parameter 'weight'", err(function() m.weight = 3 end), 1, true)
  end)

  it('zero_grad clears every gradient', function()
    local m = nn.Linear(3, 2)
    m(brasa.randn(4, 3)):sum():backward()
    assert.is_not_nil(m.weight.grad)
    m:zero_grad()
    assert.is_nil(m.weight.grad)
    assert.is_nil(m.bias.grad)
  end)
end)

describe('children and modules', function()
  it('list direct children and every module once', function()
    local inner = nn.Sequential{nn.Linear(2, 2), nn.ReLU()}
    local m = nn.Sequential{inner, nn.Linear(2, 1), inner}
    assert.are.equal(2, #m:children())
    local all = m:modules()
    assert.are.equal(5, #all)   -- m, inner, its two layers, the Linear
    assert.are.equal(m, all[1])
    local names = {}
    for name, mod in m:named_modules() do names[#names + 1] = name .. '=' .. mod:type_name() end
    assert.are.same({'=Sequential', '1=Sequential', '1.1=Linear', '1.2=ReLU', '2=Linear'}, names)
  end)
end)

describe('state_dict', function()
  it('round-trips parameters and buffers between two models', function()
    local function make()
      return nn.Sequential{nn.Linear(4, 3), nn.BatchNorm1d(3), nn.Linear(3, 2)}
    end
    local a, b = make(), make()
    brasa.no_grad(function() a[2].running_mean:fill_(0.5) end)
    local sd = a:state_dict()
    local keys = {}
    for k in pairs(sd) do keys[#keys + 1] = k end
    assert.are.same({'1.weight', '1.bias', '2.weight', '2.bias', '3.weight', '3.bias', '2.running_mean',
                     '2.running_var', '2.num_batches_tracked'}, keys)
    local r = b:load_state_dict(sd)
    assert.are.same({}, r.missing_keys)
    assert.is_true(b[1].weight:equal(a[1].weight))
    assert.is_true(b[3].bias:equal(a[3].bias))
    assert.is_true(b[2].running_mean:equal(a[2].running_mean))
    assert.are_not.equal(b[1].weight, a[1].weight)   -- copied, not shared
    assert.is_true(b[1].weight.requires_grad and b[1].weight.is_leaf)
  end)

  it('refuses shapes that differ, naming the key and both shapes, and copies nothing', function()
    local a = nn.Sequential{nn.Linear(4, 3), nn.Linear(3, 2)}
    local b = nn.Sequential{nn.Linear(4, 3), nn.Linear(3, 5)}
    local before = b[1].weight:clone()
    local e = err(function() b:load_state_dict(a:state_dict()) end)
    assert.matches('size mismatch for 2.weight: the state_dict has [2x3], the model [5x3]', e, 1, true)
    assert.matches('size mismatch for 2.bias: the state_dict has [2], the model [5]', e, 1, true)
    assert.is_true(b[1].weight:equal(before))
  end)

  it('reports missing and unexpected keys (errors when strict)', function()
    local m = nn.Sequential{nn.Linear(2, 2)}
    local sd = m:state_dict()
    sd['1.bias'] = nil
    sd['9.weight'] = brasa.zeros(1)
    local e = err(function() m:load_state_dict(sd) end)
    assert.matches('missing keys: 1.bias', e, 1, true)
    assert.matches('unexpected keys: 9.weight', e, 1, true)
    local r = m:load_state_dict(sd, {strict = false})
    assert.are.same({'1.bias'}, r.missing_keys)
    assert.are.same({'9.weight'}, r.unexpected_keys)
    assert.matches('1.weight: a tensor expected, got number', err(function()
      m:load_state_dict({['1.weight'] = 1, ['1.bias'] = brasa.zeros(2)}) end), 1, true)
  end)

  it('leaves out non-persistent buffers', function()
    local m = nn.Module:extend('WithBuffers')()
    m:register_buffer('kept', brasa.zeros(2))
    m:register_buffer('scratch', brasa.zeros(2), {persistent = false})
    local sd = m:state_dict()
    assert.is_not_nil(sd.kept)
    assert.is_nil(sd.scratch)
    assert.are.equal(2, #m:buffers())
    assert.are.equal(0, #m:parameters())
  end)
end)

describe('modes', function()
  it('train() and eval() reach every module', function()
    local m = nn.Sequential{nn.Linear(2, 2), nn.Sequential{nn.Dropout(0.5), nn.ReLU()}}
    for _, x in ipairs(m:modules()) do assert.is_true(x.training) end
    assert.are.equal(m, m:eval())
    for _, x in ipairs(m:modules()) do assert.is_false(x.training) end
    m:train()
    for _, x in ipairs(m:modules()) do assert.is_true(x.training) end
    m:train(false)
    assert.is_false(m[2][1].training)
  end)

  local dit = F.dropout and it or pending
  dit('Dropout drops in training and passes through in evaluation', function()
    local d = nn.Dropout(0.5)
    local x = brasa.ones(1000)
    brasa.manual_seed(1)
    local y = d(x)
    local zeros = y:eq(0):sum():item()
    assert.is_true(zeros > 400 and zeros < 600)
    assert.near(2, y:max():item(), 1e-6)
    d:eval()
    assert.are.equal(x, d(x))
  end)
end)

describe('freeze and apply', function()
  it('freeze stops gradients, unfreeze restores them', function()
    local base = nn.Sequential{nn.Linear(3, 4), nn.ReLU()}
    local model = nn.Sequential{base, nn.Linear(4, 2)}
    assert.are.equal(base, base:freeze())
    assert.is_false(base[1].weight.requires_grad)
    model(brasa.randn(5, 3)):sum():backward()
    assert.is_nil(base[1].weight.grad)
    assert.is_not_nil(model[2].weight.grad)
    local t = model:summary_table()
    assert.are.equal(10, t.trainable)
    assert.are.equal(16, t.non_trainable)
    base:unfreeze()
    assert.is_true(base[1].weight.requires_grad)
  end)

  it('apply visits children first, then the module', function()
    local m = nn.Sequential{nn.Linear(2, 2), nn.Sequential{nn.Linear(2, 2)}}
    local seen = {}
    m:apply(function(x) seen[#seen + 1] = x:type_name() end)
    assert.are.same({'Linear', 'Linear', 'Sequential', 'Sequential'}, seen)
    m:apply(function(x) if x:type_name() == 'Linear' then nn.init.zeros_(x.weight) end end)
    assert.are.equal(0, m[2][1].weight:abs():sum():item())
  end)
end)

describe('custom modules', function()
  it('are written with Module:extend, init and forward', function()
    local MyNet = nn.Module:extend('MyNet')
    function MyNet:init(n_in, n_hidden)
      self.fc1 = nn.Linear(n_in, n_hidden)
      self.fc2 = nn.Linear(n_hidden, 1)
      self.n_hidden = n_hidden
    end
    function MyNet:forward(x) return self.fc2(self.fc1(x):relu()):sigmoid() end
    local net = MyNet(4, 8)
    assert.are.equal('MyNet', net:type_name())
    assert.are.equal(8, net.n_hidden)
    assert.are.equal(4, #net:parameters())
    local y = net(brasa.randn(3, 4))
    assert.are.same({3, 1}, y.shape)
    assert.are.same({'fc1', 'fc2'}, (function()
      local t = {}
      for name in net:named_children() do t[#t + 1] = name end
      return t
    end)())
  end)

  it('subclass layers and call the parent through super', function()
    local Scaled = nn.Linear:extend('ScaledLinear')
    function Scaled:init(a, b, s)
      Scaled.super.init(self, a, b)
      self.s = s
    end
    function Scaled:forward(x) return Scaled.super.forward(self, x) * self.s end
    local m = Scaled(3, 2, 10)
    local x = brasa.randn(2, 3)
    assert.is_true(m(x):allclose(nn.Linear.forward(m, x) * 10))
    assert.are.equal(2, #m:parameters())
    assert.matches('ScaledLinear%(3 %-> 2%)', tostring(m))
  end)

  it('say when forward is missing', function()
    local Empty = nn.Module:extend('Empty')
    assert.matches('Empty%(%): forward is not defined', err(function() return Empty()(1) end))
  end)

  it('can be extended only with a name', function()
    assert.matches('class name', err(function() return nn.Module:extend() end))
  end)
end)

describe('printing', function()
  it('shows the tree with parameter counts', function()
    local s = tostring(course_cnn())
    assert.are.equal([[
Sequential(  -- 63,050 parameters
  (1): Conv2d(1 -> 32, 3x3, padding=1)  -- 320 parameters
  (2): ReLU()
  (3): MaxPool2d(2x2)
  (4): Flatten()
  (5): Linear(6272 -> 10)  -- 62,730 parameters
)]], s)
  end)

  it('shows options that differ from the defaults', function()
    assert.are.equal('Conv2d(4 -> 8, 3x2, stride=2, padding=1, dilation=2, groups=2, bias=false)  -- 96 parameters',
      tostring(nn.Conv2d(4, 8, {3, 2}, {stride = 2, padding = 1, dilation = 2, groups = 2, bias = false})))
    assert.are.equal('BatchNorm2d(16, momentum=0.01)  -- 32 parameters', tostring(nn.BatchNorm2d(16, {momentum = 0.01})))
    assert.are.equal('LeakyReLU(negative_slope=0.2)', tostring(nn.LeakyReLU(0.2)))
    assert.are.equal('Softmax(dim=2)', tostring(nn.Softmax{dim = 2}))
    assert.are.equal("CrossEntropyLoss(label_smoothing=0.1, reduction='sum')",
      tostring(nn.CrossEntropyLoss{reduction = 'sum', label_smoothing = 0.1}))
  end)
end)

describe('summary', function()
  it("gives the course CNN's table: shapes, counts and totals", function()
    local m = course_cnn()
    m:train()
    local t = m:summary_table({1, 28, 28})
    assert.are.equal(5, #t.rows)
    local want = {
      {'1', 'Conv2d', {1, 32, 28, 28}, 320}, {'2', 'ReLU', {1, 32, 28, 28}, 0},
      {'3', 'MaxPool2d', {1, 32, 14, 14}, 0}, {'4', 'Flatten', {1, 6272}, 0},
      {'5', 'Linear', {1, 10}, 62730},
    }
    for i, w in ipairs(want) do
      local r = t.rows[i]
      assert.are.same(w, {r.name, r.type, r.output_shape, r.params})
    end
    assert.are.equal(63050, t.total)
    assert.are.equal(63050, t.trainable)
    assert.are.equal(0, t.non_trainable)
    assert.matches('1 (Conv2d)', t.text, 1, true)
    assert.matches('(None, 32, 28, 28)', t.text, 1, true)
    assert.matches('Total params: 63,050', t.text, 1, true)
    assert.matches('Trainable params: 63,050', t.text, 1, true)
    assert.matches('Non-trainable params: 0', t.text, 1, true)
    assert.is_true(m.training and m[1].training)   -- the mode is restored
  end)

  it('shows ? before any forward pass, then the last shapes', function()
    local m = nn.Sequential{nn.Linear(3, 2), nn.ReLU()}
    local t = m:summary_table()
    assert.is_nil(t.rows[1].output_shape)
    assert.matches('?', t.text, 1, true)
    m(brasa.randn(7, 3))
    t = m:summary_table()
    assert.are.same({7, 2}, t.rows[1].output_shape)
    assert.matches('(None, 2)', t.text, 1, true)
  end)

  it('counts BatchNorm statistics as non-trainable (as Keras)', function()
    local t = nn.Sequential{nn.Linear(4, 8), nn.BatchNorm1d(8)}:summary_table()
    assert.are.equal(40 + 32, t.total)
    assert.are.equal(40 + 16, t.trainable)
    assert.are.equal(16, t.non_trainable)
  end)

  it('prints through print_fn and returns nothing', function()
    local out
    local r = table.pack(course_cnn():summary({1, 28, 28}, {print_fn = function(s) out = s end}))
    assert.are.equal(0, r.n)
    assert.matches('Model: "Sequential"', out, 1, true)
  end)

  it('says when the input shape does not fit the model', function()
    assert.matches('Linear%(3 %-> 2%): input %[1x5%] has 5 features',
      err(function() nn.Sequential{nn.Linear(3, 2)}:summary({5}) end))
  end)
end)

describe('regularizers', function()
  local R = nn.regularizers

  it("l2(c) adds c * sum(w^2), Keras's definition", function()
    local m = nn.Sequential{nn.Linear(3, 2, {weight_regularizer = R.l2(0.01)}), nn.Linear(2, 1)}
    local w = m[1].weight
    local want = 0.01 * (w * w):sum():item()
    local r = m:regularization_loss()
    assert.are.same({}, r.shape)
    assert.near(want, r:item(), 1e-6)
    r:backward()
    assert.is_true(w.grad:allclose(w * 0.02, 1e-5))
    assert.is_nil(m[2].weight.grad)
  end)

  it('l1, l1_l2, bias regularizers and the kernel_regularizer alias', function()
    local m = nn.Linear(3, 2, {kernel_regularizer = R.l1(0.1), bias_regularizer = R.l1_l2(0.2, 0.3)})
    local w, b = m.weight, m.bias
    local want = 0.1 * w:abs():sum():item() + 0.2 * b:abs():sum():item() + 0.3 * (b * b):sum():item()
    assert.near(want, m:regularization_loss():item(), 1e-5)
    assert.are.equal('l2(0.01)', tostring(R.l2()))
    assert.are.equal('l1_l2(0.2, 0.3)', tostring(R.l1_l2(0.2, 0.3)))
    assert.matches('factors must be numbers >= 0', err(R.l2, -1))
  end)

  it('give 0 without regularizers', function()
    assert.are.equal(0, nn.Linear(2, 2):regularization_loss():item())
  end)

  it('apply to conv and embedding layers', function()
    local c = nn.Conv2d(1, 2, 3, {weight_regularizer = R.l2(1)})
    assert.near((c.weight * c.weight):sum():item(), c:regularization_loss():item(), 1e-5)
    local e = nn.Embedding(5, 2, {embeddings_regularizer = R.l1(1)})
    assert.near(e.weight:abs():sum():item(), e:regularization_loss():item(), 1e-5)
  end)
end)

describe('conversion', function()
  it('to(dtype) converts parameters and floating buffers, keeping leaves', function()
    local m = nn.Sequential{nn.Linear(2, 3), nn.BatchNorm1d(3)}
    local w32 = m[1].weight:clone()
    assert.are.equal(m, m:to('f64'))
    assert.are.equal('f64', m[1].weight.dtype)
    assert.is_true(m[1].weight.is_leaf and m[1].weight.requires_grad)
    assert.are.equal('f64', m[2].running_var.dtype)
    assert.are.equal('i64', m[2].num_batches_tracked.dtype)
    assert.is_true(m[1].weight:float():equal(w32))
    assert.are.equal('f64', m[1](brasa.randn(4, 2, {dtype = 'f64'})).dtype)
    m:float()
    assert.are.equal('f32', m[1].weight.dtype)
  end)

  it('keeps shared parameters shared', function()
    local shared = nn.Linear(2, 2)
    local m = nn.Sequential{shared, nn.ReLU(), shared}:double()
    assert.are.equal(m[1].weight, m[3].weight)
    assert.are.equal(2, #m:parameters())
  end)
end)

describe('containers', function()
  it('Sequential: a table, add, length, indexing and ipairs', function()
    local s = nn.Sequential{nn.Linear(2, 3)}
    assert.are.equal(s, s:add(nn.ReLU()))
    s:add(nn.Linear(3, 1))
    assert.are.equal(3, #s)
    assert.are.equal('ReLU', s[2]:type_name())
    local n = 0
    for i, m in ipairs(s) do n = n + 1; assert.are.equal(s[i], m) end
    assert.are.equal(3, n)
    assert.are.same({5, 1}, s(brasa.randn(5, 2)).shape)
    local empty = nn.Sequential()
    local x = brasa.ones(2)
    assert.are.equal(x, empty(x))
    assert.matches('item 2 is a number, not a module', err(function() return nn.Sequential{nn.ReLU(), 3} end), 1, true)
  end)

  it('ModuleList and ModuleDict register their modules', function()
    local Net = nn.Module:extend('Stack')
    function Net:init()
      self.layers = nn.ModuleList{nn.Linear(2, 2), nn.Linear(2, 2)}
      self.heads = nn.ModuleDict{b = nn.Linear(2, 1), a = nn.Linear(2, 3)}
    end
    function Net:forward(x)
      for _, l in ipairs(self.layers) do x = l(x):relu() end
      return self.heads.a(x), self.heads.b(x)
    end
    local net = Net()
    assert.are.equal(8, #net:parameters())
    local names = {}
    for name in net:named_parameters() do names[#names + 1] = name end
    assert.are.equal('layers.1.weight', names[1])
    assert.are.equal('heads.a.weight', names[5])
    assert.are.same({'a', 'b'}, net.heads:keys())
    net.layers:append(nn.Linear(2, 2))
    assert.are.equal(3, #net.layers)
    local a, b = net(brasa.randn(4, 2))
    assert.are.same({4, 3}, a.shape)
    assert.are.same({4, 1}, b.shape)
    assert.matches('has no forward', err(function() return net.layers(brasa.zeros(2)) end))
  end)
end)

describe('nn.init', function()
  local init = nn.init

  it('calculate_gain matches PyTorch', function()
    assert.are.equal(1, init.calculate_gain('linear'))
    assert.are.equal(1, init.calculate_gain('conv2d'))
    assert.are.equal(1, init.calculate_gain('sigmoid'))
    assert.near(5 / 3, init.calculate_gain('tanh'), 1e-12)
    assert.near(math.sqrt(2), init.calculate_gain('relu'), 1e-12)
    assert.near(math.sqrt(2 / (1 + 0.01 ^ 2)), init.calculate_gain('leaky_relu'), 1e-12)
    assert.near(math.sqrt(2 / 1.04), init.calculate_gain('leaky_relu', 0.2), 1e-12)
    assert.near(0.75, init.calculate_gain('selu'), 1e-12)
    assert.matches("unknown nonlinearity 'swish'", err(init.calculate_gain, 'swish'))
  end)

  it('fans follow PyTorch (conv weights count the kernel)', function()
    local fi, fo = init.calculate_fan_in_and_fan_out(brasa.empty(32, 16, 3, 3))
    assert.are.equal(144, fi)
    assert.are.equal(288, fo)
  end)

  it('uniform initialisers stay within their bounds and fill them', function()
    brasa.manual_seed(3)
    local w = brasa.empty(200, 300)
    local b = math.sqrt(6 / 500)
    init.xavier_uniform_(w)
    assert.is_true(w:abs():max():item() <= b)
    assert.is_true(w:abs():max():item() > 0.99 * b)
    init.kaiming_uniform_(w, {nonlinearity = 'relu'})
    b = math.sqrt(2) * math.sqrt(3 / 300)
    assert.is_true(w:abs():max():item() <= b and w:abs():max():item() > 0.99 * b)
    init.kaiming_uniform_(w, {mode = 'fan_out', nonlinearity = 'relu'})
    b = math.sqrt(2) * math.sqrt(3 / 200)
    assert.is_true(w:abs():max():item() <= b and w:abs():max():item() > 0.99 * b)
    assert.are.equal(init.he_uniform_, init.get('he_uniform'))
  end)

  it('normal initialisers have the right spread', function()
    brasa.manual_seed(4)
    local w = brasa.empty(400, 500)
    init.xavier_normal_(w, 2)
    assert.near(2 * math.sqrt(2 / 900), w:std():item(), 2e-3)
    init.kaiming_normal_(w)
    assert.near(math.sqrt(2 / (1 + 1e-4)) / math.sqrt(500), w:std():item(), 2e-3)
    init.he_normal_(w)
    assert.near(math.sqrt(2 / 500), w:std():item(), 2e-3)
    init.normal_(w, 3, 0.5)
    assert.near(3, w:mean():item(), 5e-3)
    assert.near(0.5, w:std():item(), 5e-3)
  end)

  it('orthogonal_ gives orthonormal rows or columns, times the gain', function()
    for _, shape in ipairs {{6, 4}, {4, 6}, {5, 5}, {3, 2, 2}} do
      local w = init.orthogonal_(brasa.empty(shape), 2)
      local m = w:reshape(shape[1], -1)
      local small = math.min(m.shape[1], m.shape[2])
      local g = m.shape[1] <= m.shape[2] and m:matmul(m:t()) or m:t():matmul(m)
      assert.is_true(g:allclose(brasa.eye(small) * 4, 1e-4, 1e-4), 'shape ' .. table.concat(shape, 'x'))
    end
  end)

  it('zeros_, ones_, constant_, uniform_ work in place on parameters', function()
    local l = nn.Linear(3, 2)
    assert.are.equal(l.weight, init.zeros_(l.weight))
    assert.are.equal(0, l.weight:abs():sum():item())
    init.ones_(l.bias)
    assert.are.equal(2, l.bias:sum():item())
    init.constant_(l.bias, 0.5)
    assert.near(1, l.bias:sum():item(), 1e-6)
    init.uniform_(l.weight, 2, 3)
    assert.is_true(l.weight:min():item() >= 2 and l.weight:max():item() <= 3)
    assert.is_true(l.weight.is_leaf and l.weight.requires_grad)
    assert.matches('a tensor expected', err(init.zeros_, 3))
  end)

  it("layers start as PyTorch's defaults", function()
    brasa.manual_seed(5)
    local l = nn.Linear(400, 300)
    local b = 1 / math.sqrt(400)
    assert.is_true(l.weight:abs():max():item() <= b and l.weight:abs():max():item() > 0.99 * b)
    assert.is_true(l.bias:abs():max():item() <= b)
    local c = nn.Conv2d(16, 32, 3)
    b = 1 / math.sqrt(16 * 9)
    assert.is_true(c.weight:abs():max():item() <= b and c.bias:abs():max():item() <= b)
    local t = nn.ConvTranspose2d(16, 8, 4)   -- PyTorch's fan_in for [16, 8, 4, 4] is 8 * 16
    b = 1 / math.sqrt(8 * 16)
    assert.is_true(t.weight:abs():max():item() <= b and t.weight:abs():max():item() > 0.95 * b)
    local e = nn.Embedding(1000, 50)
    assert.near(1, e.weight:std():item(), 0.02)
    local bn = nn.BatchNorm2d(3)
    assert.are.equal(3, bn.weight:sum():item())
    assert.are.equal(0, bn.bias:abs():sum():item())
    assert.are.equal(1e-5, bn.eps)
    assert.are.equal(0.1, bn.momentum)
    assert.are.equal(3, bn.running_var:sum():item())
    local g = nn.Linear(10, 10, {weight_init = 'glorot_uniform', bias_init = 'zeros'})
    assert.are.equal(0, g.bias:abs():sum():item())
    assert.is_true(g.weight:abs():max():item() <= math.sqrt(6 / 20))
  end)
end)

describe('layer construction', function()
  it('keeps PyTorch parameter shapes', function()
    assert.are.same({10, 784}, nn.Linear(784, 10).weight.shape)
    assert.are.same({32, 1, 3, 3}, nn.Conv2d(1, 32, 3).weight.shape)
    assert.are.same({8, 2, 5}, nn.Conv1d(4, 8, 5, {groups = 2}).weight.shape)
    assert.are.same({64, 32, 4, 4}, nn.ConvTranspose2d(64, 32, 4).weight.shape)
    assert.are.same({6, 2, 3}, nn.ConvTranspose1d(6, 4, 3, {groups = 2}).weight.shape)
    assert.are.same({5, 3}, nn.Embedding(5, 3).weight.shape)
    assert.are.same({3, 4}, nn.LayerNorm({3, 4}).weight.shape)
    assert.are.equal(nn.Linear, nn.Dense)
  end)

  it('checks its arguments', function()
    assert.matches('Linear: in_features must be a positive integer, got 0', err(nn.Linear, 0, 2))
    assert.matches('Conv2d: in_channels %(3%) and out_channels %(4%) must be divisible by groups %(2%)',
      err(nn.Conv2d, 3, 4, 3, {groups = 2}))
    assert.matches("Conv2d: padding must be a number", err(nn.Conv2d, 3, 4, 3, {padding = 'full'}))
    assert.matches('Dropout: p must be a probability in %[0, 1%], got 1.5', err(nn.Dropout, 1.5))
    assert.matches("LeakyReLU: unknown option 'slope'", err(nn.LeakyReLU, {slope = 0.1}))
    assert.matches('MaxPool2d: padding 2 must be between 0 and half the kernel size %(1%)',
      err(nn.MaxPool2d, 2, {padding = 2}))
    assert.matches('Upsample: give exactly one of size and scale_factor', err(nn.Upsample, {}))
    assert.matches("Linear: unknown activation 'relu6'", err(nn.Linear, 2, 2, {activation = 'relu6'}))
    assert.matches('Reshape: only one size may be %-1', err(nn.Reshape, -1, -1))
  end)

  it('Linear takes an activation as Keras Dense does', function()
    local d = nn.Dense(3, 4, {activation = 'relu'})
    local y = d(brasa.randn(10, 3) * 10)
    assert.is_true(y:min():item() >= 0)
    assert.are.equal(15, d:num_parameters() - 1)
  end)

  it('Reshape keeps the batch dim; Flatten merges the rest', function()
    assert.are.same({2, 3, 4}, nn.Reshape(3, 4)(brasa.zeros(2, 12)).shape)
    assert.are.same({2, 6, 2}, nn.Reshape{-1, 2}(brasa.zeros(2, 3, 4)).shape)
    assert.are.same({2, 24}, nn.Flatten()(brasa.zeros(2, 3, 4, 2)).shape)
    assert.are.same({2, 12, 2}, nn.Flatten(2, 3)(brasa.zeros(2, 3, 4, 2)).shape)
  end)
end)
