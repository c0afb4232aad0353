-- ARGV: prefix, now - keep_resolved_for.
-- Appended to drop.lua, whose helpers it uses.
local P, before = ARGV[1], tonumber(ARGV[2])
stored_bytes(P)
-- endsAt <= the time of the change that resolved it, so this range holds every candidate.
local deleted = 0
for _, fp in ipairs(redis.call('ZRANGEBYSCORE', P .. 'resolved', '-inf', '(' .. ARGV[2])) do
  local r = redis.call('HMGET', P .. 'alert:' .. fp, 'state', 'changed_at')
  if r[1] == 'resolved' and tonumber(r[2]) < before then
    drop(P, fp)
    deleted = deleted + 1
  end
end
return deleted
