-- ARGV: prefix, now - keep_resolved_for.
local P, before = ARGV[1], tonumber(ARGV[2])
-- endsAt <= the time of the change that resolved it, so this range holds every candidate.
local deleted = 0
for _, fp in ipairs(redis.call('ZRANGEBYSCORE', P .. 'resolved', '-inf', '(' .. ARGV[2])) do
  local key = P .. 'alert:' .. fp
  local r = redis.call('HMGET', key, 'state', 'changed_at', 'object_key', 'vendor')
  if r[1] == 'resolved' and tonumber(r[2]) < before then
    redis.call('DEL', key)
    redis.call('SREM', P .. 'object:' .. r[3], fp)
    redis.call('ZREM', P .. 'changes', fp)
    redis.call('ZREM', P .. 'resolved', fp)
    redis.call('ZREM', P .. 'resolved_lex', fp)
    redis.call('HINCRBY', P .. 'counts', r[4] .. '\nresolved', -1)
    deleted = deleted + 1
  end
end
if deleted > 0 then redis.call('DECRBY', P .. 'count', deleted) end
return deleted
