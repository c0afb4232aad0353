"""The recent-callbacks journal: what each cloud sent and what it became, kept in the store so that every
replica sharing a Redis store shows all of them.

Two budgets, each bounded twice (count and bytes, whichever is smaller): callbacks answered 2xx (accepted,
and URL checks, subscription confirmations, callbacks without an alarm) up to ``max_callbacks`` and
``max_bytes``; refused ones (bad token, bad body, ...: anything but 2xx) up to a quarter of either, beside
them. A refused record evicts only older refused ones, so a flood of unauthorized garbage never evicts an
accepted record: what an operator looks for first (the callbacks that did become alerts) stays visible. An
accepted record past its budget evicts the oldest records whatever they are.

A record is written with the callback's alarm changes, in the same transaction (no second commit), when
the callback is accepted; a refused one is written afterwards, best effort (see bridge.web.journal).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any

REFUSED_SHARE = 4
"""Refused callbacks have a budget of 1/REFUSED_SHARE of the journal's count and bytes, beside the others'."""
ACCEPTED = "accepted"
JOURNAL_ONLY_OUTCOMES = ("unknown_vendor", "url_check")
"""Outcomes the journal records beside those of ``cloud_alarm_bridge_callbacks_total`` (bridge.metrics): a
callback to a vendor the bridge does not know, a console's check of the URL (no alarm in it)."""
REJECTIONS_KEPT = 1000
"""Rejected alerts the store remembers per Alertmanager (the newest), with what it said about each."""


@dataclass(frozen=True)
class JournalCaps:
    """How much the journal keeps of callbacks answered 2xx (refused ones: a quarter of it, beside them);
    ``max_callbacks`` 0 turns it off."""

    max_callbacks: int = 1000
    max_bytes: int = 16 << 20

    @property
    def enabled(self) -> bool:
        return self.max_callbacks > 0 and self.max_bytes > 0

    @property
    def refused_callbacks(self) -> int:
        return max(1, self.max_callbacks // REFUSED_SHARE)

    @property
    def refused_bytes(self) -> int:
        return max(1, self.max_bytes // REFUSED_SHARE)


DEFAULT_JOURNAL = JournalCaps()


@dataclass(frozen=True)
class CallbackRecord:
    """One callback as the journal keeps it: secrets already redacted, body already capped."""

    received_at: float
    vendor: str
    source: str
    outcome: str
    status: int
    error: str = ""
    content_type: str = ""
    query: str = ""
    body: str = ""
    body_bytes: int = 0
    body_truncated: bool = False
    alerts: tuple[dict[str, Any], ...] = ()
    """``labels``, ``annotations``, ``state`` of each alert the callback became."""
    alerts_omitted: int = 0
    """Alerts left out of the record to keep it small (a callback of many large alerts)."""
    id: int = 0
    """Given by the store: increasing, never reused."""
    outcomes: tuple[str, ...] = field(default=())
    """Given by the store for an accepted callback: what each alert changed (changed, unchanged, stale)."""

    @property
    def accepted(self) -> bool:
        return self.outcome == ACCEPTED

    @property
    def refused(self) -> bool:
        """Whether the callback was refused: answered anything but 2xx. A URL check, a signed push's subscription
        confirmation, a callback without an alarm were answered 200: the vendor got through."""
        return refused(self.status)

    def to_json(self) -> str:
        """What the store keeps (without ``id`` and ``outcomes``, which the store adds). Built by hand, not with
        ``dataclasses.asdict``: its deep copy of the alerts cost more than the rest of a callback."""
        return _RECORD_JSON.encode({name: getattr(self, name) for name in _STORED})

    @classmethod
    def from_stored(cls, record_id: int, text: str, outcomes: str) -> CallbackRecord:
        data = json.loads(text)
        data["alerts"] = tuple(data.get("alerts") or ())
        return replace(cls(**data), id=record_id, outcomes=tuple(filter(None, outcomes.split(","))))

    def as_dict(self) -> dict[str, Any]:
        """The record as the API shows it: each alert with its outcome."""
        data = {name: getattr(self, name) for name in (*_STORED, "id")}
        data["alerts"] = [{**alert, "outcome": self.outcomes[index] if index < len(self.outcomes) else ""}
                          for index, alert in enumerate(self.alerts)]
        return data


_STORED = tuple(f.name for f in fields(CallbackRecord) if f.name not in ("id", "outcomes"))
_RECORD_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
"""``json.dumps(record, ensure_ascii=False, separators=(",", ":"))``, built once rather than per record."""


@dataclass(frozen=True)
class JournalQuery:
    """Which records to list: newest first, at most ``limit``, ids below ``before`` (paging)."""

    vendor: str | None = None
    outcome: str | None = None
    """A concrete outcome, or ``refused`` for every callback not answered 2xx."""
    limit: int = 100
    before: int | None = None

    def selects(self, record: CallbackRecord) -> bool:
        if self.vendor and record.vendor != self.vendor:
            return False
        if self.outcome == "refused":
            return record.refused
        return not self.outcome or record.outcome == self.outcome


def refused(status: int) -> bool:
    return not 200 <= status < 300


def slack(cap: int) -> int:
    """How far below a cap eviction goes once the cap is passed: evicting a few at a time, one insert in about
    32 pays for it, instead of every insert of a full journal touching (and committing) one more page."""
    return cap // 32


def outcomes_text(outcomes: Sequence[str]) -> str:
    return ",".join(outcomes)
