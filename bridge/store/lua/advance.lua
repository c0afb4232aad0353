-- ARGV: prefix, target, seq, now.
local P, T = ARGV[1], ARGV[2]
local cursor = redis.call('HGET', P .. 'targets', 'cursor:' .. T)
if not cursor then return 0 end
if tonumber(ARGV[3]) > tonumber(cursor) then redis.call('HSET', P .. 'targets', 'cursor:' .. T, ARGV[3]) end
redis.call('HSET', P .. 'targets', 'success:' .. T, ARGV[4], 'up:' .. T, '1')
return 1
