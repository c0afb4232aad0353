local P = ARGV[1]
local FIELDS = {'fingerprint', 'object_key', 'vendor', 'labels', 'annotations', 'generator_url', 'state',
                'starts_at', 'ends_at', 'event_at', 'expires_at', 'seq', 'changed_at'}
local function read(fps)
  local out = {}
  for _, fp in ipairs(fps) do
    local values = redis.call('HMGET', P .. 'alert:' .. fp, unpack(FIELDS))
    if values[1] then out[#out + 1] = values end
  end
  return out
end
