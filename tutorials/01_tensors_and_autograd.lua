-- Lesson 1: tensors and automatic differentiation.
--
-- Run it whole with `build/brasa tutorials/01_tensors_and_autograd.lua`, or
-- type it step by step at the `brasa` prompt. Each step checks what it
-- shows with assert, so tests/lua/tutorials_spec.lua runs every lesson.

local brasa = brasa or require 'brasa'

-- Step 1. A tensor from a table: f32 by default, shape {2, 3}.
local x = brasa.tensor{{1, 2, 3}, {4, 5, 6}}
print(x)
assert(x.dtype == 'f32' and x.shape[1] == 2 and x.shape[2] == 3)

-- Step 2. Indices start at 1, as everywhere in Lua: x[2] is the second row
-- (a view), x[{2, 3}] one element (a Lua number), x[{{}, 2}] a column.
print(x[2], x[{2, 3}], x[{{}, 2}])
assert(x[{2, 3}] == 6)
assert(x[{{}, 2}]:equal(brasa.tensor{2, 5}))

-- Step 3. Arithmetic works elementwise and broadcasts: a row of three
-- numbers is added to every row.
local y = x + brasa.tensor{10, 20, 30}
print(y)
assert(y:equal(brasa.tensor{{11, 22, 33}, {14, 25, 36}}))

-- Step 4. Reductions take a 1-based dim: sum over dim 2 adds along rows.
print(x:sum(2))
assert(x:sum(2):equal(brasa.tensor{6, 15}))

-- Step 5. Matrix products: [2x3] @ [3x1] -> [2x1].
local p = x:matmul(brasa.ones(3, 1))
assert(p:equal(brasa.tensor{{6}, {15}}))

-- Step 6. Gradients. Mark a tensor as requiring a gradient, compute a
-- scalar from it, call backward: w.grad holds d(loss)/dw.
local w = brasa.tensor({1, -2, 3}, {requires_grad = true})
local loss = (w * w):sum()          -- sum of squares: its gradient is 2w
loss:backward()
print(w.grad)
assert(w.grad:equal(brasa.tensor{2, -4, 6}))

-- Step 7. Gradient descent on real data: fit petal width from petal length
-- in the iris data set (150 flowers) with a line y = a x + b, and compare
-- with the least-squares solution computed in closed form.
local ok, iris = pcall(brasa.data.iris)
if not ok then
  print('iris is not installed (run tools/setup.sh): the last step is skipped')
  return
end
local len, width = iris.x:select(2, 3):double(), iris.x:select(2, 4):double()
local a = brasa.zeros(1, {dtype = 'f64', requires_grad = true})
local b = brasa.zeros(1, {dtype = 'f64', requires_grad = true})
for step = 1, 2000 do
  local pred = len * a + b
  local mse = ((pred - width) ^ 2):mean()
  mse:backward()
  brasa.no_grad(function()          -- update the parameters without recording
    a:sub_(a.grad * 0.05)
    b:sub_(b.grad * 0.05)
  end)
  a.grad, b.grad = nil, nil
  if step % 500 == 0 then print(string.format('step %4d  mse %.5f', step, mse:item())) end
end
-- Closed form: a = cov(x, y) / var(x), b = mean(y) - a mean(x).
local mx, my = len:mean():item(), width:mean():item()
local cov = ((len - mx) * (width - my)):mean():item()
local var = ((len - mx) ^ 2):mean():item()
local a_exact = cov / var
print(string.format('gradient descent: a = %.4f, b = %.4f; least squares: a = %.4f, b = %.4f',
                    a:item(), b:item(), a_exact, my - a_exact * mx))
assert(math.abs(a:item() - a_exact) < 1e-3)
assert(math.abs(b:item() - (my - a_exact * mx)) < 5e-3)
