-- ARGV: prefix, target, limit.
-- Appended to read_prelude.lua, whose locals and helpers it uses.
local cursor = redis.call('HGET', P .. 'targets', 'cursor:' .. ARGV[2])
if not cursor then return {} end
return read(redis.call('ZRANGEBYSCORE', P .. 'changes', '(' .. cursor, '+inf', 'LIMIT', 0, ARGV[3]))
