-- brasa.docs.text: help entries of brasa.text and brasa.data.fortunes (brasa.doc).
--
-- Loaded with the other documentation (lua/brasa/docs.lua); the functions
-- are bound to their entries when brasa.text (M.bind) and brasa.data
-- (M.bind_data, from lua/brasa/data/fortunes.lua) load. Examples follow
-- docs/tensor.lua's conventions (`print(expr)  --> shown`);
-- tests/lua/text_spec.lua runs every one of them.

local doc = require 'brasa.doc'

local M = {}

local list = {}
local function entry(name, sig, summary, text, example, see)
  list[#list + 1] = {name, sig, summary, text = text, example = example, see = see}
end

entry('brasa.text.Tokenizer',
  "brasa.text.Tokenizer{num_words =, filters =, lower = true, split = ' ', char_level = false, oov_token =} -> tokenizer",
  "A word tokenizer with Keras 2's semantics: fit_on_texts builds word_index, texts_to_sequences maps texts to ids.",
  [=[
Keras's keras.preprocessing.text.Tokenizer. Fields after fit_on_texts:
word_index (word -> id), index_word (id -> word), word_counts (word ->
count), word_docs (word -> documents holding it), words (the words in order
of first appearance), document_count.

Ids are 1-based and ordered by descending count, ties by first appearance;
0 is left for padding. With oov_token, the token takes id 1 and the words
follow from 2. num_words keeps the num_words - 1 most frequent ids (ids
below num_words; with an oov_token that is num_words - 2 words):
texts_to_sequences maps the others to the oov id, or drops them when there
is no oov_token. word_index always holds every word seen.

Each text is lowered (lower = true; UTF-8 aware for Latin, Greek and
Cyrillic letters: 'Á' -> 'á'), every character of filters is replaced by
split, and the text is split on it, empty pieces dropped. filters defaults
to Keras's set !"#$%&()*+,-./:;<=>?@[\]^_`{|}~ with tab and newline, plus
¿ and ¡ (brasa.text.DEFAULT_FILTERS); the apostrophe is kept. With
char_level = true every UTF-8 character is a token and, as in Keras, filters
do not apply. A text given as a list of strings is used as its tokens.]=],
  [=[
local tok = brasa.text.Tokenizer{num_words = 3}
tok:fit_on_texts({'el gato y el perro', 'El PERRO'})
print(tok.word_index.el, tok.word_index.perro, tok.word_index.gato)  --> 1 2 3
print(tok.word_counts.el)  --> 3
print(table.concat(tok:texts_to_sequences({'el gato ladra'})[1], ' '))  --> 1]=],
  {'Tokenizer:fit_on_texts', 'brasa.text.pad_sequences'})

entry('Tokenizer:fit_on_texts', 'tok:fit_on_texts(texts) -> tok',
  'Counts the words of a list of texts and rebuilds word_index (ids by descending count, ties by first appearance).',
  [=[
May be called again: counts add up and word_index is rebuilt from all of
them.]=],
  [=[
local tok = brasa.text.Tokenizer{oov_token = '<OOV>'}
tok:fit_on_texts({'b a', 'a c b'})
print(tok.word_index['<OOV>'], tok.word_index.b, tok.word_index.a, tok.word_index.c)  --> 1 2 3 4
print(tok.index_word[2], tok.document_count)  --> b 2]=])

entry('Tokenizer:texts_to_sequences', 'tok:texts_to_sequences(texts) -> {{ids...}, ...}',
  'The texts as lists of word ids; unknown words (and ids >= num_words) become the oov id or are dropped.',
  nil,
  [=[
local tok = brasa.text.Tokenizer{num_words = 3, oov_token = '?'}
tok:fit_on_texts({'uno dos dos tres tres tres'})
local s = tok:texts_to_sequences({'tres dos uno cuatro'})[1]
print(table.concat(s, ' '))  --> 2 1 1 1]=])

entry('Tokenizer:sequences_to_texts', 'tok:sequences_to_texts(seqs) -> {strings...}',
  'Lists of ids (or the rows of a 2-D tensor) back to texts, words joined by spaces; unknown ids and padding are dropped.',
  nil,
  [=[
local tok = brasa.text.Tokenizer()
tok:fit_on_texts({'¡Hola, Ñandú! hola'})
print(tok:sequences_to_texts({{2, 1, 0, 9}})[1])  --> ñandú hola]=])

entry('Tokenizer:get_config', 'tok:get_config() -> table',
  "The tokenizer's options, its document count and vocabulary size.",
  nil,
  [=[
local tok = brasa.text.Tokenizer{num_words = 100}
tok:fit_on_texts({'a b c'})
local c = tok:get_config()
print(c.num_words, c.lower, c.vocabulary_size)  --> 100 true 3]=])

entry('brasa.text.pad_sequences', 'brasa.text.pad_sequences(seqs, opts?) -> N x maxlen i64 tensor',
  "Lists of ids padded or truncated to one length, as Keras's pad_sequences.",
  [=[
opts: maxlen (nil: the longest sequence), padding ('pre', the default: the
value goes before the ids; 'post': after), truncating ('pre', the default:
longer sequences lose their first ids; 'post': their last), value (0),
dtype ('i64').]=],
  [=[
local x = brasa.text.pad_sequences({{1, 2, 3}, {4}}, {maxlen = 2})
print(x[1][1], x[1][2], x[2][1], x[2][2])  --> 2 3 0 4
local y = brasa.text.pad_sequences({{1, 2, 3}, {4}}, {maxlen = 2, padding = 'post', truncating = 'post'})
print(y[1][1], y[1][2], y[2][1], y[2][2])  --> 1 2 4 0]=])

entry('brasa.text.to_categorical', 'brasa.text.to_categorical(y, num_classes?) -> N x K f32',
  'One-hot rows of 1-based labels (a tensor or a list): brasa.data.to_categorical.',
  nil,
  [=[
local y = brasa.text.to_categorical({1, 3}, 3)
print(y.shape[1], y.shape[2], y[2][3])  --> 2 3 1.0]=])

entry('brasa.text.clean', 'brasa.text.clean(s) -> string',
  "Cleans a text as the course's `preprocesado`: lower case, masked XXXX tokens, symbols and digits removed, spaces collapsed.",
  [=[
Masked tokens are runs of two or more x (any case) standing on their own or
between non-letters ('XXXX', 'XX/XX/XXXX', '$XXXX.00'); words holding x
('Exxon', 'xxl') stay. Punctuation, symbols and digits are deleted, not
replaced by spaces (as in the course: "don't" becomes dont); letters with
accents (á, ñ, ü, ...) are kept; any white space becomes one space, trimmed.]=],
  [=[
print(brasa.text.clean('  ¿Cobro de $XXXX.00 el XX/XX/2019?  ¡NO autorizado! '))  --> cobro de el no autorizado]=])

entry('brasa.text.lower', 'brasa.text.lower(s) -> string',
  'Lower case, UTF-8 aware: ASCII and the Latin, Greek and Cyrillic capitals.',
  nil,
  [=[
print(brasa.text.lower('ÁRBOL Ñandú ÜBER'))  --> árbol ñandú über]=])

entry('brasa.text.text_to_word_sequence', 'brasa.text.text_to_word_sequence(s, opts?) -> {words...}',
  "A text as a list of words, as Keras's text_to_word_sequence (opts: filters, lower, split).",
  nil,
  [=[
print(table.concat(brasa.text.text_to_word_sequence("It's  a-b, C!"), '|'))  --> it's|a|b|c]=])

entry('brasa.data.fortunes', 'brasa.data.fortunes(opts?) -> train, test',
  'The Debian fortune-cookie files as labelled texts: {texts, y = i64 1..K, classes}, a seeded stratified 80/20 split.',
  [=[
Reads /usr/share/games/fortunes/<category> (Debian packages fortunes and
fortunes-min: apt-get install fortunes fortunes-min): records are separated
by a line holding only %, the label is the file name. opts: categories (a
list of file names), dir, test_size (0.2), seed (123), split (false: one
table of all the records).

The default categories, chosen for topics a reader tells apart and enough
records (Debian 12): computers 1051, politics 703, science 625, art 465,
startrek 227, law 206, food 198, sports 147: 3622 texts
(require('brasa.data.fortunes').fortunes_default_categories).]=],
  [=[
local ok, train, test = pcall(brasa.data.fortunes, {categories = {'food', 'law'}, seed = 1})
if ok then
  print(#train.texts + #test.texts, train.classes[2], train.y.shape[1] == #train.texts)
else
  print(train)   -- the message names the Debian packages to install
end]=])

doc.addall(list)

--- Binds the functions of brasa.text (and the Tokenizer's methods) to their entries.
function M.bind(text)
  for _, e in ipairs(list) do
    local short = e[1]:match('^brasa%.text%.([%w_]+)$')
    if short and text[short] ~= nil then doc.bind(text[short], e[1]) end
    local m = e[1]:match('^Tokenizer:([%w_]+)$')
    if m and text._Tokenizer and text._Tokenizer[m] then doc.bind(text._Tokenizer[m], e[1]) end
  end
end

--- Binds brasa.data.fortunes.
function M.bind_data(fortunes)
  doc.bind(fortunes, 'brasa.data.fortunes')
end

M.entries = list
return M
