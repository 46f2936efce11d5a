-- brasa.plot: plots through gnuplot, in a window, in the terminal or in files.
--
--   local plot = require 'brasa.plot'
--   plot.lines({1, 4, 9, 16}, {title = 'squares', labels = {'x^2'}})
--   plot.save('squares.png')              -- the same figure again, as a file
--   plot.history(hist)                    -- loss and metric curves of a fit
--   plot.heatmap(cm, {labels = classes})  -- a confusion matrix
--
-- Each figure is one gnuplot process that lives until the figure is closed,
-- fed through a pipe: drawing never blocks the REPL, and a window stays
-- open and live while the user goes on working. Data goes inline, as
-- gnuplot datablocks, so save() replays the last drawing into a file.
--
-- Where plots go: plot.terminal(name) sets it. The default, 'auto', opens a
-- window (qt, wxt or x11, whichever the installed gnuplot has) when DISPLAY
-- is set, and otherwise draws text plots sized to the terminal ('dumb'),
-- printed on stdout before the plot call returns. 'sixel' draws pixels in
-- terminals that understand sixel graphics.
--
-- Data: a tensor (any object with x:totable()) or Lua tables of numbers.
-- This module never requires 'brasa', and needs gnuplot only at the first
-- plot call: a missing gnuplot is reported then, naming the Debian package.
--
-- Options common to the plot functions (all optional):
--   title, xlabel, ylabel       texts (shown as given: no enhanced-text markup)
--   logx, logy = true           logarithmic axes (or log = 'x', 'y', 'xy')
--   xrange, yrange = {lo, hi}   axis ranges; a nil end is automatic
--   grid = false                no grid lines
--   legend = false | 'top left' no legend, or where it goes
--   figure = n                  draw into figure n instead of the current one
--   commands = '...' | {...}    extra gnuplot commands, run before plotting

local gnuplot = require 'brasa.plot.gnuplot'
local data = require 'brasa.plot.data'
local figure = require 'brasa.plot.figure'

local plot = {}

local quote = gnuplot.quote
local fmt = data.format

------------------------------------------------------------------ helpers

-- opts checked to be a table (or nil, giving {}).
local function options(opts, who)
  if opts == nil then return {} end
  if type(opts) ~= 'table' or data.is_tensor(opts) then
    error(who .. ': options table expected, got ' .. type(opts), 0)
  end
  return opts
end

-- A gnuplot range [lo:hi] from {lo, hi}, where a missing end is '*'.
local function range(r, who)
  if type(r) ~= 'table' then error(who .. ': a range {lo, hi} expected', 0) end
  local function bound(v)
    if v == nil then return '*' end
    return fmt(data.number(v, who))
  end
  return '[' .. bound(r[1]) .. ':' .. bound(r[2]) .. ']'
end

-- The `title ...` or `notitle` clause of a plot element.
local function title_clause(name)
  if name == nil then return 'notitle' end
  return 'title ' .. quote(name)
end

-- The legend name of series i of n: labels[i], a lone label, or a default.
local function series_label(opts, i, n)
  local labels = opts.labels
  if type(labels) == 'table' then
    return labels[i] ~= nil and tostring(labels[i]) or nil
  elseif labels ~= nil then
    return i == 1 and tostring(labels) or nil
  end
  if opts.label ~= nil and i == 1 then return tostring(opts.label) end
  if n > 1 then return 'series ' .. i end
  return nil
end

-- Settings every 2-D plot understands (see the options at the top); grid
-- lines unless opts.grid is false (or `grid` is false and opts.grid unset).
local function decorate(p, opts, who, grid)
  if opts.title then p:cmd('set title %s', quote(opts.title)) end
  if opts.xlabel then p:cmd('set xlabel %s', quote(opts.xlabel)) end
  if opts.ylabel then p:cmd('set ylabel %s', quote(opts.ylabel)) end
  if opts.zlabel then p:cmd('set zlabel %s', quote(opts.zlabel)) end
  local log = opts.log or ''
  if opts.logx or log:find('x') then p:cmd('set logscale x') end
  if opts.logy or log:find('y') then p:cmd('set logscale y') end
  if opts.xrange then p:cmd('set xrange %s', range(opts.xrange, who)) end
  if opts.yrange then p:cmd('set yrange %s', range(opts.yrange, who)) end
  local show_grid = opts.grid
  if show_grid == nil then show_grid = grid ~= false end
  if show_grid then p:cmd('set grid') end
  if opts.legend == false then
    p:cmd('unset key')
  elseif type(opts.legend) == 'string' then
    p:cmd('set key %s', opts.legend)
  end
end

