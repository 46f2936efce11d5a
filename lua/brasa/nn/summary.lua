-- brasa.nn.summary: model:summary(input_shape?), a Keras-style table of the
-- layers with their output shapes and parameter counts.
--
-- Rows are the leaf modules (and any module with parameters of its own), by
-- dotted name and class. Output shapes come from a forward pass on zeros of
-- batch 1 when an input shape (without the batch dim) is given, run under
-- no_grad in evaluation mode (each module's mode is restored afterwards);
-- without one, from the last forward pass, or '?'. The batch dim shows as
-- None, as in Keras.
--
-- Counts: trainable = parameters with requires_grad; non-trainable = frozen
-- parameters plus floating buffers (BatchNorm's running statistics), so that
-- a BatchNorm layer counts as Keras's does (4 x C, of which 2 x C
-- non-trainable).

local brasa = require 'brasa'
local mod = require 'brasa.nn.module'

local Module, count_str = mod.Module, mod.count_str

local FLOAT = {f32 = true, f64 = true, f16 = true, bf16 = true}

-- Trainable and non-trainable counts of m's own tensors.
local function own_counts(m)
  local tr, nt = 0, 0
  local params = rawget(m, '_parameters')
  for _, name in ipairs(rawget(m, '_param_order')) do
    local p = params[name]
    if p then
      if p.requires_grad then tr = tr + p:numel() else nt = nt + p:numel() end
    end
  end
  local buffers = rawget(m, '_buffers')
  for _, name in ipairs(rawget(m, '_buffer_order')) do
    local b = buffers[name]
    if b and FLOAT[b.dtype] then nt = nt + b:numel() end
  end
  return tr, nt
end

local function shape_text(s)
  if s == nil then return '?' end
  local parts = {}
  for i, v in ipairs(s) do parts[i] = i == 1 and 'None' or tostring(v) end
  if #parts == 1 then return '(' .. parts[1] .. ',)' end
  return '(' .. table.concat(parts, ', ') .. ')'
end

-- Runs a forward pass on zeros of batch 1 in evaluation mode, restoring
-- each module's mode; clears the recorded shapes first.
local function trace(self, input_shape, opts)
  local sizes = {1}
  if brasa.is_tensor(input_shape) then input_shape = input_shape.shape end
  if type(input_shape) == 'number' then input_shape = {input_shape} end
  if type(input_shape) ~= 'table' then
    mod.fail('summary: input_shape must be a table of sizes without the batch dim, e.g. {1, 28, 28}')
  end
  for i, v in ipairs(input_shape) do
    if math.type(v) ~= 'integer' or v < 1 then
      mod.fail('summary: input_shape must hold positive integers (without the batch dim)')
    end
    sizes[i + 1] = v
  end
  local dtype = opts.dtype
  if not dtype then
    local ps = self:parameters()
    dtype = ps[1] and ps[1].dtype or 'f32'
  end
  local mods = self:modules()
  local modes = {}
  for i, m in ipairs(mods) do
    modes[i] = rawget(m, '_attrs').training
    rawget(m, '_attrs')._output_shape = nil
  end
  self:eval()
  local ok, err = pcall(brasa.no_grad, function() return self(brasa.zeros(sizes, {dtype = dtype})) end)
  for i, m in ipairs(mods) do rawget(m, '_attrs').training = modes[i] end
  if not ok then error(err, 0) end
end

--- Module:summary_table(input_shape?, opts?) -> {rows =, total =,
-- trainable =, non_trainable =, text =}: what summary prints, as data.
-- Each row is {name =, type =, output_shape = (a table or nil), params =}.
function Module:summary_table(input_shape, opts)
  opts = opts or {}
  if input_shape ~= nil then trace(self, input_shape, opts) end
  local rows = {}
  for name, m in self:named_modules() do
    local leaf = #rawget(m, '_module_order') == 0
    local tr, nt = own_counts(m)
    if (name ~= '' and (leaf or tr + nt > 0)) or (name == '' and leaf) then
      rows[#rows + 1] = {name = name == '' and m:_class() or name, type = m:_class(),
                         output_shape = rawget(m, '_attrs')._output_shape, params = tr + nt}
    end
  end
  local trainable, non_trainable = 0, 0
  local seen = {}
  for _, m in ipairs(self:modules()) do
    for _, kind in ipairs {'_parameters', '_buffers'} do
      for _, t in pairs(rawget(m, kind)) do
        if not seen[t] then
          seen[t] = true
          if kind == '_parameters' and t.requires_grad then
            trainable = trainable + t:numel()
          elseif kind == '_parameters' or FLOAT[t.dtype] then
            non_trainable = non_trainable + t:numel()
          end
        end
      end
    end
  end
  -- the table
  local c1, c2, c3 = {'Layer (type)'}, {'Output Shape'}, {'Param #'}
  for i, r in ipairs(rows) do
    c1[i + 1] = r.name == r.type and r.name or (r.name .. ' (' .. r.type .. ')')
    c2[i + 1] = shape_text(r.output_shape)
    c3[i + 1] = count_str(r.params)
  end
  local w1, w2, w3 = 28, 26, 10
  for i = 1, #c1 do
    w1, w2, w3 = math.max(w1, #c1[i] + 2), math.max(w2, #c2[i] + 2), math.max(w3, #c3[i])
  end
  local width = 1 + w1 + w2 + w3
  local function row(a, b, c)
    return ' ' .. a .. string.rep(' ', w1 - #a) .. b .. string.rep(' ', w2 - #b) .. c
  end
  local lines = {'Model: "' .. self:_class() .. '"', string.rep('_', width), row(c1[1], c2[1], c3[1]),
                 string.rep('=', width)}
  for i = 2, #c1 do lines[#lines + 1] = row(c1[i], c2[i], c3[i]) end
  lines[#lines + 1] = string.rep('=', width)
  lines[#lines + 1] = 'Total params: ' .. count_str(trainable + non_trainable)
  lines[#lines + 1] = 'Trainable params: ' .. count_str(trainable)
  lines[#lines + 1] = 'Non-trainable params: ' .. count_str(non_trainable)
  lines[#lines + 1] = string.rep('_', width)
  return {rows = rows, total = trainable + non_trainable, trainable = trainable,
          non_trainable = non_trainable, text = table.concat(lines, '\n')}
end

--- Module:summary(input_shape?, opts?): prints the Keras-style table
-- (through opts.print_fn, print by default) and returns nothing.
function Module:summary(input_shape, opts)
  opts = opts or {}
  local t = self:summary_table(input_shape, opts)
  local p = opts.print_fn or print
  p(t.text)
end

return {}
