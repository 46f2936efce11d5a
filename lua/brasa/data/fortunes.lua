-- brasa.data.fortunes: the Debian fortune-cookie files as a labelled text
-- data set (records separated by a line holding only `%`; the label is the
-- file name).
--
--   local train, test = brasa.data.fortunes()            -- the 8 default categories
--   -- train.texts: list of strings; train.y: i64 1..K; train.classes: names
--   local tr, te = brasa.data.fortunes({categories = {'computers', 'science'}, seed = 1})
--
-- Default categories (records in Debian 12's fortunes / fortunes-min):
-- computers 1051, politics 703, science 625, art 465, startrek 227,
-- law 206, food 198, sports 147 = 3622 texts. Chosen for topics that a
-- reader can tell apart (no catch-alls such as cookie, people, definitions,
-- miscellaneous, wisdom or platitudes), each with about 150 records or more.

local DIR = '/usr/share/games/fortunes'

local DEFAULT = {'computers', 'politics', 'science', 'art', 'startrek', 'law', 'food', 'sports'}

local PACKAGE_HELP = 'install the Debian packages fortunes and fortunes-min ' ..
  '(sudo apt-get install fortunes fortunes-min, or run tools/setup.sh)'

local M = {}

--- The default categories of brasa.data.fortunes.
M.fortunes_default_categories = DEFAULT
M.fortunes_dir = DIR

-- The records of one fortune file: text between lines that hold only '%',
-- trailing white space trimmed, empty records dropped.
local function read_records(path)
  local f = io.open(path, 'rb')
  if not f then return nil end
  local s = f:read('a')
  f:close()
  s = s:gsub('\r\n', '\n')
  local out = {}
  local function add(r)
    r = r:gsub('^%s+', ''):gsub('%s+$', '')
    if r ~= '' then out[#out + 1] = r end
  end
  local i = 1
  s = '\n' .. s
  while true do
    local a, b = s:find('\n%%[ \t]*\n', i)
    if not a then add(s:sub(i)); break end
    add(s:sub(i, a))
    i = b   -- keep the newline: a following '%' line still matches
  end
  return out
end
M._fortune_records = read_records

--- brasa.data.fortunes(opts?) -> train, test: {texts, y = i64 1..K, classes}.
-- opts: categories (names of files in opts.dir, default the 8 above), dir
-- (/usr/share/games/fortunes), test_size (0.2), seed (123), split (true;
-- false: one table of all records, in file order).
function M.fortunes(opts)
  opts = opts or {}
  if type(opts) ~= 'table' then error('fortunes: an options table expected', 2) end
  local brasa = require 'brasa'
  local dir = opts.dir or DIR
  local cats = opts.categories or DEFAULT
  if type(cats) ~= 'table' or #cats == 0 then error('fortunes: categories must be a non-empty list of names', 2) end
  local texts, labels, classes = {}, {}, {}
  local missing = {}
  for k, name in ipairs(cats) do
    if type(name) ~= 'string' or name:find('/', 1, true) then
      error('fortunes: category ' .. k .. ' must be a file name (a string without /)', 2)
    end
    local recs = read_records(dir .. '/' .. name)
    if not recs then
      missing[#missing + 1] = name
    else
      classes[k] = name
      for _, r in ipairs(recs) do
        texts[#texts + 1] = r
        labels[#labels + 1] = k
      end
    end
  end
  if #missing > 0 then
    if #missing < #cats then
      error(('fortunes: no category %s in %s (the files there are the names to use); '
             .. 'other categories come with fortunes-off and the language packages'):format(
             table.concat(missing, ', '), dir), 2)
    end
    error(('fortunes: %s/%s not found: %s'):format(dir, missing[1], PACKAGE_HELP), 2)
  end
  local y = brasa.tensor(labels, {dtype = 'i64'})
  if opts.split == false then
    return {texts = texts, y = y, classes = classes}
  end
  local idx = {}
  for i = 1, #texts do idx[i] = i end
  local data = require 'brasa.data'
  local tr, te = data.train_test_split({y = y, index = brasa.tensor(idx, {dtype = 'i64'})},
    {test_size = opts.test_size or 0.2, seed = opts.seed or 123, stratify = true})
  local function pick(part)
    local t = {}
    for i, v in ipairs(part.index:totable()) do t[i] = texts[v] end
    return {texts = t, y = part.y, classes = classes, index = part.index}
  end
  return pick(tr), pick(te)
end

require('brasa.docs.text').bind_data(M.fortunes)

return M
