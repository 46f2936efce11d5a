-- Runs every lesson in tutorials/: each checks its own steps with assert.
local brasa = require 'brasa'
local root = os.getenv('BRASA_SOURCE_DIR') or ((debug.getinfo(1, 'S').source:match('^@(.*/)') or './') .. '../..')

describe('the tutorials', function()
  local p = io.popen('ls "' .. root .. '/tutorials"/*.lua 2>/dev/null')
  local files = {}
  for f in p:lines() do files[#files + 1] = f end
  p:close()

  it('exist', function() assert.is_true(#files >= 1) end)

  for _, file in ipairs(files) do
    it('run: ' .. file:match('[^/]+$'), function()
      local env = setmetatable({brasa = brasa, print = function() end}, {__index = _G})
      local chunk = assert(loadfile(file, 't', env))
      chunk()
    end)
  end
end)
