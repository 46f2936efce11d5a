-- Lesson text_cnn: classifying texts with a 1-D convolutional network.
--
-- The course's "Clasificación de textos" recipe (seed/, the bank complaints
-- example) on the Debian fortune-cookie texts: clean -> Tokenizer ->
-- pad_sequences -> one-hot labels; Embedding -> Conv1d + ReLU ->
-- GlobalMaxPool1d -> Linear(32) + ReLU with l2 -> Linear -> Softmax; fit with
-- validation_split and EarlyStopping; curves, test accuracy, confusion
-- matrix, and the trigrams each filter has learned to detect.
-- scripts/text_cnn.lua is the same recipe as one script.
--
--   brasa.lesson('text_cnn')                  in the REPL (BRASA_LANG=en for English)
--   brasa --lesson text_cnn                   from the shell
--   brasa --lesson text_cnn --auto --fast     every step at once, on a subset (CI)
--
-- The format is brasa.lesson's (lua/brasa/lesson.lua): a table of steps,
-- each an explanation and code in Spanish and English, and a check that
-- tests/lua/lesson_spec.lua relies on. Variables meant for the learner are
-- globals; helpers inside a step are locals.

-- The first n texts of a split {texts, y, classes} (for the fast mode).
local function first(split, n)
  local texts = {}
  for i = 1, math.min(n, #split.texts) do texts[i] = split.texts[i] end
  return {texts = texts, y = split.y:narrow(1, 1, #texts), classes = split.classes}
end

local function shape_is(t, want)
  return t ~= nil and table.concat(t.shape, 'x') == table.concat(want, 'x')
end

return {
  id = 'text_cnn',
  title = {es = 'Clasificación de textos con una red convolucional de una dimensión',
           en = 'Text classification with a one-dimensional convolutional network'},
  intro = {
    es = [=[
En esta lección se construye, paso a paso, la red convolucional para textos del curso (el apartado «Clasificación de textos»): convertir textos en números, pasarlos por una capa de embedding, una convolución de una dimensión y un max pooling global, y aprender a clasificarlos.

Cada paso explica una idea, enseña su código y, al pulsar Intro, lo ejecuta con los datos. Las variables quedan definidas: entre un paso y otro puedes escribir Lua para mirarlas (por ejemplo `x_train.shape` o `print(tok)`).]=],
    en = [=[
This lesson builds, step by step, the course's convolutional network for text (the section "Clasificación de textos", text classification): turning texts into numbers, passing them through an embedding layer, a one-dimensional convolution and global max pooling, and learning to classify them.

Each step explains one idea, shows its code and, when you press Enter, runs it on the data. The variables stay defined: between steps you can type Lua to look at them (for example `x_train.shape` or `print(tok)`).]=],
  },

  -- Fast mode (CI, brasa --lesson text_cnn --fast): 400 training texts, one epoch.
  fast = {train = function(t) return first(t, 400) end, EPOCHS = 1},

  steps = {
    ---------------------------------------------------------------- 1
    {
      title = {es = 'Los datos', en = 'The data'},
      text = {
        es = [=[
Queremos que una red adivine de qué trata un texto corto. En el curso los textos eran reclamaciones de clientes de un banco, clasificadas por producto; aquí usamos las «galletas de la fortuna» de Debian (las del programa `fortune`): citas, chistes y frases guardadas en un fichero por tema. Tomamos ocho temas: ordenadores, política, ciencia, arte, Star Trek, derecho, comida y deportes.

`brasa.data.fortunes()` devuelve dos partes: `train` (el 80 %, para aprender) y `test` (el 20 %, que la red no verá hasta el final). Cada parte tiene `texts` (una lista de cadenas), `y` (la clase de cada texto, un número del 1 al 8) y `classes` (los nombres de las clases).

Las clases no están equilibradas. Una red que contestara siempre la clase más frecuente ya acertaría bastantes veces: ese porcentaje, que calcula el código, es la referencia que hay que batir.]=],
        en = [=[
We want a network to guess what a short text is about. In the course the texts were bank customers' complaints, classified by product; here we use Debian's fortune cookies (the ones the `fortune` program prints): quotes, jokes and sayings kept in one file per topic. We take eight topics: computers, politics, science, art, Star Trek, law, food and sports.

`brasa.data.fortunes()` returns two parts: `train` (80 %, to learn from) and `test` (20 %, which the network will not see until the end). Each part has `texts` (a list of strings), `y` (the class of each text, a number from 1 to 8) and `classes` (the class names).

The classes are not balanced. A network that always answered the most frequent class would already be right fairly often: that percentage, which the code computes, is the baseline to beat.]=],
      },
      code = {
        es = [=[
brasa.manual_seed(1)                  -- resultados repetibles
train, test = brasa.data.fortunes()
classes = train.classes
print(#train.texts .. ' textos de entrenamiento y ' .. #test.texts .. ' de test')

-- cuántos textos hay de cada clase
counts = {}
for i = 1, #train.texts do
  local c = train.y[i]
  counts[c] = (counts[c] or 0) + 1
end
for c, name in ipairs(classes) do
  print(('  %d  %-10s %5d'):format(c, name, counts[c] or 0))
end
local most = 0
for _, k in pairs(counts) do most = math.max(most, k) end
print(('Contestar siempre la clase más frecuente acierta el %.0f %%'):format(100 * most / #train.texts))

-- dos ejemplos, con su clase
for _, i in ipairs{1, 2} do
  print(('[%s] %s'):format(classes[train.y[i]], train.texts[i]))
end]=],
        en = [=[
brasa.manual_seed(1)                  -- repeatable results
train, test = brasa.data.fortunes()
classes = train.classes
print(#train.texts .. ' training texts and ' .. #test.texts .. ' test texts')

-- how many texts each class has
counts = {}
for i = 1, #train.texts do
  local c = train.y[i]
  counts[c] = (counts[c] or 0) + 1
end
for c, name in ipairs(classes) do
  print(('  %d  %-10s %5d'):format(c, name, counts[c] or 0))
end
local most = 0
for _, k in pairs(counts) do most = math.max(most, k) end
print(('Always answering the most frequent class is right %.0f %% of the time'):format(100 * most / #train.texts))

-- two examples, with their class
for _, i in ipairs{1, 2} do
  print(('[%s] %s'):format(classes[train.y[i]], train.texts[i]))
end]=],
      },
      check = function(env)
        assert(#env.classes == 8, 'eight classes')
        assert(#env.train.texts > 0 and env.train.y.shape[1] == #env.train.texts)
        assert(#env.test.texts > 0 and env.test.y.shape[1] == #env.test.texts)
      end,
    },

    ---------------------------------------------------------------- 2
    {
      title = {es = 'Limpiar los textos', en = 'Cleaning the texts'},
      text = {
        es = [=[
Antes de contar palabras conviene limpiar los textos, como hace la función `preprocesado` del curso: todo a minúsculas, fuera el contenido cifrado (XXXX), los signos de puntuación, las cifras y los símbolos. Así «Perlis,» y «perlis» cuentan como la misma palabra.

`brasa.text.clean` hace exactamente eso. Lo aplicamos a los textos de entrenamiento y a los de test, y comparamos un ejemplo antes y después. La variable `ex` guarda el número de ese ejemplo: lo seguiremos en los pasos siguientes.]=],
        en = [=[
Before counting words it pays to clean the texts, as the course's `preprocesado` function does: everything in lower case, and away with masked content (XXXX), punctuation, digits and symbols. That way "Perlis," and "perlis" count as the same word.

`brasa.text.clean` does exactly that. We apply it to the training and the test texts, and compare one example before and after. The variable `ex` holds that example's number: we will follow it through the next steps.]=],
      },
      code = {
        es = [=[
clean_train, clean_test = {}, {}
for i, s in ipairs(train.texts) do clean_train[i] = brasa.text.clean(s) end
for i, s in ipairs(test.texts) do clean_test[i] = brasa.text.clean(s) end

-- un ejemplo corto con cifras y signos
ex = 1
for i, s in ipairs(train.texts) do
  if s:find('%d') and #s < 200 then ex = i break end
end
print('antes:   ' .. train.texts[ex])
print('después: ' .. clean_train[ex])]=],
        en = [=[
clean_train, clean_test = {}, {}
for i, s in ipairs(train.texts) do clean_train[i] = brasa.text.clean(s) end
for i, s in ipairs(test.texts) do clean_test[i] = brasa.text.clean(s) end

-- a short example with digits and punctuation
ex = 1
for i, s in ipairs(train.texts) do
  if s:find('%d') and #s < 200 then ex = i break end
end
print('before: ' .. train.texts[ex])
print('after:  ' .. clean_train[ex])]=],
      },
      check = function(env)
        assert(#env.clean_train == #env.train.texts and #env.clean_test == #env.test.texts)
        assert(not env.clean_train[env.ex]:find('[%u%d%p]'), 'no capitals, digits or punctuation left')
      end,
    },

    ---------------------------------------------------------------- 3
    {
      title = {es = 'Tokens: de palabras a números', en = 'Tokens: from words to numbers'},
      text = {
        es = [=[
La red no lee letras: lee números. Un *token* es cada unidad en que partimos el texto; aquí, una palabra (lo que queda entre espacios). El `Tokenizer` recorre los textos de entrenamiento, cuenta cuántas veces aparece cada palabra y le asigna un número, su *id*: 1 a la más frecuente, 2 a la siguiente, y así sucesivamente. La tabla palabra → id es `tok.word_index` y la inversa, `tok.index_word`. El 0 queda reservado para el relleno (siguiente paso).

Como en el curso, `num_words = 25000` conserva solo las palabras con id menor que 25 000; estos textos tienen menos palabras distintas, así que no se pierde ninguna. El tokenizador se ajusta solo con `train`: las palabras del test que no vio nunca se descartan al convertir, igual que le pasará al modelo con textos nuevos.

`texts_to_sequences` convierte cada texto en su lista de ids y `sequences_to_texts` hace el camino de vuelta, de ids a palabras: así comprobamos que no se ha perdido nada.]=],
        en = [=[
The network does not read letters: it reads numbers. A *token* is each unit we split the text into; here, a word (what lies between spaces). The `Tokenizer` goes through the training texts, counts how often each word appears and gives it a number, its *id*: 1 for the most frequent, 2 for the next, and so on. The word → id table is `tok.word_index`, and the reverse one `tok.index_word`. 0 is kept for padding (next step).

As in the course, `num_words = 25000` keeps only the words with an id below 25,000; these texts have fewer distinct words, so none is lost. The tokenizer is fitted on `train` only: words of the test set it never saw are dropped when converting, just as will happen to the model with new texts.

`texts_to_sequences` turns each text into its list of ids, and `sequences_to_texts` goes the way back, from ids to words: that shows nothing was lost.]=],
      },
      code = {
        es = [=[
NUM_WORDS = 25000                     -- tamaño máximo del vocabulario
tok = brasa.text.Tokenizer{num_words = NUM_WORDS}
tok:fit_on_texts(clean_train)         -- solo con los textos de entrenamiento
print(tok)

-- las palabras más frecuentes tienen los ids más bajos
local top = {}
for id = 1, 15 do top[id] = id .. ':' .. tok.index_word[id] end
print(table.concat(top, '  '))

seq_train = tok:texts_to_sequences(clean_train)
seq_test = tok:texts_to_sequences(clean_test)
print(clean_train[ex])
print(table.concat(seq_train[ex], ' '))
print(tok:sequences_to_texts({seq_train[ex]})[1])   -- de vuelta a palabras

-- las palabras del test que el tokenizador no conoce se pierden
local total, lost = 0, 0
for i, s in ipairs(clean_test) do
  local words = #brasa.text.text_to_word_sequence(s)
  total, lost = total + words, lost + words - #seq_test[i]
end
print(('%.1f %% de las palabras del test no están en el vocabulario'):format(100 * lost / total))]=],
        en = [=[
NUM_WORDS = 25000                     -- largest vocabulary size
tok = brasa.text.Tokenizer{num_words = NUM_WORDS}
tok:fit_on_texts(clean_train)         -- on the training texts only
print(tok)

-- the most frequent words have the lowest ids
local top = {}
for id = 1, 15 do top[id] = id .. ':' .. tok.index_word[id] end
print(table.concat(top, '  '))

seq_train = tok:texts_to_sequences(clean_train)
seq_test = tok:texts_to_sequences(clean_test)
print(clean_train[ex])
print(table.concat(seq_train[ex], ' '))
print(tok:sequences_to_texts({seq_train[ex]})[1])   -- back to words

-- the test words the tokenizer does not know are lost
local total, lost = 0, 0
for i, s in ipairs(clean_test) do
  local words = #brasa.text.text_to_word_sequence(s)
  total, lost = total + words, lost + words - #seq_test[i]
end
print(('%.1f %% of the test words are not in the vocabulary'):format(100 * lost / total))]=],
      },
      check = function(env)
        assert(#env.seq_train == #env.train.texts and #env.seq_test == #env.test.texts)
        assert(env.tok.index_word[1] ~= nil and env.tok.word_index[env.tok.index_word[1]] == 1)
        assert(env.tok:sequences_to_texts({env.seq_train[env.ex]})[1] == env.clean_train[env.ex],
               'ids back to words give the cleaned text')
      end,
    },

    ---------------------------------------------------------------- 4
    {
      title = {es = 'Relleno: todas las secuencias iguales', en = 'Padding: every sequence the same length'},
      text = {
        es = [=[
Los textos tienen longitudes distintas, pero la red trabaja por lotes, con matrices rectangulares. `pad_sequences` iguala todas las secuencias a `MAXLEN = 200` ids: a las cortas les añade ceros delante (relleno o *padding* «pre», como Keras) y a las largas les quita el principio (*truncating* «pre»), de modo que se quedan con sus 200 últimas palabras.

El resultado es un tensor de enteros de N × 200, una fila por texto. Las galletas de la fortuna son cortas, así que la mayor parte de cada fila es relleno: mira la longitud media y cuántos textos se recortan.]=],
        en = [=[
The texts have different lengths, but the network works in batches, on rectangular matrices. `pad_sequences` brings every sequence to `MAXLEN = 200` ids: short ones get zeros in front (padding 'pre', as in Keras) and long ones lose their beginning (truncating 'pre'), so they keep their last 200 words.

The result is an N × 200 tensor of integers, one row per text. Fortune cookies are short, so most of each row is padding: look at the mean length and at how many texts are cut.]=],
      },
      code = {
        es = [=[
MAXLEN = 200                          -- palabras por texto
x_train = brasa.text.pad_sequences(seq_train, {maxlen = MAXLEN})
x_test = brasa.text.pad_sequences(seq_test, {maxlen = MAXLEN})
print('x_train: ' .. table.concat(x_train.shape, ' x ') .. ' ' .. x_train.dtype)
print('x_test:  ' .. table.concat(x_test.shape, ' x ') .. ' ' .. x_test.dtype)

local total, cut = 0, 0
for _, s in ipairs(seq_train) do
  total = total + #s
  if #s > MAXLEN then cut = cut + 1 end
end
print(('longitud media: %.1f palabras; textos recortados: %d'):format(total / #seq_train, cut))

-- el final de la fila del ejemplo: unos ceros de relleno y después sus ids
local k = math.min(MAXLEN, #seq_train[ex] + 5)
print(x_train[ex]:narrow(1, MAXLEN - k + 1, k))]=],
        en = [=[
MAXLEN = 200                          -- words per text
x_train = brasa.text.pad_sequences(seq_train, {maxlen = MAXLEN})
x_test = brasa.text.pad_sequences(seq_test, {maxlen = MAXLEN})
print('x_train: ' .. table.concat(x_train.shape, ' x ') .. ' ' .. x_train.dtype)
print('x_test:  ' .. table.concat(x_test.shape, ' x ') .. ' ' .. x_test.dtype)

local total, cut = 0, 0
for _, s in ipairs(seq_train) do
  total = total + #s
  if #s > MAXLEN then cut = cut + 1 end
end
print(('mean length: %.1f words; texts cut: %d'):format(total / #seq_train, cut))

-- the end of the example's row: a few padding zeros, then its ids
local k = math.min(MAXLEN, #seq_train[ex] + 5)
print(x_train[ex]:narrow(1, MAXLEN - k + 1, k))]=],
      },
      check = function(env)
        assert(shape_is(env.x_train, {#env.train.texts, env.MAXLEN}) and env.x_train.dtype == 'i64')
        assert(shape_is(env.x_test, {#env.test.texts, env.MAXLEN}))
      end,
    },

    ---------------------------------------------------------------- 5
    {
      title = {es = 'Las etiquetas en one-hot', en = 'One-hot labels'},
      text = {
        es = [=[
Las clases también se codifican. En lugar del número de la clase (del 1 al 8) usamos un vector de 8 posiciones con un 1 en la de su clase y 0 en las demás: la codificación *one-hot*, las variables *dummy* que el curso obtiene con `pd.get_dummies`. Encaja con la salida de la red, que serán 8 probabilidades, y con la pérdida de entropía cruzada categórica, que compara las dos.]=],
        en = [=[
The classes are encoded too. Instead of the class number (1 to 8) we use a vector of 8 places with a 1 in its class's place and 0 elsewhere: *one-hot* encoding, the *dummy* variables the course gets from `pd.get_dummies`. It matches the network's output, which will be 8 probabilities, and the categorical cross-entropy loss, which compares the two.]=],
      },
      code = {
        es = [=[
y_train = brasa.text.to_categorical(train.y, #classes)
y_test = brasa.text.to_categorical(test.y, #classes)
print('y_train: ' .. table.concat(y_train.shape, ' x '))
print('clase del ejemplo: ' .. train.y[ex] .. ' (' .. classes[train.y[ex]] .. ')')
print(y_train[ex])]=],
        en = [=[
y_train = brasa.text.to_categorical(train.y, #classes)
y_test = brasa.text.to_categorical(test.y, #classes)
print('y_train: ' .. table.concat(y_train.shape, ' x '))
print("the example's class: " .. train.y[ex] .. ' (' .. classes[train.y[ex]] .. ')')
print(y_train[ex])]=],
      },
      check = function(env)
        assert(shape_is(env.y_train, {#env.train.texts, 8}) and shape_is(env.y_test, {#env.test.texts, 8}))
        assert(env.y_train[{env.ex, env.train.y[env.ex]}] == 1 and env.y_train[env.ex]:sum():item() == 1)
      end,
    },

    ---------------------------------------------------------------- 6
    {
      title = {es = 'El embedding: un vector por palabra', en = 'The embedding: one vector per word'},
      text = {
        es = [=[
Un id es solo una etiqueta: que dos palabras tengan ids seguidos no quiere decir que se parezcan. La capa *Embedding* da a cada palabra un vector de números reales que se aprende al entrenar. Es una tabla, una matriz de `NUM_WORDS` filas y `EMBED = 150` columnas, en la que la fila *i* es el vector de la palabra de id *i*. Buscar una palabra es tomar su fila: el resultado es el mismo que multiplicar su vector one-hot por la matriz, pero sin construir vectores de 25 000 posiciones.

Al principio los vectores son aleatorios; al entrenar se ajustan, y las palabras que sirven para decidir lo mismo acaban con vectores parecidos.

Aplicada a un lote de 4 textos (4 × 200 ids), la capa devuelve un tensor de 4 × 200 × 150: un vector por cada posición de cada texto. En brasa el relleno (id 0) da un vector de ceros.]=],
        en = [=[
An id is only a label: two words with neighbouring ids need not be alike. The *Embedding* layer gives each word a vector of real numbers that is learned in training. It is a table, a matrix of `NUM_WORDS` rows and `EMBED = 150` columns, where row *i* is the vector of the word whose id is *i*. Looking a word up means taking its row: the result is the same as multiplying its one-hot vector by the matrix, without building vectors of 25,000 places.

The vectors start random; training adjusts them, and words that help to make the same decision end up with similar vectors.

Applied to a batch of 4 texts (4 × 200 ids), the layer returns a 4 × 200 × 150 tensor: one vector for each position of each text. In brasa, padding (id 0) gives a vector of zeros.]=],
      },
      code = {
        es = [=[
EMBED = 150                           -- números por palabra
embedding = nn.Embedding(NUM_WORDS, EMBED)
print('pesos: ' .. table.concat(embedding.weight.shape, ' x '))

-- los 6 primeros números del vector (aleatorio, de momento) de la palabra más frecuente
print(tok.index_word[1], embedding.weight[1]:narrow(1, 1, 6))

batch = x_train:narrow(1, 1, 4)       -- 4 textos: 4 x 200 ids
e = embedding(batch)
print('salida: ' .. table.concat(e.shape, ' x '))
print('posición 1 del texto 1: id ' .. batch[{1, 1}] ..
      ', suma de |vector| = ' .. e[{1, 1}]:abs():sum():item())]=],
        en = [=[
EMBED = 150                           -- numbers per word
embedding = nn.Embedding(NUM_WORDS, EMBED)
print('weights: ' .. table.concat(embedding.weight.shape, ' x '))

-- the first 6 numbers of the (for now random) vector of the most frequent word
print(tok.index_word[1], embedding.weight[1]:narrow(1, 1, 6))

batch = x_train:narrow(1, 1, 4)       -- 4 texts: 4 x 200 ids
e = embedding(batch)
print('output: ' .. table.concat(e.shape, ' x '))
print('position 1 of text 1: id ' .. batch[{1, 1}] ..
      ', sum of |vector| = ' .. e[{1, 1}]:abs():sum():item())]=],
      },
      check = function(env)
        assert(shape_is(env.embedding.weight, {env.NUM_WORDS, env.EMBED}))
        assert(shape_is(env.e, {4, env.MAXLEN, env.EMBED}))
      end,
    },

    ---------------------------------------------------------------- 7
    {
      title = {es = 'La convolución de una dimensión', en = 'The one-dimensional convolution'},
      text = {
        es = [=[
Una convolución de una dimensión recorre el texto con una ventana de `kernel_size = 3` palabras seguidas. Cada *filtro* es un patrón de pesos del tamaño de esa ventana (150 números por cada una de las 3 palabras) más un sesgo. En cada posición multiplica el patrón por los tres vectores de palabra, suma y da una puntuación: cuánto se parecen esas tres palabras a lo que busca el filtro. Un filtro es, por tanto, un detector de trigramas (grupos de tres palabras), y con 64 filtros la capa busca 64 patrones a la vez.

Sin relleno (*padding* «valid»), en 200 palabras caben 200 − 3 + 1 = 198 ventanas: la salida de un texto es de 64 × 198, la respuesta de cada filtro en cada posición. Después, `ReLU` deja pasar solo las respuestas positivas.

Un detalle de formas: Embedding da N × L × D (posiciones × números), que es lo que espera la Conv1D de Keras, pero la `Conv1d` de brasa, como la de PyTorch, quiere N × C × L (canales primero). La opción `input_channels_last = true` hace esa trasposición dentro de la capa.]=],
        en = [=[
A one-dimensional convolution slides a window of `kernel_size = 3` consecutive words along the text. Each *filter* is a pattern of weights the size of that window (150 numbers for each of the 3 words) plus a bias. At each position it multiplies the pattern by the three word vectors, adds up and gives a score: how much those three words look like what the filter is after. A filter is therefore a trigram (three-word) detector, and with 64 filters the layer looks for 64 patterns at once.

With no padding ('valid'), 200 words hold 200 − 3 + 1 = 198 windows: a text's output is 64 × 198, the response of every filter at every position. Then `ReLU` lets only the positive responses through.

A detail of shapes: Embedding gives N × L × D (positions × numbers), which is what Keras's Conv1D expects, but brasa's `Conv1d`, like PyTorch's, wants N × C × L (channels first). The option `input_channels_last = true` does that transposition inside the layer.]=],
      },
      code = {
        es = [=[
conv = nn.Conv1d(EMBED, 64, 3, {input_channels_last = true})
print('filtros: ' .. table.concat(conv.weight.shape, ' x '))   -- 64 filtros de 150 x 3
c = nn.ReLU()(conv(e))
print('salida: ' .. table.concat(c.shape, ' x '))              -- 4 x 64 x (200 - 3 + 1)

-- las respuestas del filtro 1 en las 10 últimas posiciones del texto 1
print(c[{1, 1}]:narrow(1, c.shape[3] - 9, 10))]=],
        en = [=[
conv = nn.Conv1d(EMBED, 64, 3, {input_channels_last = true})
print('filters: ' .. table.concat(conv.weight.shape, ' x '))   -- 64 filters of 150 x 3
c = nn.ReLU()(conv(e))
print('output: ' .. table.concat(c.shape, ' x '))              -- 4 x 64 x (200 - 3 + 1)

-- filter 1's responses at the last 10 positions of text 1
print(c[{1, 1}]:narrow(1, c.shape[3] - 9, 10))]=],
      },
      check = function(env)
        assert(shape_is(env.conv.weight, {64, env.EMBED, 3}))
        assert(shape_is(env.c, {4, 64, env.MAXLEN - 3 + 1}))
      end,
    },

    ---------------------------------------------------------------- 8
    {
      title = {es = 'Max pooling global', en = 'Global max pooling'},
      text = {
        es = [=[
¿En qué lugar del texto aparece el trigrama que busca un filtro? Para clasificar casi da igual: basta con saber si aparece y con qué fuerza. El *max pooling global* se queda, para cada filtro, con el máximo de sus 198 respuestas. Cada texto queda resumido en 64 números, uno por filtro, sea cual sea su longitud y esté donde esté la frase que importa.

A diferencia de `MaxPool1d`, que toma máximos en ventanas pequeñas y conserva el orden a grandes rasgos, la versión global lo reduce todo a un valor por filtro. Lo que se pierde es el orden entre trigramas distintos: la red ve qué patrones hay, no en qué orden.]=],
        en = [=[
Where in the text does a filter's trigram appear? For classifying, it hardly matters: it is enough to know whether it appears, and how strongly. *Global max pooling* keeps, for each filter, the largest of its 198 responses. Each text is summed up in 64 numbers, one per filter, whatever its length and wherever the phrase that matters stands.

Unlike `MaxPool1d`, which takes maxima over small windows and roughly keeps the order, the global version reduces everything to one value per filter. What is lost is the order between different trigrams: the network sees which patterns are there, not in what order.]=],
      },
      code = {
        es = [=[
pool = nn.GlobalMaxPool1d()
p = pool(c)
print('salida: ' .. table.concat(p.shape, ' x '))   -- 4 textos x 64 filtros

-- el valor del filtro 1 en el texto 1 es el mayor de sus 198 respuestas
print(p[{1, 1}], c[{1, 1}]:max():item())]=],
        en = [=[
pool = nn.GlobalMaxPool1d()
p = pool(c)
print('output: ' .. table.concat(p.shape, ' x '))   -- 4 texts x 64 filters

-- filter 1's value for text 1 is the largest of its 198 responses
print(p[{1, 1}], c[{1, 1}]:max():item())]=],
      },
      check = function(env)
        assert(shape_is(env.p, {4, 64}))
        assert(env.p[{1, 1}] == env.c[{1, 1}]:max():item())
      end,
    },

    ---------------------------------------------------------------- 9
    {
      title = {es = 'El modelo completo', en = 'The whole model'},
      text = {
        es = [=[
Ahora montamos la red completa con `nn.Sequential`, capa tras capa, como el modelo del curso:
- Embedding: 25 000 palabras × 150 números.
- Conv1d: 64 filtros de 3 palabras, con ReLU.
- GlobalMaxPool1d: 64 números por texto.
- Linear (la Dense de Keras) de 32 neuronas con ReLU y regularización L2 de 0,01 en sus pesos: a la pérdida se le suma 0,01 × la suma de sus pesos al cuadrado, lo que frena el sobreajuste.
- Linear de 8 neuronas, una por clase, y Softmax, que convierte las 8 puntuaciones en probabilidades que suman 1.

El resumen (`summary`) muestra la forma de la salida y los parámetros de cada capa (None es el tamaño del lote). Casi todos están en el Embedding: 25 000 × 150 = 3 750 000. La convolución tiene 64 × 150 × 3 + 64 = 28 864.]=],
        en = [=[
Now we put the whole network together with `nn.Sequential`, layer after layer, like the course's model:
- Embedding: 25,000 words × 150 numbers.
- Conv1d: 64 filters of 3 words, with ReLU.
- GlobalMaxPool1d: 64 numbers per text.
- Linear (Keras's Dense) with 32 neurons, ReLU and an L2 regularisation of 0.01 on its weights: 0.01 × the sum of its squared weights is added to the loss, which holds back overfitting.
- Linear with 8 neurons, one per class, and Softmax, which turns the 8 scores into probabilities that add up to 1.

The summary shows each layer's output shape and parameters (None is the batch size). Nearly all of them are in the Embedding: 25,000 × 150 = 3,750,000. The convolution has 64 × 150 × 3 + 64 = 28,864.]=],
      },
      code = {
        es = [=[
brasa.manual_seed(1)
model = nn.Sequential{
  nn.Embedding(NUM_WORDS, EMBED),                                     -- N x 200 x 150
  nn.Conv1d(EMBED, 64, 3, {input_channels_last = true}), nn.ReLU(),   -- N x 64 x 198
  nn.GlobalMaxPool1d(),                                               -- N x 64
  nn.Linear(64, 32, {activation = 'relu',
                     kernel_regularizer = nn.regularizers.l2(0.01)}), -- N x 32
  nn.Linear(32, #classes),                                            -- N x 8
  nn.Softmax(),                                                       -- probabilidades
}
model:summary({MAXLEN}, {dtype = 'i64'})
EPOCHS = 10                           -- épocas de entrenamiento, como mucho (paso siguiente)]=],
        en = [=[
brasa.manual_seed(1)
model = nn.Sequential{
  nn.Embedding(NUM_WORDS, EMBED),                                     -- N x 200 x 150
  nn.Conv1d(EMBED, 64, 3, {input_channels_last = true}), nn.ReLU(),   -- N x 64 x 198
  nn.GlobalMaxPool1d(),                                               -- N x 64
  nn.Linear(64, 32, {activation = 'relu',
                     kernel_regularizer = nn.regularizers.l2(0.01)}), -- N x 32
  nn.Linear(32, #classes),                                            -- N x 8
  nn.Softmax(),                                                       -- probabilities
}
model:summary({MAXLEN}, {dtype = 'i64'})
EPOCHS = 10                           -- the most epochs of training (next step)]=],
      },
      check = function(env)
        local n = 0
        for _, q in ipairs(env.model:parameters()) do n = n + q:numel() end
        assert(n == env.NUM_WORDS * env.EMBED + (64 * env.EMBED * 3 + 64) + (64 * 32 + 32) + (32 * 8 + 8),
               'parameter count')
      end,
    },

    ---------------------------------------------------------------- 10
    {
      title = {es = 'Entrenar', en = 'Training'},
      text = {
        es = [=[
Entrenar es repetir: tomar un lote de 128 textos, calcular la salida, medir el error con la entropía cruzada categórica (la `categorical_crossentropy` del curso; `from_logits = false` porque la red ya termina en Softmax) y corregir los pesos con Adam. Una pasada por todos los textos es una *época*.

Como en el curso:
- como mucho `EPOCHS = 10` épocas, en lotes de 128;
- `validation_split = 0.2`: el último 20 % de los textos de entrenamiento no se usa para aprender sino para medir, época a época, cómo lo hace la red con textos que no ha visto (`val_loss`, `val_accuracy`);
- parada temprana (`EarlyStopping`): si `val_loss` no mejora en 2 épocas seguidas, el entrenamiento para y se recuperan los pesos de la mejor época.

En un ordenador normal cada época tarda alrededor de un segundo. Ctrl-C detiene el entrenamiento al acabar el lote en curso.]=],
        en = [=[
Training means repeating: take a batch of 128 texts, compute the output, measure the error with categorical cross-entropy (the course's `categorical_crossentropy`; `from_logits = false` because the network already ends in Softmax) and correct the weights with Adam. One pass over all the texts is an *epoch*.

As in the course:
- at most `EPOCHS = 10` epochs, in batches of 128;
- `validation_split = 0.2`: the last 20 % of the training texts is not used to learn but to measure, epoch by epoch, how the network does on texts it has not seen (`val_loss`, `val_accuracy`);
- early stopping (`EarlyStopping`): if `val_loss` does not improve for 2 epochs in a row, training stops and the weights of the best epoch come back.

On an ordinary computer each epoch takes about a second. Ctrl-C stops training at the end of the current batch.]=],
      },
      code = {
        es = [=[
history = model:fit({x = x_train, y = y_train}, {
  loss = nn.CrossEntropyLoss{from_logits = false},   -- entropía cruzada categórica
  optimizer = optim.Adam(model:parameters(), {lr = 1e-3}),
  epochs = EPOCHS, batch_size = 128, metrics = {'accuracy'},
  validation_split = 0.2,
  callbacks = {brasa.callbacks.EarlyStopping{monitor = 'val_loss', patience = 2,
                                             restore_best_weights = true}},
})
print(history)]=],
        en = [=[
history = model:fit({x = x_train, y = y_train}, {
  loss = nn.CrossEntropyLoss{from_logits = false},   -- categorical cross-entropy
  optimizer = optim.Adam(model:parameters(), {lr = 1e-3}),
  epochs = EPOCHS, batch_size = 128, metrics = {'accuracy'},
  validation_split = 0.2,
  callbacks = {brasa.callbacks.EarlyStopping{monitor = 'val_loss', patience = 2,
                                             restore_best_weights = true}},
})
print(history)]=],
      },
      check = function(env)
        local h = env.history
        assert(#h.epoch >= 1 and #h.history.loss == #h.epoch and #h.history.val_accuracy == #h.epoch)
      end,
    },

    ---------------------------------------------------------------- 11
    {
      title = {es = 'Las curvas de aprendizaje', en = 'The learning curves'},
      text = {
        es = [=[
Las curvas cuentan cómo fue el entrenamiento: a la izquierda la pérdida y a la derecha el acierto, cada una con la curva de entrenamiento y la de validación. Mientras las dos mejoran, la red aprende cosas que generalizan. Cuando la de entrenamiento sigue mejorando y la de validación se estanca o empeora, la red empieza a memorizar sus propios textos: es el *sobreajuste*, lo que vigila la parada temprana.

Con pantalla gráfica se abre una ventana; sin ella, la gráfica se dibuja con texto en la terminal. En los dos casos se guarda también en `text_cnn_curves.png`.]=],
        en = [=[
The curves tell how training went: the loss on the left and the accuracy on the right, each with the training and the validation curve. While both improve, the network learns things that generalise. When the training curve keeps improving and the validation one stalls or gets worse, the network starts memorising its own texts: that is *overfitting*, which early stopping watches for.

With a graphical display a window opens; without one, the plot is drawn as text in the terminal. Either way it is also saved to `text_cnn_curves.png`.]=],
      },
      code = {
        es = [=[
history:plot{title = 'Red convolucional de texto (fortunes)'}
plot.save('text_cnn_curves.png')]=],
        en = [=[
history:plot{title = 'Text CNN (fortunes)'}
plot.save('text_cnn_curves.png')]=],
      },
    },

    ---------------------------------------------------------------- 12
    {
      title = {es = 'Acierto en test y matriz de confusión', en = 'Test accuracy and the confusion matrix'},
      text = {
        es = [=[
Ahora sí, la prueba de verdad: los textos de test, que la red no ha visto nunca. `evaluate` da la pérdida y el acierto (*accuracy*), la fracción de textos cuya clase más probable es la correcta. Compáralo con la referencia del paso 1, contestar siempre la clase más frecuente.

La matriz de confusión detalla aciertos y errores: la fila es la clase verdadera y la columna la predicha, así que la diagonal son los aciertos y cada número fuera de ella cuenta cuántos textos de una clase se tomaron por otra. La última columna (*recall*) dice qué parte de cada clase se reconoce, y la última fila (*precision*), qué parte de las predicciones de cada clase eran correctas. Las clases con pocos textos suelen salir peor: la red vio pocos ejemplos de ellas. También se dibuja y se guarda en `text_cnn_confusion.png`.]=],
        en = [=[
Now for the real test: the test texts, which the network has never seen. `evaluate` gives the loss and the accuracy, the fraction of texts whose most probable class is the right one. Compare it with the baseline of step 1, always answering the most frequent class.

The confusion matrix details hits and mistakes: the row is the true class and the column the predicted one, so the diagonal holds the hits and every number off it counts how many texts of one class were taken for another. The last column (recall) says what share of each class is recognised, and the last row (precision) what share of the predictions of each class were right. Classes with few texts tend to do worse: the network saw few examples of them. The matrix is also drawn, and saved to `text_cnn_confusion.png`.]=],
      },
      code = {
        es = [=[
result = model:evaluate({x = x_test, y = y_test})
test_accuracy = result.accuracy
print(('acierto en test: %.1f %%'):format(100 * test_accuracy))

predicted = model:predict(x_test):argmax(2)           -- la clase más probable de cada texto
cm = brasa.metrics.confusion_matrix(test.y, predicted, #classes)
print(brasa.metrics.format_confusion(cm, classes))
plot.heatmap(cm, {labels = classes, title = 'Matriz de confusión (filas: clase verdadera)'})
plot.save('text_cnn_confusion.png')]=],
        en = [=[
result = model:evaluate({x = x_test, y = y_test})
test_accuracy = result.accuracy
print(('test accuracy: %.1f %%'):format(100 * test_accuracy))

predicted = model:predict(x_test):argmax(2)           -- each text's most probable class
cm = brasa.metrics.confusion_matrix(test.y, predicted, #classes)
print(brasa.metrics.format_confusion(cm, classes))
plot.heatmap(cm, {labels = classes, title = 'Confusion matrix (rows: true class)'})
plot.save('text_cnn_confusion.png')]=],
      },
      check = function(env)
        local a = env.test_accuracy
        assert(type(a) == 'number' and a >= 0 and a <= 1, 'test_accuracy in [0, 1]')
        assert(env.cm:sum():item() == #env.test.texts, 'the confusion matrix counts every test text')
      end,
    },

    ---------------------------------------------------------------- 13
    {
      title = {es = 'Qué ha aprendido cada filtro', en = 'What each filter has learned'},
      text = {
        es = [=[
¿Qué busca cada filtro? Se lo podemos preguntar a los datos: pasamos los textos de test por las tres primeras capas del modelo (Embedding, Conv1d y ReLU) y, para un filtro, buscamos las ventanas de tres palabras que más lo activan. Son justo las que el max pooling global escoge en esos textos. Entre corchetes, la clase del texto donde está cada una; un punto (·) es una posición de relleno.

Miramos los seis filtros con la respuesta más fuerte. Es habitual encontrar temas reconocibles (informática, política, o Star Trek, con «stardate» y los nombres de sus personajes), pero también pistas ajenas al tema: muchas citas llevan el nombre de su autor, y la red aprovecha cualquier cosa que separe las clases.]=],
        en = [=[
What is each filter looking for? We can ask the data: we pass the test texts through the model's first three layers (Embedding, Conv1d and ReLU) and, for a filter, look for the three-word windows that activate it most. They are exactly the ones global max pooling picks in those texts. In brackets, the class of the text each one comes from; a dot (·) is a padding position.

We look at the six filters with the strongest response. It is common to find recognisable topics (computing, politics, or Star Trek, with "stardate" and its characters' names), but also clues that have nothing to do with the topic: many quotes carry their author's name, and the network takes whatever tells the classes apart.]=],
      },
      code = {
        es = [=[
-- las salidas de Embedding -> Conv1d -> ReLU para todo el test: N x 64 x 198
acts = brasa.no_grad(function() return model[3](model[2](model[1](x_test))) end)
L = acts.shape[3]

-- las k ventanas de 3 palabras (distintas) que más activan el filtro f
function top_trigrams(f, k)
  local a = acts:select(2, f):contiguous():view(-1)   -- N * 198 respuestas
  local values, where = a:topk(10 * k)
  local out, seen = {}, {}
  for j = 1, values.shape[1] do
    local i = where[j] - 1
    local n, t = i // L + 1, i % L + 1               -- el texto y la posición de la ventana
    local words = {}
    for pos = t, t + 2 do
      local id = x_test[{n, pos}]
      words[#words + 1] = id == 0 and '·' or tok.index_word[id]
    end
    local s = table.concat(words, ' ')
    if not seen[s] and #out < k then
      seen[s] = true
      out[#out + 1] = ('%s [%s]'):format(s, classes[test.y[n]])
    end
  end
  return out
end

-- los 6 filtros con la respuesta más fuerte en todo el test
best = acts:max(3):max(1)
local _, strongest = best:topk(6)
for j = 1, 6 do
  local f = strongest[j]
  print(('filtro %2d: %s'):format(f, table.concat(top_trigrams(f, 3), ' | ')))
end]=],
        en = [=[
-- the outputs of Embedding -> Conv1d -> ReLU for the whole test set: N x 64 x 198
acts = brasa.no_grad(function() return model[3](model[2](model[1](x_test))) end)
L = acts.shape[3]

-- the k (distinct) three-word windows that activate filter f most
function top_trigrams(f, k)
  local a = acts:select(2, f):contiguous():view(-1)   -- N * 198 responses
  local values, where = a:topk(10 * k)
  local out, seen = {}, {}
  for j = 1, values.shape[1] do
    local i = where[j] - 1
    local n, t = i // L + 1, i % L + 1               -- the text and the window's position
    local words = {}
    for pos = t, t + 2 do
      local id = x_test[{n, pos}]
      words[#words + 1] = id == 0 and '·' or tok.index_word[id]
    end
    local s = table.concat(words, ' ')
    if not seen[s] and #out < k then
      seen[s] = true
      out[#out + 1] = ('%s [%s]'):format(s, classes[test.y[n]])
    end
  end
  return out
end

-- the 6 filters with the strongest response over the whole test set
best = acts:max(3):max(1)
local _, strongest = best:topk(6)
for j = 1, 6 do
  local f = strongest[j]
  print(('filter %2d: %s'):format(f, table.concat(top_trigrams(f, 3), ' | ')))
end]=],
      },
      check = function(env)
        assert(shape_is(env.acts, {#env.test.texts, 64, env.MAXLEN - 2}))
        local tri = env.top_trigrams(1, 2)
        assert(#tri >= 1 and tri[1]:match('^%S+ %S+ %S+ %[%a+%]$'), 'three words and a class')
      end,
    },

    ---------------------------------------------------------------- 14
    {
      title = {es = 'Pruébalo con tus frases', en = 'Try it on your own sentences'},
      text = {
        es = [=[
Para terminar, la red en acción: `predict_text` limpia un texto nuevo, lo convierte con el mismo `tok`, lo rellena hasta 200 y devuelve la clase más probable con su probabilidad. Prueba con tus propias frases (en inglés, como los textos con que aprendió), por ejemplo `predict_text('my program crashed again')`.

Compara las dos últimas frases: solo se diferencian en «stardate». En estos datos casi todas las citas de Star Trek terminan con una atribución como `-- Kirk, "A Private Little War", stardate 4211.8`, y es fácil que la red haya aprendido esa palabra en lugar de aquello de lo que habla Star Trek (el paso 13 enseña si algún filtro la detecta). Si esa palabra cambia la respuesta, la red ha encontrado un *atajo*: una pista que funciona en estos datos pero no dice nada del tema. Por eso conviene mirar qué aprende una red, y no solo cuánto acierta.

Desde aquí puedes seguir explorando: cambia `EMBED` (escribe `EMBED = 50`) y vuelve a ejecutar los pasos del 9 al 12 (g 9 e Intro), mira los pesos de la convolución en `model[2].weight`, construye en el REPL tu propio modelo con más filtros u otro `kernel_size`, o lee `help(nn.Conv1d)`.]=],
        en = [=[
To finish, the network at work: `predict_text` cleans a new text, converts it with the same `tok`, pads it to 200 and returns the most probable class with its probability. Try your own sentences (in English, like the texts it learned from), for example `predict_text('my program crashed again')`.

Compare the last two sentences: they differ only in "stardate". In this data nearly every Star Trek quote ends with an attribution such as `-- Kirk, "A Private Little War", stardate 4211.8`, and the network may well have learned that word rather than what Star Trek is about (step 13 shows whether some filter detects it). If that word changes the answer, the network has found a *shortcut*: a clue that works on this data but says nothing about the topic. That is why it pays to look at what a network learns, not only at how often it is right.

From here you can go on exploring: change `EMBED` (type `EMBED = 50`) and run steps 9 to 12 again (g 9, then Enter), look at the convolution's weights in `model[2].weight`, build your own model in the REPL with more filters or another `kernel_size`, or read `help(nn.Conv1d)`.]=],
      },
      code = {
        es = [=[
function predict_text(s)
  local seq = tok:texts_to_sequences({brasa.text.clean(s)})
  local x = brasa.text.pad_sequences(seq, {maxlen = MAXLEN})
  local prob = model:predict(x)[1]                 -- 8 probabilidades
  local k = prob:argmax():item()
  return classes[k], prob[k]
end

for _, s in ipairs{'the compiler crashed and the program lost all my files',
                   'the president and congress argued about the government budget',
                   'captain kirk and mr spock beam down to the planet',
                   'captain kirk and mr spock beam down to the planet, stardate 3012.4'} do
  local class, prob = predict_text(s)
  print(('%-67s -> %s (%.0f %%)'):format(s, class, 100 * prob))
end]=],
        en = [=[
function predict_text(s)
  local seq = tok:texts_to_sequences({brasa.text.clean(s)})
  local x = brasa.text.pad_sequences(seq, {maxlen = MAXLEN})
  local prob = model:predict(x)[1]                 -- 8 probabilities
  local k = prob:argmax():item()
  return classes[k], prob[k]
end

for _, s in ipairs{'the compiler crashed and the program lost all my files',
                   'the president and congress argued about the government budget',
                   'captain kirk and mr spock beam down to the planet',
                   'captain kirk and mr spock beam down to the planet, stardate 3012.4'} do
  local class, prob = predict_text(s)
  print(('%-67s -> %s (%.0f %%)'):format(s, class, 100 * prob))
end]=],
      },
      check = function(env)
        local class, prob = env.predict_text('my program crashed again')
        local known = false
        for _, name in ipairs(env.classes) do if name == class then known = true end end
        assert(known and prob > 0 and prob <= 1)
      end,
    },
  },
}
