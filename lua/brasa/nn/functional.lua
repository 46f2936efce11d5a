-- brasa.nn.functional: neural network ops as functions (convolution,
-- pooling, normalisation, dropout, embedding, softmax, losses), the
-- building blocks of brasa.nn's layers. The C ops come from the core
-- (core._nnf, filled by lua/lnn_*.c); the functions written in Lua (linear,
-- selu, silu, most losses) are added by lua/brasa/nn/layers.lua and
-- losses.lua, which this file loads so that requiring it alone gives the
-- whole set.
--
--   local F = require 'brasa.nn.functional'
--   local y = F.conv2d(x, w, b, {stride = 1, padding = 1})

local core = require 'brasa.core'

local F = core._nnf
package.loaded['brasa.nn.functional'] = F   -- layers.lua and losses.lua require it back
require 'brasa.nn.layers'
require 'brasa.nn.losses'
return F
