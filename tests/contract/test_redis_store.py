"""What only the Redis store must watch: the work one call makes Redis do and send back."""

from __future__ import annotations

import redis

from bridge.model import AlarmState, Alert
from bridge.store.redis import RedisStore
from tests.harness.redis_server import RedisServer

NOW = 1_700_000_000.0


def sent_bytes(client: redis.Redis) -> int:
    return int(client.info("stats")["total_net_output_bytes"])


def test_a_resend_page_after_a_mass_recovery_moves_one_page(redis_server: RedisServer) -> None:
    """2,000 alerts resolved at once: a page of 10 must not carry all 2,000 each time (MBs per sweep)."""
    store = RedisStore.from_url(f"{redis_server.url}?prefix=mass-recovery:")
    resolved = [Alert(labels={"alertname": "CPUHigh", "host": f"web-{i}"}, annotations={"summary": "x" * 200},
                      state=AlarmState.RESOLVED, starts_at=NOW - 60, event_at=NOW, ends_at=NOW)
                for i in range(2000)]
    for start in range(0, len(resolved), 250):
        store.apply(resolved[start:start + 250], NOW)
    client = redis.Redis.from_url(redis_server.url)
    try:
        before = sent_bytes(client)
        page = store.active("", 10, NOW + 1, resolved_for=900)
        moved = sent_bytes(client) - before
        assert len(page) == 10
        assert moved < 50_000, f"{moved} bytes for a page of 10"
    finally:
        client.close()
        store.close()


def test_a_store_written_before_the_byte_count_gets_it_counted_once(redis_server: RedisServer) -> None:
    """An upgraded bridge finds alerts but no ``bytes`` key: the first write counts what is there."""
    store = RedisStore.from_url(f"{redis_server.url}?prefix=byte-count:", max_bytes=10_000)
    alerts = [Alert(labels={"alertname": "CPUHigh", "host": f"web-{i}"}, annotations={"summary": "x" * 100},
                    state=AlarmState.FIRING, starts_at=NOW - 60, event_at=NOW) for i in range(3)]
    try:
        store.apply(alerts[:2], NOW)
        counted = store.stats([], NOW).bytes
        store.client.delete("byte-count:bytes")  # as an older version left it
        store.apply(alerts[2:], NOW)
        assert store.stats([], NOW).bytes == counted * 3 // 2
    finally:
        store.close()
