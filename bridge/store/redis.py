"""The shared store: Redis, so that several bridge replicas see one set of alerts and one backlog.

Every mutation is one Lua script, which Redis runs atomically: sequence numbers are handed out and
become visible in order, exactly as SQLite's write lock does for the embedded store, so a cursor
never skips a change and concurrent replicas cannot interleave one callback's alerts.

Scripts compute first and write last: Redis does not roll a script back when it stops half-way, so
:class:`StoreFull` is decided before the first write. Times travel as ``repr(float)`` strings and
Lua only compares them (``tonumber``) or picks one of them, never prints a number it computed, so
every time round-trips bit for bit.

Keys, under a prefix (``?prefix=``, default ``cab:``):

==================  ==========  ==============================================================
``alert:<fp>``      hash        one alert, by fingerprint
``object:<key>``    set         fingerprints of one object key (at most one fires)
``changes``         sorted set  fingerprint by the sequence number of its latest change
``firing``          sorted set  firing fingerprints, all score 0: ``ZRANGEBYLEX`` pages re-sends
``heard``           sorted set  firing fingerprints by the vendor's latest word (maximum firing age)
``expiry``          sorted set  firing fingerprints by their expiry (stateless events)
``resolved``        sorted set  resolved fingerprints by ``endsAt`` (re-sends, forgetting)
``resolved_lex``    sorted set  resolved fingerprints, all score 0: ``ZRANGEBYLEX`` pages re-sends
``counts``          hash        ``vendor\\nstate`` -> number of alerts (metrics)
``targets``         hash        ``cursor:<am>``, ``success:<am>``, ``up:<am>``
``seq``, ``count``  strings     the last sequence number; the number of alerts (capacity)
``lease:<name>``    string      the lease holder, expiring by Redis' own clock (``PX``)
==================  ==========  ==============================================================
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from bridge.model import AlarmState, Alert
from bridge.store import Outcome, StoredAlert, StoreError, StoreFull, StoreStats, TargetStats

T = TypeVar("T")

FIELDS = ("fingerprint", "object_key", "vendor", "labels", "annotations", "generator_url", "state",
          "starts_at", "ends_at", "event_at", "expires_at", "seq", "changed_at")

# Shared by every writing script. ARGV[1] is the key prefix, ARGV[2] the caller's ``now``.
_PRELUDE = r"""
local P, NOW = ARGV[1], ARGV[2]
local FIELDS = {'fingerprint', 'object_key', 'vendor', 'labels', 'annotations', 'generator_url', 'state',
                'starts_at', 'ends_at', 'event_at', 'expires_at', 'seq', 'changed_at'}
local num = tonumber
local seq = num(redis.call('GET', P .. 'seq') or '0')
local first_seq = seq
local records, order, dirty = {}, {}, {}

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
end
"""

# ARGV: prefix, now, max_alerts, then 12 values per alert (see RedisStore._alert_args).
_APPLY = _PRELUDE + r"""
local max_alerts = num(ARGV[3])
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

local function upsert(a, existing, starts, ends)
  local r = existing
  if not r then
    count = count + 1
    if max_alerts > 0 and count > max_alerts then return 'full' end
    r = {fingerprint = a.fingerprint, object_key = a.object_key, vendor = a.vendor, labels = a.labels}
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
  -- A recovery for an alert never seen: record it, so that a late firing retry cannot fire it.
  return upsert(a, load(a.fingerprint), a.starts_at, clamp(ends, a.starts_at, NOW))
end

local ALERT = {'fingerprint', 'object_key', 'vendor', 'labels', 'annotations', 'generator_url', 'state',
               'starts_at', 'ends_at', 'event_at', 'expires_at', 'resolve_only'}
