"""The bridge's own metrics, named ``cloud_alarm_bridge_*`` per Prometheus conventions.

A :class:`Metrics` object is built on a registry and handed to whatever counts (the web app, the
delivery loop, the Alertmanager client), as Alertmanager's packages do with their ``Metrics`` structs;
every label value is created up front, so rates exist before the first event. Under ``serve``,
counters and histograms live in prometheus_client's multiprocess files (gunicorn workers and the
delivery loop are separate processes). Gauges that describe shared state (backlog, active alerts,
Alertmanager health) are read from the store at scrape time, so every process and replica agrees.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess, values
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from bridge import __version__
from bridge.store import Outcome, Store, StoreError, TargetStats

CALLBACK_OUTCOMES = ("accepted", "invalid", "unauthorized", "forbidden", "timeout", "too_large",
                     "unsupported_media_type", "store_full", "store_disk_full", "store_unavailable", "ignored",
                     "unverified", "verification_unavailable", "subscription_confirmation",
                     "unsubscribe_confirmation")
SEND_OUTCOMES = ("success", "rejected", "error")
CONNECTION_CLOSE_REASONS = ("idle", "slow", "shed", "head_too_large", "body_too_large")
"""Why the server closed a client connection before a request arrived whole (bridge.run.worker)."""
SEND_FAILURE_REASONS = ("timeout", "connection", "server_error", "client_error", "rejected")


def enable_multiprocess(directory: str) -> None:
    """Count in prometheus_client's files under ``directory``, in this process and those it starts.

    prometheus_client picks how it stores values when it is first imported, from this environment
    variable; the bridge builds its metrics only after start-up has chosen the directory, so picking
    again here is enough, and no import has to wait for it.
    """
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
    values.ValueClass = values.get_value_class()


class Metrics:
    """Every counter, histogram and gauge the bridge keeps, on one registry."""

    def __init__(self, registry: CollectorRegistry | None = None, *, vendors: Iterable[str] = (),
                 targets: Iterable[str] = ()) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.callbacks = Counter("cloud_alarm_bridge_callbacks_total", "Vendor callbacks received, by outcome.",
                                 ["vendor", "outcome"], registry=r)
        self.callback_duration = Histogram(
            "cloud_alarm_bridge_callback_duration_seconds", "Time from receiving a callback to acknowledging it.",
            ["vendor"], buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5), registry=r)
        self.alarm_changes = Counter("cloud_alarm_bridge_alarm_changes_total",
                                     "Alarm changes in accepted callbacks, by what they did to the store.",
                                     ["vendor", "outcome"], registry=r)
        self.alerts_sent = Counter("cloud_alarm_bridge_alerts_sent_total",
                                   "Alerts posted to an Alertmanager, by outcome.", ["alertmanager", "outcome"],
                                   registry=r)
        self.send_failures = Counter("cloud_alarm_bridge_send_failures_total",
                                     "POSTs to an Alertmanager that failed, by reason.", ["alertmanager", "reason"],
                                     registry=r)
        self.batch_size = Histogram("cloud_alarm_bridge_batch_size", "Alerts per POST to an Alertmanager.",
                                    ["alertmanager"], buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512), registry=r)
        self.send_duration = Histogram("cloud_alarm_bridge_send_duration_seconds",
                                       "Duration of one POST to an Alertmanager.", ["alertmanager"],
                                       buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10), registry=r)
        self.alerts_expired = Counter("cloud_alarm_bridge_alerts_expired_total",
                                      "Alerts the bridge resolved itself (max firing age, stateless events).",
                                      registry=r)
        self.alerts_dropped = Counter(
            "cloud_alarm_bridge_alerts_dropped_total",
            "Alarms dropped by alert_relabel_configs (they only end what fires for their object).", ["vendor"],
            registry=r)
        self.template_errors = Counter("cloud_alarm_bridge_template_errors_total",
                                       "Annotation templates that failed to render; the default text was kept.",
                                       ["annotation"], registry=r)
        self.connections_closed = Counter(
            "cloud_alarm_bridge_connections_closed_total",
            "Client connections closed before a request arrived whole: idle past the deadline, slow (408), "
            "shed at --max-connections, head over 64 KiB (431) or body over --max-body-bytes (413).",
            ["reason"], registry=r)
        for reason in CONNECTION_CLOSE_REASONS:
            self.connections_closed.labels(reason)
        # Written by whichever process (gunicorn master or worker) last tried a reload: the newest value wins.
        self.reload_success = Gauge("cloud_alarm_bridge_config_last_reload_successful",
                                    "Whether the last configuration reload attempt was successful.",
                                    multiprocess_mode="mostrecent", registry=r)
        self.reload_success_time = Gauge("cloud_alarm_bridge_config_last_reload_success_timestamp_seconds",
                                         "Timestamp of the last successful configuration reload.",
                                         multiprocess_mode="max", registry=r)
        for vendor in vendors:
            for outcome in CALLBACK_OUTCOMES:
                self.callbacks.labels(vendor, outcome)
            for change in Outcome:
                self.alarm_changes.labels(vendor, change.value)
            self.alerts_dropped.labels(vendor)
            self.callback_duration.labels(vendor)
        for target in targets:
            self.add_target(target)

    def add_target(self, target: str) -> None:
        """Create a target's series at zero, so its rates exist before its first POST."""
        for outcome in SEND_OUTCOMES:
            self.alerts_sent.labels(target, outcome)
        for reason in SEND_FAILURE_REASONS:
            self.send_failures.labels(target, reason)
        self.batch_size.labels(target)
        self.send_duration.labels(target)

    def record_reload(self, success: bool) -> None:
        """Publish the outcome of loading the configuration (at start, on SIGHUP, on POST /-/reload)."""
        self.reload_success.set(1 if success else 0)
        if success:
            self.reload_success_time.set_to_current_time()

    def count_template_error(self, annotation: str) -> None:
        self.template_errors.labels(annotation).inc()

    def exposition(self, *collectors: Collector) -> bytes:
        """Render /metrics: every process's counters (this one's outside ``serve``), plus ``collectors``."""
        registry = CollectorRegistry()
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            multiprocess.MultiProcessCollector(registry)
        else:
            registry.register(_Registered(self.registry))
        for collector in collectors:
            registry.register(collector)
        return generate_latest(registry)


