-- Runs every lesson in tutorials/ with brasa.lesson (auto and fast modes,
-- in English): every step must run and pass its check. Each lesson must
-- also say everything in both languages. tests/lua/lesson_spec.lua tests
-- the runner itself and runs text_cnn in Spanish through the executable.
local brasa = require 'brasa'
local lesson = require 'brasa.lesson'
local root = os.getenv('BRASA_SOURCE_DIR') or ((debug.getinfo(1, 'S').source:match('^@(.*/)') or './') .. '../..')

-- Runs fn with everything it would print (print, io.write, io.stdout:write,
-- progress bars, text plots) sent to a temporary file; returns what fn
-- returns, or raises its error after restoring the output.
local function quietly(fn)
  local f = assert(io.tmpfile())
  local old_print, old_stdout, old_output = print, io.stdout, io.output()
  _G.print = function(...)
    local t = table.pack(...)
    for i = 1, t.n do t[i] = tostring(t[i]) end
    f:write(table.concat(t, '\t', 1, t.n), '\n')
  end
  io.stdout = f
  io.output(f)
  local r = table.pack(pcall(fn))
  _G.print, io.stdout = old_print, old_stdout
  io.output(old_output)
  f:close()
  if not r[1] then error(r[2], 0) end
  return table.unpack(r, 2, r.n)
end

-- A fresh environment for a lesson, whose plot.save writes into dir.
local function lesson_env(dir)
  local plot_proxy = setmetatable({
    save = function(path, opts) return brasa.plot.save(dir .. '/' .. path:gsub('^.*/', ''), opts) end,
  }, {__index = brasa.plot})
  return setmetatable({brasa = brasa, nn = brasa.nn, optim = brasa.optim, plot = plot_proxy},
                      {__index = _G})
end

describe('the tutorials', function()
  local p = io.popen('ls "' .. root .. '/tutorials"/*.lua 2>/dev/null')
  local files = {}
  for f in p:lines() do files[#files + 1] = f end
  p:close()

  it('exist', function() assert.is_true(#files >= 2) end)

  for _, file in ipairs(files) do
    local name = file:match('[^/]+$')

    it('say everything in Spanish and English: ' .. name, function()
      local l = lesson.load(file)
      local missing = {}
      local function both(t, what)
        if t == nil then return end
        if type(t) == 'string' then
          if what ~= 'code' then missing[#missing + 1] = what .. ' (one string for both)' end
          return
        end
        for _, lang in ipairs{'es', 'en'} do
          if type(t[lang]) ~= 'string' or t[lang] == '' then missing[#missing + 1] = what .. '.' .. lang end
        end
      end
      both(l.title, 'title')
      both(l.intro, 'intro')
      for i, s in ipairs(l.steps) do
        both(s.title, 'step ' .. i .. ' title')
        both(s.text, 'step ' .. i .. ' text')
        both(s.code, 'code')
        assert(s.title and s.text, 'step ' .. i .. ' has a title and a text')
      end
      assert(#missing == 0, 'missing: ' .. table.concat(missing, ', '))
    end)

    it('runs every step: ' .. name, function()
      local dir = os.tmpname()
      os.remove(dir)
      assert(os.execute('mkdir -p "' .. dir .. '"'))
      local env = lesson_env(dir)
      local said = {}
      local r = quietly(function()
        local terminal = brasa.plot.terminal()
        brasa.plot.terminal('dumb')
        local res = lesson.run(file, {auto = true, fast = true, lang = 'en', env = env,
                                      output = function(s) said[#said + 1] = s end})
        brasa.plot.closeall()
        brasa.plot.terminal(terminal)
        return res
      end)
      os.execute('rm -rf "' .. dir .. '"')
      local l = lesson.load(file)
      local failed = next(r.failed)
      if failed and r.failed[failed]:find('tools/setup.sh', 1, true) then
        pending(name .. ': a data set is not installed: ' .. r.failed[failed])
        return
      end
      assert(r.completed, tostring(r) .. ': ' .. tostring(failed and r.failed[failed]))
      for i = 1, #l.steps do assert.is_true(r.ran[i], 'step ' .. i) end
      assert.truthy(table.concat(said):find(('Step %d of %d'):format(#l.steps, #l.steps), 1, true))
    end)
  end
end)
