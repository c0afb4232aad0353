-- The recent-callbacks journal (bridge/store/journal.py): ``journal`` (every id), ``journal_refused`` (ids of
-- refused callbacks), sorted sets scored by id; ``journal:<id>`` hashes; ``journal_bytes`` and
-- ``journal_refused_bytes`` count what the records take. JCAPS: max records, max bytes, and the refused share
-- of each.

local function journal_drop(P, id)
  local key = P .. 'journal:' .. id
  local size = tonumber(redis.call('HGET', key, 'size') or '0') or 0
  redis.call('DEL', key)
  redis.call('ZREM', P .. 'journal', id)
  redis.call('DECRBY', P .. 'journal_bytes', size)
  if redis.call('ZREM', P .. 'journal_refused', id) == 1 then
    redis.call('DECRBY', P .. 'journal_refused_bytes', size)
  end
end

local function journal_over(P, set, bytes, max_count, max_bytes)
  return redis.call('ZCARD', P .. set) > max_count or tonumber(redis.call('GET', P .. bytes) or '0') > max_bytes
end

-- Past a cap, evict the oldest down to a little below it (bridge/store/journal.py, slack).
local function journal_trim(P, set, bytes, max_count, max_bytes)
  if not journal_over(P, set, bytes, max_count, max_bytes) then return end
  local low_count = max_count - math.floor(max_count / 32)
  local low_bytes = max_bytes - math.floor(max_bytes / 32)
  while journal_over(P, set, bytes, low_count, low_bytes) do
    local oldest = redis.call('ZRANGE', P .. set, 0, 0)[1]
    if not oldest then return end
    journal_drop(P, oldest)
  end
end

-- ``refused``: the callback was answered anything but 2xx (CallbackRecord.refused).
local function journal_add(P, JCAPS, vendor, outcome, refused, record, outcomes)
  local id = redis.call('INCR', P .. 'journal_seq')
  local size = #record + #outcomes
  redis.call('HSET', P .. 'journal:' .. id, 'vendor', vendor, 'outcome', outcome, 'record', record,
             'outcomes', outcomes, 'size', size)
  redis.call('ZADD', P .. 'journal', id, id)
  redis.call('INCRBY', P .. 'journal_bytes', size)
  if refused then
    redis.call('ZADD', P .. 'journal_refused', id, id)
    redis.call('INCRBY', P .. 'journal_refused_bytes', size)
    journal_trim(P, 'journal_refused', 'journal_refused_bytes', JCAPS[3], JCAPS[4])
  end
  journal_trim(P, 'journal', 'journal_bytes', JCAPS[1], JCAPS[2])
end
