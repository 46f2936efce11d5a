-- A gallery of brasa.plot: every plot kind, written as PNG and SVG files.
--
--   lua5.4 scripts/plot_gallery.lua [directory]     (default: plot_gallery)
--
-- Uses brasa tensors when the engine is there, Lua tables otherwise. Plots
-- are drawn on gnuplot's 'unknown' terminal (nowhere) and then saved.

-- Find lua/ next to this script when LUA_PATH does not.
local root = (arg and arg[0] or ''):match('^(.*)/scripts/[^/]*$') or '.'
package.path = root .. '/lua/?.lua;' .. root .. '/lua/?/init.lua;' .. package.path

local plot = require 'brasa.plot'
local has_brasa, brasa = pcall(require, 'brasa')
if not (has_brasa and type(brasa) == 'table' and brasa.tensor) then brasa = nil end

local dir = arg and arg[1] or 'plot_gallery'
assert(os.execute("mkdir -p '" .. dir:gsub("'", [['\'']]) .. "'"))

-- A tensor when the engine is there, else the table itself.
local function T(t)
  return brasa and brasa.tensor(t) or t
end

-- A deterministic pseudo-random generator (the same gallery every time).
local seed = 12345
local function rand()
  seed = (seed * 1103515245 + 12345) % 2147483648
  return seed / 2147483648
end
local function randn()
  return math.sqrt(-2 * math.log(rand() + 1e-12)) * math.cos(2 * math.pi * rand())
end

local written = {}

-- Saves the current figure as name.png and name.svg.
local function save(name)
  for _, ext in ipairs({'png', 'svg'}) do
    written[#written + 1] = plot.save(dir .. '/' .. name .. '.' .. ext)
  end
end

plot.terminal('unknown')

-- lines: several series with x values and a legend
local xs, sin, cos = {}, {}, {}
for i = 1, 60 do
  xs[i] = (i - 1) / 59 * 2 * math.pi
  sin[i], cos[i] = math.sin(xs[i]), math.cos(xs[i])
end
plot.lines(T({sin, cos}), {x = T(xs), title = 'sin and cos', labels = {'sin', 'cos'},
  xlabel = 'x'})
save('lines')

-- scatter: three classes in colour
local pts, classes = {}, {}
for i = 1, 150 do
  local c = (i - 1) % 3 + 1
  pts[i] = {c + 0.4 * randn(), (c % 2) * 2 + 0.4 * randn()}
  classes[i] = c
end
plot.scatter(T(pts), {classes = classes, labels = {'setosa', 'versicolor', 'virginica'},
  title = 'three classes'})
save('scatter')

-- hist: two overlapping distributions
local a, b = {}, {}
for i = 1, 500 do a[i], b[i] = randn(), 1.5 + 0.7 * randn() end
plot.hist({a, b}, {bins = 30, labels = {'weights before', 'weights after'}, title = 'hist'})
save('hist')

-- bar: clustered series with category names
plot.bar({{0.81, 0.88, 0.91}, {0.78, 0.86, 0.90}},
  {labels = {'MLP', 'CNN', 'ResNet'}, names = {'train', 'test'}, title = 'accuracy by model'})
save('bar')

-- heatmap: a confusion matrix
local names = {'T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat'}
local cm = {}
for i = 1, 5 do
  cm[i] = {}
  for j = 1, 5 do cm[i][j] = i == j and 80 + i * 3 or math.floor(rand() * 12) end
end
plot.heatmap(T(cm), {labels = names, title = 'confusion matrix',
  xlabel = 'predicted', ylabel = 'true'})
save('heatmap')

-- image: one RGB image, C x H x W
local rgb = {{}, {}, {}}
for i = 1, 32 do
  for c = 1, 3 do rgb[c][i] = {} end
  for j = 1, 32 do
    rgb[1][i][j], rgb[2][i][j], rgb[3][i][j] = i / 32, j / 32, 1 - (i + j) / 64
  end
end
plot.image(T(rgb), {title = 'an RGB image'})
save('image')

-- images: 16 grey digits-like blobs, N x 1 x H x W, with titles
local imgs, titles = {}, {}
for k = 1, 16 do
  local img = {}
  local cx, cy, r = 6 + rand() * 16, 6 + rand() * 16, 3 + rand() * 5
  for i = 1, 28 do
    img[i] = {}
    for j = 1, 28 do
      local d = math.sqrt((i - cy) ^ 2 + (j - cx) ^ 2)
      img[i][j] = math.max(0, 1 - math.abs(d - r) / 2)
    end
  end
  imgs[k], titles[k] = {img}, 'sample ' .. k
end
plot.images(T(imgs), {titles = titles, title = 'generated samples'})
save('images')

-- surface: a loss landscape from a function
plot.surface(function(x, y) return (1 - x) ^ 2 + 5 * (y - x * x) ^ 2 end,
  {xrange = {-1.5, 1.5}, yrange = {-0.5, 2}, samples = 40, title = 'Rosenbrock',
   view = {60, 30}})
save('surface')

-- history: what model:fit returns
local hist = {history = {loss = {}, val_loss = {}, accuracy = {}, val_accuracy = {}}, epoch = {}}
for e = 1, 15 do
  local h = hist.history
  h.loss[e] = 1.2 * math.exp(-e / 4) + 0.2
  h.val_loss[e] = 1.25 * math.exp(-e / 4) + 0.28 + 0.004 * e
  h.accuracy[e] = 0.95 - 0.5 * math.exp(-e / 3)
  h.val_accuracy[e] = 0.9 - 0.5 * math.exp(-e / 3)
  hist.epoch[e] = e
end
plot.history(hist, {title = 'training'})
save('history')

-- subplots: a 2 x 2 grid filled by a function
plot.subplots(2, 2, function()
  plot.lines({sin}, {x = xs, title = 'sin'})
  plot.hist(a, {bins = 20, title = 'normal'})
  plot.bar({3, 1, 2}, {labels = {'a', 'b', 'c'}, title = 'bars'})
  plot.scatter(pts, {classes = classes, title = 'points', legend = false})
end, {title = 'four panels', size = {1000, 800}})
save('subplots')

plot.closeall()
print(('wrote %d files in %s%s'):format(#written, dir,
  brasa and '' or ' (from Lua tables: the brasa engine is not built)'))
