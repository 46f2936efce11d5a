-- brasa.optim: optimisers, gradient clipping and learning-rate schedules.
--
--   local optim = require 'brasa.optim'          -- also brasa.optim; `optim` in the REPL
--   local opt = optim.Adam(model:parameters(), {lr = 1e-3})
--   for epoch = 1, 10 do
--     opt:zero_grad()
--     loss_fn(model(x), y):backward()
--     optim.clip_grad_norm(model:parameters(), 1.0)
--     opt:step()
--   end
--
-- Optimisers: SGD, Adam, AdamW, RMSprop, Adagrad, Adadelta (PyTorch 1.13's
-- algorithms; the updates run in C, one fused pass per parameter).
-- Schedules: StepLR, MultiStepLR, ExponentialLR, CosineAnnealingLR,
-- CosineAnnealingWarmRestarts, OneCycleLR, LinearLR, LambdaLR,
-- ReduceLROnPlateau (also under optim.lr_scheduler, as in PyTorch).

local base = require 'brasa.optim.optimizer'
local adam = require 'brasa.optim.adam'
local clip = require 'brasa.optim.clip'
local schedulers = require 'brasa.optim.schedulers'

local M = {
  Optimizer = base.Optimizer,
  SGD = require 'brasa.optim.sgd',
  Adam = adam.Adam,
  AdamW = adam.AdamW,
  RMSprop = require 'brasa.optim.rmsprop',
  Adagrad = require 'brasa.optim.adagrad',
  Adadelta = require 'brasa.optim.adadelta',
  clip_grad_norm = clip.clip_grad_norm,
  clip_grad_value = clip.clip_grad_value,
  lr_scheduler = {},
}

for _, name in ipairs {'StepLR', 'MultiStepLR', 'ExponentialLR', 'CosineAnnealingLR',
                       'CosineAnnealingWarmRestarts', 'OneCycleLR', 'LinearLR', 'LambdaLR',
                       'ReduceLROnPlateau'} do
  M[name] = schedulers[name]
  M.lr_scheduler[name] = schedulers[name]
end

-- Help entries (lua/brasa/docs/optim.lua), bound to the values above.
local ok, docs = pcall(require, 'brasa.docs.optim')
if ok and type(docs) == 'table' and docs.bind then docs.bind(M) end

return M
