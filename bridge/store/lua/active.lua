-- ARGV: prefix, after, limit, now - resolved_for. Firing and recently resolved alerts after ``after``,
-- at most ``limit`` of each, by fingerprint; the caller merges the two lists. Resolved ones are scanned in
-- fingerprint order, no further than the last firing one of a full page: a sweep reads each once, rather
-- than every recently resolved alert on every page.
-- Appended to read_prelude.lua, whose locals and helpers it uses.
local after = '-'
if ARGV[2] ~= '' then after = '(' .. ARGV[2] end
local limit, since = tonumber(ARGV[3]), tonumber(ARGV[4])
local firing = redis.call('ZRANGEBYLEX', P .. 'firing', after, '+', 'LIMIT', 0, limit)
local upto = '+'
if #firing == limit then upto = '[' .. firing[#firing] end
local resolved, from = {}, after
while #resolved < limit do
  local chunk = redis.call('ZRANGEBYLEX', P .. 'resolved_lex', from, upto, 'LIMIT', 0, limit)
  for _, fp in ipairs(chunk) do
    local ends = redis.call('ZSCORE', P .. 'resolved', fp)
    if ends and tonumber(ends) > since and #resolved < limit then resolved[#resolved + 1] = fp end
  end
  if #chunk < limit then break end
  from = '(' .. chunk[#chunk]
end
return {read(firing), read(resolved)}
