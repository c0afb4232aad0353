"""The README's metric list names every metric the bridge exports."""

from __future__ import annotations

import re
from pathlib import Path

from bridge.metrics import Metrics, StoreCollector
from bridge.store.sqlite import SqliteStore

README = Path(__file__).resolve().parents[2] / "README.md"


def test_every_exported_metric_is_in_the_readme(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "bridge.db")
    store.register_targets(["http://am:9093"])
    metrics = Metrics(vendors=["tencent"], targets=["http://am:9093"])
    collector = StoreCollector(lambda: store, lambda: ["http://am:9093"], 10, 0,
                               lambda: {"dnssrv+http://_web._tcp.am": 1})  # a discovered address too
    page = metrics.exposition(collector).decode()
    exported = {name for name in re.findall(r"^# TYPE (cloud_alarm_bridge_\w+) ", page, re.MULTILINE)
                if not name.endswith("_created")}  # prometheus_client's own, absent under serve
    assert len(exported) >= 18
    readme = README.read_text()
    assert sorted(name for name in exported if f"`{name}" not in readme) == []


def test_alarm_changes_exist_before_the_first_callback() -> None:
    page = Metrics(vendors=["tencent"]).exposition().decode()
    for outcome in ("changed", "unchanged", "stale"):
        assert f'cloud_alarm_bridge_alarm_changes_total{{outcome="{outcome}",vendor="tencent"}} 0.0' in page