class _Registered(Collector):
    """What a registry holds, as one collector of another registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._registry = registry

    def collect(self) -> Iterator:
        yield from self._registry.collect()


class StoreCollector(Collector):
    """Gauges computed from the store at scrape time."""

    def __init__(self, store: Callable[[], Store], targets: Callable[[], Sequence[str]], capacity: int,
                 capacity_bytes: int = 0, discovered: Callable[[], Mapping[str, int]] = dict) -> None:
        """``targets`` names the current delivery targets (DNS answers change them); ``discovered`` counts
        the targets each ``dns+``/``dnssrv+`` address stands for now."""
        self._store = store
        self._targets = targets
        self._capacity = capacity
        self._capacity_bytes = capacity_bytes
        self._discovered = discovered

    def collect(self) -> Iterator[GaugeMetricFamily]:
        info = GaugeMetricFamily("cloud_alarm_bridge_build_info", "Always 1; the version is a label.",
                                 labels=["version"])
        info.add_metric([__version__], 1)
        yield info
        targets = self._targets()  # first: it may look addresses up again, which the counts below report
        found = self._discovered()
        if found:
            family = GaugeMetricFamily("cloud_alarm_bridge_alertmanager_discovered_targets",
                                       "Alertmanagers the last DNS answer for a dns+ or dnssrv+ address named.",
                                       labels=["address"])
            for address, count in sorted(found.items()):
                family.add_metric([address], count)
            yield family
        now = time.time()
        try:
            stats = self._store().stats(targets, now)
        except StoreError:
            # Absent gauges would silence every alert rule on them; an explicit 0 can be alerted on, and
            # the scrape still succeeds so that the counters (store_unavailable refusals) keep coming.
            # (The outage itself is logged where it is met, with its reminders: not once per scrape.)
            yield _store_up(0)
            return
        yield _store_up(1)
        alerts = GaugeMetricFamily("cloud_alarm_bridge_alerts", "Alerts in the store, by vendor and state.",
                                   labels=["vendor", "state"])
        for (vendor, state), count in sorted(stats.alerts_by_vendor_state.items()):
            alerts.add_metric([vendor, state], count)
        yield alerts
        yield GaugeMetricFamily("cloud_alarm_bridge_store_alerts", "Alerts held in the store.", value=stats.total)
        yield GaugeMetricFamily("cloud_alarm_bridge_store_capacity_alerts",
                                "Alerts the store may hold before callbacks get 503 (0: no limit).",
                                value=self._capacity)
        yield GaugeMetricFamily("cloud_alarm_bridge_store_bytes",
                                "Bytes the alerts' labels, annotations and URLs take in the store.", value=stats.bytes)
        yield GaugeMetricFamily("cloud_alarm_bridge_store_capacity_bytes",
                                "Bytes the store may hold before callbacks get 503 (0: no limit).",
                                value=self._capacity_bytes)
        yield from _target_families(stats.targets, now)


def _store_up(value: int) -> GaugeMetricFamily:
    return GaugeMetricFamily("cloud_alarm_bridge_store_up",
                             "1 if the store answered this scrape; 0: its gauges are missing, callbacks get 503.",
                             value=value)


def _target_families(targets: dict[str, TargetStats], now: float) -> Iterator[GaugeMetricFamily]:
    backlog = GaugeMetricFamily("cloud_alarm_bridge_backlog_alerts",
                                "Alert changes not yet accepted by the Alertmanager.", labels=["alertmanager"])
    age = GaugeMetricFamily("cloud_alarm_bridge_backlog_oldest_age_seconds",
                            "Age of the oldest change not yet accepted by the Alertmanager (0: none).",
                            labels=["alertmanager"])
    up = GaugeMetricFamily("cloud_alarm_bridge_alertmanager_up",
                           "1 if the last POST or probe (GET /api/v2/status, when there was nothing to "
                           "re-send) to the Alertmanager succeeded.", labels=["alertmanager"])
    last = GaugeMetricFamily("cloud_alarm_bridge_last_success_timestamp_seconds",
                             "Unix time of the last successful POST or probe to the Alertmanager.",
                             labels=["alertmanager"])
    for name, stat in sorted(targets.items()):
        backlog.add_metric([name], stat.backlog)
        age.add_metric([name], max(0.0, now - stat.oldest_change_at) if stat.oldest_change_at else 0.0)
        up.add_metric([name], 1.0 if stat.up else 0.0)
        last.add_metric([name], stat.last_success_at or 0.0)
    yield from (backlog, age, up, last)
