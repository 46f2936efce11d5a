-- Saving and loading: model:save / brasa.load round trips, architectures as
-- data (nothing from a file is run), clear messages on mismatches, atomic
-- writes (a killed save leaves the previous file whole), optimiser state,
-- PyTorch state dicts (tests/golden/torch_*.safetensors, made by
-- tests/golden/gen_torch_train.py), and the JSON codec.

local brasa = require 'brasa'
local nn, optim = brasa.nn, brasa.optim
local serialize = require 'brasa.serialize'
local json = serialize.json

local SOURCE = os.getenv('BRASA_SOURCE_DIR') or '..'
local function golden(name)
  for _, dir in ipairs {SOURCE .. '/tests/golden/', 'tests/golden/', '../golden/', 'golden/'} do
    local f = io.open(dir .. name, 'rb')
    if f then f:close(); return dir .. name end
  end
  error('golden file not found: ' .. name)
end

local function tmp()
  local p = os.tmpname()
  os.remove(p)
  return p .. '.safetensors'
end

-- Every tensor of two state dicts is bitwise equal (and the names agree).
local function same_state(a, b)
  local na, nb = 0, 0
  for k, t in pairs(a:state_dict()) do
    na = na + 1
    local u = b:state_dict()[k]
    assert(u ~= nil, 'missing ' .. k)
    assert(t.dtype == u.dtype, k .. ': dtype ' .. t.dtype .. ' vs ' .. u.dtype)
    assert(t:equal(u), k .. ' differs')
  end
  for _ in pairs(b:state_dict()) do nb = nb + 1 end
  assert(na == nb, 'different numbers of tensors')
  return true
end

local function cnn()
  return nn.Sequential{
    nn.Conv2d(1, 4, 3, {padding = 1}), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
    nn.Conv2d(4, 8, 3, {padding = 1}), nn.ReLU(), nn.MaxPool2d(2),
    nn.Flatten(), nn.Dropout(0.25), nn.Linear(8 * 7 * 7, 16), nn.Tanh(), nn.Linear(16, 10),
  }
end

