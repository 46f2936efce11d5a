-- Helpers for plot_spec.lua: reading back what gnuplot drew.
--
-- PNG files are decoded here in plain Lua (a small inflate after RFC 1951,
-- in the manner of zlib's puff.c, and PNG's five scanline filters), so the
-- tests can count pixels without image libraries. X window dumps (xwd) are
-- read the same way. Both give an image {width, height, pixels} where
-- pixels[i] is one pixel as a 3-byte RGB string, row by row.

local H = {}

------------------------------------------------------------------ inflate

local LBASE = {3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43,
  51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258}
local LEXT = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4,
  4, 4, 5, 5, 5, 5, 0}
local DBASE = {1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257,
  385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577}
local DEXT = {0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9,
  10, 10, 11, 11, 12, 12, 13, 13}
local CLORDER = {16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15}

-- A canonical Huffman code from code lengths (lengths[0 .. n-1]).
local function huffman(lengths, n)
  local count, offs, symbol = {}, {}, {}
  for len = 0, 15 do count[len] = 0 end
  for sym = 0, n - 1 do
    local len = lengths[sym] or 0
    count[len] = count[len] + 1
  end
  offs[1] = 0
  for len = 1, 14 do offs[len + 1] = offs[len] + count[len] end
  for sym = 0, n - 1 do
    local len = lengths[sym] or 0
    if len ~= 0 then
      symbol[offs[len]] = sym
      offs[len] = offs[len] + 1
    end
  end
  return {count = count, symbol = symbol}
end

--- The bytes (a list of integers) of a raw deflate stream.
function H.inflate(s, pos)
  pos = pos or 1
  local out, n = {}, 0
  local bitbuf, bitcnt = 0, 0
  local byte = string.byte

  local function bits(need)
    while bitcnt < need do
      local b = byte(s, pos)
      if not b then error('inflate: data ends early') end
      bitbuf = bitbuf | (b << bitcnt)
      pos = pos + 1
      bitcnt = bitcnt + 8
    end
    local v = bitbuf & ((1 << need) - 1)
    bitbuf = bitbuf >> need
    bitcnt = bitcnt - need
    return v
  end

  local function decode(h)
    local code, first, index = 0, 0, 0
    local count = h.count
    for len = 1, 15 do
      code = code | bits(1)
      local c = count[len]
      if code - c < first then return h.symbol[index + code - first] end
      index = index + c
      first = (first + c) << 1
      code = code << 1
    end
    error('inflate: bad code')
  end

  local function codes(lencode, distcode)
    while true do
      local sym = decode(lencode)
      if sym < 256 then
        n = n + 1
        out[n] = sym
      elseif sym == 256 then
        return
      else
        sym = sym - 256
        local len = LBASE[sym] + bits(LEXT[sym])
        local dsym = decode(distcode) + 1
        local dist = DBASE[dsym] + bits(DEXT[dsym])
        for _ = 1, len do
          n = n + 1
          out[n] = out[n - dist]
        end
      end
    end
  end

  local fixed_len, fixed_dist
  repeat
    local last = bits(1)
    local kind = bits(2)
    if kind == 0 then -- stored
      bitbuf, bitcnt = 0, 0
      local len = byte(s, pos) | (byte(s, pos + 1) << 8)
      pos = pos + 4
      for i = 0, len - 1 do
        n = n + 1
        out[n] = byte(s, pos + i)
      end
      pos = pos + len
    elseif kind == 1 then -- fixed codes
      if not fixed_len then
        local l = {}
        for i = 0, 143 do l[i] = 8 end
        for i = 144, 255 do l[i] = 9 end
        for i = 256, 279 do l[i] = 7 end
        for i = 280, 287 do l[i] = 8 end
        fixed_len = huffman(l, 288)
        local d = {}
        for i = 0, 29 do d[i] = 5 end
        fixed_dist = huffman(d, 30)
      end
      codes(fixed_len, fixed_dist)
    elseif kind == 2 then -- dynamic codes
      local nlen, ndist, ncode = bits(5) + 257, bits(5) + 1, bits(4) + 4
      local lengths = {}
      for i = 1, 19 do lengths[CLORDER[i]] = i <= ncode and bits(3) or 0 end
      local lencode = huffman(lengths, 19)
      lengths = {}
      local i = 0
      while i < nlen + ndist do
        local sym = decode(lencode)
        if sym < 16 then
          lengths[i] = sym
          i = i + 1
        else
          local len, rep = 0, 0
          if sym == 16 then
            len, rep = lengths[i - 1], 3 + bits(2)
          elseif sym == 17 then
            rep = 3 + bits(3)
          else
            rep = 11 + bits(7)
          end
          for _ = 1, rep do
            lengths[i] = len
            i = i + 1
          end
        end
      end
      local dl = {}
      for k = 0, ndist - 1 do dl[k] = lengths[nlen + k] end
      codes(huffman(lengths, nlen), huffman(dl, ndist))
    else
      error('inflate: bad block type')
    end
  until last == 1
  return out
