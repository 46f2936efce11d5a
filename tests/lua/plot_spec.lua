-- brasa.plot: text plots, files, errors, every plot kind, figures, a real
-- window under Xvfb. Run by CTest (`lua5.4 /usr/bin/busted`) with LUA_PATH
-- holding the source lua/ directory; needs gnuplot (gnuplot-nox is enough,
-- the window test wants more and says what when it skips).

-- The directory of this file, so the helpers load however busted is run.
local here = debug.getinfo(1, 'S').source:match('^@(.*/)') or './'
package.path = here .. '?.lua;' .. package.path

local H = require 'plot_helpers'

local plot = require 'brasa.plot'
local gnuplot = require 'brasa.plot.gnuplot'

-- What fn writes on io.stdout (where text plots go), as a string.
local function capture(fn, ...)
  local path = os.tmpname()
  local f = assert(io.open(path, 'w+b'))
  local saved = io.stdout
  io.stdout = f
  local ok, err = pcall(fn, ...)
  io.stdout = saved
  f:close()
  local out = H.read(path)
  os.remove(path)
  if not ok then error(err, 0) end
  return out
end

-- Runs Lua source in a fresh lua5.4 with this package.path; env is a string
-- of VAR=value assignments. Returns stdout and stderr together.
local function run_lua(source, env)
  local script = os.tmpname()
  local f = assert(io.open(script, 'w'))
  f:write(('package.path = %q\n'):format(package.path), source)
  f:close()
  local out = H.shell((env or '') .. ' lua5.4 ' .. script .. ' 2>&1')
  os.remove(script)
  return out
end

-- The number of non-blank characters in a text.
local function ink(text)
  return select(2, text:gsub('%S', ''))
end

local PURPLE = {148, 0, 211} -- gnuplot's first line colour
local GREEN = {0, 158, 115}  -- and its second

local tmp

setup(function()
  tmp = H.tmpdir()
  plot.terminal('dumb', 'size 80,25')
end)

teardown(function()
  plot.closeall()
  plot.terminal('auto')
  H.rmtree(tmp)
end)

describe('brasa.plot loading', function()
  it('loads alone, without the engine, and reports a missing gnuplot at the first plot', function()
    local out = run_lua([[
      local plot = require 'brasa.plot'
      print('loaded', package.loaded.brasa == nil)
      local ok, err = pcall(plot.lines, {1, 2, 3})
      print(ok, err)
    ]], 'BRASA_GNUPLOT=/nonexistent/gnuplot')
    assert.matches('loaded\ttrue', out, 1, true)
    assert.matches('false\tbrasa.plot.lines: gnuplot was not found', out, 1, true)
    assert.matches('gnuplot-nox', out, 1, true)
  end)
end)

