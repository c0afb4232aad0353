-- ARGV: prefix, target names. Per target: name, last success, up, backlog, time of the oldest change, cursor.
local P = ARGV[1]
local targets = {}
for i = 2, #ARGV do
  local t = ARGV[i]
  local values = redis.call('HMGET', P .. 'targets', 'cursor:' .. t, 'success:' .. t, 'up:' .. t)
  if values[1] then
    local after = '(' .. values[1]
    local oldest = redis.call('ZRANGEBYSCORE', P .. 'changes', after, '+inf', 'LIMIT', 0, 1)
    local oldest_at = ''
    if oldest[1] then oldest_at = redis.call('HGET', P .. 'alert:' .. oldest[1], 'changed_at') or '' end
    targets[#targets + 1] = {t, values[2] or '', values[3] or '',
                             redis.call('ZCOUNT', P .. 'changes', after, '+inf'), oldest_at, values[1]}
  end
end
return {redis.call('HGETALL', P .. 'counts'), targets, redis.call('GET', P .. 'bytes') or '0'}