describe('model:save and brasa.load', function()
  it('round-trip an MLP and a CNN exactly: parameters, buffers and predictions', function()
    brasa.manual_seed(3)
    local x = brasa.randn(6, 1, 28, 28)
    for _, model in ipairs {nn.Sequential{nn.Flatten(), nn.Linear(784, 32), nn.ReLU(), nn.Linear(32, 10)}, cnn()} do
      -- a training step so that BatchNorm's running statistics move
      model(x):sum():backward()
      local path = tmp()
      model:save(path)
      local copy = brasa.load(path)
      os.remove(path)
      assert.is_true(same_state(model, copy))
      assert.is_true(copy:predict(x):equal(model:predict(x)))
      assert.are.equal(tostring(model), tostring(copy))
    end
  end)

  it('names tensors after the module tree (Sequential children from 1)', function()
    local model = cnn()
    local path = tmp()
    model:save(path)
    local tensors = brasa.data.read_safetensors(path)
    os.remove(path)
    for _, name in ipairs {'1.weight', '1.bias', '2.weight', '2.running_mean', '2.running_var',
                           '2.num_batches_tracked', '5.weight', '10.weight', '12.bias'} do
      assert.is_not_nil(tensors[name], name)
    end
    assert.is_nil(tensors['0.weight'])
  end)

  it('keeps the architecture as one JSON string in the metadata', function()
    local model = nn.Sequential{nn.Linear(3, 4, {bias = false}), nn.LeakyReLU(0.2)}
    local path = tmp()
    model:save(path, {metadata = {author = 'me'}})
    local _, meta = brasa.data.read_safetensors(path)
    os.remove(path)
    assert.are.equal('me', meta.author)
    local arch = json.decode(meta['brasa.architecture'])
    assert.are.equal('brasa.model', arch.format)
    assert.are.equal('Sequential', arch.module.type)
    assert.are.same({'1', {type = 'Linear', args = {3, 4, {bias = false}}}}, arch.module.children[1])
    assert.are.equal(0.2, arch.module.children[2][2].args[1])
  end)

  it('rebuilds classes of the session (nn.Module:extend) with their constructor arguments', function()
    local Net = nn.Module:extend('SerializeNet')
    function Net:init(n_in, opts)
      self.body = nn.Sequential{nn.Linear(n_in, opts.hidden), nn.ReLU()}
      self.head = nn.Linear(opts.hidden, 2)
      self.scale = opts.scale
    end
    function Net:forward(x) return self.head(self.body(x)) * self.scale end
    brasa.manual_seed(4)
    local model = Net(5, {hidden = 7, scale = 3})
    model.extra = nn.Linear(2, 2)          -- a child added after construction is kept
    local path = tmp()
    model:save(path)
    local copy = brasa.load(path)
    os.remove(path)
    assert.are.equal(Net, getmetatable(copy))
    assert.is_true(same_state(model, copy))
    local x = brasa.randn(3, 5)
    assert.is_true(copy(x):equal(model(x)))
    assert.are.equal(2, copy.extra.out_features)
  end)

  it('says which class is missing, and never runs code from the file', function()
    local path = tmp()
    local marker = os.tmpname()
    os.remove(marker)
    -- a hostile architecture: code in every string the loader reads
    local arch = json.encode{format = 'brasa.model', version = 1, module = {
      type = "os.execute('touch " .. marker .. "')", args = {"os.execute('touch " .. marker .. "')"}}}
    brasa.data.write_safetensors(path, {w = brasa.zeros(1)}, {['brasa.architecture'] = arch})
    local ok, err = pcall(brasa.load, path)
    assert.is_false(ok)
    assert.matches("uses the class 'os.execute", err)
    assert.is_nil(io.open(marker))
    arch = json.encode{format = 'brasa.model', version = 1, module = {type = 'NotDefinedHere'}}
    brasa.data.write_safetensors(path, {w = brasa.zeros(1)}, {['brasa.architecture'] = arch})
    ok, err = pcall(brasa.load, path)
    assert.is_false(ok)
    assert.matches("NotDefinedHere.*define it %(nn.Module:extend%('NotDefinedHere'%)%)", err)
    -- a damaged architecture string
    brasa.data.write_safetensors(path, {w = brasa.zeros(1)}, {['brasa.architecture'] = '{"format": '})
    ok, err = pcall(brasa.load, path)
    assert.is_false(ok)
    assert.matches('damaged: json:', err)
    os.remove(path)
  end)

  it('loads classes given by opts.classes', function()
    local Thing = nn.Module:extend('SerializeThing')
    function Thing:init(n) self.fc = nn.Linear(n, 1) end
    function Thing:forward(x) return self.fc(x) end
    local path = tmp()
    Thing(3):save(path)
    local Other = nn.Module:extend('SerializeOther')
    function Other:init(n) self.fc = nn.Linear(n, 1) end
    function Other:forward(x) return self.fc(x) end
    local m = brasa.load(path, {classes = {SerializeThing = Other}})
    os.remove(path)
    assert.are.equal(Other, getmetatable(m))
  end)

  it('refuses a class named like a brasa.nn class', function()
    local Fake = nn.Module:extend('Linear')
    function Fake:init() self.w = nn.Parameter(brasa.zeros(1)) end
    local ok, err = pcall(function() Fake():save(tmp()) end)
    assert.is_false(ok)
    assert.matches("named 'Linear' like brasa.nn.Linear", err)
    serialize.register(nn.Linear)       -- the registry keeps brasa.nn's Linear
    local m = nn.Sequential{nn.Linear(2, 2)}
    local path = tmp()
    m:save(path)
    assert.are.equal(nn.Linear, getmetatable(brasa.load(path)[1]))
    os.remove(path)
  end)

  it('keeps the floating dtype of the model', function()
    local model = nn.Sequential{nn.Linear(3, 2)}:double()
    local path = tmp()
    model:save(path)
    local copy = brasa.load(path)
    os.remove(path)
    assert.are.equal('f64', copy[1].weight.dtype)
    assert.is_true(same_state(model, copy))
  end)

  it('keeps regularisers, and lists what it cannot keep', function()
    local model = nn.Sequential{nn.Linear(3, 2, {weight_regularizer = nn.regularizers.l2(0.25),
      weight_init = function(w) brasa.no_grad(function() w:fill_(0.5) end) end})}
    local path = tmp()
    model:save(path)
    local _, meta = brasa.data.read_safetensors(path)
    local copy = brasa.load(path)
    os.remove(path)
    local a = brasa.no_grad(function() return model:regularization_loss():item() end)
    local b = brasa.no_grad(function() return copy:regularization_loss():item() end)
    assert.are.equal(a, b)
    assert.are.same({'1.arg3.weight_init'}, json.decode(meta['brasa.architecture']).dropped)
  end)
end)

