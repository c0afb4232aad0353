-- The recent-callbacks journal (bridge/store/journal.py): ``journal`` (every id), ``journal_refused`` (ids of
-- refused callbacks), sorted sets scored by id; ``journal:<id>`` hashes; ``journal_bytes`` and
-- ``journal_refused_bytes`` count what the records take. JCAPS: max records, max bytes (the budget of accepted
-- records, all answered 2xx), and the refused records' own budget beside it (a quarter of each).

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

-- What the records of one kind hold: the refused ones, or all the others (accepted, answered 2xx).
local function journal_kept(P, refused)
  local count = redis.call('ZCARD', P .. 'journal_refused')
  local bytes = tonumber(redis.call('GET', P .. 'journal_refused_bytes') or '0')
  if refused then return count, bytes end
  return redis.call('ZCARD', P .. 'journal') - count,
         tonumber(redis.call('GET', P .. 'journal_bytes') or '0') - bytes
end

-- Past the budget of a kind, evict down to a little below it (bridge/store/journal.py, slack): a refused
-- record evicts the oldest refused ones only, an accepted one the oldest records whatever they are.
local function journal_trim(P, refused, max_count, max_bytes)
  local count, bytes = journal_kept(P, refused)
  if count <= max_count and bytes <= max_bytes then return end
  local low_count = max_count - math.floor(max_count / 32)
  local low_bytes = max_bytes - math.floor(max_bytes / 32)
  local set = refused and 'journal_refused' or 'journal'
  while count > low_count or bytes > low_bytes do
    local oldest = redis.call('ZRANGE', P .. set, 0, 0)[1]
    if not oldest then return end
    journal_drop(P, oldest)
    count, bytes = journal_kept(P, refused)
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
    journal_trim(P, true, JCAPS[3], JCAPS[4])
  else
    journal_trim(P, false, JCAPS[1], JCAPS[2])
  end
end
