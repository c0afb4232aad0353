-- ARGV: prefix, now, max_alerts, max_bytes, the journal's 4 caps, the callback's vendor and journal record
-- ('' for none), then 13 values per alert (see RedisStore._alert_args).
-- Appended to prelude.lua and journal_prelude.lua, whose locals and helpers it uses.
local max_alerts, max_bytes = num(ARGV[3]), num(ARGV[4])
local JCAPS = {num(ARGV[5]), num(ARGV[6]), num(ARGV[7]), num(ARGV[8])}
local FIRST_ALERT = 11
local count = num(redis.call('GET', P .. 'count') or '0')
local added = 0
local objects = {}

local function rows(key)
  if not objects[key] then
    objects[key] = redis.call('SMEMBERS', P .. 'object:' .. key)
    table.sort(objects[key])
  end
  local out = {}
  for _, fp in ipairs(objects[key]) do
    local r = load(fp)
    if r then out[#out + 1] = r end
  end
  return out
end

local function same_map(x, y)
  if x == y then return true end
  local a, b = cjson.decode(x), cjson.decode(y)
  for k, v in pairs(a) do if b[k] ~= v then return false end end
  for k in pairs(b) do if a[k] == nil then return false end end
  return true
end

local function same_time(x, y)
  if x == '' or y == '' then return x == y end
  return num(x) == num(y)
end

-- At the store's caps: 'full', or for an ``optional`` row (a recovery never seen firing) 'unchanged', not kept.
local function upsert(a, existing, starts, ends, optional)
  local r = existing
  local grows = #a.labels + #a.annotations + #a.generator_url - (existing and existing.size or 0)
  if (max_alerts > 0 and not existing and count >= max_alerts)
      or (max_bytes > 0 and grows > 0 and BYTES + GROWTH + grows > max_bytes) then
    if optional then return 'unchanged' end
    return 'full'
  end
  if not r then
    count = count + 1
    r = {fingerprint = a.fingerprint, object_key = a.object_key, vendor = a.vendor, labels = a.labels, size = 0}
    records[a.fingerprint] = r
    table.insert(objects[a.object_key], a.fingerprint)
    added = added + 1
  elseif existing.state == a.state and same_map(existing.annotations, a.annotations)
      and same_time(existing.starts_at, starts) and same_time(existing.ends_at, ends)
      and existing.generator_url == a.generator_url then
    existing.event_at = smax(a.event_at, existing.event_at)
    existing.expires_at = a.expires_at
    touch(existing)
    return 'unchanged'
  end
  r.generator_url = a.generator_url
  write(r, a.state, starts, ends, a.event_at, a.annotations, a.expires_at)
  return 'changed'
end

-- Fire, unless the store knows something newer of this object (a recovery, a level change).
local function fire(a, existing, rs)
  local event = num(a.event_at)
  for _, r in ipairs(rs) do
    local seen = num(r.event_at)
    if seen > event or (r.state == 'resolved' and seen >= event) then return 'stale' end
  end
  local starts = a.starts_at
  if existing and existing.state == 'firing' then starts = smin(starts, existing.starts_at) end
  for _, r in ipairs(rs) do
    if r.state == 'firing' and r.fingerprint ~= a.fingerprint then
      write(r, 'resolved', r.starts_at, clamp(a.event_at, r.starts_at, NOW), a.event_at, r.annotations, '')
    end
  end
  return upsert(a, existing, starts, '')
end

-- Resolve whichever alert of this object fires, whatever its severity.
local function resolve(a, rs)
  local event = num(a.event_at)
  local firing, ending = 0, {}
  for _, r in ipairs(rs) do
    if r.state == 'firing' then
      firing = firing + 1
      if num(r.event_at) <= event then ending[#ending + 1] = r end
    end
  end
  local ends = a.ends_at
  if ends == '' or num(ends) == 0 then ends = NOW end
  for _, r in ipairs(ending) do
    write(r, 'resolved', r.starts_at, clamp(ends, r.starts_at, NOW), a.event_at,
          merge(r.annotations, a.annotations), '')
  end
  if #ending > 0 then return 'changed' end
  if firing > 0 then return 'stale' end  -- only a newer occurrence fires; this recovery is for an older one
  if a.resolve_only == '1' then return 'unchanged' end  -- dropped by the rules: nothing may reach Alertmanager
  if #rs > 0 then
    for _, r in ipairs(rs) do r.event_at = smax(r.event_at, a.event_at); touch(r) end
    return 'unchanged'
  end
  -- A recovery for an alert never seen: record it, so that a late firing retry cannot fire it, but only
  -- while there is room: it must never cost a real alarm its place.
  return upsert(a, load(a.fingerprint), a.starts_at, clamp(ends, a.starts_at, NOW), true)
end

local ALERT = {'fingerprint', 'object_key', 'vendor', 'labels', 'annotations', 'generator_url', 'state',
               'starts_at', 'ends_at', 'event_at', 'expires_at', 'resolve_only', 'former_key'}
local incoming = {}
for i = FIRST_ALERT, #ARGV, #ALERT do
  local a = {}
  for j, name in ipairs(ALERT) do a[name] = ARGV[i + j - 1] end
  incoming[#incoming + 1] = a
end

-- Near the caps, evict resolved alerts of other objects: delivered to every target first, then the rest,
-- oldest first (see bridge/store/sqlite_capacity.py, make_room, for why).
-- An alert that updates a stored fingerprint takes no new row and only its growth in bytes: a repeated
-- firing callback at the cap evicts nothing. Rows of the callback's fingerprints are never evicted for it.
local function make_room()
  if max_alerts <= 0 and max_bytes <= 0 then return end
  local need_rows, need_bytes = -max_alerts, BYTES - max_bytes
  local counted = {}
  for _, a in ipairs(incoming) do
    local size = #a.labels + #a.annotations + #a.generator_url
    local stored = counted[a.fingerprint]
    if stored == nil then
      local r = redis.call('HMGET', P .. 'alert:' .. a.fingerprint, 'labels', 'annotations', 'generator_url')
      stored = false
      if r[1] then stored = #r[1] + #(r[2] or '') + #(r[3] or '') end
      if not stored then need_rows = need_rows + 1 end
      counted[a.fingerprint] = stored
    end
    need_bytes = need_bytes + math.max(0, size - (stored or 0))
  end
  if max_alerts > 0 then need_rows = need_rows + count else need_rows = 0 end
  if max_bytes <= 0 then need_bytes = 0 end
  if need_rows <= 0 and need_bytes <= 0 then return end
  local keep = {}
  for _, a in ipairs(incoming) do
    keep[a.object_key] = true
    if a.former_key ~= '' then keep[a.former_key] = true end
  end
  local delivered = seq
  local targets = redis.call('HGETALL', P .. 'targets')
  for i = 1, #targets, 2 do
    if string.sub(targets[i], 1, 7) == 'cursor:' then delivered = math.min(delivered, num(targets[i + 1])) end
  end
  local evicted = 0
  for pass = 1, 2 do
    local start = 0
    while need_rows > 0 or need_bytes > 0 do
      local page = redis.call('ZRANGE', P .. 'resolved', start, start + 499)
      if #page == 0 then break end
      start = start + #page
      for _, fp in ipairs(page) do
        local r = redis.call('HMGET', P .. 'alert:' .. fp, 'object_key', 'seq')
        if r[1] and not keep[r[1]] and counted[fp] == nil and (num(r[2]) <= delivered) == (pass == 1)
            and (need_rows > 0 or need_bytes > 0) then
          local size = drop(P, fp)
          start = start - 1
          count, BYTES, evicted = count - 1, BYTES - size, evicted + 1
          need_rows, need_bytes = need_rows - 1, need_bytes - size
        end
      end
    end
  end
  return evicted
end
local evicted = make_room() or 0

local outcomes = {}
for _, a in ipairs(incoming) do
  local rs = rows(a.object_key)
  if a.former_key ~= '' then  -- stored by an older version under every label: still this object's
    for _, r in ipairs(rows(a.former_key)) do rs[#rs + 1] = r end
  end
  local outcome
  if a.state == 'firing' and a.resolve_only ~= '1' then
    outcome = fire(a, load(a.fingerprint), rs)
  else
    outcome = resolve(a, rs)
  end
  if outcome == 'full' then return {'full', evicted} end  -- nothing written yet but the evictions
  outcomes[#outcomes + 1] = outcome
end
flush()
if added > 0 then redis.call('INCRBY', P .. 'count', added) end
if ARGV[10] ~= '' then journal_add(P, JCAPS, ARGV[9], 'accepted', false, ARGV[10],
                                  table.concat(outcomes, ',')) end
outcomes[#outcomes + 1] = evicted
return outcomes