describe('loading weights', function()
  it('says exactly which names, shapes and dtypes differ, and changes nothing', function()
    local a = nn.Sequential{nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2)}
    local path = tmp()
    a:save(path)
    local b = nn.Sequential{nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 2), nn.Linear(2, 2)}
    local before = b[1].weight:clone()
    local ok, err = pcall(b.load_weights, b, path)
    assert.is_false(ok)
    assert.matches('missing in the file: 4.bias, 4.weight', err)
    assert.matches('1.weight: shape %[3x4%] in the file, %[5x4%] in the model', err)
    assert.matches('3.weight: shape %[2x3%] in the file, %[2x5%] in the model', err)
    assert.is_true(b[1].weight:equal(before))
    local c = nn.Sequential{nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2)}:double()
    ok, err = pcall(c.load_weights, c, path)
    assert.is_false(ok)
    assert.matches('1.weight: dtype f32 in the file, f64 in the model', err)
    local d = nn.Sequential{nn.Linear(4, 3)}
    ok, err = pcall(d.load_weights, d, path)
    assert.matches('in the file but not in the model: 3.bias, 3.weight', err)
    d:load_weights(path, {strict = false})
    assert.is_true(d[1].weight:equal(a[1].weight))
    os.remove(path)
  end)

  it('reads PyTorch state dicts through the torch name mapping', function()
    for _, case in ipairs {
      {'torch_mlp.safetensors', function() return nn.Sequential{nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3)} end},
      {'torch_cnn.safetensors', function()
        return nn.Sequential{nn.Conv2d(1, 2, 3, {padding = 1}), nn.BatchNorm2d(2), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Flatten(), nn.Linear(2 * 3 * 3, 3)}
      end},
    } do
      local path = golden(case[1])
      local model = case[2]()
      local ok, err = pcall(model.load_weights, model, path)
      assert.is_false(ok)
      assert.matches('0.weight', err)
      model:load_weights(path, {mapping = 'torch'})
      local t = brasa.data.read_safetensors(path)
      local y = model:predict(t.__input)
      assert.is_true(y:allclose(t.__expected, 1e-5, 1e-5), case[1] .. ': outputs differ from PyTorch')
    end
    local model = nn.Sequential{nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3)}
    model:load_weights(golden('torch_mlp.safetensors'), {mapping = function(name)
      return serialize.torch_name(name)
    end})
  end)

  it('maps PyTorch names: numeric parts but the last get 1 added', function()
    assert.are.equal('1.weight', serialize.torch_name('0.weight'))
    assert.are.equal('features.4.1.bias', serialize.torch_name('features.3.0.bias'))
    assert.are.equal('fc.weight', serialize.torch_name('fc.weight'))
    assert.are.equal('layers.10.weight', serialize.torch_name('layers.9.weight'))
  end)
end)

describe('optimiser state', function()
  it('saved with the model, resumes training exactly', function()
    brasa.manual_seed(5)
    local x, y = brasa.randn(16, 4), brasa.randint(1, 3, {16})
    local model = nn.Sequential{nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3)}
    local loss = nn.CrossEntropyLoss()
    local opt = optim.Adam(model:parameters(), {lr = 0.01})
    local function step(m, o)
      o:zero_grad()
      loss(m(x), y):backward()
      o:step()
    end
    for _ = 1, 3 do step(model, opt) end
    local path = tmp()
    model:save(path, {optimizer = opt})
    -- the optimiser comes back with the model, rebuilt on its parameters
    local copy, _, opt2 = brasa.load(path)
    assert.are.equal(0.01, opt2.param_groups[1].lr)
    assert.are.same({0.9, 0.999}, opt2.param_groups[1].betas)
    -- or restored into an optimiser of the caller's
    local copy3 = brasa.load(path)
    local opt3 = optim.Adam(copy3:parameters(), {lr = 0.5})
    serialize.load_optimizer(opt3, path)
    assert.are.equal(0.01, opt3.param_groups[1].lr)
    -- and the model's next fit continues with it
    local copy4 = brasa.load(path)
    os.remove(path)
    step(model, opt)
    step(copy, opt2)
    step(copy3, opt3)
    assert.is_true(same_state(model, copy))
    assert.is_true(same_state(model, copy3))
    copy4:fit(x, y, {loss = loss, epochs = 1, batch_size = 16, shuffle = false, verbose = 0})
    assert.is_true(same_state(model, copy4))
  end)

  it('has files of its own, and refuses another optimiser type', function()
    local model = nn.Linear(2, 1)
    local opt = optim.SGD(model:parameters(), {lr = 0.1, momentum = 0.9})
    model(brasa.ones(1, 2)):sum():backward()
    opt:step()
    local path = tmp()
    serialize.save_optimizer(opt, path)
    local ok, err = pcall(serialize.load_optimizer, optim.Adam(model:parameters()), path)
    assert.is_false(ok)
    assert.matches('SGD', err)
    local opt2 = optim.SGD(model:parameters(), {lr = 0.3})
    serialize.load_optimizer(opt2, path)
    os.remove(path)
    assert.are.equal(0.1, opt2.param_groups[1].lr)
    assert.are.equal(0.9, opt2.param_groups[1].momentum)
  end)
end)