-- The figure a plot call draws into, and a new panel for it.
local function begin(opts)
  local fig = opts.figure and figure.get(opts.figure) or figure.current()
  local index = fig.layout and #fig.layout.panels + 1 or 1
  return fig, figure.panel('p' .. index)
end

-- Draws a figure's pending grid of subplots.
local function draw_layout(fig, who)
  local layout = fig.layout
  fig.layout = nil
  fig:draw(figure.scene(layout.panels, layout), who)
end

-- Ends a plot call: draws the panel, or adds it to the figure's subplots
-- (drawn when the grid is full).
local function finish(fig, p, opts, who)
  p:user(opts.commands)
  local layout = fig.layout
  if not layout then
    return fig:draw(figure.scene({p}), who)
  end
  if #layout.panels >= layout.rows * layout.cols then
    error(('%s: the %dx%d subplots are full'):format(who, layout.rows, layout.cols), 0)
  end
  layout.panels[#layout.panels + 1] = p
  if #layout.panels == layout.rows * layout.cols and not layout.deferred then
    draw_layout(fig, who)
  end
end

-- x values for each series: opts.x is one list for all, or one per series.
local function x_lists(x, series, who)
  if x == nil then return {} end
  local list = data.series_list(x, who)
  local out = {}
  for i, s in ipairs(series) do
    local xi = list[#list == 1 and 1 or i]
    if not xi then error(('%s: opts.x has no values for series %d'):format(who, i), 0) end
    if #xi < #s then
      error(('%s: opts.x has %d values, series %d has %d'):format(who, #xi, i, #s), 0)
    end
    out[i] = xi
  end
  return out
end

-- Adds line series to a panel: one datablock and one plot element each.
local function add_lines(p, series, xs, opts, who)
  local style = opts.style or 'lines'
  local elements = {}
  for i, s in ipairs(series) do
    if #s == 0 then error(who .. ': series ' .. i .. ' is empty', 0) end
    local x, rows = xs[i], {}
    for j, v in ipairs(s) do rows[j] = fmt(x and x[j] or j) .. ' ' .. fmt(v) end
    local extra = style:find('points') and ' pt 7 ps ' .. (opts.pointsize or 0.6) or ''
    elements[i] = ('%s using 1:2 with %s lw %s%s %s'):format(p:block(rows), style,
      opts.linewidth or 1.5, extra, title_clause(series_label(opts, i, #series)))
  end
  p:cmd('plot ' .. table.concat(elements, ', '))
end

------------------------------------------------------------------- curves

--- Line plot of one series or several.
-- y: a tensor (1-D: one series; 2-D: one series per row), a table of
-- numbers, or a table of such series. opts.x: the x values (one list for
-- all series, or one per series; default 1, 2, ...); opts.labels: legend
-- names, one per series; opts.style: 'lines' (default), 'linespoints',
-- 'points'; and the common options (title, xlabel, logy, ...).
function plot.lines(y, opts)
  local who = 'brasa.plot.lines'
  opts = options(opts, who)
  local series = data.series_list(y, who)
  local xs = x_lists(opts.x, series, who)
  local fig, p = begin(opts)
  decorate(p, opts, who)
  add_lines(p, series, xs, opts, who)
  finish(fig, p, opts, who)
end

-- True when v is an options table rather than data.
local function is_options(v)
  return v == nil or (type(v) == 'table' and not data.is_tensor(v) and v[1] == nil)
end

--- Scatter plot, coloured by class.
-- plot.scatter(x, y, opts?) with x and y lists (or tensors) of numbers, or
-- plot.scatter(points, opts?) with points N x 2. opts.classes: one class per
-- point (numbers or strings; a tensor of class ids works), drawn in its own
-- colour; opts.labels: names of the classes (labels[k] names class k), or
-- of the one series; opts.pointsize.
function plot.scatter(a, b, opts)
  local who = 'brasa.plot.scatter'
  if opts == nil and is_options(b) then opts, b = b, nil end
  opts = options(opts, who)
  local xs, ys
  if b ~= nil then
    xs, ys = data.numbers(a, who), data.numbers(b, who)
  else
    local m = data.matrix(a, who)
    if #m[1] ~= 2 then error(who .. ': points must be N x 2 (or give x and y)', 0) end
    xs, ys = {}, {}
    for i, r in ipairs(m) do xs[i], ys[i] = r[1], r[2] end
  end
  if #xs ~= #ys then
    error(('%s: %d x values and %d y values'):format(who, #xs, #ys), 0)
  end
  local classes = opts.classes and data.plain(opts.classes)
  if classes then
    if type(classes) ~= 'table' then error(who .. ': opts.classes must be a list', 0) end
    local flat = {}
    local function walk(t)
      for i = 1, #t do
        local v = data.plain(t[i])
        if type(v) == 'table' then walk(v) else flat[#flat + 1] = v end
      end
    end
    walk(classes)
    classes = flat
    if #classes ~= #xs then
      error(('%s: %d points and %d classes'):format(who, #xs, #classes), 0)
    end
  end
  -- Group the points by class, classes in sorted order.
  local groups, keys = {}, {}
  for i = 1, #xs do
    local k = classes and classes[i] or 1
    if not groups[k] then groups[k] = {} keys[#keys + 1] = k end
    local g = groups[k]
    g[#g + 1] = fmt(xs[i]) .. ' ' .. fmt(ys[i])
  end
  table.sort(keys, function(u, v)
    if type(u) == type(v) then return u < v end
    return type(u) == 'number'
  end)
  local fig, p = begin(opts)
  decorate(p, opts, who)
  local elements = {}
  for i, k in ipairs(keys) do
    local name
    if classes then
      local labels = opts.labels
      name = type(labels) == 'table' and labels[k] or tostring(k)
    else
      name = series_label(opts, 1, 1)
    end
    elements[i] = ('%s using 1:2 with points pt 7 ps %s %s'):format(p:block(groups[k]),
      opts.pointsize or 0.6, title_clause(name and tostring(name)))
  end
  if #elements == 0 then error(who .. ': no points', 0) end
  p:cmd('plot ' .. table.concat(elements, ', '))
  finish(fig, p, opts, who)
end

-- Series for hist and bar: a tensor or a list of numbers is one series (a
-- tensor of any shape is flattened); a Lua list of lists or tensors, several.
local function value_series(v, who)
  if data.is_tensor(v) then return {data.numbers(v, who)} end
  return data.series_list(v, who)
end

--- Histogram of values.
-- values: a tensor (of any shape: all its values count) or a list of
-- numbers, or a list of such series (drawn over each other, half
-- transparent). opts.bins (default: about the square root of the count, at
-- most 50), opts.range = {lo, hi} (values outside are left out),
-- opts.density = true (areas sum to 1), opts.labels (legend names).
function plot.hist(values, opts)
  local who = 'brasa.plot.hist'
  opts = options(opts, who)
  local series = value_series(values, who)
  local all = {}
  for _, s in ipairs(series) do
    for _, v in ipairs(s) do all[#all + 1] = v end
  end
  if #all == 0 then error(who .. ': no values', 0) end
  local lo, hi = data.range(all)
  if opts.range then
    lo = opts.range[1] and data.number(opts.range[1], who) or lo
    hi = opts.range[2] and data.number(opts.range[2], who) or hi
  end
  if hi <= lo then lo, hi = lo - 0.5, lo + 0.5 end
  local bins = opts.bins or math.max(1, math.min(50, math.ceil(math.sqrt(#all / #series))))
  bins = math.tointeger(bins) or error(who .. ': opts.bins must be an integer', 0)
  local width = (hi - lo) / bins
  local fig, p = begin(opts)
  decorate(p, opts, who)
  p:cmd('set style fill transparent solid 0.5 border')
  p:cmd('set boxwidth %s absolute', fmt(width))
  if opts.yrange == nil then p:cmd('set yrange [0:*]') end
  local elements = {}
  for i, s in ipairs(series) do
    local counts = {}
    for b = 1, bins do counts[b] = 0 end
    for _, v in ipairs(s) do
      if v >= lo and v <= hi then
        local b = math.min(bins, math.floor((v - lo) / width) + 1)
        counts[b] = counts[b] + 1
      end
    end
    local rows = {}
    for b = 1, bins do
      local c = counts[b]
      if opts.density then c = c / (#s * width) end
      rows[b] = fmt(lo + (b - 0.5) * width) .. ' ' .. fmt(c)
    end
    local name = series_label(opts, i, #series)
    elements[i] = p:block(rows) .. ' using 1:2 with boxes ' .. title_clause(name)
  end
  p:cmd('plot ' .. table.concat(elements, ', '))
  finish(fig, p, opts, who)
end

--- Bar chart.
-- values: a list (or tensor) of numbers, or a list of such series drawn as
-- clustered bars. opts.labels: the names of the bars (categories, along x);
-- opts.names: the names of the series (legend).
function plot.bar(values, opts)
  local who = 'brasa.plot.bar'
  opts = options(opts, who)
  local series = value_series(values, who)
  local n = #series[1]
  for i, s in ipairs(series) do
    if #s ~= n then
      error(('%s: series %d has %d values, series 1 has %d'):format(who, i, #s, n), 0)
    end
  end
  if n == 0 then error(who .. ': no values', 0) end
  local rows = {}
  for j = 1, n do
    local label = opts.labels and opts.labels[j] or j
    local row = {data.text_field(label)}
    for i, s in ipairs(series) do row[i + 1] = s[j] end
    rows[j] = data.row(row)
  end
  local fig, p = begin(opts)
  decorate(p, opts, who, false)
  if opts.grid ~= false then p:cmd('set grid ytics') end
  p:cmd('set style data histograms')
  p:cmd('set style histogram clustered gap 1')
  p:cmd('set style fill solid 0.8 border -1')
  p:cmd('set xtics nomirror')
  local all = {}
  for _, s in ipairs(series) do
    for _, v in ipairs(s) do all[#all + 1] = v end
  end
  if opts.yrange == nil and data.range(all) >= 0 then p:cmd('set yrange [0:*]') end
  local block = p:block(rows)
  local elements = {}
  for i = 1, #series do
    local name = opts.names and opts.names[i]
    if name == nil and #series > 1 then name = 'series ' .. i end
    elements[i] = ('%s using %d%s %s'):format(block, i + 1,
      i == 1 and ':xtic(1)' or '', title_clause(name and tostring(name)))
  end
  p:cmd('plot ' .. table.concat(elements, ', '))
  finish(fig, p, opts, who)
end

---------------------------------------------------------------- matrices

-- Tic marks named by labels, at 0, 1, ...: set xtics ('a' 0, 'b' 1, ...).
local function named_tics(axis, labels, n)
  local tics = {}
  for i = 1, n do
    tics[i] = quote(labels[i] ~= nil and labels[i] or i) .. ' ' .. (i - 1)
  end
  return ('set %stics (%s)'):format(axis, table.concat(tics, ', '))
end

--- Heatmap of a matrix, each cell annotated with its value: the confusion
-- matrix of a classifier (rows: true classes, columns: predicted ones).
-- m: a 2-D tensor or a table of rows. opts.labels names rows and columns
-- alike; opts.xlabels / opts.ylabels name columns / rows apart.
-- opts.format: the annotation's format (default '%d' for whole numbers, else
-- '%.2f'); opts.annotate = false: no numbers (default: up to 900 cells);
-- opts.palette: a gnuplot palette definition, like "defined (0 'white', 1 'red')".
function plot.heatmap(m, opts)
  local who = 'brasa.plot.heatmap'
  opts = options(opts, who)
  local rows = data.matrix(m, who)
  local h, w = #rows, #rows[1]
  local all, whole = {}, true
  for _, r in ipairs(rows) do
    for _, v in ipairs(r) do
      all[#all + 1] = v
      if v ~= math.floor(v) then whole = false end
    end
  end
  local lo, hi = data.range(all)
  local matrix = {}
  for i, r in ipairs(rows) do matrix[i] = data.row(r) end
  local fig, p = begin(opts)
  local block = p:block(matrix)
  decorate(p, opts, who, false)
  p:cmd("set palette %s", opts.palette
    or "defined (0 '#f7fbff', 0.35 '#c6dbef', 0.65 '#4292c6', 1 '#08306b')")
  p:cmd('set cbrange [%s:%s]', fmt(lo), fmt(hi > lo and hi or lo + 1))
  p:cmd('set xrange [-0.5:%s]', fmt(w - 0.5))
  p:cmd('set yrange [%s:-0.5]', fmt(h - 0.5))
  p:cmd('set tics scale 0')
  local xlabels = opts.xlabels or opts.labels
  local ylabels = opts.ylabels or opts.labels
  if xlabels then
    p:cmd(named_tics('x', xlabels, w))
    local long = false
    for i = 1, w do if #tostring(xlabels[i] or '') > 3 then long = true end end
    if long then p:cmd('set xtics rotate by 45 right') end
  else
    p:cmd(named_tics('x', {}, w))
  end
  p:cmd(named_tics('y', ylabels or {}, h))
  p:cmd('unset key')
  local elements = {block .. ' matrix using 1:2:3 with image notitle'}
  local annotate = opts.annotate
  if annotate == nil then annotate = h * w <= 900 end
  if annotate then
    local format = opts.format or (whole and '%d' or '%.2f')
    local cells = {}
    for i, r in ipairs(rows) do
      for j, v in ipairs(r) do
        -- white text on dark cells, black on light ones
        local dark = hi > lo and (v - lo) / (hi - lo) > 0.6
        cells[#cells + 1] = ('%d %d %s %d'):format(j - 1, i - 1,
          data.text_field(format:format(v)), dark and 0xffffff or 0)
      end
    end
    elements[2] = p:block(cells) .. ' using 1:2:3:4 with labels tc rgb variable notitle'
  end
  p:cmd('plot ' .. table.concat(elements, ', '))
  finish(fig, p, opts, who)
end

-- A nested table with every tensor inside turned into plain tables.
local function deep_plain(v)
  v = data.plain(v)
  if type(v) ~= 'table' then return v end
  local t = {}
  for i = 1, #v do t[i] = deep_plain(v[i]) end
  return t
end

-- A list of images, each a list of channels (1: grey, 3: RGB) of H rows of
-- W numbers. `single`: v is one image (H x W, C x H x W or 1 x C x H x W);
-- otherwise several (N x C x H x W, N x H x W, or a list of images).
local function image_list(v, single, who)
  v = deep_plain(v)
  local shape = data.shape(v)
  local list
  if single then
    if #shape == 2 then list = {{v}}
    elseif #shape == 3 then list = {v}
    elseif #shape == 4 and shape[1] == 1 then list = {v[1]}
    end
  else
    if #shape == 4 then list = v
    elseif #shape == 3 then
      list = {}
      for i, img in ipairs(v) do list[i] = {img} end
    elseif #shape == 2 then list = {{v}}
    end
  end
  if not list or #list == 0 then
    error(('%s: images expected as %s, got a shape {%s}'):format(who,
      single and 'H x W or C x H x W' or 'N x C x H x W or N x H x W',
      table.concat(shape, ', ')), 0)
  end
  for k, img in ipairs(list) do
    if #img ~= 1 and #img ~= 3 then
      error(('%s: image %d has %d channels: 1 (grey) or 3 (RGB) expected'):format(
        who, k, #img), 0)
    end
    for c, channel in ipairs(img) do
      for i, row in ipairs(channel) do
        if type(row) ~= 'table' or #row ~= #channel[1] then
          error(('%s: image %d, channel %d, row %d: not a rectangle of numbers'):format(
            who, k, c, i), 0)
        end
      end
    end
  end
  return list
end

-- The smallest and largest values of the images' pixels.
local function pixel_range(list)
  local lo, hi = math.huge, -math.huge
  for _, img in ipairs(list) do
    for _, channel in ipairs(img) do
      for _, row in ipairs(channel) do
        for _, v in ipairs(row) do
          if v < lo then lo = v end
          if v > hi then hi = v end
        end
      end
    end
  end
  return lo, hi
end

-- The range shown from black to white: opts.range, else [0, 1] or [0, 255]
-- when the values fit, else their own range.
local function display_range(list, opts, who)
  if opts.range then
    return data.number(opts.range[1], who), data.number(opts.range[2], who)
  end
  local lo, hi = pixel_range(list)
  if lo >= 0 and hi <= 1 then return 0, 1 end
  if lo >= 0 and hi <= 255 then return 0, 255 end
  return lo, hi
end

-- Draws images in a grid: one plot element per image, at its own offset.
local function draw_images(list, opts, who, single)
  local n = #list
  local h, w = #list[1][1], #list[1][1][1]
  for k, img in ipairs(list) do
    if #img[1] ~= h or #img[1][1] ~= w then
      error(('%s: image %d is %dx%d, image 1 is %dx%d'):format(who, k,
        #img[1], #img[1][1], h, w), 0)
    end
  end
  local cols = math.tointeger(opts.cols) or math.ceil(math.sqrt(n))
  local rows = math.ceil(n / cols)
  local gap = single and 0 or (opts.gap or math.max(1, w // 14))
  local titles = opts.titles
  local th = titles and math.max(2, math.ceil(h * 0.3)) or 0 -- room for titles
  local cw, ch = w + gap, h + gap + th
  local fig, p = begin(opts)
  p:cmd('unset key')
  p:cmd('unset tics')
  p:cmd('unset border')
  p:cmd('unset colorbox')
  p:cmd('set size ratio -1')
  p:cmd('set margins 1,1,1,%d', opts.title and 3 or 1)
  if opts.title then p:cmd('set title %s', quote(opts.title)) end
  p:cmd('set palette gray')
  p:cmd('set cbrange [0:1]')
  p:cmd('set xrange [-0.5:%s]', fmt(cols * cw - gap - 0.5))
  p:cmd('set yrange [%s:%s]', fmt(rows * ch - gap - 0.5), fmt(-0.5))
  local glo, ghi = display_range(list, opts, who)
  local elements = {}
  for k, img in ipairs(list) do
    local lo, hi = glo, ghi
    if opts.normalize == 'each' then lo, hi = pixel_range({img}) end
    local scale = hi > lo and 1 / (hi - lo) or 0
    local function unit(v) -- v mapped to [0, 1]
      local u = (v - lo) * scale
      return u < 0 and 0 or u > 1 and 1 or u
    end
    local r, c = (k - 1) // cols, (k - 1) % cols
    local x0, y0 = c * cw, r * ch + th
    local lines = {}
    if #img == 1 then
      for i, row in ipairs(img[1]) do
        local vals = {}
        for j, v in ipairs(row) do vals[j] = ('%.4g'):format(unit(v)) end
        lines[i] = table.concat(vals, ' ')
      end
      elements[k] = ('%s matrix using ($1+%d):($2+%d):3 with image notitle'):format(
        p:block(lines), x0, y0)
    else
      local red, green, blue = img[1], img[2], img[3]
      for i = 1, h do
        for j = 1, w do
          lines[#lines + 1] = ('%d %d %d %d %d'):format(x0 + j - 1, y0 + i - 1,
            math.floor(unit(red[i][j]) * 255 + 0.5), math.floor(unit(green[i][j]) * 255 + 0.5),
            math.floor(unit(blue[i][j]) * 255 + 0.5))
        end
      end
      elements[k] = p:block(lines) .. ' using 1:2:3:4:5 with rgbimage notitle'
    end
    if titles and titles[k] ~= nil then
      p:cmd('set label %d %s at %s,%s center front', k, quote(titles[k]),
        fmt(x0 + (w - 1) / 2), fmt(y0 - 0.5 - th / 2))
    end
  end
  local width = 800
  local height = math.floor(width * (rows * ch) / (cols * cw)) + (opts.title and 40 or 10)
  p.size = {width, math.max(150, math.min(1600, height))}
  p:cmd('plot ' .. table.concat(elements, ', '))
  finish(fig, p, opts, who)
end

--- One image: H x W (grey), C x H x W with C = 1 or 3 (RGB), or 1 x C x H x W.
-- Values in [0, 1] or [0, 255] are shown as they are; other values are
-- stretched from their minimum (black) to their maximum (white), or give
-- opts.range = {lo, hi}. opts.title.
function plot.image(img, opts)
  local who = 'brasa.plot.image'
  opts = options(opts, who)
  draw_images(image_list(img, true, who), opts, who, true)
end

--- Several images in a grid: N x C x H x W (C = 1 or 3), N x H x W, or a
-- list of images: filters, reconstructions, generated samples.
-- opts.titles: one title per image; opts.cols: images per row (default: a
-- square grid); opts.normalize = 'each' stretches each image to its own
-- range (for filters); opts.range = {lo, hi}; opts.gap (pixels); opts.title.
function plot.images(imgs, opts)
  local who = 'brasa.plot.images'
  opts = options(opts, who)
  draw_images(image_list(imgs, false, who), opts, who, false)
end

--- Surface z = f(x, y), drawn in 3-D (gnuplot's splot).
-- z: a matrix (2-D tensor or rows; row i is y[i], column j is x[j]) with
-- opts.x and opts.y the coordinates (default 1, 2, ...); or a Lua function
-- f(x, y) sampled on opts.xrange, opts.yrange (default {-1, 1}) with
-- opts.samples points a side (default 40). opts.style: 'pm3d' (coloured,
-- the default) or 'lines' (a wire mesh); opts.view = {rot_x, rot_z}.
function plot.surface(z, opts)
  local who = 'brasa.plot.surface'
  opts = options(opts, who)
  local rows, xs, ys
  if type(z) == 'function' then
    local n = opts.samples or 40
    local xr, yr = opts.xrange or {-1, 1}, opts.yrange or {-1, 1}
    xs, ys, rows = {}, {}, {}
    for j = 1, n do xs[j] = xr[1] + (xr[2] - xr[1]) * (j - 1) / (n - 1) end
    for i = 1, n do ys[i] = yr[1] + (yr[2] - yr[1]) * (i - 1) / (n - 1) end
    for i = 1, n do
      rows[i] = {}
      for j = 1, n do rows[i][j] = data.number(z(xs[j], ys[i]), who) end
    end
  else
    rows = data.matrix(z, who)
    xs = opts.x and data.numbers(opts.x, who) or {}
    ys = opts.y and data.numbers(opts.y, who) or {}
  end
  local lines = {}
  for i, r in ipairs(rows) do
    for j, v in ipairs(r) do
      lines[#lines + 1] = fmt(xs[j] or j) .. ' ' .. fmt(ys[i] or i) .. ' ' .. fmt(v)
    end
    lines[#lines + 1] = '' -- a blank line ends a grid row
  end
  local fig, p = begin(opts)
  local plain = {}
  for k, v in pairs(opts) do plain[k] = v end
  plain.xrange, plain.yrange = nil, nil -- sampling ranges, not axis ranges
  if type(z) ~= 'function' then plain.xrange, plain.yrange = opts.xrange, opts.yrange end
  decorate(p, plain, who)
  if opts.view then p:cmd('set view %s,%s', fmt(opts.view[1]), fmt(opts.view[2])) end
  local style = opts.style or 'pm3d'
  if style == 'lines' then p:cmd('set hidden3d') end
  p:cmd('splot %s using 1:2:3 with %s notitle', p:block(lines), style)
  finish(fig, p, opts, who)
end

----------------------------------------------------------------- training

-- The names of the curves in a history, 'loss' first: every key except
-- val_<name> when <name> is there too (it is drawn beside it).
local function metric_names(h)
  local names = {}
  for k, v in pairs(h) do
    if type(k) == 'string' and type(v) == 'table' then
      local base = k:match('^val_(.*)$')
      if not (base and h[base]) then names[#names + 1] = k end
    end
  end
  table.sort(names, function(a, b)
    if (a == 'loss') ~= (b == 'loss') then return a == 'loss' end
    return a < b
  end)
  return names
end

-- A panel of the curves `name` and val_<name> of a history.
local function history_panel(index, h, name, epochs, opts, who)
  local p = figure.panel('p' .. index)
  local series, labels = {data.numbers(h[name], who)}, {name}
  local val = h['val_' .. name]
  if val then
    series[2], labels[2] = data.numbers(val, who), 'val_' .. name
  end
  local n = 0
  for i = #series, 1, -1 do
    if #series[i] == 0 then
      table.remove(series, i)
      table.remove(labels, i)
    else
      n = math.max(n, #series[i])
    end
  end
  if #series == 0 then return nil end
  p:cmd('set title %s', quote(name))
  p:cmd('set xlabel %s', quote('epoch'))
  p:cmd('set grid')
  p:cmd('set key %s right', name:find('loss') and 'top' or 'bottom')
  if n <= 15 then p:cmd('set xtics 1') end
  if n == 1 then p:cmd('set xrange [%s:%s]', fmt(epochs[1] - 1), fmt(epochs[1] + 1)) end
  if opts.logy and name:find('loss') then p:cmd('set logscale y') end
  local xs = {}
  for i = 1, #series do xs[i] = epochs end
  add_lines(p, series, xs, {labels = labels,
    style = n <= 40 and 'linespoints' or 'lines', linewidth = 2, pointsize = 0.7}, who)
  return p
end

--- Training curves of a fit: loss and val_loss beside each metric and its
-- val_ counterpart (accuracy and val_accuracy), one panel each.
-- hist: what model:fit returns ({history = {loss = {...}, val_loss = {...},
-- accuracy = {...}, ...}, epoch = {1, 2, ...}}), or the history table itself.
-- opts.title (above the panels), opts.logy (log scale for losses),
-- opts.figure.
function plot.history(hist, opts)
  local who = 'brasa.plot.history'
  opts = options(opts, who)
  if type(hist) ~= 'table' then error(who .. ': a history table expected', 0) end
  local h = type(hist.history) == 'table' and hist.history or hist
  local names = metric_names(h)
  if #names == 0 then error(who .. ': the history has no curves (no loss)', 0) end
  local n = 0
  for _, name in ipairs(names) do n = math.max(n, #data.numbers(h[name], who)) end
  local epochs = hist.epoch and data.numbers(hist.epoch, who) or {}
  for i = #epochs + 1, n do epochs[i] = (epochs[i - 1] or 0) + 1 end
  local panels = {}
  for _, name in ipairs(names) do
    panels[#panels + 1] = history_panel(#panels + 1, h, name, epochs, opts, who)
  end
  if #panels == 0 then error(who .. ': the history is empty (no epoch yet)', 0) end
  local fig = opts.figure and figure.get(opts.figure) or figure.current()
  if fig.layout then error(who .. ': history draws its own panels: call it outside subplots', 0) end
  for _, p in ipairs(panels) do p:user(opts.commands) end
  local layout = #panels > 1 and {rows = 1, cols = #panels, title = opts.title} or nil
  if not layout and opts.title then -- one panel: the title replaces its own
    local cmds = panels[1].commands
    table.insert(cmds, #cmds, 'set title ' .. quote(opts.title))
  end
  local scene = figure.scene(panels, layout)
  scene.size = {math.min(1600, 520 * #panels), 400}
  fig:draw(scene, who)
end

local Live = {}
Live.__index = Live

--- Curves that follow a training run: live:update(hist) redraws them (for
-- model:fit's epoch end); it draws into a figure of its own, which
-- becomes the current one (plot.save saves it).
-- opts: as for plot.history; opts.figure picks the figure.
function plot.live_history(opts)
  opts = options(opts, 'brasa.plot.live_history')
  local copy = {}
  for k, v in pairs(opts) do copy[k] = v end
  copy.figure = opts.figure or figure.free_number()
  figure.get(copy.figure, true)
  return setmetatable({figure = copy.figure, opts = copy}, Live)
end

--- Redraws the curves of hist (as plot.history does), once per epoch.
-- A training run must not die for a plot: when drawing fails (no gnuplot,
-- say), this says why once on stderr, stops drawing and returns false.
function Live:update(hist)
  if self.failed then return false end
  local ok, err = pcall(plot.history, hist, self.opts)
  if not ok then
    self.failed = err
    io.stderr:write('brasa.plot.live_history: live curves turned off: ', tostring(err), '\n')
    return false
  end
  return true
end

--- Closes the live curves' figure.
function Live:close()
  plot.close(self.figure)
end

------------------------------------------------------------------ figures

--- Arranges the next rows x cols plots of the current figure in a grid
-- (gnuplot's multiplot), drawn when the last one is made. With a function
-- fn, the plots fn makes fill the grid, drawn once fn returns.
-- plot.subplots(rows, cols, opts?) or plot.subplots(rows, cols, fn, opts?);
-- opts.title: a title above the grid; opts.size = {w, h} for save.
function plot.subplots(rows, cols, fn, opts)
  local who = 'brasa.plot.subplots'
  if type(fn) ~= 'function' then fn, opts = nil, fn end
  opts = options(opts, who)
  rows, cols = math.tointeger(rows), math.tointeger(cols)
  if not rows or not cols or rows < 1 or cols < 1 then
    error(who .. ': rows and cols must be positive integers', 0)
  end
  local fig = opts.figure and figure.get(opts.figure, true) or figure.current()
  fig.layout = {rows = rows, cols = cols, title = opts.title, size = opts.size,
    panels = {}, deferred = fn ~= nil}
  if fn then
    local ok, err = pcall(fn)
    if not ok then
      fig.layout = nil
      error(err, 0)
    end
    if fig.layout and #fig.layout.panels > 0 then draw_layout(fig, who) end
    fig.layout = nil
  end
end

--- Draws what the current figure has pending (subplots not yet full).
function plot.show()
  local fig = figure.current()
  if fig.layout and #fig.layout.panels > 0 then draw_layout(fig, 'brasa.plot.show') end
end

--- Makes figure n the current one (created if needed; each figure is its
-- own window) and returns n; with no n, a new figure.
function plot.figure(n)
  if n == nil then n = figure.free_number() end
  n = math.tointeger(n)
  if not n or n < 1 then error('brasa.plot.figure: a positive integer expected', 0) end
  figure.get(n, true)
  return n
end

--- Closes figure n (default: the current one), ending its gnuplot.
function plot.close(n)
  n = n or figure.current_number()
  if n then figure.close(n) end
end

--- Closes every figure.
function plot.closeall()
  for _, n in ipairs(figure.numbers()) do figure.close(n) end
end

--- Renders the current figure again into a file: path ends in .png, .svg
-- or .pdf. The file appears whole or not at all (written under a
-- temporary name, then renamed). opts.size = {width, height} in pixels
-- (default 800 x 600, wider for history). Returns path.
function plot.save(path, opts)
  local who = 'brasa.plot.save'
  if type(path) ~= 'string' then error(who .. ': a file name expected', 0) end
  opts = options(opts, who)
  local fig = figure.current()
  if fig.layout and #fig.layout.panels > 0 then draw_layout(fig, who) end
  return fig:save(path, opts, who)
end

--- Sets where later plots go: 'auto' (a window when DISPLAY is set, else
-- text), 'dumb' (text on stdout), 'sixel' (pixels, for terminals with sixel
-- graphics), or a gnuplot window terminal ('qt', 'wxt', 'x11'); options:
-- gnuplot terminal options as a string, like 'size 120,40' or 'ansi'.
-- With no argument, returns the current setting.
function plot.terminal(name, options_)
  if name == nil then return (figure.get_terminal()) end
  if type(name) ~= 'string' then error('brasa.plot.terminal: a terminal name expected', 0) end
  if options_ ~= nil and type(options_) ~= 'string' then
    error('brasa.plot.terminal: options must be a string', 0)
  end
  figure.set_terminal(name, options_)
  return name
end

--- Sends gnuplot commands (a string or a list) to the current figure's
-- gnuplot and returns what it printed; errors are raised as Lua errors.
function plot.gnuplot(commands)
  local who = 'brasa.plot.gnuplot'
  local gp = figure.current():session(who)
  return table.concat(gp:sync(commands, who), '\n')
end

return plot
