-- bench/peer.lua: the driver side of the benchmarks against PyTorch
-- (bench_text_cnn, bench_train), loaded with dofile from beside them. Each
-- run is a worker process (brasa or PyTorch) whose output ends with one
-- line `RESULT key=value ...`; `epochs` holds comma-separated seconds.

local M = {}

--- M.shell_quote(s) -> s quoted for /bin/sh.
function M.shell_quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

--- M.parse_result(text, who) -> {epochs = {...}, key = number or string, ...}
-- from text's RESULT line; an error naming `who` with the text when none.
function M.parse_result(text, who)
  local line = text:match('RESULT ([^\n]*)')
  if not line then error(who .. ' gave no result:\n' .. text, 0) end
  local r = {}
  for k, v in line:gmatch('(%w[%w_]*)=(%S+)') do
    if k == 'epochs' then
      r.epochs = {}
      for x in v:gmatch('[^,]+') do r.epochs[#r.epochs + 1] = tonumber(x) end
    else
      r[k] = tonumber(v) or v
    end
  end
  return r
end

--- M.run(cmd, who) -> the RESULT of running cmd (stdout and stderr read).
function M.run(cmd, who)
  local p = io.popen(cmd .. ' 2>&1')
  local out = p:read('a')
  p:close()
  return M.parse_result(out, who)
end

return M
