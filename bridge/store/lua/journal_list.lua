-- ARGV: prefix, below id (exclusive, '+inf' for the newest), page size. The page of records, newest first:
-- id, vendor, outcome, record, outcomes for each.
local P = ARGV[1]
local upper = ARGV[2]
if upper ~= '+inf' then upper = '(' .. upper end
local ids = redis.call('ZREVRANGEBYSCORE', P .. 'journal', upper, '-inf', 'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
for _, id in ipairs(ids) do
  local v = redis.call('HMGET', P .. 'journal:' .. id, 'vendor', 'outcome', 'record', 'outcomes')
  if v[1] then out[#out + 1] = {id, v[1], v[2], v[3], v[4] or ''} end
end
return out
