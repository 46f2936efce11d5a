-- Memory: tensors are freed when their last reference goes, and the binding
-- tells Lua's collector how many bytes tensors hold, so long loops stay
-- bounded without a manual collectgarbage(). brasa.bytes_in_use() counts the
-- bytes of every live CPU storage.

local brasa = require 'brasa'

local MB = 1e6

describe('memory', function()
  it('frees a storage when its last tensor is collected', function()
    collectgarbage()
    collectgarbage()
    local base = brasa.bytes_in_use()
    local x = brasa.zeros(1000, 1000)          -- 4 MB
    assert.are.equal(base + 4 * MB, brasa.bytes_in_use())
    local v = x:view(-1)
    local t = x:t()
    local r = x[{{1, 10}, {}}]
    assert.are.equal(base + 4 * MB, brasa.bytes_in_use())   -- views allocate nothing
    x, t, r = nil, nil, nil
    collectgarbage()
    collectgarbage()
    assert.are.equal(base + 4 * MB, brasa.bytes_in_use())   -- the view keeps it alive
    assert.are.equal(0, v[1])
    v = nil
    collectgarbage()
    collectgarbage()
    assert.are.equal(base, brasa.bytes_in_use())
  end)

  it('a copy of a non-contiguous view owns new bytes', function()
    collectgarbage()
    collectgarbage()
    local base = brasa.bytes_in_use()
    local x = brasa.zeros(500, 500)             -- 1 MB
    local c = x:t():contiguous()
    assert.are.equal(base + 2 * MB, brasa.bytes_in_use())
    x, c = nil, nil
    collectgarbage()
    collectgarbage()
    assert.are.equal(base, brasa.bytes_in_use())
  end)

  it('a loop of 40 MB temporaries stays bounded without collectgarbage', function()
    local limit = 400 * MB
    local worst = 0
    for i = 1, 100 do
      local y = brasa.zeros(10 ^ 7) + 1          -- two 40 MB tensors per iteration
      assert.are.equal(1, y[10 ^ 7])
      local b = brasa.bytes_in_use()
      if b > worst then worst = b end
      assert.is_true(b < limit, ('iteration %d: %.0f MB in use'):format(i, b / MB))
    end
    assert.is_true(worst >= 80 * MB, 'bytes_in_use did not count the temporaries')
  end)

  it('views and casts of big temporaries stay bounded too', function()
    for i = 1, 40 do
      local v = brasa.ones(2000, 2500):t():reshape(-1):double()   -- 20 + 20 + 40 MB
      assert.are.equal(5 * 10 ^ 6, v:numel())
      local b = brasa.bytes_in_use()
      assert.is_true(b < 600 * MB, ('iteration %d: %.0f MB in use'):format(i, b / MB))
    end
  end)

  it('in-place ops allocate nothing', function()
    local x = brasa.zeros(10 ^ 6)
    x:add_(1)
    x:mul_(0.5)                                  -- warm up the cached wrapped numbers
    collectgarbage()
    collectgarbage()
    local before = brasa.bytes_in_use()
    for _ = 1, 200 do
      x:add_(1)
      x:mul_(0.5)
      x:clamp(0, 10)                             -- not in place: a new tensor, collected later
    end
    collectgarbage()
    collectgarbage()
    assert.are.equal(before, brasa.bytes_in_use())
    assert.is_true(math.abs(x[1] - 1) < 1e-6, 'value ' .. x[1])   -- x -> (x + 1) / 2 converges to 1
  end)

  it('a 10,000-step training loop keeps bytes_in_use and Lua memory flat', function()
    collectgarbage()
    collectgarbage()
    local base = brasa.bytes_in_use()
    brasa.manual_seed(7)
    local x = brasa.randn(64, 10)
    local true_w = brasa.randn(10, 1)
    local y = x:matmul(true_w) + brasa.randn(64, 1) * 0.01
    local w = brasa.randn(10, 1, {requires_grad = true})
    local b1000, l1000, first_loss, loss_value
    local peak = 0
    for step = 1, 10000 do
      local loss = ((x:matmul(w) - y) ^ 2):mean()
      if step == 1 then first_loss = loss:item() end
      loss:backward()
      brasa.no_grad(function() w:sub_(w.grad * 0.05) end)
      w.grad = nil
      local b = brasa.bytes_in_use()
      if b > peak then peak = b end
      if step == 1000 then
        b1000, l1000 = b, collectgarbage('count')
      elseif step == 10000 then
        loss_value = loss:item()
        local b10000, l10000 = b, collectgarbage('count')
        assert.is_true(math.abs(b10000 - b1000) < 64 * 1024,
                       ('bytes in use at step 1000: %d, at step 10000: %d'):format(b1000, b10000))
        assert.is_true(l10000 < l1000 + 512,
                       ('Lua memory at step 1000: %.0f KB, at step 10000: %.0f KB'):format(l1000, l10000))
      end
    end
    -- a leak of one small tensor per step would pass 256 KB by the end
    assert.is_true(peak - base < 256 * 1024, ('peak %d bytes above the start'):format(peak - base))
    assert.is_true(loss_value < 1e-3 and loss_value < first_loss / 100,
                   ('loss %g -> %g: the loop did not train'):format(first_loss, loss_value))
  end)

  it('graphs with large saved tensors are freed after backward', function()
    local w = brasa.randn(500, 500, {requires_grad = true})   -- 1 MB
    for i = 1, 60 do
      local h = (w * 2):tanh():matmul(w)                      -- saves several 1 MB tensors
      h:sum():backward()
      w.grad = nil
      local b = brasa.bytes_in_use()
      assert.is_true(b < 300 * MB, ('iteration %d: %.0f MB in use'):format(i, b / MB))
    end
    w = nil
    collectgarbage()
    collectgarbage()
  end)
end)
