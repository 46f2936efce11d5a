-- brasa.text: text tools with Keras 2's semantics
-- (keras.preprocessing.text.Tokenizer, keras.preprocessing.sequence.pad_sequences).
--
--   local tok = brasa.text.Tokenizer{num_words = 25000, oov_token = '<OOV>'}
--   tok:fit_on_texts(texts)                     -- word_index, word_counts, index_word
--   local seqs = tok:texts_to_sequences(texts)  -- lists of 1-based ids (0 is padding)
--   local x = brasa.text.pad_sequences(seqs, {maxlen = 200})   -- N x 200 i64
--   local y1h = brasa.text.to_categorical(y, k)  -- 1-based labels -> N x k f32
--   local s = brasa.text.clean(' ¡Hola, XXXX Mundo 42! ')   --> 'hola mundo'
--
-- Pure Lua: the string library's gsub/gmatch do the per-character work in C
-- (10,000 short documents tokenise in a few tens of milliseconds; see
-- tests/lua/text_spec.lua). Documentation: lua/brasa/docs/text.lua.

local text = {}

---------------------------------------------------------------------------
-- UTF-8 aware lower case
---------------------------------------------------------------------------

local function utf8char(cp) return utf8.char(cp) end

-- Upper-case two-byte UTF-8 characters -> lower case: Latin-1 Supplement,
-- Latin Extended-A, Greek and Cyrillic (what Python's str.lower does for them).
local LOWER = {}
local function map(u, l) LOWER[utf8char(u)] = utf8char(l) end
for cp = 0xC0, 0xDE do if cp ~= 0xD7 then map(cp, cp + 0x20) end end   -- À..Þ (not ×)
for cp = 0x100, 0x137, 2 do map(cp, cp + 1) end                         -- Ā..Ķ
map(0x130, 0x69)                                                         -- İ -> i
for cp = 0x139, 0x147, 2 do map(cp, cp + 1) end                         -- Ĺ..Ň
for cp = 0x14A, 0x177, 2 do map(cp, cp + 1) end                         -- Ŋ..Ŷ
map(0x178, 0xFF)                                                         -- Ÿ -> ÿ
for cp = 0x179, 0x17D, 2 do map(cp, cp + 1) end                         -- Ź..Ž
for cp = 0x391, 0x3AB do if cp ~= 0x3A2 then map(cp, cp + 0x20) end end -- Greek Α..Ϋ
map(0x386, 0x3AC); map(0x388, 0x3AD); map(0x389, 0x3AE); map(0x38A, 0x3AF)
map(0x38C, 0x3CC); map(0x38E, 0x3CD); map(0x38F, 0x3CE)
for cp = 0x400, 0x40F do map(cp, cp + 0x50) end                         -- Cyrillic Ѐ..Џ
for cp = 0x410, 0x42F do map(cp, cp + 0x20) end                         -- А..Я

local LOWER_PAT = '[\xC3-\xD0][\x80-\xBF]'

--- lower(s): s in lower case, ASCII and the Latin, Greek and Cyrillic
-- letters of UTF-8 ('ÁÑ' -> 'áñ').
function text.lower(s)
  s = s:lower()
  if s:find('[\xC3-\xD0]') then s = s:gsub(LOWER_PAT, LOWER) end
  return s
end

---------------------------------------------------------------------------
-- Splitting into words (keras.preprocessing.text.text_to_word_sequence)
---------------------------------------------------------------------------

--- Keras's default filters, plus the Spanish ¿ and ¡. The apostrophe is not
-- one of them (as in Keras): "don't" stays one word.
text.DEFAULT_FILTERS = '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n¿¡'

-- The characters of s (UTF-8), in order.
local function chars(s)
  local t = {}
  for c in s:gmatch('[\0-\x7F\xC0-\xFF][\x80-\xBF]*') do t[#t + 1] = c end
  return t
end
text._chars = chars

-- A function replacing every character of filters with rep.
local function filterer(filters)
  local single, multi = {}, {}
  for _, c in ipairs(chars(filters)) do
    if #c == 1 then
      single[#single + 1] = c:match('%w') and c or '%' .. c
    else
      multi[#multi + 1] = c
    end
  end
  local class = #single > 0 and '[' .. table.concat(single) .. ']' or nil
  return function(s, rep)
    local r = rep:gsub('%%', '%%%%')
    if class then s = s:gsub(class, r) end
    for _, c in ipairs(multi) do
      if s:find(c, 1, true) then s = s:gsub(c:gsub('%p', '%%%0'), r) end
    end
    return s
  end
end
local filterers = {}
local function get_filterer(filters)
  local f = filterers[filters]
  if not f then f = filterer(filters); filterers[filters] = f end
  return f
end

-- The words of s split on sep (empty pieces dropped, as Keras does).
local function split_words(s, sep, out)
  out = out or {}
  if #sep == 1 then
    for w in s:gmatch('[^' .. (sep:match('%w') and sep or '%' .. sep) .. ']+') do out[#out + 1] = w end
  else
    local i = 1
    while true do
      local a, b = s:find(sep, i, true)
      local w = s:sub(i, (a or 0) - 1)
      if w ~= '' then out[#out + 1] = w end
      if not a then break end
      i = b + 1
    end
  end
  return out
end

--- text_to_word_sequence(s, opts?) -> list of words, as Keras: lower case
-- (opts.lower, true), the characters of opts.filters replaced by opts.split
-- (' '), then split on it, empty pieces dropped.
function text.text_to_word_sequence(s, opts)
  if type(s) ~= 'string' then error('text_to_word_sequence: a string expected, got a ' .. type(s), 2) end
  opts = opts or {}
  local split = opts.split or ' '
  if opts.lower ~= false then s = text.lower(s) end
  s = get_filterer(opts.filters or text.DEFAULT_FILTERS)(s, split)
  return split_words(s, split)
end

---------------------------------------------------------------------------
-- Tokenizer
---------------------------------------------------------------------------

local Tokenizer = {}
Tokenizer.__index = Tokenizer
Tokenizer.__name = 'brasa.text.Tokenizer'

--- Tokenizer{num_words =, filters =, lower = true, split = ' ', char_level = false,
-- oov_token = nil}: Keras 2's Tokenizer.
function text.Tokenizer(opts)
  opts = opts or {}
  if type(opts) ~= 'table' then error('Tokenizer: an options table expected', 2) end
  local nw = opts.num_words
  if nw ~= nil and (math.type(nw) ~= 'integer' and not (type(nw) == 'number' and nw == math.floor(nw))
                    or nw < 0) then
    error('Tokenizer: num_words must be a whole number >= 0 (or nil: every word)', 2)
  end
  if opts.split ~= nil and (type(opts.split) ~= 'string' or opts.split == '') then
    error('Tokenizer: split must be a non-empty string', 2)
  end
  if opts.filters ~= nil and type(opts.filters) ~= 'string' then
    error('Tokenizer: filters must be a string of characters', 2)
  end
  local self = setmetatable({
    num_words = nw and math.tointeger(nw) or nil,
    filters = opts.filters or text.DEFAULT_FILTERS,
    lower = opts.lower ~= false,
    split = opts.split or ' ',
    char_level = opts.char_level == true,
    oov_token = opts.oov_token,
    document_count = 0,
    word_counts = {},     -- word -> count
    word_docs = {},       -- word -> number of documents holding it
    word_index = {},      -- word -> id (1-based)
    index_word = {},      -- id -> word
    words = {},           -- the words in order of first appearance (Keras's OrderedDict)
  }, Tokenizer)
  return self
end

-- An iterator over the values of a list.
local function list_iter(t)
  local i = 0
  return function()
    i = i + 1
    return t[i]
  end
end

-- The inside of a pattern class matching the bytes of set (byte -> true),
-- runs written as ranges: Lua tests a class item by item, so a short class
-- is a fast one.
local SPECIAL = {[('%'):byte()] = true, [(']'):byte()] = true, [('-'):byte()] = true,
                 [('^'):byte()] = true}
local function byte_class(set)
  local out = {}
  local function one(b)
    local c = string.char(b)
    out[#out + 1] = (SPECIAL[b] or c:match('%w')) and (c:match('%w') and c or '%' .. c) or c
  end
  local b = 0
  while b < 256 do
    if set[b] then
      local e = b
      while e + 1 < 256 and set[e + 1] do e = e + 1 end
      local lo, hi = b, e
      while lo <= hi and SPECIAL[lo] do one(lo); lo = lo + 1 end
      local tail = {}
      while hi >= lo and SPECIAL[hi] do tail[#tail + 1] = hi; hi = hi - 1 end
      if hi - lo >= 2 then out[#out + 1] = string.char(lo) .. '-' .. string.char(hi)
      else for x = lo, hi do one(x) end end
      for i = #tail, 1, -1 do one(tail[i]) end
      b = e + 1
    else
      b = b + 1
    end
  end
  return table.concat(out)
end

-- The pattern matching one word: anything but the filters' one-byte
-- characters and a one-character split (nil where split is longer).
function Tokenizer:_word_pattern()
  local key = self.filters .. '\0' .. self.split
  if self._pat_key ~= key then
    self._pat_key = key
    self._pat = nil
    self._multi = {}
    if #self.split == 1 then
      local set = {}
      for _, c in ipairs(chars(self.filters .. self.split)) do
        if #c == 1 then set[c:byte()] = true
        else self._multi[#self._multi + 1] = c end
      end
      self._pat = '[^' .. byte_class(set) .. ']+'
    end
  end
  return self._pat
end

-- An iterator over the tokens of one text (a string, or a list of tokens
-- used as they are).
function Tokenizer:_tokens(t)
  if type(t) == 'table' then
    if not self.lower then return list_iter(t) end
    local out = {}
    for i, w in ipairs(t) do out[i] = text.lower(w) end
    return list_iter(out)
  end
  if type(t) ~= 'string' then error('Tokenizer: texts must be strings (or lists of tokens), got a ' .. type(t), 3) end
  if self.char_level then   -- Keras: no filters at the character level
    return (self.lower and text.lower(t) or t):gmatch('[\0-\x7F\xC0-\xFF][\x80-\xBF]*')
  end
  if self.lower then t = text.lower(t) end
  local pat = self:_word_pattern()
  if pat then
    -- the filters act as separators: one pass, after replacing the
    -- multi-byte filter characters (¿ ¡) present in t
    if t:find('[\x80-\xFF]') then
      for _, c in ipairs(self._multi) do
        if t:find(c, 1, true) then t = t:gsub(c, self.split == '%' and '%%' or self.split) end
      end
    end
    return t:gmatch(pat)
  end
  t = get_filterer(self.filters)(t, self.split)
  return list_iter(split_words(t, self.split))
end

local function check_list(list, who)
  if type(list) == 'string' then error(who .. ': a list of texts expected, got one string (wrap it: {s})', 3) end
  if type(list) ~= 'table' then error(who .. ': a list of texts expected, got a ' .. type(list), 3) end
end

--- tok:fit_on_texts(texts): counts the words and rebuilds word_index
-- (ids by descending count, ties by first appearance; the oov_token first).
function Tokenizer:fit_on_texts(texts)
  check_list(texts, 'fit_on_texts')
  local counts, docs, words = self.word_counts, self.word_docs, self.words
  local last = {}   -- word -> the last document counted in word_docs
  local nwords = #words
  for _, t in ipairs(texts) do
    local d = self.document_count + 1
    self.document_count = d
    for w in self:_tokens(t) do
      local c = counts[w]
      if c then
        counts[w] = c + 1
        if last[w] ~= d then last[w] = d; docs[w] = docs[w] + 1 end
      else
        counts[w] = 1; docs[w] = 1; last[w] = d
        nwords = nwords + 1; words[nwords] = w
      end
    end
  end
  -- a stable sort by descending count (Python's sort is stable)
  local order = {}
  for i, w in ipairs(words) do order[i] = i end
  table.sort(order, function(a, b)
    local ca, cb = counts[words[a]], counts[words[b]]
    if ca ~= cb then return ca > cb end
    return a < b
  end)
  local wi, iw = {}, {}
  local id = 0
  local function add(w)
    id = id + 1
    wi[w] = id    -- a repeated word keeps its last id, as Keras's dict(zip(...))
  end
  if self.oov_token ~= nil then add(self.oov_token) end
  for _, i in ipairs(order) do add(words[i]) end
  for w, i in pairs(wi) do iw[i] = w end
  self.word_index, self.index_word = wi, iw
  return self
end

--- tok:texts_to_sequences(texts) -> list of lists of ids. Words not in
-- word_index, or with an id >= num_words, map to the oov_token's id (or are
-- dropped when there is none).
function Tokenizer:texts_to_sequences(texts)
  check_list(texts, 'texts_to_sequences')
  local wi, nw = self.word_index, self.num_words
  if nw == 0 then nw = nil end
  local oov = self.oov_token ~= nil and wi[self.oov_token] or nil
  local out = {}
  for k, t in ipairs(texts) do
    local v, n = {}, 0
    for w in self:_tokens(t) do
      local i = wi[w]
      if i and nw and i >= nw then i = oov end
      if i == nil then i = oov end
      if i then n = n + 1; v[n] = i end
    end
    out[k] = v
  end
  return out
end

--- tok:sequences_to_texts(seqs) -> list of strings: the ids back to words,
-- joined by spaces (unknown ids dropped, or the oov_token where there is one).
function Tokenizer:sequences_to_texts(seqs)
  if type(seqs) ~= 'table' and not (type(seqs) == 'userdata') then
    error('sequences_to_texts: a list of id lists (or a 2-D tensor) expected', 2)
  end
  local brasa = require 'brasa'
  if brasa.is_tensor(seqs) then seqs = seqs:totable() end
  local iw, nw = self.index_word, self.num_words
  if nw == 0 then nw = nil end
  local oov = self.oov_token ~= nil and self.word_index[self.oov_token] or nil
  local out = {}
  for k, s in ipairs(seqs) do
    if brasa.is_tensor(s) then s = s:totable() end
    local v = {}
    for _, id in ipairs(s) do
      id = math.tointeger(id) or id
      local w = iw[id]
      if w ~= nil and nw and id >= nw then w = oov and iw[oov] or nil
      elseif w == nil and oov then w = iw[oov] end
      if w ~= nil then v[#v + 1] = w end
    end
    out[k] = table.concat(v, ' ')
  end
  return out
end

--- tok:get_config() -> a table of the options and the fitted state.
function Tokenizer:get_config()
  return {num_words = self.num_words, filters = self.filters, lower = self.lower, split = self.split,
          char_level = self.char_level, oov_token = self.oov_token,
          document_count = self.document_count, vocabulary_size = #self.words}
end

function Tokenizer:__tostring()
  local n = 0
  for _ in pairs(self.index_word) do n = n + 1 end
  return ('Tokenizer(num_words = %s, %d words in word_index, %d documents%s)'):format(
    tostring(self.num_words), n, self.document_count,
    self.oov_token and (', oov_token = ' .. tostring(self.oov_token)) or '')
end

text._Tokenizer = Tokenizer

---------------------------------------------------------------------------
-- pad_sequences, to_categorical
---------------------------------------------------------------------------

--- pad_sequences(seqs, opts?) -> N x maxlen i64 tensor, as Keras:
-- opts.maxlen (nil: the longest), padding ('pre' | 'post'), truncating
-- ('pre': drop from the start | 'post'), value (0), dtype ('i64').
function text.pad_sequences(seqs, opts)
  local brasa = require 'brasa'
  if brasa.is_tensor(seqs) then seqs = seqs:totable() end
  if type(seqs) ~= 'table' then error('pad_sequences: a list of sequences (lists of ids) expected', 2) end
  opts = opts or {}
  local padding, truncating = opts.padding or 'pre', opts.truncating or 'pre'
  if padding ~= 'pre' and padding ~= 'post' then
    error("pad_sequences: padding must be 'pre' or 'post', got " .. tostring(padding), 2)
  end
  if truncating ~= 'pre' and truncating ~= 'post' then
    error("pad_sequences: truncating must be 'pre' or 'post', got " .. tostring(truncating), 2)
  end
  local value = opts.value or 0
  local n = #seqs
  local maxlen = opts.maxlen
  for i = 1, n do
    if brasa.is_tensor(seqs[i]) then seqs[i] = seqs[i]:totable() end
    if type(seqs[i]) ~= 'table' then error(('pad_sequences: sequence %d is a %s, not a list of ids'):format(i, type(seqs[i])), 2) end
  end
  if maxlen == nil then
    maxlen = 0
    for i = 1, n do if #seqs[i] > maxlen then maxlen = #seqs[i] end end
  elseif math.type(maxlen) ~= 'integer' and not (type(maxlen) == 'number' and maxlen == math.floor(maxlen)) or maxlen < 0 then
    error('pad_sequences: maxlen must be a whole number >= 0', 2)
  end
  maxlen = math.tointeger(maxlen)
  local flat = {}
  for i = 1, n * maxlen do flat[i] = value end
  for i = 1, n do
    local s = seqs[i]
    local len = #s
    local a = 1                    -- first element of s kept
    local m = len
    if len > maxlen then
      m = maxlen
      if truncating == 'pre' then a = len - maxlen + 1 end
    end
    local base = (i - 1) * maxlen + (padding == 'pre' and (maxlen - m) or 0)
    for j = 0, m - 1 do flat[base + j + 1] = s[a + j] end
  end
  local t = brasa.tensor(flat, {dtype = opts.dtype or 'i64'})
  return t:view(n, maxlen)
end

--- to_categorical(y, num_classes?) -> N x K f32 one-hot rows of 1-based labels
-- (brasa.data.to_categorical / one_hot).
function text.to_categorical(y, num_classes)
  return require('brasa.data').to_categorical(y, num_classes)
end

---------------------------------------------------------------------------
-- Cleaning (the course's `preprocesado`)
---------------------------------------------------------------------------

-- UTF-8 characters kept by clean(): the letters of the lowering table (both
-- cases), ß, and the other Latin letters U+00DF..U+024F (not ÷).
local KEEP = {}
for u, l in pairs(LOWER) do KEEP[u] = true; KEEP[l] = true end
for cp = 0xDF, 0x24F do if cp ~= 0xF7 then KEEP[utf8char(cp)] = true end end
for cp = 0x3AC, 0x3CE do KEEP[utf8char(cp)] = true end
for cp = 0x430, 0x45F do KEEP[utf8char(cp)] = true end

local function keep_letter(c) return KEEP[c] and c or '' end

--- clean(s) -> s in lower case with masked tokens (runs of two or more x,
-- any case: 'XXXX', 'XX/XX/XXXX') removed, digits and symbols removed and
-- white space collapsed to single spaces (trimmed).
function text.clean(s)
  if type(s) ~= 'string' then error('clean: a string expected, got a ' .. type(s), 2) end
  s = text.lower(s)
  s = s:gsub('%f[%a]xx+%f[%A]', ' ')             -- masked tokens
  s = s:gsub('%s', ' ')                            -- any white space -> a space
  s = s:gsub('[^ a-z\x80-\xFF]', '')               -- ASCII symbols, punctuation, digits
  if s:find('[\x80-\xFF]') then
    -- non-letters outside ASCII (¿ ¡ « » ...) and stray continuation bytes
    s = s:gsub('[\x80-\xFF][\x80-\xBF]*', keep_letter)
  end
  s = s:gsub(' +', ' ')
  return (s:gsub('^ ', ''):gsub(' $', ''))
end

require('brasa.docs.text').bind(text)

return text
