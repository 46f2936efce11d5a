-- Lesson 1 (id tensors_and_autograd): tensors and automatic differentiation.
--
--   brasa.lesson('tensors_and_autograd')      in the REPL, step by step
--   brasa --lesson tensors_and_autograd       from the shell
--
-- The format is brasa.lesson's (lua/brasa/lesson.lua): each step's check
-- holds the assertions the plain-script version of this lesson made, and
-- tests/lua/tutorials_spec.lua runs every lesson with them.

local function shape_is(t, want)
  return t ~= nil and table.concat(t.shape, 'x') == table.concat(want, 'x')
end

return {
  title = {es = 'Tensores y diferenciación automática', en = 'Tensors and automatic differentiation'},
  intro = {
    es = [=[
Los tensores son las tablas de números con que trabaja una red: un vector, una matriz, un lote de imágenes. En esta lección se crean, se indexan, se opera con ellos y se calculan gradientes de forma automática, la base del entrenamiento. Al final se ajusta una recta a datos reales por descenso de gradiente y se compara con la solución exacta.]=],
    en = [=[
Tensors are the tables of numbers a network works with: a vector, a matrix, a batch of images. This lesson creates them, indexes them, computes with them and gets gradients automatically, the basis of training. At the end a straight line is fitted to real data by gradient descent and compared with the exact solution.]=],
  },
  steps = {
    {
      title = {es = 'Un tensor a partir de una tabla', en = 'A tensor from a table'},
      text = {
        es = [=[`brasa.tensor` convierte una tabla de Lua en un tensor. Por defecto sus números son f32 (coma flotante de 32 bits), y su forma (`shape`) es una tabla con el tamaño de cada dimensión: aquí 2 filas y 3 columnas.]=],
        en = [=[`brasa.tensor` turns a Lua table into a tensor. By default its numbers are f32 (32-bit floating point), and its `shape` is a table with the size of each dimension: here 2 rows and 3 columns.]=],
      },
      code = [=[
x = brasa.tensor{{1, 2, 3}, {4, 5, 6}}
print(x)
print(x.dtype, x.shape[1], x.shape[2])]=],
      check = function(env)
        assert(env.x.dtype == 'f32' and shape_is(env.x, {2, 3}))
      end,
    },
    {
      title = {es = 'Índices desde 1', en = 'Indices start at 1'},
      text = {
        es = [=[Como en todo Lua, los índices empiezan en 1: `x[2]` es la segunda fila (una vista, que comparte los datos con `x`), `x[{2, 3}]` un elemento (un número de Lua) y `x[{{}, 2}]` la segunda columna (`{}` es «toda la dimensión»).]=],
        en = [=[As everywhere in Lua, indices start at 1: `x[2]` is the second row (a view, which shares its data with `x`), `x[{2, 3}]` one element (a Lua number) and `x[{{}, 2}]` the second column (`{}` means "the whole dimension").]=],
      },
      code = [=[
print(x[2], x[{2, 3}], x[{{}, 2}])]=],
      check = function(env)
        assert(env.x[{2, 3}] == 6)
        assert(env.x[{{}, 2}]:equal(env.brasa.tensor{2, 5}))
      end,
    },
    {
      title = {es = 'Aritmética y difusión', en = 'Arithmetic and broadcasting'},
      text = {
        es = [=[Las operaciones actúan elemento a elemento y se *difunden* (broadcasting): una fila de tres números se suma a cada fila de `x`, como en NumPy.]=],
        en = [=[Operations work element by element and *broadcast*: a row of three numbers is added to every row of `x`, as in NumPy.]=],
      },
      code = [=[
y = x + brasa.tensor{10, 20, 30}
print(y)]=],
      check = function(env)
        assert(env.y:equal(env.brasa.tensor{{11, 22, 33}, {14, 25, 36}}))
      end,
    },
    {
      title = {es = 'Reducciones', en = 'Reductions'},
      text = {
        es = [=[Las reducciones (`sum`, `mean`, `max`...) reciben la dimensión que eliminan, contada desde 1: `x:sum(2)` suma a lo largo de cada fila y deja un número por fila.]=],
        en = [=[Reductions (`sum`, `mean`, `max`...) take the dimension they remove, counted from 1: `x:sum(2)` adds along each row and leaves one number per row.]=],
      },
      code = [=[
print(x:sum(2))]=],
      check = function(env)
        assert(env.x:sum(2):equal(env.brasa.tensor{6, 15}))
      end,
    },
    {
      title = {es = 'Producto de matrices', en = 'Matrix product'},
      text = {
        es = [=[`matmul` es el producto de matrices: [2 × 3] por [3 × 1] da [2 × 1]. Con una columna de unos, cada fila de `x` queda sumada.]=],
        en = [=[`matmul` is the matrix product: [2 × 3] times [3 × 1] gives [2 × 1]. With a column of ones, each row of `x` gets added up.]=],
      },
      code = [=[
prod = x:matmul(brasa.ones(3, 1))
print(prod)]=],
      check = function(env)
        assert(env.prod:equal(env.brasa.tensor{{6}, {15}}))
      end,
    },
    {
      title = {es = 'Gradientes', en = 'Gradients'},
      text = {
        es = [=[Un tensor creado con `requires_grad = true` recuerda las operaciones que se hacen con él. Al calcular un escalar y llamar a `backward()`, `w.grad` recibe la derivada de ese escalar respecto de cada elemento de `w`. Para la suma de cuadrados, la derivada es 2w.]=],
        en = [=[A tensor made with `requires_grad = true` records the operations done with it. Compute a scalar and call `backward()`, and `w.grad` receives the derivative of that scalar with respect to each element of `w`. For the sum of squares, the derivative is 2w.]=],
      },
      code = {
        es = [=[
w = brasa.tensor({1, -2, 3}, {requires_grad = true})
loss = (w * w):sum()                  -- suma de cuadrados: su gradiente es 2w
loss:backward()
print(w.grad)]=],
        en = [=[
w = brasa.tensor({1, -2, 3}, {requires_grad = true})
loss = (w * w):sum()                  -- sum of squares: its gradient is 2w
loss:backward()
print(w.grad)]=],
      },
      check = function(env)
        assert(env.w.grad:equal(env.brasa.tensor{2, -4, 6}))
      end,
    },
    {
      title = {es = 'Descenso de gradiente con datos reales', en = 'Gradient descent on real data'},
      text = {
        es = [=[
Con gradientes ya se puede aprender. Tomamos las 150 flores del conjunto iris y ajustamos la anchura del pétalo a partir de su longitud con una recta y = a x + b. En cada iteración se calcula el error cuadrático medio, se obtienen sus gradientes respecto de a y b, y se da un paso pequeño en sentido contrario (`brasa.no_grad` evita que esa actualización quede registrada).

Para una recta existe la solución exacta por mínimos cuadrados: a = cov(x, y) / var(x) y b = media(y) − a · media(x). El descenso de gradiente debe llegar al mismo sitio. (iris lo instala tools/setup.sh.)]=],
        en = [=[
With gradients, we can learn. We take the 150 flowers of the iris data set and fit petal width from petal length with a straight line y = a x + b. Each iteration computes the mean squared error, gets its gradients with respect to a and b, and takes a small step the other way (`brasa.no_grad` keeps that update from being recorded).

A straight line has an exact least-squares solution: a = cov(x, y) / var(x) and b = mean(y) − a · mean(x). Gradient descent should get to the same place. (tools/setup.sh installs iris.)]=],
      },
      code = {
        es = [=[
iris = brasa.data.iris()
len, width = iris.x:select(2, 3):double(), iris.x:select(2, 4):double()
a = brasa.zeros(1, {dtype = 'f64', requires_grad = true})
b = brasa.zeros(1, {dtype = 'f64', requires_grad = true})
for step = 1, 2000 do
  local mse = ((len * a + b - width) ^ 2):mean()
  mse:backward()
  brasa.no_grad(function()            -- actualiza los parámetros sin registrarlo
    a:sub_(a.grad * 0.05)
    b:sub_(b.grad * 0.05)
  end)
  a.grad, b.grad = nil, nil
  if step % 500 == 0 then print(('paso %4d  ecm %.5f'):format(step, mse:item())) end
end
-- la solución exacta: a = cov(x, y) / var(x), b = media(y) - a media(x)
local mx, my = len:mean():item(), width:mean():item()
a_exact = ((len - mx) * (width - my)):mean():item() / ((len - mx) ^ 2):mean():item()
b_exact = my - a_exact * mx
print(('descenso de gradiente: a = %.4f, b = %.4f; mínimos cuadrados: a = %.4f, b = %.4f'):format(
  a:item(), b:item(), a_exact, b_exact))]=],
        en = [=[
iris = brasa.data.iris()
len, width = iris.x:select(2, 3):double(), iris.x:select(2, 4):double()
a = brasa.zeros(1, {dtype = 'f64', requires_grad = true})
b = brasa.zeros(1, {dtype = 'f64', requires_grad = true})
for step = 1, 2000 do
  local mse = ((len * a + b - width) ^ 2):mean()
  mse:backward()
  brasa.no_grad(function()            -- update the parameters without recording
    a:sub_(a.grad * 0.05)
    b:sub_(b.grad * 0.05)
  end)
  a.grad, b.grad = nil, nil
  if step % 500 == 0 then print(('step %4d  mse %.5f'):format(step, mse:item())) end
end
-- the exact solution: a = cov(x, y) / var(x), b = mean(y) - a mean(x)
local mx, my = len:mean():item(), width:mean():item()
a_exact = ((len - mx) * (width - my)):mean():item() / ((len - mx) ^ 2):mean():item()
b_exact = my - a_exact * mx
print(('gradient descent: a = %.4f, b = %.4f; least squares: a = %.4f, b = %.4f'):format(
  a:item(), b:item(), a_exact, b_exact))]=],
      },
      check = function(env)
        assert(math.abs(env.a:item() - env.a_exact) < 1e-3)
        assert(math.abs(env.b:item() - env.b_exact) < 5e-3)
      end,
    },
  },
}
