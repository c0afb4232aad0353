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
``bytes``           string      what the alerts' labels, annotations and URLs take (capacity)
``lease:<name>``    string      the lease holder, expiring by Redis' own clock (``PX``)
``journal...``      several     the recent-callbacks journal (lua/journal_prelude.lua)
``rejected:<am>``   hash        fingerprint -> what the Alertmanager said rejecting it (and ``rejected_at:``)
==================  ==========  ==============================================================
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from redis.sentinel import Sentinel

from bridge.model import AlarmState, Alert
from bridge.store.base import Caps, Outcome, StoredAlert, StoreError, StoreFull, StoreStats, TargetStats, dump_map
from bridge.store.journal import DEFAULT_JOURNAL, REJECTIONS_KEPT, CallbackRecord, JournalCaps, JournalQuery

T = TypeVar("T")
log = logging.getLogger(__name__)

_LUA = Path(__file__).with_name("lua")
_PRELUDES = {"apply": ("drop", "prelude", "journal_prelude"), "journal": ("journal_prelude",),
             "expire": ("drop", "prelude"), "forget": ("drop",),
             "purge": ("drop",), "changes": ("read_prelude",), "active": ("read_prelude",)}
"""Scripts that start with shared Lua: deleting alerts and counting bytes, the writing scripts' helpers, or
the reading scripts' ``read``."""


def _load_script(name: str) -> str:
    parts = [*_PRELUDES.get(name, ()), name]
    return "\n".join((_LUA / f"{part}.lua").read_text(encoding="utf-8") for part in parts)


SCRIPTS = {name: _load_script(name) for name in ("apply", "expire", "forget", "purge", "register", "advance",
                                                 "failure", "changes", "active", "stats", "lease", "release",
                                                 "journal", "journal_list")}
"""Every mutation and read is one script in bridge/store/lua/, which Redis runs atomically."""

