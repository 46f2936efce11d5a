-- brasa.text (Keras 2's Tokenizer and pad_sequences semantics), clean(),
-- brasa.data.fortunes, and the speed of tokenising 10,000 documents.
-- The expected values are Keras's, worked out by hand from its source
-- (keras_preprocessing/text.py and sequence.py).

local brasa = require 'brasa'
local doc = require 'brasa.doc'
local examples = require 'doc_examples'
local text = brasa.text

local FORTUNES_MSG = 'needs the Debian packages fortunes and fortunes-min (apt-get install fortunes fortunes-min)'
local function have_fortunes()
  local f = io.open('/usr/share/games/fortunes/computers', 'rb')
  if f then f:close() return true end
  return false
end

local function rows(t) return t:totable() end

describe('brasa.text.Tokenizer', function()
  local corpus = {'The cat sat on the mat.', 'The dog ate my homework!', 'cat'}

  it('orders word_index by descending count, ties by first appearance, from 1', function()
    local tok = text.Tokenizer()
    tok:fit_on_texts(corpus)
    local expect = {the = 1, cat = 2, sat = 3, on = 4, mat = 5, dog = 6, ate = 7, my = 8, homework = 9}
    assert.are.same(expect, tok.word_index)
    assert.are.equal(3, tok.word_counts.the)
    assert.are.equal(2, tok.word_counts.cat)
    assert.are.equal(2, tok.word_docs.the)
    assert.are.equal(3, tok.document_count)
    assert.are.equal('homework', tok.index_word[9])
    assert.are.same({'the', 'cat', 'sat', 'on', 'mat', 'dog', 'ate', 'my', 'homework'}, tok.words)
    assert.are.same({{1, 2, 7, 1}}, tok:texts_to_sequences({'the cat ate the fish'}))
  end)

  it('keeps the num_words - 1 most frequent ids', function()
    local tok = text.Tokenizer{num_words = 5}
    tok:fit_on_texts(corpus)
    assert.are.equal(9, tok.word_index.homework)   -- word_index keeps every word
    assert.are.same({{1, 2, 1, 4}}, tok:texts_to_sequences({'the cat ate the fish on mat'}))
    assert.are.same({'the cat'}, tok:sequences_to_texts({{1, 2, 5, 99, 0}}))
  end)

  it('puts the oov_token at 1 and maps unknown and dropped words to it', function()
    local tok = text.Tokenizer{num_words = 5, oov_token = '<unk>'}
    tok:fit_on_texts(corpus)
    assert.are.equal(1, tok.word_index['<unk>'])
    assert.are.equal(2, tok.word_index.the)
    assert.are.equal(10, tok.word_index.homework)
    assert.are.same({{2, 3, 1, 2, 1, 1, 1}}, tok:texts_to_sequences({'the cat ate the fish on mat'}))
    assert.are.same({'the cat <unk> <unk> <unk>'}, tok:sequences_to_texts({{2, 3, 1, 5, 99}}))
    local all = text.Tokenizer{oov_token = '<unk>'}
    all:fit_on_texts(corpus)
    assert.are.same({{2, 3, 8, 2, 1}}, all:texts_to_sequences({'the cat ate the fish'}))
  end)

  it('lowers UTF-8 capitals and filters ¿ and ¡ (Spanish)', function()
    local tok = text.Tokenizer()
    tok:fit_on_texts({'¿Qué ÉPOCA? ¡ÑANDÚ, Über-alles!', 'ÁRBOL árbol'})
    assert.are.same({['qué'] = 2, ['época'] = 3, ['ñandú'] = 4, ['über'] = 5, alles = 6, ['árbol'] = 1},
                    tok.word_index)
    assert.are.equal('árbol ñandú', tok:sequences_to_texts({{1, 4}})[1])
    assert.are.equal('àéíóúñçüœšž', text.lower('ÀÉÍÓÚÑÇÜŒŠŽ'))
    assert.are.equal('straße ×', text.lower('STRAßE ×'))
  end)

  it('keeps the apostrophe and case when asked, and splits on split', function()
    local tok = text.Tokenizer{lower = false, filters = ',', split = '|'}
    tok:fit_on_texts({"Don't|stop,Me||now"})
    assert.are.same({["Don't"] = 1, stop = 2, Me = 3, now = 4}, tok.word_index)
    assert.are.same({"it's", 'a', 'b', 'c'}, text.text_to_word_sequence("It's  a-b, C!"))
  end)

  it('counts UTF-8 characters, unfiltered, with char_level', function()
    local tok = text.Tokenizer{char_level = true}
    tok:fit_on_texts({'abÁ a'})
    assert.are.same({a = 1, b = 2, ['á'] = 3, [' '] = 4}, tok.word_index)
    assert.are.same({{3, 1}}, tok:texts_to_sequences({'Áa'}))
  end)

  it('accepts lists of tokens, refits cumulatively and rejects bad input', function()
    local tok = text.Tokenizer()
    tok:fit_on_texts({{'B', 'a'}})
    tok:fit_on_texts({'a'})
    assert.are.same({a = 1, b = 2}, tok.word_index)
    assert.has_error(function() tok:fit_on_texts('a b') end)
    assert.has_error(function() text.Tokenizer{num_words = 2.5} end)
    assert.has_error(function() text.Tokenizer{split = ''} end)
  end)
end)

describe('brasa.text.pad_sequences', function()
  local seqs = {{1, 2, 3, 4}, {5}, {}}

  it('pads to the longest by default, before the ids', function()
    local x = text.pad_sequences(seqs)
    assert.are.equal('i64', x.dtype)
    assert.are.same({3, 4}, {x.shape[1], x.shape[2]})
    assert.are.same({{1, 2, 3, 4}, {0, 0, 0, 5}, {0, 0, 0, 0}}, rows(x))
  end)

  it('truncates and pads pre or post', function()
    assert.are.same({{3, 4}, {0, 5}, {0, 0}}, rows(text.pad_sequences(seqs, {maxlen = 2})))
    assert.are.same({{1, 2}, {5, 0}, {0, 0}},
                    rows(text.pad_sequences(seqs, {maxlen = 2, padding = 'post', truncating = 'post'})))
    assert.are.same({{1, 2}, {0, 5}, {0, 0}}, rows(text.pad_sequences(seqs, {maxlen = 2, truncating = 'post'})))
    assert.are.same({{3, 4}, {5, 0}, {0, 0}}, rows(text.pad_sequences(seqs, {maxlen = 2, padding = 'post'})))
    assert.are.same({{2, 3, 4}, {5, -1, -1}, {-1, -1, -1}},
                    rows(text.pad_sequences(seqs, {maxlen = 3, padding = 'post', value = -1})))
    assert.has_error(function() text.pad_sequences(seqs, {padding = 'middle'}) end)
    assert.has_error(function() text.pad_sequences({1, 2}) end)
  end)

  it('to_categorical: one-hot rows of 1-based labels', function()
    assert.are.same({{1, 0, 0}, {0, 0, 1}}, text.to_categorical({1, 3}, 3):totable())
  end)
end)

describe('brasa.text.clean', function()
  it("cleans as the course's preprocesado", function()
    assert.are.equal('hola mundo qué tal', text.clean('Hola MUNDO, ¿qué tal? 123'))
    assert.are.equal('charged on', text.clean('Charged $XXXX.00 on XX/XX/2019'))
    assert.are.equal('exxon xxl', text.clean('Exxon xXx xxl'))
    assert.are.equal('dont stop now', text.clean("don't\tstop\n\n NOW!!"))
    assert.are.equal('', text.clean(' 12 %% XXXX '))
  end)
end)

describe('brasa.data.fortunes', function()
  if not have_fortunes() then
    pending(FORTUNES_MSG)
    it('names the Debian package when the files are missing', function()
      local ok, err = pcall(brasa.data.fortunes)
      assert.is_false(ok)
      assert.truthy(err:find('fortunes-min', 1, true))
    end)
    return
  end

  local COUNTS = {computers = 1051, politics = 703, science = 625, art = 465, startrek = 227,
                  law = 206, food = 198, sports = 147}

  it('reads the default categories with their record counts', function()
    local all = brasa.data.fortunes({split = false})
    assert.are.same({'computers', 'politics', 'science', 'art', 'startrek', 'law', 'food', 'sports'}, all.classes)
    local c = {}
    for _, v in ipairs(all.y:totable()) do c[v] = (c[v] or 0) + 1 end
    for k, name in ipairs(all.classes) do assert.are.equal(COUNTS[name], c[k], name) end
    assert.are.equal(3622, #all.texts)
    for _, t in ipairs(all.texts) do assert.is_nil(t:find('\n%%\n')); assert.truthy(#t > 0) end
  end)

  it('splits 80/20, stratified, reproducibly for a seed', function()
    local tr, te = brasa.data.fortunes({seed = 7})
    assert.are.equal(3622, #tr.texts + #te.texts)
    assert.are.equal(#tr.texts, tr.y.shape[1])
    assert.are.equal(#te.texts, te.y.shape[1])
    assert.truthy(math.abs(#te.texts - 0.2 * 3622) <= 1)
    local c = {}
    for _, v in ipairs(te.y:totable()) do c[v] = (c[v] or 0) + 1 end
    for k, name in ipairs(te.classes) do
      assert(math.abs(c[k] - 0.2 * COUNTS[name]) <= 1, name .. ': ' .. c[k] .. ' in test')
    end
    local tr2, te2 = brasa.data.fortunes({seed = 7})
    assert.are.same(te.texts, te2.texts)
    assert.are.same(tr.y:totable(), tr2.y:totable())
    local _, te3 = brasa.data.fortunes({seed = 8})
    assert.are_not.same(te.texts, te3.texts)
  end)

  it('reads chosen categories and names a missing one', function()
    local tr, te = brasa.data.fortunes({categories = {'food', 'law'}, test_size = 0.5, seed = 1})
    assert.are.same({'food', 'law'}, tr.classes)
    assert.are.equal(198 + 206, #tr.texts + #te.texts)
    local ok, err = pcall(brasa.data.fortunes, {categories = {'food', 'no-such-category'}})
    assert.is_false(ok)
    assert.truthy(err:find('no-such-category', 1, true))
    ok, err = pcall(brasa.data.fortunes, {dir = '/no/such/dir'})
    assert.truthy(err:find('fortunes-min', 1, true))
  end)
end)

describe('tokenising speed', function()
  it('tokenises 10,000 short documents well under a second', function()
    local docs = {}
    if have_fortunes() then
      local all = brasa.data.fortunes({split = false})
      for i = 1, 10000 do docs[i] = all.texts[(i - 1) % #all.texts + 1] end
    else
      local words = {'El', 'gato', 'negro,', 'duerme', 'sobre', 'la', 'CAMA.', '¿Por', 'qué?', 'Ñandú!'}
      for i = 1, 10000 do
        local w = {}
        for j = 1, 40 do w[j] = words[(i * 7 + j * 3) % #words + 1] .. (j % 9 == 0 and tostring(i) or '') end
        docs[i] = table.concat(w, ' ')
      end
    end
    local bytes = 0
    for _, d in ipairs(docs) do bytes = bytes + #d end
    local t0 = os.clock()
    local tok = text.Tokenizer{num_words = 25000, oov_token = '<OOV>'}
    tok:fit_on_texts(docs)
    local t1 = os.clock()
    local seqs = tok:texts_to_sequences(docs)
    local t2 = os.clock()
    local x = text.pad_sequences(seqs, {maxlen = 200})
    local t3 = os.clock()
    print(('\n[text speed] 10,000 documents (%.0f kB): fit_on_texts %.3f s, texts_to_sequences %.3f s, '
           .. 'pad_sequences(maxlen = 200) %.3f s'):format(bytes / 1000, t1 - t0, t2 - t1, t3 - t2))
    assert.are.equal(10000, x.shape[1])
    assert(t2 - t0 < 0.5, ('fit + texts_to_sequences took %.3f s'):format(t2 - t0))
  end)
end)

describe('brasa.text documentation', function()
  local entries = require('brasa.docs.text').entries

  it('has an entry for every public function, bound to it', function()
    local missing = {}
    for k, v in pairs(text) do
      if type(v) == 'function' and k:sub(1, 1) ~= '_' then
        if not doc.get('brasa.text.' .. k) or not doc.get(v) then missing[#missing + 1] = k end
      end
    end
    for k, v in pairs(text._Tokenizer) do
      if type(v) == 'function' and k:sub(1, 1) ~= '_' then
        if not doc.get('Tokenizer:' .. k) or not doc.get(v) then missing[#missing + 1] = 'Tokenizer:' .. k end
      end
    end
    assert.truthy(doc.get(brasa.data.fortunes))
    table.sort(missing)
    assert(#missing == 0, 'without a bound entry: ' .. table.concat(missing, ', '))
  end)

  for _, e in ipairs(entries) do
    local entry = {name = e[1], example = e.example}
    it('runs the example of ' .. entry.name .. ' and shows what it prints', function()
      local ok, err, printed = examples.run(entry, {brasa = brasa})
      assert(ok, tostring(err))
      local wrong = examples.compare(entry, printed, {})
      assert(#wrong == 0, table.concat(wrong, '\n'))
    end)
  end
end)
