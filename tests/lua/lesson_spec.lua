-- The lesson runner (brasa.lesson, brasa.lessons, `brasa --lesson`):
-- finding lessons, navigation with scripted input, failing steps and
-- checks, the fast mode, the texts' layout; and the text_cnn lesson run
-- through the executable in Spanish, non-interactively (auto + fast), with
-- its variables looked at afterwards. tests/lua/tutorials_spec.lua runs
-- every lesson in English in-process.
local brasa = require 'brasa'
local lesson = require 'brasa.lesson'

local EXE = os.getenv('BRASA_EXE')

local function sh(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

-- Runs a command (in directory dir, if given) with input on stdin; returns
-- stdout, stderr and the exit code.
local function run(cmd, input, dir)
  local err, infile = os.tmpname(), os.tmpname()
  local f = assert(io.open(infile, 'w'))
  f:write(input or '')
  f:close()
  local p = assert(io.popen((dir and 'cd ' .. sh(dir) .. ' && ' or '') ..
                            'env -u BRASA_INIT -u LUA_INIT -u DISPLAY ' .. cmd .. ' < ' .. sh(infile) ..
                            ' 2>' .. sh(err)))
  local out = p:read('a')
  local _, _, code = p:close()
  f = assert(io.open(err))
  local errout = f:read('a')
  f:close()
  os.remove(err)
  os.remove(infile)
  return out, errout, code
end

local function tmpdir()
  local d = os.tmpname()
  os.remove(d)
  assert(os.execute('mkdir -p ' .. sh(d)))
  return d
end

local function exists(path)
  local f = io.open(path, 'rb')
  if f then f:close() return true end
  return false
end

-- A small lesson: step 2 fails until the global `fixed` is set.
local function demo()
  return {
    id = 'demo',
    title = {es = 'Demostración', en = 'Demo'},
    intro = 'Three steps.',
    steps = {
      {title = {es = 'Uno', en = 'One'}, text = {es = 'Cuenta.', en = 'Counts.'},
       code = 'runs = (runs or 0) + 1',
       check = function(env) assert(env.runs >= 1) end},
      {title = {es = 'Dos', en = 'Two'}, text = 'Needs a fix.',
       code = {es = 'assert(fixed, "falta arreglar")\ntwo = true',
               en = 'assert(fixed, "not fixed yet")\ntwo = true'}},
      {title = {es = 'Tres', en = 'Three'}, text = 'The end.', code = 'three = 3'},
    },
  }
end

-- Runs lesson l with the lines of `script` as input; returns the result,
-- the environment and everything the runner wrote.
local function scripted(l, script, opts)
  local lines, k = script, 0
  local said = {}
  local o = {lang = 'en',
             input = function(prompt)
               said[#said + 1] = prompt
               k = k + 1
               return lines[k]
             end,
             output = function(s) said[#said + 1] = s end}
  for key, v in pairs(opts or {}) do o[key] = v end
  o.env = setmetatable(o.env or {}, {__index = _G})
  local r = lesson.run(l, o)
  return r, o.env, table.concat(said), k
end

describe('brasa.lessons', function()
  it('lists the lessons in tutorials/ with their titles and step counts', function()
    local list = brasa.lessons({lang = 'en'})
    local by = {}
    for _, l in ipairs(list) do by[l.id] = l end
    assert.truthy(by.text_cnn, 'text_cnn is listed')
    assert.equal(14, by.text_cnn.steps)
    assert.equal('Text classification with a one-dimensional convolutional network', by.text_cnn.title)
    assert.truthy(by.tensors_and_autograd)
    local s = tostring(list)
    assert.truthy(s:find('text_cnn', 1, true) and s:find('14 steps', 1, true))
    assert.truthy(tostring(brasa.lessons({lang = 'es'})):find('14 pasos', 1, true))
    assert.truthy(tostring(brasa.lesson()):find('text_cnn', 1, true))   -- no id: the list
  end)

  it('rejects options that are not a table', function()
    assert.has_error(function() brasa.lessons('en') end)
  end)
end)

describe('brasa.lesson finds lessons', function()
  it('by id, by file name with its number, and by path', function()
    assert.equal('text_cnn', lesson.load('text_cnn').id)
    assert.equal('tensors_and_autograd', lesson.load('tensors_and_autograd').id)
    assert.equal('tensors_and_autograd', lesson.load('01_tensors_and_autograd').id)
    local path = lesson.load('text_cnn').path
    assert.equal('text_cnn', lesson.load(path).id)
  end)

  it('says clearly when a lesson does not exist, listing those that do', function()
    local ok, err = pcall(brasa.lesson, 'no_such_lesson')
    assert.is_false(ok)
    assert.truthy(err:find("no lesson 'no_such_lesson'", 1, true), err)
    assert.truthy(err:find('text_cnn', 1, true) and err:find('tensors_and_autograd', 1, true), err)
    ok, err = pcall(brasa.lesson, '/no/such/file.lua')
    assert.is_false(ok)
    assert.truthy(err:find('cannot open', 1, true))
  end)

  it('rejects what is not a lesson', function()
    assert.has_error(function() brasa.lesson({steps = {}}) end)
    assert.has_error(function() brasa.lesson({steps = {{code = 42}}}) end)
    assert.has_error(function() brasa.lesson({steps = {{code = 'x = 1', check = true}}}) end)
    assert.has_error(function() brasa.lesson(42) end)
    assert.has_error(function() brasa.lesson(demo(), {lang = 'fr'}) end)
    assert.has_error(function() brasa.lesson(demo(), {step = 4}) end)
    assert.has_error(function() brasa.lesson(demo(), 'en') end)
  end)
end)

describe('brasa.lesson at the prompt', function()
  it('runs a step on Enter, goes on with Enter, runs again with again', function()
    local r, env, said = scripted(demo(), {'', 'again', '', 'q'}, {env = {fixed = true}})
    assert.equal(2, env.runs)
    assert.is_nil(env.two)                -- step 2 shown, not run
    assert.is_true(r.quit)
    assert.is_true(r.ran[1])
    assert.truthy(said:find('Step 1 of 3 · One', 1, true))
    assert.truthy(said:find('Step 2 of 3 · Two', 1, true))
    assert.truthy(said:find('runs = (runs or 0) + 1', 1, true))   -- the code is shown
    assert.truthy(said:find('demo 2/3> ', 1, true))
    assert.truthy(said:find('Counts.', 1, true))
  end)

  it('keeps going after a failing step, which can be fixed and run again', function()
    local r, env, said = scripted(demo(),
      {'', '', '', '', 'fixed = true', 'a', '', '', ''})
    assert.truthy(said:find('Step 2 failed: step 2:1: not fixed yet', 1, true), said)
    assert.truthy(said:find('Fix what is needed', 1, true))
    assert.is_true(env.two)
    assert.equal(3, env.three)
    assert.is_true(r.completed)
    assert.is_false(r.quit)
    assert.is_nil(next(r.failed))
    assert.truthy(said:find('End of the lesson "Demo"', 1, true))
    assert.truthy(said:find('Still defined: runs, three, two.', 1, true), said)   -- not `fixed`, typed at the prompt
    assert.equal('lesson demo: 3 of 3 steps run', tostring(r))
  end)

  it('goes back, skips, jumps and lists', function()
    local r, env, said = scripted(demo(), {'n', 'b', 'g 3', '', 'l', 'g 9', 'back', 'l', 'next', 'c', 'quit'})
    assert.is_nil(env.runs)
    assert.equal(3, env.three)
    assert.truthy(said:find('There is no step 9: the lesson has 3.', 1, true))
    assert.truthy(said:find('>  3  Three', 1, true))   -- the current step
    assert.truthy(said:find('>  2  Two', 1, true))
    assert.truthy(said:find('+  3  Three', 1, true))   -- a step that ran
    assert.is_true(r.quit)
    local _, count = said:gsub('Step 1 of 3', '')
    assert.equal(2, count)   -- shown at the start and after 'b'
    local _, codes = said:gsub('three = 3', '')
    assert.equal(3, codes)   -- after 'g 3', 'next' and 'c'
  end)

  it('runs other lines as Lua in the lesson environment and prints their values', function()
    local _, env, said = scripted(demo(), {'', 'runs * 10', 'y = runs + 1', '=n', 'nosuch()', 'for', 'q'},
                                  {env = {n = 'N', print = print}})
    assert.equal(2, env.y)
    assert.truthy(said:find('> 10\n', 1, true), said)
    assert.truthy(said:find('"N"', 1, true))
    assert.truthy(said:find("attempt to call a nil value (global 'nosuch')", 1, true))
    assert.truthy(said:find('one line of Lua', 1, true))
  end)

  it('quits on q or at the end of input (Ctrl-D), saying how to go on', function()
    local r, _, said = scripted(demo(), {'', 'q'}, {lang = 'es'})
    assert.is_true(r.quit)
    assert.truthy(said:find("brasa.lesson('demo', {step = 2})", 1, true), said)
    assert.truthy(said:find('Intro', 1, true))
    r, _, said = scripted(demo(), {})
    assert.is_true(r.quit)
    assert.is_false(r.completed)
    assert.truthy(said:find("brasa.lesson('demo', {step = 1})", 1, true))
  end)

  it('accepts the Spanish commands and shows the Spanish texts', function()
    local r, env, said = scripted(demo(), {'', 's', 'v', 'r', 'siguiente', 'volver', 'repetir', 'salir'},
                                  {lang = 'es', env = {fixed = true}})
    assert.equal(3, env.runs)
    assert.is_true(r.quit)
    assert.truthy(said:find('Paso 1 de 3 · Uno', 1, true))
    assert.truthy(said:find('Cuenta.', 1, true))
    scripted(demo(), {'', '', ''}, {lang = 'es'})
    r, _, said = scripted(demo(), {'', '', ''}, {lang = 'es'})
    assert.truthy(said:find('El paso 2 ha fallado: paso 2:1: falta arreglar', 1, true), said)
  end)

  it('starts at opts.step', function()
    local _, env = scripted(demo(), {'', ''}, {step = 3})
    assert.equal(3, env.three)
    assert.is_nil(env.runs)
  end)
end)

describe('brasa.lesson in auto mode', function()
  it('runs every step without input and stops at the first failure', function()
    local r, env, _, reads = scripted(demo(), {}, {auto = true, env = {fixed = true}})
    assert.equal(0, reads)
    assert.is_true(r.completed)
    assert.equal(3, env.three)
    r, env = scripted(demo(), {}, {auto = true})
    assert.is_false(r.completed)
    assert.is_true(r.ran[1])
    assert.truthy(r.failed[2]:find('not fixed yet', 1, true))
    assert.is_nil(env.three)
    assert.equal('lesson demo: 1 of 3 steps run, step 2 failed', tostring(r))
  end)

  it('fails a step whose check fails or whose code does not compile', function()
    local l = {steps = {{code = 'x = 1', check = function(env) return env.x == 2 end},
                        {code = 'y = '}}}
    local r = scripted(l, {}, {auto = true})
    assert.truthy(r.failed[1]:find("check does not hold", 1, true))
    l.steps[1].check = function(env) assert(env.x == 1) end
    r = scripted(l, {}, {auto = true})
    assert.is_true(r.ran[1])
    assert.truthy(r.failed[2]:find('step 2', 1, true))
  end)

  it('fast mode: FAST is set, and the names of lesson.fast a step assigns are replaced', function()
    local l = {
      steps = {{code = 'N = 10; data = {1, 2, 3, 4}'}, {code = 'M = N * 2; size = #data; fast = FAST'}},
      fast = {N = 1, data = function(d) return {d[1]} end},
    }
    local r, env, said = scripted(l, {}, {auto = true, fast = true})
    assert.is_true(r.completed)
    assert.equal(2, env.M)
    assert.equal(1, env.size)
    assert.is_true(env.fast)
    assert.truthy(said:find('fast mode: N, data changed', 1, true))
    r, env = scripted(l, {}, {auto = true})
    assert.equal(20, env.M)
    assert.equal(4, env.size)
    assert.is_nil(env.fast)
  end)
end)

describe('lesson texts', function()
  it('wrap to the width, keep paragraphs and indent list items', function()
    local s = lesson.wrap('aaa bbb ccc ddd eee fff ggg hhh iii jjj kkk lll mmm nnn ooo ppp qqq rrr sss\n\n' ..
                          '- one two three four five six seven eight nine ten eleven twelve\n- two\n\n' ..
                          '  kept   as\n  it is', 30)
    for line in s:gmatch('[^\n]+') do assert.is_true(utf8.len(line) <= 30, line) end
    assert.truthy(s:find('\n\n- one', 1, true))
    assert.truthy(s:find('\n  [a-z]'))       -- a list item's next line is indented
    assert.truthy(s:find('\n- two\n', 1, true))
    assert.truthy(s:find('  kept   as\n  it is', 1, true))
    assert.equal('áé íó', lesson.wrap('áé íó', 20))
  end)

  it('fall back to the other language', function()
    assert.equal('hola', lesson.text({es = 'hola'}, 'en'))
    assert.equal('hi', lesson.text({en = 'hi'}, 'es'))
    assert.equal('same', lesson.text('same', 'en'))
    assert.equal('en', lesson.language('en'))
    assert.has_error(function() lesson.language('de') end)
  end)
end)

describe('brasa --lesson', function()
  if not EXE then
    it('needs BRASA_EXE', function() pending('BRASA_EXE is not set (run through ctest)') end)
    return
  end
  local B = sh(EXE)

  it('runs text_cnn non-interactively in Spanish, then the rest of stdin with its variables', function()
    local dir = tmpdir()
    local out, err, code = run('BRASA_LANG=es ' .. B .. ' --lesson text_cnn --auto --fast',
      'print("modelo", type(model), #history.epoch, test_accuracy >= 0 and test_accuracy <= 1)\n', dir)
    local png = exists(dir .. '/text_cnn_curves.png') and exists(dir .. '/text_cnn_confusion.png')
    os.execute('rm -rf ' .. sh(dir))
    assert.equal(0, code, err .. out:sub(-2000))
    for i = 1, 14 do assert.truthy(out:find(('Paso %d de 14'):format(i), 1, true), 'step ' .. i) end
    assert.is_nil(out:find('ha fallado', 1, true))
    assert.truthy(out:find('Fin de la lección', 1, true))
    assert.truthy(out:find('modo rápido', 1, true))
    assert.truthy(out:find('modelo\ttable\t1\ttrue\n', 1, true), out:sub(-500))
    assert.is_true(png, 'the curves and the confusion matrix are saved')
  end)

  it('reads the commands from stdin when it is not a terminal', function()
    local out, err, code = run(B .. ' --lesson tensors_and_autograd --lang en',
      '\nx.shape[2]\nn\nq\nprint("after", x.dtype)\n')
    assert.equal(0, code, err)
    assert.truthy(out:find('Step 2 of 7', 1, true))
    assert.truthy(out:find('> 3\n', 1, true), out)
    assert.truthy(out:find('You left the lesson at step 2', 1, true))
    assert.truthy(out:find('after\tf32', 1, true))
  end)

  it('exits non-zero when a step fails in --auto mode or the lesson does not exist', function()
    local file = os.tmpname() .. '.lua'
    local f = assert(io.open(file, 'w'))
    f:write('return {steps = {{code = "x = 1"}, {code = "error(\'broken step\')"}}}\n')
    f:close()
    local out, err, code = run(B .. ' --lesson ' .. sh(file) .. ' --auto --lang en')
    os.remove(file)
    assert.equal(1, code)
    assert.truthy(out:find('Step 2 failed', 1, true) and out:find('broken step', 1, true), out)
    assert.truthy(err:find('1 of 2 steps run, step 2 failed', 1, true), err)
    _, err, code = run(B .. ' --lesson no_such_lesson')
    assert.equal(1, code)
    assert.truthy(err:find("no lesson 'no_such_lesson'", 1, true))
    _, err, code = run(B .. ' --lesson')
    assert.equal(1, code)
    assert.truthy(err:find("'--lesson' needs an argument", 1, true))
    _, err, code = run(B .. ' --auto')
    assert.equal(1, code)
    assert.truthy(err:find('go with --lesson', 1, true))
    local help = run(B .. ' --help')
    assert.truthy(help:find('--lesson id', 1, true))
  end)
end)
