local P, T = ARGV[1], ARGV[2]
if redis.call('HEXISTS', P .. 'targets', 'cursor:' .. T) == 0 then return 0 end
redis.call('HSET', P .. 'targets', 'up:' .. T, '0')
return 1
