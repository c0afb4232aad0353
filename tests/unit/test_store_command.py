"""``cloud-alarm-bridge store``: the admin command over a store a bridge is using (issue 19 item 4)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bridge.cli import main
from bridge.metrics import StoreCollector
from bridge.model import AlarmState, Alert
from bridge.store.sqlite import SqliteStore

NOW = 1_700_000_000.0


def alert(host: str, state: AlarmState = AlarmState.FIRING) -> Alert:
    return Alert(labels={"alertname": "CPUHigh", "vendor": "tencent", "host": host}, annotations={"summary": "x"},
                 state=state, starts_at=NOW - 60, event_at=NOW, ends_at=NOW if state is AlarmState.RESOLVED else None)


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    store = SqliteStore(tmp_path / "bridge.db")
    store.apply([alert("web-1"), alert("junk-1", AlarmState.RESOLVED), alert("junk-2", AlarmState.RESOLVED)], NOW)
    store.close()
    return f"sqlite:///{tmp_path / 'bridge.db'}"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[dict], str]:
    status = main(["store", *args])
    out, err = capsys.readouterr()
    return status, [json.loads(line) for line in out.splitlines()], err


def test_stats_list_and_purge(store_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    status, [stats], _ = run(capsys, "stats", "--store", store_url)
    assert status == 0 and stats["alerts"] == 3 and stats["bytes"] > 0
    assert stats["by_vendor_and_state"] == {"tencent/firing": 1, "tencent/resolved": 2}
    status, listed, _ = run(capsys, "list", "--store", store_url, "--state", "resolved")
    assert sorted(item["labels"]["host"] for item in listed) == ["junk-1", "junk-2"]
    assert run(capsys, "purge", "host=~junk-.*", "--store", store_url, "--dry-run")[1] == [{"would_purge": 2}]
    status, [purged], _ = run(capsys, "purge", "host=~junk-.*", "--store", store_url)
    assert status == 0 and purged["purged"] == 2 and purged["bytes"] > 0
    assert run(capsys, "stats", "--store", store_url)[1][0]["alerts"] == 1


def test_purge_refuses_to_purge_everything_by_accident(store_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(capsys, "purge", "--store", store_url)
    assert status == 2 and "purge needs a matcher" in err
    status, _, err = run(capsys, "purge", "host=~(", "--store", store_url)
    assert status == 2 and "invalid regex" in err
    status, [purged], _ = run(capsys, "purge", "--store", store_url, "--all")
    assert status == 0 and purged["purged"] == 3


def test_a_sqlite_store_written_before_the_byte_count_gets_it_counted(tmp_path: Path) -> None:
    """An upgraded bridge opens a file with alerts but no byte counter: it counts what is there once."""
    store = SqliteStore(tmp_path / "old.db")
    store.apply([alert("web-1"), alert("web-2")], NOW)
    counted = store.stats([], NOW).bytes
    store._db().execute("DELETE FROM counters WHERE name = 'bytes'")  # as an older version left it
    store.close()
    assert counted > 0 and SqliteStore(tmp_path / "old.db").stats([], NOW).bytes == counted


def test_metrics_show_the_bytes_stored_and_their_cap(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "bridge.db")
    store.apply([alert("web-1")], NOW)
    collector = StoreCollector(lambda: store, list, 0, 1 << 20)
    gauges = {family.name: family.samples[0].value for family in collector.collect() if family.samples}
    assert gauges["cloud_alarm_bridge_store_bytes"] == store.stats([], NOW).bytes > 0
    assert gauges["cloud_alarm_bridge_store_capacity_bytes"] == 1 << 20
