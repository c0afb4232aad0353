-- Shared by every writing script. ARGV[1] is the key prefix, ARGV[2] the caller's ``now``.
-- Appended to drop.lua, whose helpers it uses.
local P, NOW = ARGV[1], ARGV[2]
local FIELDS = {'fingerprint', 'object_key', 'vendor', 'labels', 'annotations', 'generator_url', 'state',
                'starts_at', 'ends_at', 'event_at', 'expires_at', 'seq', 'changed_at'}
local num = tonumber
local seq = num(redis.call('GET', P .. 'seq') or '0')
local first_seq = seq
local records, order, dirty = {}, {}, {}
local BYTES = stored_bytes(P)
local GROWTH = 0  -- bytes the writes of this script add (flushed to ``bytes``)

local function size_of(r) return #r.labels + #r.annotations + #r.generator_url end

-- Python's min(a, b) and max(a, b) on float strings: the first argument wins a tie.
local function smin(a, b) if num(b) < num(a) then return b end return a end
local function smax(a, b) if num(b) > num(a) then return b end return a end
local function clamp(v, lo, hi) return smax(lo, smin(v, hi)) end

local function load(fp)
  if records[fp] == nil then
    local values = redis.call('HMGET', P .. 'alert:' .. fp, unpack(FIELDS))
    local r = false
    if values[1] then
      r = {}
      for i, name in ipairs(FIELDS) do r[name] = values[i] end
      r.stored_state = r.state
      r.size = size_of(r)
    end
    records[fp] = r
  end
  return records[fp] or nil
end

local function touch(r)
  if not dirty[r.fingerprint] then dirty[r.fingerprint] = true; order[#order + 1] = r end
end

local function merge(base, extra)
  local t = cjson.decode(base)
  for k, v in pairs(cjson.decode(extra)) do t[k] = v end
  return cjson.encode(t)
end

-- A new state and a new sequence number: queued for every target.
local function write(r, state, starts, ends, event, annotations, expires)
  seq = seq + 1
  r.state, r.starts_at, r.ends_at, r.event_at, r.annotations = state, starts, ends, event, annotations
  if state == 'firing' then r.expires_at = expires else r.expires_at = '' end
  r.seq, r.changed_at = string.format('%d', seq), NOW
  local size = size_of(r)
  GROWTH = GROWTH + size - r.size
  r.size = size
  touch(r)
end

local function save(r)
  local fp, args = r.fingerprint, {}
  for _, name in ipairs(FIELDS) do args[#args + 1] = name; args[#args + 1] = r[name] end
  redis.call('HSET', P .. 'alert:' .. fp, unpack(args))
  redis.call('SADD', P .. 'object:' .. r.object_key, fp)
  redis.call('ZADD', P .. 'changes', r.seq, fp)
  if r.state == 'firing' then
    redis.call('ZADD', P .. 'firing', 0, fp)
    redis.call('ZADD', P .. 'heard', r.event_at, fp)
    redis.call('ZREM', P .. 'resolved', fp)
    redis.call('ZREM', P .. 'resolved_lex', fp)
    if r.expires_at ~= '' then redis.call('ZADD', P .. 'expiry', r.expires_at, fp)
    else redis.call('ZREM', P .. 'expiry', fp) end
  else
    redis.call('ZREM', P .. 'firing', fp)
    redis.call('ZREM', P .. 'heard', fp)
    redis.call('ZREM', P .. 'expiry', fp)
    redis.call('ZADD', P .. 'resolved', r.ends_at, fp)
    redis.call('ZADD', P .. 'resolved_lex', 0, fp)
  end
  if r.stored_state ~= r.state then
    if r.stored_state then redis.call('HINCRBY', P .. 'counts', r.vendor .. '\n' .. r.stored_state, -1) end
    redis.call('HINCRBY', P .. 'counts', r.vendor .. '\n' .. r.state, 1)
  end
end

local function flush()
  for _, r in ipairs(order) do save(r) end
  if seq ~= first_seq then redis.call('SET', P .. 'seq', string.format('%d', seq)) end
  if GROWTH ~= 0 then redis.call('INCRBY', P .. 'bytes', string.format('%d', GROWTH)) end
end