end

---------------------------------------------------------------------- PNG

local CHANNELS = {[0] = 1, [2] = 3, [3] = 1, [4] = 2, [6] = 4}

--- The header of a PNG file: {width, height, depth, color_type}, or nil and
-- a reason.
function H.png_header(bytes)
  if bytes:sub(1, 8) ~= '\137PNG\r\n\26\n' then return nil, 'not a PNG signature' end
  if bytes:sub(13, 16) ~= 'IHDR' then return nil, 'no IHDR chunk first' end
  local w, h, depth, ctype = string.unpack('>I4I4BB', bytes, 17)
  return {width = w, height = h, depth = depth, color_type = ctype}
end

--- A decoded PNG (8-bit depth, any colour type): {width, height, pixels},
-- pixels as RGB strings (alpha is dropped).
function H.png_decode(bytes)
  local hdr = assert(H.png_header(bytes))
  assert(hdr.depth == 8, 'only 8-bit PNG is read here')
  local bpp = assert(CHANNELS[hdr.color_type], 'unknown colour type')
  local pos, idat, palette = 9, {}, nil
  while pos <= #bytes do
    local len, kind = string.unpack('>I4c4', bytes, pos)
    local body = bytes:sub(pos + 8, pos + 7 + len)
    if kind == 'IDAT' then idat[#idat + 1] = body end
    if kind == 'PLTE' then palette = body end
    pos = pos + 12 + len
  end
  local raw = H.inflate(table.concat(idat), 3) -- after the 2-byte zlib header
  local w, h = hdr.width, hdr.height
  local stride = w * bpp
  local prev, cur = {}, {}
  for i = 1, stride do prev[i] = 0 end
  local pixels, char = {}, string.char
  local k = 1
  for y = 1, h do
    local filter = raw[k]
    k = k + 1
    for i = 1, stride do
      local x = raw[k]
      k = k + 1
      local a = i > bpp and cur[i - bpp] or 0
      local b = prev[i]
      if filter == 1 then
        x = x + a
      elseif filter == 2 then
        x = x + b
      elseif filter == 3 then
        x = x + (a + b) // 2
      elseif filter == 4 then
        local c = i > bpp and prev[i - bpp] or 0
        local p = a + b - c
        local pa, pb, pc = math.abs(p - a), math.abs(p - b), math.abs(p - c)
        if pa <= pb and pa <= pc then x = x + a
        elseif pb <= pc then x = x + b
        else x = x + c end
      end
      cur[i] = x & 255
    end
    for px = 0, w - 1 do
      local o = px * bpp
      local s
      if palette then
        local e = cur[o + 1] * 3
        s = palette:sub(e + 1, e + 3)
      elseif bpp <= 2 then -- grey (and alpha)
        s = char(cur[o + 1], cur[o + 1], cur[o + 1])
      else -- RGB (and alpha)
        s = char(cur[o + 1], cur[o + 2], cur[o + 3])
      end
      pixels[(y - 1) * w + px + 1] = s
    end
    prev, cur = cur, prev
  end
  return {width = w, height = h, pixels = pixels}
end

---------------------------------------------------------------------- XWD

--- A decoded X window dump (xwd -root): {width, height, pixels}, pixels
-- as RGB strings (true-colour visuals, whole-byte pixels).
function H.xwd_decode(bytes)
  local f = {string.unpack('>' .. string.rep('I4', 25), bytes)}
  local header_size, format, w, h = f[1], f[3], f[5], f[6]
  local byte_order, bits_per_pixel, bytes_per_line = f[8], f[12], f[13]
  local masks, ncolors = {f[15], f[16], f[17]}, f[20]
  assert(format == 2, 'xwd: ZPixmap format expected')
  assert(bits_per_pixel % 8 == 0, 'xwd: whole-byte pixels expected')
  local bpp = bits_per_pixel // 8
  local shifts = {}
  for i, m in ipairs(masks) do
    local shift = 0
    while m ~= 0 and m & 1 == 0 do m, shift = m >> 1, shift + 1 end
    shifts[i] = shift
  end
  local fmt = (byte_order == 0 and '<I' or '>I') .. bpp
  local start = header_size + ncolors * 12 + 1
  local pixels, char, unpack = {}, string.char, string.unpack
  for y = 0, h - 1 do
    local row = start + y * bytes_per_line
    for x = 0, w - 1 do
      local v = unpack(fmt, bytes, row + x * bpp)
      pixels[y * w + x + 1] = char((v & masks[1]) >> shifts[1] & 255,
        (v & masks[2]) >> shifts[2] & 255, (v & masks[3]) >> shifts[3] & 255)
    end
  end
  return {width = w, height = h, pixels = pixels}
end

----------------------------------------------------------------- measures

--- Colour statistics of an image: the number of distinct pixel values, the
-- most common value, and how many pixels differ from it.
function H.colours(img)
  local counts, distinct = {}, 0
  for _, p in ipairs(img.pixels) do
    local c = counts[p]
    if not c then distinct = distinct + 1 end
    counts[p] = (c or 0) + 1
  end
  local top, topn = nil, -1
  for p, c in pairs(counts) do
    if c > topn then top, topn = p, c end
  end
  return {distinct = distinct, background = top, others = #img.pixels - topn, counts = counts}
end

--- How many pixels are not among the `k` most common colours.
function H.beyond_top(img, k)
  local stats = H.colours(img)
  local list = {}
  for _, c in pairs(stats.counts) do list[#list + 1] = c end
  table.sort(list, function(a, b) return a > b end)
  local rest = #img.pixels
  for i = 1, math.min(k, #list) do rest = rest - list[i] end
  return rest
end

--- How many pixels are within `tol` (per channel) of the colour {r, g, b}.
function H.count_colour(img, rgb, tol)
  tol = tol or 0
  local n = 0
  local near = {} -- pixel string -> true/false, memoised
  for _, p in ipairs(img.pixels) do
    local hit = near[p]
    if hit == nil then
      local r, g, b = p:byte(1, 3)
      hit = math.abs(r - rgb[1]) <= tol and math.abs(g - rgb[2]) <= tol
        and math.abs(b - rgb[3]) <= tol
      near[p] = hit
    end
    if hit then n = n + 1 end
  end
  return n
end

--- The whole contents of a file, or nil.
function H.read(path)
  local f = io.open(path, 'rb')
  if not f then return nil end
  local s = f:read('a')
  f:close()
  return s
end

--- The output of a shell command.
function H.shell(cmd)
  -- Under the sanitizer build, LD_PRELOAD carries ASan's runtime: keep it
  -- away from the programs a test starts (Xvfb, xwd, gnuplot).
  if os.getenv('LD_PRELOAD') then
    cmd = "env -u LD_PRELOAD sh -c '" .. cmd:gsub("'", "'\\''") .. "'"   -- single quotes: no expansion here
  end
  local p = assert(io.popen(cmd, 'r'))
  local s = p:read('a')
  p:close()
  return s
end

--- True when a program is on the PATH.
function H.have(program)
  return os.execute('command -v ' .. program .. ' >/dev/null 2>&1') == true
end

--- Wall-clock milliseconds (through date(1): Lua has no wall clock finer
-- than a second).
function H.now_ms()
  return tonumber(H.shell('date +%s%N')) / 1e6
end

--- Sleeps for s seconds.
function H.sleep(s)
  os.execute('sleep ' .. s)
end

--- A fresh, empty temporary directory.
function H.tmpdir()
  local name = os.tmpname()
  os.remove(name)
  assert(os.execute("mkdir -p '" .. name .. "'"))
  return name
end

--- Removes a directory and what it holds.
function H.rmtree(dir)
  os.execute("rm -rf '" .. dir .. "'")
end

return H
