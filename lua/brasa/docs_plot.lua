-- Documentation of brasa.plot for the help registry (brasa.doc).
--
-- Loading this module adds one entry per public function of brasa.plot and
-- binds each function to its entry, so help(plot.lines) finds it. Examples
-- use plain Lua tables and run as they are (tests/lua/plot_spec.lua runs
-- every one of them, with brasa.plot standing for `brasa.plot`).

local doc = require 'brasa.doc'
local plot = require 'brasa.plot'

local COMMON = [[
Options every 2-D plot takes: title, xlabel, ylabel; logx, logy = true (or
log = 'xy'); xrange, yrange = {lo, hi} (nil ends are automatic); grid = false;
legend = false or a position like 'top left'; figure = n (draw into figure
n); commands = a string or list of extra gnuplot commands. Texts are shown
as given: val_loss stays val_loss.]]

local entries = {
  {'brasa.plot.lines', 'brasa.plot.lines(y, opts?)',
    'Line plot of one series or several.',
    text = [[
y is a tensor (1-D: one series; 2-D: one series per row), a table of numbers,
or a table of such series. opts.x gives the x values (one list for all
series, or one per series; default 1, 2, ...), opts.labels the legend names,
opts.style 'lines' (default), 'linespoints' or 'points'.
]] .. COMMON,
    example = [[
local x, y1, y2 = {}, {}, {}
for i = 1, 50 do x[i] = i / 5; y1[i] = math.sin(x[i]); y2[i] = math.cos(x[i]) end
brasa.plot.lines({y1, y2}, {x = x, title = 'waves', labels = {'sin', 'cos'}})]]},

  {'brasa.plot.scatter', 'brasa.plot.scatter(x, y, opts?) | brasa.plot.scatter(points, opts?)',
    'Scatter plot, points coloured by class.',
    text = [[
x and y are lists or tensors of numbers, or points is N x 2. opts.classes
gives each point's class (numbers or strings; a tensor of class ids works),
each class drawn in its own colour; opts.labels names the classes
(labels[k] for class k); opts.pointsize.
]] .. COMMON,
    example = [[
brasa.plot.scatter({{0, 0}, {1, 1}, {0, 1}, {1, 0}},
  {classes = {1, 1, 2, 2}, labels = {'same', 'different'}, title = 'XOR'})]]},

  {'brasa.plot.hist', 'brasa.plot.hist(values, opts?)',
    'Histogram of values (bins counted in Lua).',
    text = [[
values is a tensor of any shape (all its values count), a list of numbers,
or a list of such series (drawn over each other, half transparent).
opts.bins (default about the square root of the count, at most 50),
opts.range = {lo, hi}, opts.density = true (areas sum to 1), opts.labels.
]] .. COMMON,
    example = [[
local v = {}
for i = 1, 1000 do v[i] = math.random() + math.random() end
brasa.plot.hist(v, {bins = 20, title = 'sum of two uniforms'})]]},

  {'brasa.plot.bar', 'brasa.plot.bar(values, opts?)',
    'Bar chart; several series give clustered bars.',
    text = [[
values is a list or tensor of numbers, or a list of such series.
opts.labels names the bars (categories along x); opts.names names the series
(legend).
]] .. COMMON,
    example = [[
brasa.plot.bar({{0.81, 0.88}, {0.78, 0.86}},
  {labels = {'MLP', 'CNN'}, names = {'train', 'test'}, title = 'accuracy'})]]},

  {'brasa.plot.heatmap', 'brasa.plot.heatmap(m, opts?)',
    'Heatmap of a matrix with each cell annotated: a confusion matrix.',
    text = [[
m is a 2-D tensor or a table of rows (for a confusion matrix: rows are the
true classes, columns the predicted ones). opts.labels names rows and columns
alike (opts.xlabels and opts.ylabels apart); opts.format is the annotation
format (default '%d' for whole numbers, else '%.2f'); opts.annotate = false
leaves the numbers out (default: shown up to 900 cells); opts.palette is a
gnuplot palette, like "defined (0 'white', 1 'red')".
]] .. COMMON,
    example = [[
brasa.plot.heatmap({{50, 3, 1}, {4, 45, 6}, {0, 7, 48}},
  {labels = {'cat', 'dog', 'bird'}, title = 'confusion matrix',
   xlabel = 'predicted', ylabel = 'true'})]]},

  {'brasa.plot.image', 'brasa.plot.image(img, opts?)',
    'One image, grey (H x W) or RGB (3 x H x W).',
    text = [[
img is H x W, C x H x W with C = 1 (grey) or 3 (RGB), or 1 x C x H x W.
Values in [0, 1] or [0, 255] are shown as they are; other values are
stretched from their minimum (black) to their maximum (white), unless
opts.range = {lo, hi} says otherwise. opts.title.]],
    example = [[
local img = {}
for i = 1, 28 do
  img[i] = {}
  for j = 1, 28 do img[i][j] = ((i - 14) ^ 2 + (j - 14) ^ 2 < 64) and 1 or 0 end
end
brasa.plot.image(img, {title = 'a disc'})]]},

  {'brasa.plot.images', 'brasa.plot.images(imgs, opts?)',
    'Several images in a grid: filters, reconstructions, generated samples.',
    text = [[
imgs is N x C x H x W (C = 1 or 3), N x H x W, or a list of images.
opts.titles gives one title per image; opts.cols the images per row (default
a square grid); opts.normalize = 'each' stretches each image to its own range
(useful for filters); opts.range = {lo, hi}; opts.gap in pixels; opts.title.]],
    example = [[
local imgs = {}
for k = 1, 9 do
  local img = {}
  for i = 1, 8 do
    img[i] = {}
    for j = 1, 8 do img[i][j] = ((i + j + k) % 3) / 2 end
  end
  imgs[k] = img
end
brasa.plot.images(imgs, {titles = {'1', '2', '3', '4', '5', '6', '7', '8', '9'}})]]},

  {'brasa.plot.surface', 'brasa.plot.surface(z, opts?)',
    'Surface z = f(x, y) in 3-D, from a matrix or a Lua function.',
    text = [[
z is a matrix (row i at y[i], column j at x[j]; opts.x and opts.y give the
coordinates, default 1, 2, ...) or a function f(x, y) sampled over
opts.xrange and opts.yrange (default {-1, 1}) with opts.samples points a side
(default 40). opts.style = 'pm3d' (coloured, default) or 'lines' (a wire
mesh); opts.view = {rot_x, rot_z}; title, xlabel, ylabel, zlabel.]],
    example = [[
brasa.plot.surface(function(x, y) return x * x - y * y end,
  {xrange = {-2, 2}, yrange = {-2, 2}, samples = 30, title = 'a saddle'})]]},

  {'brasa.plot.history', 'brasa.plot.history(hist, opts?)',
    'Training curves: loss and val_loss beside each metric and its val_ twin.',
    text = [[
hist is what model:fit returns ({history = {loss = {...}, val_loss = {...},
accuracy = {...}, val_accuracy = {...}}, epoch = {1, 2, ...}}) or the
history table itself; one panel per quantity, side by side. opts.title goes
above the panels; opts.logy = true draws losses on a log scale; opts.figure.]],
    example = [[
local hist = {history = {loss = {0.9, 0.6, 0.45, 0.4}, val_loss = {1.0, 0.7, 0.6, 0.58},
  accuracy = {0.6, 0.75, 0.82, 0.85}, val_accuracy = {0.55, 0.7, 0.76, 0.78}},
  epoch = {1, 2, 3, 4}}
brasa.plot.history(hist)]]},

  {'brasa.plot.live_history', 'brasa.plot.live_history(opts?)',
    'Curves that follow a training run: live:update(hist) redraws them.',
    text = [[
Returns an object whose update(hist) method redraws the curves as
plot.history does (model:fit calls it at each epoch end when given
plot = true), and whose close() method closes its figure. It draws into a
figure of its own, which becomes the current one, so plot.save saves it.
opts are those of plot.history.]],
    example = [[
local live = brasa.plot.live_history()
local hist = {history = {loss = {}, val_loss = {}}, epoch = {}}
for epoch = 1, 5 do
  hist.history.loss[epoch] = 1 / epoch
  hist.history.val_loss[epoch] = 1.2 / epoch
  hist.epoch[epoch] = epoch
  live:update(hist)
end]]},

  {'brasa.plot.subplots', 'brasa.plot.subplots(rows, cols, fn?, opts?)',
    'A grid of plots (gnuplot multiplot) in the current figure.',
    text = [[
Without fn, the next rows x cols plot calls fill the grid, drawn when it is
full (plot.show() draws it earlier). With fn, the plots fn makes fill the
grid, drawn once when fn returns. opts.title goes above the grid; opts.size =
{width, height} is the size plot.save uses.]],
    example = [[
brasa.plot.subplots(1, 2, function()
  brasa.plot.lines({1, 4, 9, 16}, {title = 'squares'})
  brasa.plot.bar({3, 1, 2}, {labels = {'a', 'b', 'c'}, title = 'bars'})
end, {title = 'two panels'})]]},

  {'brasa.plot.show', 'brasa.plot.show()',
    'Draws the current figure\'s unfinished grid of subplots now.',
    example = [[
brasa.plot.subplots(2, 2)
brasa.plot.lines({1, 2, 3}, {title = 'only one of four'})
brasa.plot.show()]]},

  {'brasa.plot.figure', 'brasa.plot.figure(n?)',
    'Makes figure n current (a new one without n) and returns its number.',
    text = [[
Each figure has its own gnuplot, hence its own window, and keeps its last
drawing for plot.save.]],
    example = [[
local f = brasa.plot.figure()
brasa.plot.lines({1, 2, 3})
brasa.plot.close(f)]]},

  {'brasa.plot.close', 'brasa.plot.close(n?)',
    'Closes figure n (default: the current one) and its window.',
    example = [[
brasa.plot.figure(5)
brasa.plot.lines({3, 2, 1})
brasa.plot.close(5)]]},

  {'brasa.plot.closeall', 'brasa.plot.closeall()',
    'Closes every figure.',
    example = [[brasa.plot.closeall()]]},

  {'brasa.plot.save', 'brasa.plot.save(path, opts?)',
    'Renders the current figure again into a .png, .svg or .pdf file.',
    text = [[
The file appears whole or not at all (written under a temporary name, then
renamed). opts.size = {width, height} in pixels (PDF: 100 to the inch);
the default is 800 x 600, wider for history. Returns path.]],
    example = [[
brasa.plot.lines({1, 4, 9, 16}, {title = 'squares'})
brasa.plot.save('squares.png')
brasa.plot.save('squares.svg', {size = {640, 480}})]]},

  {'brasa.plot.terminal', 'brasa.plot.terminal(name?, options?)',
    'Sets where later plots go: a window, text on stdout, sixel graphics.',
    text = [[
'auto' (the default): a window (qt, wxt or x11, as the installed gnuplot
has) when DISPLAY is set, else text. 'dumb': text plots on stdout, sized to
the terminal (COLUMNS and LINES, or stty size), printed before the plot call
returns. 'sixel': pixels, for terminals with sixel graphics. 'qt', 'wxt',
'x11': that window terminal. options is a string of gnuplot terminal options,
like 'size 120,40' or 'ansi' (colours). With no argument, returns the current
setting.]],
    example = [[
brasa.plot.terminal('dumb')
brasa.plot.lines({1, 3, 2, 4}, {title = 'in the terminal'})
brasa.plot.terminal('auto')]]},

  {'brasa.plot.gnuplot', 'brasa.plot.gnuplot(commands)',
    'Sends gnuplot commands to the current figure and returns what gnuplot printed.',
    text = [[
commands is a string or a list of strings. gnuplot errors become Lua
errors. For what the plot functions do not offer.]],
    example = [[print(brasa.plot.gnuplot('print GPVAL_VERSION'))]]},
}

for _, e in ipairs(entries) do
  doc.add(e)
  local short = e[1]:match('^brasa%.plot%.(.*)$')
  doc.bind(plot[short], e[1])
end

return entries