local outcomes = {}
for i = 4, #ARGV, #ALERT do
  local a = {}
  for j, name in ipairs(ALERT) do a[name] = ARGV[i + j - 1] end
  local rs = rows(a.object_key)
  local outcome
  if a.state == 'firing' and a.resolve_only ~= '1' then
    outcome = fire(a, load(a.fingerprint), rs)
  else
    outcome = resolve(a, rs)
  end
  if outcome == 'full' then return {'full'} end  -- nothing written yet
  outcomes[#outcomes + 1] = outcome
end
flush()
if added > 0 then redis.call('INCRBY', P .. 'count', added) end
return outcomes
"""

# ARGV: prefix, now, last heard ('' when there is no maximum firing age), the two reasons.
_EXPIRE = _PRELUDE + r"""
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
"""

# ARGV: prefix, now - keep_resolved_for.
_FORGET = r"""
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
"""

_REGISTER = r"""
local P = ARGV[1]
local seq = redis.call('GET', P .. 'seq') or '0'
for i = 2, #ARGV do redis.call('HSETNX', P .. 'targets', 'cursor:' .. ARGV[i], seq) end
return 0
"""

# ARGV: prefix, target, seq, now.
_ADVANCE = r"""
local P, T = ARGV[1], ARGV[2]
local cursor = redis.call('HGET', P .. 'targets', 'cursor:' .. T)
if not cursor then return 0 end
if tonumber(ARGV[3]) > tonumber(cursor) then redis.call('HSET', P .. 'targets', 'cursor:' .. T, ARGV[3]) end
redis.call('HSET', P .. 'targets', 'success:' .. T, ARGV[4], 'up:' .. T, '1')
return 1
"""

_FAILURE = r"""
local P, T = ARGV[1], ARGV[2]
if redis.call('HEXISTS', P .. 'targets', 'cursor:' .. T) == 0 then return 0 end
redis.call('HSET', P .. 'targets', 'up:' .. T, '0')
return 1
"""

_READ_PRELUDE = r"""
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
"""

# ARGV: prefix, target, limit.
_CHANGES = _READ_PRELUDE + r"""
local cursor = redis.call('HGET', P .. 'targets', 'cursor:' .. ARGV[2])
if not cursor then return {} end
return read(redis.call('ZRANGEBYSCORE', P .. 'changes', '(' .. cursor, '+inf', 'LIMIT', 0, ARGV[3]))
"""

# ARGV: prefix, after, limit, now - resolved_for. Firing and recently resolved alerts after ``after``,
# at most ``limit`` of each, by fingerprint; the caller merges the two lists. Resolved ones are scanned in
# fingerprint order, no further than the last firing one of a full page: a sweep reads each once, rather
# than every recently resolved alert on every page.
_ACTIVE = _READ_PRELUDE + r"""
local after = '-'
if ARGV[2] ~= '' then after = '(' .. ARGV[2] end
local limit, since = tonumber(ARGV[3]), tonumber(ARGV[4])
local firing = redis.call('ZRANGEBYLEX', P .. 'firing', after, '+', 'LIMIT', 0, limit)
local upto = '+'
if #firing == limit then upto = '[' .. firing[#firing] end
local resolved, from = {}, after
while #resolved < limit do
  local chunk = redis.call('ZRANGEBYLEX', P .. 'resolved_lex', from, upto, 'LIMIT', 0, limit)
  for _, fp in ipairs(chunk) do
    local ends = redis.call('ZSCORE', P .. 'resolved', fp)
    if ends and tonumber(ends) > since and #resolved < limit then resolved[#resolved + 1] = fp end
  end
  if #chunk < limit then break end
  from = '(' .. chunk[#chunk]
end
return {read(firing), read(resolved)}
"""

# ARGV: prefix, target names. Per target: cursor, last success, up, backlog, time of the oldest change.
_STATS = r"""
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
                             redis.call('ZCOUNT', P .. 'changes', after, '+inf'), oldest_at}
  end
end
return {redis.call('HGETALL', P .. 'counts'), targets}
"""

# Take the lease if it is free, renew it if this owner holds it. ARGV: owner, ttl in ms.
_LEASE = r"""
local holder = redis.call('GET', KEYS[1])
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""

_RELEASE = r"""
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 0
"""

DEFAULT_PREFIX = "cab:"
_CONNECTION_DEFAULTS: dict[str, Any] = {
    # Fail fast, so a callback gets its 503 (and the vendor retries) well within the vendor's timeout.
    "socket_connect_timeout": 2.0,
    "socket_timeout": 5.0,
    "health_check_interval": 30,
    # One immediate retry: enough to replace a pooled connection that a Redis restart closed.
    "retry": Retry(NoBackoff(), 1),
    # Never fail on a lone surrogate from a JSON escape, as model.label_hash does not.
    "encoding_errors": "surrogatepass",
}


class RedisStore:
    """The store in Redis, shared by every replica; see the module docstring for the keys."""

    def __init__(self, client: redis.Redis, *, prefix: str = DEFAULT_PREFIX, max_alerts: int = 0) -> None:
        self.client = client
        self.prefix = prefix
        self.max_alerts = max_alerts
        register = client.register_script
        self._apply, self._expire, self._forget = register(_APPLY), register(_EXPIRE), register(_FORGET)
        self._register, self._advance, self._failure = register(_REGISTER), register(_ADVANCE), register(_FAILURE)
        self._changes, self._active, self._stats = register(_CHANGES), register(_ACTIVE), register(_STATS)
        self._lease, self._release = register(_LEASE), register(_RELEASE)

    @classmethod
    def from_url(cls, url: str, *, max_alerts: int = 0) -> RedisStore:
        """``redis://[user:pass@]host:port/db``, ``rediss://`` (TLS) or ``redis+sentinel://``.

        ``?prefix=`` names the key prefix; other query parameters are redis-py's (``socket_timeout``,
        ``ssl_ca_certs``, ...). ``redis+sentinel://[user:pass@]host:port[,host:port...]/service[/db]``
        asks the Sentinels for the current primary of ``service``.
        """
        parts = urlsplit(url)
        query = parse_qsl(parts.query, keep_blank_values=True)
        prefix = next((v for k, v in query if k == "prefix"), DEFAULT_PREFIX)
        rest = urlencode([(k, v) for k, v in query if k != "prefix"])
        if parts.scheme == "redis+sentinel":
            return cls(_sentinel_client(parts, dict(parse_qsl(rest))), prefix=prefix, max_alerts=max_alerts)
        plain = urlunsplit((parts.scheme, parts.netloc, parts.path, rest, parts.fragment))
        try:
            client = redis.Redis.from_url(plain, **_CONNECTION_DEFAULTS)
        except ValueError as exc:
            raise ValueError(f"invalid redis store URL: {exc}") from None
        return cls(client, prefix=prefix, max_alerts=max_alerts)

    def _call(self, script: Callable[..., T], *args: object, keys: Sequence[str] = ()) -> T:
        try:
            return script(keys=list(keys), args=[self.prefix, *args])
        except redis.RedisError as exc:
            raise StoreError(f"redis: {exc}") from exc

    # --- the request path -------------------------------------------------------------------
    def apply(self, alerts: Sequence[Alert], now: float) -> list[Outcome]:
        if not alerts:
            return []
        args: list[object] = [_time(now), self.max_alerts]
        for alert in alerts:
            args += _alert_args(alert)
        result = self._call(self._apply, *args)
        if result == [b"full"]:
            raise StoreFull(f"the store holds its maximum of {self.max_alerts} alerts")
        return [Outcome(value.decode()) for value in result]

    # --- delivery ---------------------------------------------------------------------------
    def register_targets(self, targets: Sequence[str]) -> None:
        self._call(self._register, *targets)

    def changes(self, target: str, limit: int) -> list[StoredAlert]:
        return [_stored(values) for values in self._call(self._changes, target, limit)]

    def advance(self, target: str, seq: int, now: float) -> None:
        self._call(self._advance, target, seq, _time(now))

    def record_failure(self, target: str, now: float) -> None:
        self._call(self._failure, target)

    def active(self, after: str, limit: int, now: float, resolved_for: float) -> list[StoredAlert]:
        firing, resolved = self._call(self._active, after, limit, _time(now - resolved_for))
        found = [_stored(values) for values in [*firing, *resolved]]
        return sorted(found, key=lambda s: s.fingerprint)[:limit]

    # --- housekeeping -----------------------------------------------------------------------
    def expire(self, now: float, max_firing_age: float) -> int:
        last_heard = _time(now - max_firing_age) if max_firing_age > 0 else ""
        return int(self._call(self._expire, _time(now), last_heard,
                              "Resolved by the bridge: the vendor sends no recovery for this event",
                              "Resolved by the bridge: no word from the vendor for the maximum firing age"
                              f" of {max_firing_age:g}s"))

    def forget(self, now: float, keep_resolved_for: float) -> int:
        return int(self._call(self._forget, _time(now - keep_resolved_for)))

    def acquire_lease(self, name: str, owner: str, ttl: float, now: float) -> bool:
        """Redis' clock, not ``now``, times the lease: replicas' clocks may disagree, Redis' is one."""
        key = f"{self.prefix}lease:{name}"
        try:
            return bool(self._lease(keys=[key], args=[owner, max(1, round(ttl * 1000))]))
        except redis.RedisError as exc:
            raise StoreError(f"redis: {exc}") from exc

    def release_lease(self, name: str, owner: str) -> None:
        try:
            self._release(keys=[f"{self.prefix}lease:{name}"], args=[owner])
        except redis.RedisError as exc:
            raise StoreError(f"redis: {exc}") from exc

    def stats(self, targets: Sequence[str], now: float) -> StoreStats:
        counts, per_target = self._call(self._stats, *targets)
        by_state = {}
        for key, value in zip(counts[::2], counts[1::2], strict=True):
            vendor, _, state = _text(key).partition("\n")
            if int(value):
                by_state[(vendor, state)] = int(value)
        stats = {_text(name): TargetStats(int(backlog), _float(oldest), _float(success),
                                          None if not up else up == b"1")
                 for name, success, up, backlog, oldest in per_target}
        return StoreStats(by_state, sum(by_state.values()), stats)

    def ping(self) -> None:
        try:
            self.client.ping()
        except redis.RedisError as exc:
            raise StoreError(f"redis: {exc}") from exc

    def close(self) -> None:
        self.client.close()


def _sentinel_client(parts: Any, options: dict[str, str]) -> redis.Redis:
    from redis.sentinel import Sentinel

    userinfo, _, hosts = parts.netloc.rpartition("@")
    username, _, password = userinfo.partition(":")
    service, _, db = parts.path.strip("/").partition("/")
    if not hosts or not service:
        raise ValueError("redis+sentinel URL needs host:port[,host:port]/service[/db]")
    sentinels = []
    for host in hosts.split(","):
        name, _, port = host.rpartition(":")
        sentinels.append((name or host, int(port) if name else 26379))
    auth = {"username": username or None, "password": password or None}
    timeouts = {k: float(options[k]) for k in ("socket_timeout", "socket_connect_timeout") if k in options}
    sentinel = Sentinel(sentinels, sentinel_kwargs={**timeouts}, **{
        **_CONNECTION_DEFAULTS, **timeouts, **auth, "db": int(db or 0)})
    return sentinel.master_for(service)


def _time(value: float) -> str:
    """A float as the shortest string that reads back as the same float."""
    return repr(float(value))


def _optional_time(value: float | None) -> str:
    return "" if value is None else _time(value)


def _dump(values: dict[str, str]) -> str:
    return json.dumps(values, ensure_ascii=False, sort_keys=True)


def _alert_args(alert: Alert) -> list[str]:
    return [alert.fingerprint, alert.object_key, alert.vendor, _dump(alert.labels), _dump(alert.annotations),
            alert.generator_url, alert.state.value, _time(alert.starts_at), _optional_time(alert.ends_at),
            _time(alert.event_at), _optional_time(alert.expires_at), "1" if alert.resolve_only else ""]


def _text(value: bytes) -> str:
    return value.decode("utf-8", "surrogatepass")


def _float(value: bytes | str) -> float | None:
    return float(value) if value else None


def _stored(values: list[bytes]) -> StoredAlert:
    row = dict(zip(FIELDS, map(_text, values), strict=True))
    annotations = json.loads(row["annotations"])
    alert = Alert(labels=json.loads(row["labels"]), annotations=dict(sorted(annotations.items())),
                  state=AlarmState(row["state"]), starts_at=float(row["starts_at"]),
                  event_at=float(row["event_at"]), ends_at=_float(row["ends_at"]),
                  generator_url=row["generator_url"], expires_at=_float(row["expires_at"]),
                  source_key=row["object_key"], source_vendor=row["vendor"])
    return StoredAlert(alert=alert, fingerprint=row["fingerprint"], seq=int(row["seq"]),
                       changed_at=float(row["changed_at"]))
