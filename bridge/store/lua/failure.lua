-- ARGV: prefix, target, now, the error (what the last failed POST or probe said).
local P, T = ARGV[1], ARGV[2]
if redis.call('HEXISTS', P .. 'targets', 'cursor:' .. T) == 0 then return 0 end
redis.call('HSET', P .. 'targets', 'up:' .. T, '0', 'error:' .. T, ARGV[4] or '', 'error_at:' .. T, ARGV[3] or '')
return 1