FIELDS = ("fingerprint", "object_key", "vendor", "labels", "annotations", "generator_url", "state",
          "starts_at", "ends_at", "event_at", "expires_at", "seq", "changed_at")


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

    def __init__(self, client: redis.Redis, *, prefix: str = DEFAULT_PREFIX, max_alerts: int = 0,
                 max_bytes: int = 0, journal: JournalCaps = DEFAULT_JOURNAL) -> None:
        self.client = client
        self.prefix = prefix
        self.max_alerts = max_alerts
        self.max_bytes = max_bytes
        self.journal_caps = journal
        def register(name: str) -> Any:
            return client.register_script(SCRIPTS[name])

        self._apply, self._expire, self._forget = register("apply"), register("expire"), register("forget")
        self._register, self._advance = register("register"), register("advance")
        self._failure, self._changes = register("failure"), register("changes")
        self._active, self._stats, self._purge = register("active"), register("stats"), register("purge")
        self._lease, self._release = register("lease"), register("release")
        self._journal, self._journal_list = register("journal"), register("journal_list")

    @classmethod
    def from_url(cls, url: str, *, max_alerts: int = 0, max_bytes: int = 0,
                 journal: JournalCaps = DEFAULT_JOURNAL) -> RedisStore:
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
            return cls(_sentinel_client(parts, dict(parse_qsl(rest))), prefix=prefix, max_alerts=max_alerts,
                       max_bytes=max_bytes, journal=journal)
        plain = urlunsplit((parts.scheme, parts.netloc, parts.path, rest, parts.fragment))
        try:
            client = redis.Redis.from_url(plain, **_CONNECTION_DEFAULTS)
        except ValueError as exc:
            raise ValueError(f"invalid redis store URL: {exc}") from None
        return cls(client, prefix=prefix, max_alerts=max_alerts, max_bytes=max_bytes, journal=journal)

    def _call(self, script: Callable[..., T], *args: object, keys: Sequence[str] = ()) -> T:
        try:
            return script(keys=list(keys), args=[self.prefix, *args])
        except redis.RedisError as exc:
            raise StoreError(f"redis: {exc}") from exc

    # --- the request path -------------------------------------------------------------------
    def apply(self, alerts: Sequence[Alert], now: float, journal: CallbackRecord | None = None) -> list[Outcome]:
        record = journal.to_json() if journal is not None and self.journal_caps.enabled else ""
        if not alerts:
            if record:
                self.record_callbacks([journal])  # type: ignore[list-item]
            return []
        args: list[object] = [_time(now), self.max_alerts, self.max_bytes, *self._jcaps(),
                              journal.vendor if journal else "", record]
        for alert in alerts:
            args += _alert_args(alert)
        *result, evicted = self._call(self._apply, *args)
        if evicted:
            log.warning("store full: evicted resolved alerts to make room", extra={"alerts": evicted})
        if result == [b"full"]:
            raise StoreFull(Caps(self.max_alerts, self.max_bytes).full_message)
        return [Outcome(value.decode()) for value in result]

    def _jcaps(self) -> tuple[int, int, int, int]:
        caps = self.journal_caps
        return caps.max_callbacks, caps.max_bytes, caps.refused_callbacks, caps.refused_bytes

    def record_callbacks(self, records: Sequence[CallbackRecord]) -> None:
        if not records or not self.journal_caps.enabled:
            return
        args: list[object] = [*self._jcaps()]
        for record in records:
            args += [record.vendor, record.outcome, "1" if record.refused else "0", record.to_json()]
        self._call(self._journal, *args)

    def callbacks(self, query: JournalQuery) -> list[CallbackRecord]:
        """Pages through the newest records, filtering here: the journal holds at most a few thousand."""
        found: list[CallbackRecord] = []
        before = "+inf" if query.before is None else str(query.before)
        while len(found) < query.limit:
            page = self._call(self._journal_list, before, 200)
            for record_id, _vendor, _outcome, text, outcomes in page:
                record = CallbackRecord.from_stored(int(record_id), _text(text), _text(outcomes))
                if query.selects(record):
                    found.append(record)
            if len(page) < 200:
                break
            before = _text(page[-1][0])
        return found[:query.limit]

    def journal_size(self) -> tuple[int, int]:
        try:
            count, size = self.client.pipeline().zcard(f"{self.prefix}journal").get(
                f"{self.prefix}journal_bytes").execute()
        except redis.RedisError as exc:
            raise StoreError(f"redis: {exc}") from exc
        return int(count), int(size or 0)

    # --- delivery ---------------------------------------------------------------------------
    def register_targets(self, targets: Sequence[str]) -> None:
        self._call(self._register, *targets)

    def changes(self, target: str, limit: int) -> list[StoredAlert]:
        return [_stored(values) for values in self._call(self._changes, target, limit)]

    def advance(self, target: str, seq: int, now: float) -> None:
        self._call(self._advance, target, seq, _time(now))

    def record_failure(self, target: str, now: float, error: str = "") -> None:
        self._call(self._failure, target, _time(now), error)

    def target_errors(self, targets: Sequence[str]) -> dict[str, tuple[str, float | None]]:
        found = {}
        for name in targets:
            try:
                error, at = self.client.hmget(f"{self.prefix}targets", f"error:{name}", f"error_at:{name}")
            except redis.RedisError as exc:
                raise StoreError(f"redis: {exc}") from exc
            found[name] = (_text(error or b""), _float(at or b""))
        return found

    def record_rejections(self, target: str, rejected: Sequence[tuple[str, int, str]], now: float) -> None:
        """``rejected:<target>`` hash (fingerprint -> seq, time, message) beside ``rejected_at:<target>``, a sorted
        set by time that keeps it to the newest REJECTIONS_KEPT."""
        index, values = f"{self.prefix}rejected_at:{target}", f"{self.prefix}rejected:{target}"
        try:
            with self.client.pipeline() as pipe:
                for fingerprint, seq, message in rejected:
                    pipe.zadd(index, {fingerprint: now})
                    pipe.hset(values, fingerprint, f"{seq}\n{_time(now)}\n{message}")
                pipe.zrange(index, 0, -REJECTIONS_KEPT - 1)
                old = pipe.execute()[-1]
                if old:
                    self.client.pipeline().zrem(index, *old).hdel(values, *old).execute()
        except redis.RedisError as exc:
            raise StoreError(f"redis: {exc}") from exc

    def rejections(self, targets: Sequence[str]) -> dict[str, dict[str, tuple[int, str, float]]]:
        found: dict[str, dict[str, tuple[int, str, float]]] = {}
        for name in targets:
            try:
                stored = self.client.hgetall(f"{self.prefix}rejected:{name}")
            except redis.RedisError as exc:
                raise StoreError(f"redis: {exc}") from exc
            found[name] = {}
            for fingerprint, value in stored.items():
                seq, at, message = _text(value).split("\n", 2)
                found[name][_text(fingerprint)] = (int(seq), message, float(at))
        return found

    def lease_holder(self, name: str, now: float) -> tuple[str, float] | None:
        """The holder and when its lease ends (by this process' clock: Redis times it)."""
        key = f"{self.prefix}lease:{name}"
        try:
            owner, ttl = self.client.pipeline().get(key).pttl(key).execute()
        except redis.RedisError as exc:
            raise StoreError(f"redis: {exc}") from exc
        return (_text(owner), now + max(ttl, 0) / 1000) if owner else None

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

    def delete(self, fingerprints: Sequence[str]) -> tuple[int, int]:
        deleted, freed = 0, 0
        for start in range(0, len(fingerprints), 500):
            count, size = self._call(self._purge, *fingerprints[start:start + 500])
            deleted, freed = deleted + int(count), freed + int(size)
        return deleted, freed

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
        counts, per_target, size = self._call(self._stats, *targets)
        by_state = {}
        for key, value in zip(counts[::2], counts[1::2], strict=True):
            vendor, _, state = _text(key).partition("\n")
            if int(value):
                by_state[(vendor, state)] = int(value)
        stats = {_text(name): TargetStats(int(backlog), _float(oldest), _float(success),
                                          None if not up else up == b"1", int(cursor))
                 for name, success, up, backlog, oldest, cursor in per_target}
        return StoreStats(by_state, sum(by_state.values()), stats, int(size))

    def ping(self) -> None:
        try:
            self.client.ping()
        except redis.RedisError as exc:
            raise StoreError(f"redis: {exc}") from exc

    def close(self) -> None:
        self.client.close()


def _sentinel_client(parts: Any, options: dict[str, str]) -> redis.Redis:
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


def _alert_args(alert: Alert) -> list[str]:
    return [alert.fingerprint, alert.object_key, alert.vendor, dump_map(alert.labels), dump_map(alert.annotations),
            alert.generator_url, alert.state.value, _time(alert.starts_at), _optional_time(alert.ends_at),
            _time(alert.event_at), _optional_time(alert.expires_at), "1" if alert.resolve_only else "",
            alert.former_key]


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
