-- The GPU backend from Lua: brasa.cuda and device placement.
--
-- Without a usable GPU (CI, most machines) it checks that everything answers
-- cleanly: is_available() is false with a reason, tensors refuse to move to
-- 'cuda' with an error saying there is no CUDA device, and nothing loads or
-- crashes; the GPU comparison suite is then marked pending with the reason.
-- With a GPU it runs tests/gpu/test_gpu.lua (every GPU op against the CPU).

local brasa = require 'brasa'
local cuda = brasa.cuda

local SOURCE = os.getenv('BRASA_SOURCE_DIR') or '../..'

describe('brasa.cuda', function()
  it('has its functions and the tensor methods', function()
    for _, f in ipairs({'is_available', 'status', 'device_count', 'device_name', 'synchronize',
                        'memory_stats', 'empty_cache', 'allow_tf32', 'benchmark'}) do
      assert.is_function(cuda[f], f)
    end
    assert.is_function(brasa.Tensor.cuda)
    assert.is_function(brasa.Tensor.cpu)
  end)

  it('toggles TF32 without loading anything', function()
    local old = cuda.allow_tf32(true)
    assert.is_false(old)
    assert.is_true(cuda.allow_tf32())
    assert.is_true(cuda.allow_tf32(false))
    assert.is_false(cuda.allow_tf32())
    assert.has_error(function() cuda.allow_tf32('yes') end)
  end)

  it("toggles cuDNN's benchmark mode without loading anything", function()
    local old = cuda.benchmark(true)
    assert.is_false(old)
    assert.is_true(cuda.benchmark())
    assert.is_true(cuda.benchmark(false))
    assert.is_false(cuda.benchmark())
    assert.has_error(function() cuda.benchmark(1) end)
  end)

  it('parses device names and keeps CPU tensors where they are', function()
    local x = brasa.tensor{1, 2}
    assert.equal(x, x:cpu())
    assert.equal(x, x:to('cpu'))
    assert.equal('cpu', brasa.ones(2, {device = 'cpu'}).device)
    local ok, err = pcall(function() return x:to('cuda:x') end)
    assert.is_false(ok)
    assert.truthy(tostring(err):find("unknown device 'cuda:x'", 1, true))
    ok, err = pcall(function() return brasa.zeros(2, {device = 5}) end)
    assert.is_false(ok)
    assert.truthy(tostring(err):find('device', 1, true))
  end)

  describe('without a GPU', function()
    if cuda.is_available() then
      it('(a GPU is present: the GPU suite below runs instead)', function() end)
      return
    end

    it('says why, counts no device, and refuses device work clearly', function()
      local why = cuda.status()
      assert.is_string(why)
      assert.truthy(#why > 0)
      assert.equal(0, cuda.device_count())
      for _, f in ipairs({
        function() return brasa.ones(3):cuda() end,
        function() return brasa.ones(3):to('cuda') end,
        function() return brasa.zeros(2, 2, {device = 'cuda'}) end,
        function() return brasa.randn(2, {device = 'cuda:0'}) end,
        function() return cuda.device_name(0) end,
        function() return cuda.synchronize() end,
      }) do
        local ok, err = pcall(f)
        assert.is_false(ok)
        assert.truthy(tostring(err):find('no CUDA device', 1, true), tostring(err))
      end
      local s = cuda.memory_stats()
      assert.is_false(s.available)
      assert.equal(0, s.allocated)
      cuda.empty_cache()
      assert.is_false(cuda.is_available())
    end)
  end)

  describe('on a GPU', function()
    it('matches the CPU for every op (tests/gpu/test_gpu.lua)', function()
      if not cuda.is_available() then
        pending('no usable GPU: ' .. cuda.status())
        return
      end
      local suite = dofile(SOURCE .. '/tests/gpu/test_gpu.lua')
      local _, failed = suite.run()
      assert.equal(0, failed)
    end)

    it('matches the CPU for convolutions and batch norm (tests/gpu/test_gpu_conv.lua)', function()
      if not cuda.is_available() then
        pending('no usable GPU: ' .. cuda.status())
        return
      end
      local suite = dofile(SOURCE .. '/tests/gpu/test_gpu_conv.lua')
      local _, failed = suite.run()
      assert.equal(0, failed)
    end)

    it('trains on the GPU as on the CPU: optimisers, masks, model:cuda(), fit (tests/gpu/test_gpu_optim.lua)', function()
      if not cuda.is_available() then
        pending('no usable GPU: ' .. cuda.status())
        return
      end
      local suite = dofile(SOURCE .. '/tests/gpu/test_gpu_optim.lua')
      local _, failed = suite.run()
      assert.equal(0, failed)
    end)

    it('runs mixed precision as the CPU does: f16 autocast, GradScaler (tests/gpu/test_gpu_amp.lua)', function()
      if not cuda.is_available() then
        pending('no usable GPU: ' .. cuda.status())
        return
      end
      local suite = dofile(SOURCE .. '/tests/gpu/test_gpu_amp.lua')
      local _, failed = suite.run()
      assert.equal(0, failed)
    end)
  end)
end)
