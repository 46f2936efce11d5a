-- brasa.nn.functional: neural network ops as functions (convolution,
-- pooling, normalisation, dropout, embedding, softmax, losses), the
-- building blocks of brasa.nn's layers. The C ops come from the core
-- (core._nnf, filled by lua/lnn_*.c); functions written in Lua are added
-- by the files of lua/brasa/nn/ that define them.
--
--   local F = require 'brasa.nn.functional'
--   local y = F.conv2d(x, w, b, {stride = 1, padding = 1})

local core = require 'brasa.core'

return core._nnf
