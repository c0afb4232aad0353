-- ARGV: prefix, now, last heard ('' when there is no maximum firing age), the two reasons.
-- Appended to prelude.lua, whose locals and helpers it uses.
local due = redis.call('ZRANGEBYSCORE', P .. 'expiry', '-inf', NOW)
if ARGV[3] ~= '' then
  for _, fp in ipairs(redis.call('ZRANGEBYSCORE', P .. 'heard', '-inf', ARGV[3])) do due[#due + 1] = fp end
end
table.sort(due)
local expired = 0
for _, fp in ipairs(due) do
  local r = load(fp)
  if r and r.state == 'firing' and not dirty[fp] then
    local reason = ARGV[5]
    if r.expires_at ~= '' and num(r.expires_at) ~= 0 and num(r.expires_at) <= num(NOW) then reason = ARGV[4] end
    write(r, 'resolved', r.starts_at, NOW, smax(NOW, r.event_at),
          merge(r.annotations, cjson.encode({resolved_reason = reason})), '')
    expired = expired + 1
  end
end
flush()
return expired