describe('text plots (dumb)', function()
  it('print title, tick labels and legend on stdout before the call returns', function()
    local out = run_lua([[
      local plot = require 'brasa.plot'
      plot.terminal('dumb')
      plot.lines({{1, 4, 9, 16}, {16, 9, 4, 1}},
        {x = {10, 20, 30, 40}, title = 'Squares both ways', labels = {'rising', 'falling'}})
      print('AFTER-THE-CALL')
    ]], 'COLUMNS=80 LINES=25')
    local title = out:find('Squares both ways', 1, true)
    local after = out:find('AFTER-THE-CALL', 1, true)
    assert.truthy(title, out)
    assert.truthy(after)
    assert.is_true(title < after, 'the plot must be printed before the call returns')
    local text = out:sub(1, after - 1)
    for _, tick in ipairs({'10', '20', '30', '40', '16'}) do
      assert.matches('%f[%d]' .. tick .. '%f[%D]', text)
    end
    assert.matches('rising', text, 1, true)
    assert.matches('falling', text, 1, true)
    assert.is_true(ink(text) > 300, 'the plot is nearly blank')
  end)

  it('fit the terminal size given by COLUMNS and LINES', function()
    local out = run_lua([[
      local plot = require 'brasa.plot'
      plot.terminal('dumb')
      plot.lines({3, 1, 2})
    ]], 'COLUMNS=100 LINES=30')
    local lines, widest = 0, 0
    for line in out:gmatch('([^\n]*)\n') do
      lines = lines + 1
      widest = math.max(widest, #line)
    end
    assert.equals(29, lines) -- one line kept for the prompt
    assert.equals(100, widest)
  end)

  it('show training history: loss and val_loss beside accuracy and val_accuracy', function()
    local hist = {history = {loss = {0.9, 0.6, 0.45, 0.4}, val_loss = {1.0, 0.7, 0.6, 0.58},
      accuracy = {0.6, 0.75, 0.82, 0.85}, val_accuracy = {0.55, 0.7, 0.76, 0.78}},
      epoch = {1, 2, 3, 4}}
    local out = capture(plot.history, hist)
    for _, word in ipairs({'loss', 'val_loss', 'accuracy', 'val_accuracy', 'epoch'}) do
      assert.matches(word, out, 1, true)
    end
    -- two panels side by side: the two titles are on one line
    assert.matches('loss%s+accuracy', out)
  end)

  it('show heatmap annotations and row and column labels', function()
    local out = capture(plot.heatmap, {{17, 2, 0}, {3, 23, 1}, {0, 4, 42}},
      {labels = {'cat', 'dog', 'bird'}, title = 'confusion'})
    for _, word in ipairs({'confusion', '17', '23', '42', 'cat', 'dog', 'bird'}) do
      assert.matches(word, out, 1, true)
    end
  end)
end)

describe('files', function()
  it('PNG: valid header, the size asked for, and drawn curves', function()
    local function render(y, name)
      capture(plot.lines, y, {title = 'two curves', legend = false, yrange = {0, 20}})
      local path = tmp .. '/' .. name
      assert.equals(path, plot.save(path, {size = {640, 480}}))
      return H.read(path)
    end
    local bytes = render({{1, 4, 9, 16}, {16, 9, 4, 1}}, 'curves.png')
    local hdr = assert(H.png_header(bytes))
    assert.same({640, 480}, {hdr.width, hdr.height})
    local img = H.png_decode(bytes)
    assert.equals(640 * 480, #img.pixels)
    assert.is_true(H.count_colour(img, PURPLE, 40) > 300, 'first curve missing')
    assert.is_true(H.count_colour(img, GREEN, 40) > 300, 'second curve missing')
    -- the same frame with the curves out of sight: fewer pixels drawn
    local empty = H.png_decode(render({{100, 100}, {100, 100}}, 'empty.png'))
    assert.equals(0, H.count_colour(empty, PURPLE, 40))
    local drawn, blank = H.colours(img).others, H.colours(empty).others
    assert.is_true(drawn > blank + 1000, ('%d pixels drawn, %d without curves'):format(drawn, blank))
    assert.is_true(blank > 2000, 'axes, ticks and title should be drawn')
  end)

  it('SVG: valid header, the size asked for, texts as given', function()
    capture(plot.lines, {{0.9, 0.5, 0.3}, {1.0, 0.7, 0.6}},
      {title = 'val_loss_curve', labels = {'loss', 'val_loss'}})
    local path = plot.save(tmp .. '/curves.svg', {size = {700, 400}})
    local svg = H.read(path)
    assert.matches('^<%?xml', svg)
    assert.matches('<svg', svg, 1, true)
    assert.matches('width="700" height="400"', svg, 1, true)
    assert.matches('<path', svg, 1, true)
    -- underscores stay underscores (no enhanced-text subscripts)
    assert.matches('<text>val_loss_curve</text>', svg, 1, true)
    assert.matches('<text>val_loss</text>', svg, 1, true)
  end)

  it('PDF', function()
    capture(plot.lines, {1, 2, 3})
    local pdf = H.read(plot.save(tmp .. '/curve.pdf'))
    assert.equals('%PDF-', pdf:sub(1, 5))
    assert.matches('%%EOF', pdf:sub(-10), 1, true)
  end)

  it('heatmap annotations appear as SVG text', function()
    local names = {'T-shirt/top', 'Trouser', "Bag 'n' co"}
    capture(plot.heatmap, {{17, 2, 0}, {3, 23, 1}, {0, 4, 42}}, {labels = names})
    local svg = H.read(plot.save(tmp .. '/cm.svg'))
    for _, n in ipairs({'17', '23', '42', '2', '3', '4'}) do
      assert.matches('<text>' .. n .. '</text>', svg, 1, true)
    end
    assert.matches('<text>T-shirt/top</text>', svg, 1, true)
    assert.matches("<text>Bag 'n' co</text>", svg, 1, true)
  end)

  it('are written whole or not at all', function()
    capture(plot.lines, {1, 2, 3})
    local path = tmp .. '/atomic.png'
    plot.save(path)
    assert.is_nil(H.read(path .. '.part'))
    assert.truthy(H.png_header(H.read(path)))
    -- a failing save leaves the old file as it was
    local f = assert(io.open(path, 'wb'))
    f:write('old contents')
    f:close()
    assert(os.execute("mkdir '" .. path .. ".part'")) -- gnuplot cannot write there
    local ok, err = pcall(plot.save, path)
    assert.is_false(ok)
    assert.matches('^brasa.plot.save: gnuplot: cannot open file', err)
    assert.equals('old contents', H.read(path))
  end)

  it('save needs a plot and a known format', function()
    plot.figure(9)
    local ok, err = pcall(plot.save, tmp .. '/nothing.png')
    assert.is_false(ok)
    assert.matches('nothing to save', err, 1, true)
    capture(plot.lines, {1, 2})
    ok, err = pcall(plot.save, tmp .. '/curve.bmp')
    assert.is_false(ok)
    assert.matches('.png, .svg or .pdf', err, 1, true)
    plot.close(9)
  end)
end)

describe('errors', function()
  it('from gnuplot become Lua errors naming the call, and the figure goes on', function()
    local ok, err = pcall(capture, plot.lines, {1, 2, 3}, {commands = 'set nonsense'})
    assert.is_false(ok)
    assert.matches("^brasa.plot.lines: gnuplot: unrecognized option", err)
    assert.matches('set nonsense', err, 1, true)
    ok, err = pcall(capture, plot.heatmap, {{1, 2}, {3, 4}}, {palette = 'bogus palette'})
    assert.is_false(ok)
    assert.matches('^brasa.plot.heatmap: gnuplot:', err)
    local out = capture(plot.lines, {1, 2, 3}, {title = 'still working'})
    assert.matches('still working', out, 1, true)
  end)

  it('from bad arguments name the call', function()
    local function fails(pattern, fn, ...)
      local ok, err = pcall(capture, fn, ...)
      assert.is_false(ok)
      assert.matches(pattern, err)
    end
    fails('^brasa.plot.lines: a tensor or a table of numbers expected', plot.lines, 'abc')
    fails('^brasa.plot.lines: opts.x has 2 values', plot.lines, {1, 2, 3}, {x = {1, 2}})
    fails('^brasa.plot.scatter: 3 x values and 2 y values', plot.scatter, {1, 2, 3}, {1, 2})
    fails('^brasa.plot.heatmap: row 2 has 1 values', plot.heatmap, {{1, 2}, {3}})
    fails('^brasa.plot.images: image 1 has 2 channels', plot.images,
      {{{{0}}, {{1}}}})
    fails('^brasa.plot.history: the history has no curves', plot.history, {history = {}})
    fails('^brasa.plot.terminal: a terminal name expected', plot.terminal, 42)
    local ok, err = pcall(function()
      plot.terminal('nosuchterminal')
      capture(plot.lines, {1, 2})
    end)
    plot.terminal('dumb', 'size 80,25')
    assert.is_false(ok)
    assert.matches("this gnuplot has no terminal 'nosuchterminal'", err, 1, true)
  end)
end)

-- Renders a plot to SVG and returns the SVG text.
local function svg_of(fn, ...)
  capture(fn, ...)
  return H.read(plot.save(tmp .. '/kind.svg'))
end

describe('every plot kind', function()
  it('scatter, coloured by class', function()
    local svg = svg_of(plot.scatter, {{0, 0}, {1, 1}, {0, 1}, {1, 0}},
      {classes = {1, 1, 2, 2}, labels = {'circle', 'square'}})
    assert.matches('<text>circle</text>', svg, 1, true)
    assert.matches('<text>square</text>', svg, 1, true)
    svg = svg_of(plot.scatter, {1, 2, 3}, {3, 1, 2}, {classes = {'x', 'y', 'x'}})
    assert.matches('<text>x</text>', svg, 1, true)
  end)

  it('hist, bins counted in Lua', function()
    local values = {}
    for i = 1, 100 do values[i] = (i % 10) + 0.5 end
    local out = capture(plot.hist, values, {bins = 10, title = 'ten bins'})
    assert.matches('ten bins', out, 1, true)
    assert.matches('%f[%d]10%f[%D]', out) -- each bin counts 10
  end)

  it('bar, with category labels and series names', function()
    local svg = svg_of(plot.bar, {{3, 5, 2}, {4, 1, 6}},
      {labels = {'red', 'green', 'blue'}, names = {'before', 'after'}})
    for _, w in ipairs({'red', 'green', 'blue', 'before', 'after'}) do
      assert.matches('<text>' .. w .. '</text>', svg, 1, true)
    end
  end)

  it('image and images: grey and RGB, in a grid with titles', function()
    local function square(v, n)
      local img = {}
      for i = 1, n do
        img[i] = {}
        for j = 1, n do img[i][j] = (i > n / 4 and i <= 3 * n / 4 and j > n / 4 and j <= 3 * n / 4) and v or 0 end
      end
      return img
    end
    -- four grey 8x8 images: white squares on black, N x 1 x H x W
    local imgs = {}
    for k = 1, 4 do imgs[k] = {square(1, 8)} end
    capture(plot.images, imgs, {titles = {'one', 'two', 'three', 'four'}})
    local png = H.png_decode(H.read(plot.save(tmp .. '/grid.png', {size = {400, 400}})))
    local white = H.count_colour(png, {255, 255, 255}, 8)
    local black = H.count_colour(png, {0, 0, 0}, 8)
    assert.is_true(black > 5000, 'black borders of the squares missing')
    assert.is_true(white > 20000, 'white background and squares missing')
    local svg = H.read(plot.save(tmp .. '/grid.svg'))
    assert.matches('<text>three</text>', svg, 1, true)
    -- one RGB image, C x H x W: red
    capture(plot.image, {square(1, 8), square(0, 8), square(0, 8)})
    png = H.png_decode(H.read(plot.save(tmp .. '/red.png', {size = {300, 300}})))
    assert.is_true(H.count_colour(png, {255, 0, 0}, 8) > 5000, 'red square missing')
  end)

  it('surface, from a matrix or a function', function()
    local out = capture(plot.surface, {{1, 2, 3}, {2, 3, 4}, {3, 4, 5}}, {title = 'plane'})
    assert.matches('plane', out, 1, true)
    local svg = svg_of(plot.surface, function(x, y) return x * x - y * y end,
      {xrange = {-2, 2}, yrange = {-2, 2}, samples = 12, style = 'lines'})
    assert.matches('<path', svg, 1, true)
  end)

  it('subplots, filled one call at a time or by a function', function()
    local out = capture(function()
      plot.subplots(1, 2, {title = 'grid'})
      plot.lines({1, 2, 3}, {title = 'left panel'})
      plot.bar({3, 2, 1}, {title = 'right panel'})
    end)
    assert.matches('grid', out, 1, true)
    assert.matches('left panel%s+right panel', out)
    out = capture(plot.subplots, 2, 1, function()
      plot.lines({1, 2, 3}, {title = 'upper panel'})
      plot.hist({1, 2, 2, 3}, {title = 'lower panel'})
    end)
    local upper, lower = out:find('upper panel', 1, true), out:find('lower panel', 1, true)
    assert.truthy(upper and lower and upper < lower)
    -- one call left over: plot.show draws what there is
    out = capture(function()
      plot.subplots(2, 2)
      plot.lines({1, 2}, {title = 'lonely'})
      plot.show()
    end)
    assert.matches('lonely', out, 1, true)
  end)

  it('history to PNG: two panels side by side', function()
    local hist = {history = {loss = {0.9, 0.6, 0.45, 0.4}, val_loss = {1.0, 0.7, 0.6, 0.58},
      accuracy = {0.6, 0.75, 0.82, 0.85}, val_accuracy = {0.55, 0.7, 0.76, 0.78}},
      epoch = {1, 2, 3, 4}}
    capture(plot.history, hist, {title = 'fit'})
    local bytes = H.read(plot.save(tmp .. '/history.png'))
    local hdr = H.png_header(bytes)
    assert.is_true(hdr.width > hdr.height, 'panels side by side')
    local svg = H.read(plot.save(tmp .. '/history.svg'))
    for _, w in ipairs({'loss', 'val_loss', 'accuracy', 'val_accuracy', 'fit'}) do
      assert.matches('<text>' .. w .. '</text>', svg, 1, true)
    end
  end)

  it('the gallery script renders every kind to files', function()
    local script = here .. '../../scripts/plot_gallery.lua'
    -- LD_PRELOAD (the sanitizer build's runtime) is passed on explicitly:
    -- H.shell keeps it from other programs, but this one loads brasa.
    local preload = os.getenv('LD_PRELOAD')
    local env = preload and ('LD_PRELOAD=%q '):format(preload) or ''
    local out = H.shell(('%sLUA_PATH=%q lua5.4 %s %s 2>&1'):format(env, package.path, script, tmp .. '/gallery'))
    assert.matches('wrote', out, 1, true)
    for _, kind in ipairs({'lines', 'scatter', 'hist', 'bar', 'heatmap', 'image', 'images',
        'surface', 'history', 'subplots'}) do
      assert.truthy(H.png_header(H.read(tmp .. '/gallery/' .. kind .. '.png') or ''), kind .. '.png')
      assert.matches('<svg', H.read(tmp .. '/gallery/' .. kind .. '.svg') or '', 1, true)
    end
  end)
end)

describe('figures', function()
  it('figure(n), close and closeall', function()
    assert.equals(3, plot.figure(3))
    capture(plot.lines, {1, 2}, {title = 'figure three'})
    local n = plot.figure()
    assert.is_true(n ~= 3)
    capture(plot.lines, {2, 1}, {title = 'another figure'})
    -- each figure keeps its own drawing
    plot.figure(3)
    assert.matches('figure three', H.read(plot.save(tmp .. '/f3.svg')), 1, true)
    plot.figure(n)
    assert.matches('another figure', H.read(plot.save(tmp .. '/fn.svg')), 1, true)
    plot.close(n)
    plot.close(3)
    plot.closeall()
    local ok = pcall(plot.save, tmp .. '/gone.svg')
    assert.is_false(ok)
  end)

  it('live history: one cheap redraw per epoch', function()
    local live = plot.live_history()
    local hist = {history = {loss = {}, val_loss = {}, accuracy = {}, val_accuracy = {}}, epoch = {}}
    local h = hist.history
    local t0 = H.now_ms()
    local out = capture(function()
      for e = 1, 20 do
        h.loss[e], h.val_loss[e] = 1 / e, 1.1 / e
        h.accuracy[e], h.val_accuracy[e] = 1 - 0.5 / e, 0.95 - 0.5 / e
        hist.epoch[e] = e
        live:update(hist)
      end
    end)
    local per_epoch = (H.now_ms() - t0) / 20
    assert.is_true(per_epoch < 50, ('%.1f ms per redraw'):format(per_epoch))
    assert.equals(20, select(2, out:gsub('val_accuracy', '')))
    assert.matches('<text>val_accuracy</text>', H.read(plot.save(tmp .. '/live.svg')), 1, true)
    live:close()
  end)
end)

describe('tensors', function()
  -- A stand-in with the engine's surface: x:totable() and x.shape.
  local function fake_tensor(t, shape)
    return setmetatable({shape = shape}, {__index = {totable = function() return t end}})
  end

  it('anything with totable() is accepted', function()
    local out = capture(plot.lines, fake_tensor({1, 4, 9}, {3}), {title = 'from totable'})
    assert.matches('from totable', out, 1, true)
    out = capture(plot.heatmap, fake_tensor({{5, 1}, {2, 7}}, {2, 2}), {labels = {'a', 'b'}})
    assert.matches('%f[%d]7%f[%D]', out)
    local zero_dim = setmetatable({}, {__index = {item = function() return 0.5 end}})
    out = capture(plot.history, {history = {loss = {zero_dim, zero_dim}}})
    assert.matches('loss', out, 1, true)
  end)

  it('brasa tensors', function()
    local ok, brasa = pcall(require, 'brasa')
    if not ok or type(brasa) ~= 'table' or not brasa.tensor then
      pending('the brasa engine is not built yet: tensor plots tested with stand-ins only')
      return
    end
    local out = capture(plot.lines, brasa.tensor({{1, 2, 3}, {3, 2, 1}}),
      {labels = {'up', 'down'}, x = brasa.tensor({10, 20, 30})})
    assert.matches('down', out, 1, true)
    out = capture(plot.heatmap, brasa.tensor({{5, 1}, {2, 7}}))
    assert.matches('%f[%d]7%f[%D]', out)
    capture(plot.images, brasa.tensor({{{{0, 1}, {1, 0}}}, {{{1, 0}, {0, 1}}}}))
    capture(plot.hist, brasa.tensor({{1, 2}, {2, 3}}))
    assert.truthy(H.png_header(H.read(plot.save(tmp .. '/t.png'))))
  end)
end)

describe('documentation', function()
  local doc = require 'brasa.doc'
  local entries = require 'brasa.docs_plot'

  it('has an entry for every public function, bound to it', function()
    for name, f in pairs(plot) do
      if type(f) == 'function' then
        local e = doc.get('brasa.plot.' .. name)
        assert.truthy(e, 'no documentation for brasa.plot.' .. name)
        assert.equals(e, doc.get(f))
      end
    end
  end)

  it('examples run', function()
    -- brasa.plot as the examples see it: files are saved under tmp
    local proxy = setmetatable({
      save = function(path, opts) return plot.save(tmp .. '/' .. path, opts) end,
    }, {__index = plot})
    local env = setmetatable({brasa = {plot = proxy}, plot = proxy,
      print = function(...)
        local t = table.pack(...)
        for i = 1, t.n do t[i] = tostring(t[i]) end
        io.stdout:write(table.concat(t, '\t'), '\n')
      end}, {__index = _G})
    for _, e in ipairs(entries) do
      local chunk = assert(load(e.example, '=' .. e[1], 't', env))
      local ok, err = pcall(capture, chunk)
      plot.closeall()
      plot.terminal('dumb', 'size 80,25')
      assert(ok, e[1] .. ': ' .. tostring(err))
    end
    assert.truthy(H.png_header(H.read(tmp .. '/squares.png')))
  end)
end)

describe('a window', function()
  it('opens under Xvfb and shows the plot', function()
    local terminals = H.shell(gnuplot.program .. " -e 'print GPVAL_TERMINALS' </dev/null 2>&1")
    local window
    for _, t in ipairs({'qt', 'wxt', 'x11'}) do
      if terminals:find('%f[%w]' .. t .. '%f[%W]') then window = window or t end
    end
    if not window then
      pending('gnuplot has no window terminal: install gnuplot-x11 or gnuplot-qt')
      return
    end
    if not (H.have('Xvfb') and H.have('xwd')) then
      pending('no Xvfb or xwd: install xvfb and x11-apps to test windows')
      return
    end
    -- Xvfb picks a free display and writes its number to fd 3.
    local dfile = os.tmpname()
    local pid = H.shell(('Xvfb -displayfd 3 -screen 0 800x600x24 -nolisten tcp 3>%s '
      .. '>/dev/null 2>&1 & echo $!'):format(dfile)):match('%d+')
    local display
    for _ = 1, 100 do
      display = (H.read(dfile) or ''):match('%d+')
      if display then break end
      H.sleep(0.05)
    end
    local out = display and run_lua(([[
      local H = require 'plot_helpers'
      local plot = require 'brasa.plot'
      plot.lines({{1, 4, 9, 16, 25}, {25, 16, 9, 4, 1}}, {title = 'in a window'})
      print('TERM ' .. plot.gnuplot('print GPVAL_TERM'))
      local shot, found = os.tmpname(), 0
      for _ = 1, 60 do -- the window takes a moment to appear
        os.execute('xwd -root -silent > ' .. shot)
        local img = H.xwd_decode(H.read(shot))
        found = H.count_colour(img, {148, 0, 211}, 40)
        if found > 300 then break end
        H.sleep(0.1)
      end
      os.remove(shot)
      print('CURVE PIXELS ' .. found)
      plot.closeall()
    ]]), 'DISPLAY=:' .. display)
    os.execute('kill ' .. pid)
    os.remove(dfile)
    assert.truthy(display, 'Xvfb did not start')
    assert.matches('TERM ' .. window, out, 1, true)
    local found = tonumber(out:match('CURVE PIXELS (%d+)'))
    assert.truthy(found, out)
    assert.is_true(found > 300, 'the window shows no curve: ' .. out)
  end)
end)