describe('atomic writes', function()
  it('a failed save leaves the previous file whole and no temporary file', function()
    local dir = os.tmpname()
    os.remove(dir)
    os.execute('mkdir -p ' .. dir)
    local path = dir .. '/model.safetensors'
    local a = nn.Sequential{nn.Linear(3, 3)}
    a:save(path)
    -- a module whose state cannot be written (a non-contiguous... or a bad
    -- name): here an unsaveable constructor argument makes save fail early
    local Bad = nn.Module:extend('SerializeBad')
    function Bad:init(co) self.fc = nn.Linear(3, 3) end
    local ok = pcall(function() Bad(coroutine.create(function() end)):save(path) end)
    assert.is_false(ok)
    local names = {}
    for name in io.popen('ls -a ' .. dir):lines() do names[#names + 1] = name end
    assert.are.equal(3, #names)                                    -- ., .., model.safetensors
    assert.is_true(same_state(a, brasa.load(path)))
    os.execute('rm -r ' .. dir)
  end)

  it('a save killed half-way leaves the previous file whole', function()
    local dir = os.tmpname()
    os.remove(dir)
    os.execute('mkdir -p ' .. dir)
    local path = dir .. '/model.safetensors'
    local a = nn.Sequential{nn.Linear(3, 3)}
    a:save(path)
    -- A child process saves a big model (256 MB) over the same path and is
    -- killed (SIGKILL) as soon as its temporary file appears.
    local child = dir .. '/child.lua'
    local f = assert(io.open(child, 'w'))
    f:write(string.format([[
local brasa = require 'brasa'
local m = brasa.nn.Sequential{brasa.nn.Linear(8192, 8192)}
m:save(%q)
]], path))
    f:close()
    local lua = arg and arg[-1] or 'lua5.4'
    if lua:find('busted') then lua = 'lua5.4' end
    local script = string.format([[
%s %s & pid=$!
for i in $(seq 1 3000); do
  if ls %s/.model.safetensors.tmp-* >/dev/null 2>&1; then break; fi
  sleep 0.01
done
kill -9 $pid 2>/dev/null
wait $pid 2>/dev/null
ls %s/.model.safetensors.tmp-* >/dev/null 2>&1 && echo killed-during-write
]], lua, child, dir, dir)
    local p = io.popen(script)
    local out = p:read('a')
    p:close()
    -- whether or not the kill landed during the write, the file is one whole model
    local loaded = brasa.load(path)
    if out:find('killed-during-write', 1, true) then
      assert.is_true(same_state(a, loaded))
    else
      assert.are.equal(8192, loaded[1].in_features)   -- the child finished first: the new file, whole
    end
    os.execute('rm -r ' .. dir)
  end)
end)

describe('the JSON codec', function()
  it('round-trips values, with escapes, special numbers and integer keys', function()
    local v = {a = {1, 2.5, -3e-7, 'x"y\\z\n\t\1'}, b = true, c = false, d = {['#'] = 1, [3] = 'three'},
               e = {}, f = 'ünïcödé', g = 1e300, h = math.huge, i = -math.huge}
    local back = json.decode(json.encode(v))
    assert.are.same(v.a, back.a)
    assert.are.equal('float', math.type(back.a[2]))
    assert.are.equal('integer', math.type(back.a[1]))
    assert.are.equal('three', back.d[3])
    assert.are.equal(1, back.d['#'])
    assert.are.equal(v.f, back.f)
    assert.are.equal(1e300, back.g)
    assert.are.equal(math.huge, back.h)
    assert.are.equal(-math.huge, back.i)
    local nan = json.decode(json.encode(0 / 0))
    assert.is_true(nan ~= nan)
    assert.are.equal('float', math.type(json.decode(json.encode(2.0))))
    assert.are.equal(0.1, json.decode(json.encode(0.1)))
  end)

  it('reads standard JSON', function()
    local v = json.decode(' { "a" : [ 1 , 2 , { "b" : null } ] , "c" : "\\u00e9\\ud83d\\ude00" , "d": -0.5e2 } ')
    assert.are.equal(2, v.a[2])
    assert.are.same({}, v.a[3])
    assert.are.equal('é😀', v.c)
    assert.are.equal(-50.0, v.d)
    assert.are.same({1, nil, 3}, json.decode('[1, null, 3]'))
  end)

  it('rejects malformed text naming the byte', function()
    for _, case in ipairs {{'{"a": }', 'a value expected at byte 7'}, {'[1, 2', "',' or ']' expected"},
                           {'"abc', 'unterminated string'}, {'{"a" 1}', "':' expected at byte 6"},
                           {'[1] x', 'trailing characters'}, {'"\\q"', 'bad escape'},
                           {string.rep('[', 300), 'nested too deep'}} do
      local ok, err = pcall(json.decode, case[1])
      assert.is_false(ok, case[1])
      assert.is_truthy(err:find(case[2], 1, true), err)
    end
    assert.has_error(function() json.encode({f = print}) end)
    local t = {}
    t.self = t
    assert.has_error(function() json.encode(t) end)
  end)
end)
