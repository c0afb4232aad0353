-- Shared by the scripts that delete alerts (and, through prelude.lua, by every writing script).
-- ``bytes`` counts what the alerts take (labels, annotations, generator URL) against the store's cap.

-- The stored bytes, counted once from the alerts if a store written before the counter existed lacks it.
local function stored_bytes(P)
  local value = redis.call('GET', P .. 'bytes')
  if value then return tonumber(value) end
  local total = 0
  for _, fp in ipairs(redis.call('ZRANGE', P .. 'changes', 0, -1)) do
    local key = P .. 'alert:' .. fp
    total = total + redis.call('HSTRLEN', key, 'labels') + redis.call('HSTRLEN', key, 'annotations')
      + redis.call('HSTRLEN', key, 'generator_url')
  end
  redis.call('SET', P .. 'bytes', string.format('%d', total))
  return total
end

-- Delete one alert and every index that names it; the bytes it took (0 if it was gone).
local function drop(P, fp)
  local key = P .. 'alert:' .. fp
  local r = redis.call('HMGET', key, 'state', 'object_key', 'vendor')
  if not r[1] then return 0 end
  local size = redis.call('HSTRLEN', key, 'labels') + redis.call('HSTRLEN', key, 'annotations')
    + redis.call('HSTRLEN', key, 'generator_url')
  redis.call('DEL', key)
  redis.call('SREM', P .. 'object:' .. r[2], fp)
  for _, index in ipairs({'changes', 'firing', 'heard', 'expiry', 'resolved', 'resolved_lex'}) do
    redis.call('ZREM', P .. index, fp)
  end
  redis.call('HINCRBY', P .. 'counts', r[3] .. '\n' .. r[1], -1)
  redis.call('DECR', P .. 'count')
  redis.call('DECRBY', P .. 'bytes', size)
  return size
end
