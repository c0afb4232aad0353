local P = ARGV[1]
local seq = redis.call('GET', P .. 'seq') or '0'
for i = 2, #ARGV do redis.call('HSETNX', P .. 'targets', 'cursor:' .. ARGV[i], seq) end
return 0
