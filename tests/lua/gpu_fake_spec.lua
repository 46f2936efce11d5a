-- The GPU suites (tests/gpu/test_gpu*.lua) with the CPU standing in for the
-- GPU (BRASA_GPU_TEST_FAKE=1: x:cuda() is a copy, 'cuda' is 'cpu').
--
-- Machines without a GPU (CI) cannot run the suites for real, but they can
-- run every test's code and its CPU reference: a suite that breaks (an API
-- renamed, a reference that no longer holds) then fails here, not on the
-- next lent GPU, where device time is short. Each suite runs in its own
-- brasa process, as tests/gpu/run.sh runs them on a GPU machine.

local SOURCE = os.getenv('BRASA_SOURCE_DIR') or '../..'
local EXE = os.getenv('BRASA_EXE') or (SOURCE .. '/build/brasa')

local function suites()
  local list = {}
  local p = assert(io.popen('ls ' .. SOURCE .. '/tests/gpu/test_gpu*.lua 2>/dev/null'))
  for line in p:lines() do list[#list + 1] = line end
  p:close()
  table.sort(list)
  return list
end

describe('the GPU suites in fake mode', function()
  local list = suites()

  it('are all found', function()
    local names = {}
    for _, f in ipairs(list) do names[#names + 1] = f:match('([^/]+)$') end
    for _, want in ipairs({'test_gpu.lua', 'test_gpu_amp.lua', 'test_gpu_conv.lua',
                           'test_gpu_loader.lua', 'test_gpu_nn.lua', 'test_gpu_optim.lua'}) do
      assert.truthy(table.concat(names, ' '):find(want, 1, true), want .. ' missing')
    end
  end)

  for _, file in ipairs(list) do
    it('pass: ' .. file:match('([^/]+)$'), function()
      local cmd = string.format('BRASA_GPU_TEST_FAKE=1 BRASA_PROGRESS=plain %q %q 2>&1', EXE, file)
      local p = assert(io.popen(cmd))
      local out = p:read('a')
      local ok, _, code = p:close()
      -- the summary line each suite prints last: "GPU ... tests: N passed, M failed"
      local passed, failed = out:match('.*tests: (%d+) passed, (%d+) failed')
      passed, failed = tonumber(passed), tonumber(failed)
      assert(ok and code == 0, file .. ' exited with ' .. tostring(code) .. ':\n' .. out:sub(-3000))
      assert(passed and passed > 0, file .. ': no passing test reported:\n' .. out:sub(-3000))
      assert.equal(0, failed, out:sub(-3000))
    end)
  end
end)
