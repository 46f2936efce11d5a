-- DataLoader's device and pin_memory options, on any machine (the GPU side
-- is tests/gpu/test_gpu_loader.lua; the staged C path against a mock
-- backend is tests/c/test_loader_stage.c).

local brasa = require 'brasa'
local data = brasa.data

local function batches(loader)
  local out = {}
  for xb, yb in loader:iter() do out[#out + 1] = {xb, yb} end
  return out
end

describe('DataLoader device option', function()
  local x = brasa.randn(11, 3)
  local y = brasa.arange(1, 11):long()

  it("device = 'cpu' gives the same batches as no device", function()
    local a = data.DataLoader({x = x, y = y}, {batch_size = 4, shuffle = true, seed = 7})
    local b = data.DataLoader({x = x, y = y}, {batch_size = 4, shuffle = true, seed = 7, device = 'cpu'})
    assert.equal('cpu', b.device)
    assert.is_false(b.pin_memory)
    assert.is_nil(a.device)
    local ba, bb = batches(a), batches(b)
    assert.equal(3, #bb)
    for k = 1, #ba do
      assert.equal('cpu', bb[k][1].device)
      assert.is_true(ba[k][1]:equal(bb[k][1]))
      assert.is_true(ba[k][2]:equal(bb[k][2]))
    end
    assert.truthy(tostring(b):find('on cpu', 1, true))
  end)

  it('collated batches and transforms work with a device', function()
    local ds = {len = function() return 5 end, get = function(i) return x[i], {id = i} end}
    local l = data.DataLoader(ds, {batch_size = 2, device = 'cpu',
                                   transform = function(xb, t) return xb * 2, t end})
    local xb, t = l:batch(3)
    assert.same({1, 3}, xb.shape)
    assert.equal(5, t.id[1])
  end)

  it('rejects bad device options with clear messages', function()
    local ds = {x = x}
    assert.has_error(function() data.DataLoader(ds, {device = 'gpu'}) end,
                     "DataLoader: unknown device 'gpu' (expected 'cpu', 'cuda' or 'cuda:N')")
    assert.has_error(function() data.DataLoader(ds, {device = 'cuda:'}) end,
                     "DataLoader: unknown device 'cuda:' (expected 'cpu', 'cuda' or 'cuda:N')")
    assert.has_error(function() data.DataLoader(ds, {device = 1}) end,
                     "DataLoader: opts.device must be a device name ('cpu', 'cuda' or 'cuda:N'), got number")
    assert.has_error(function() data.DataLoader(ds, {pin_memory = 'no'}) end,
                     'DataLoader: opts.pin_memory must be a boolean')
  end)

  it('without a GPU, a CUDA device is refused saying why', function()
    if brasa.cuda.is_available() then return end
    local ok, err = pcall(data.DataLoader, {x = x}, {device = 'cuda'})
    assert.is_false(ok)
    assert.truthy(tostring(err):find('DataLoader: device cuda:0: no CUDA device is available', 1, true))
    ok, err = pcall(data.DataLoader, {x = x}, {device = 'cuda:2'})
    assert.truthy(tostring(err):find('device cuda:2', 1, true))
  end)
end)
