"""The model (the last acknowledged word per object) and the checker that holds Alertmanager to it.

The last word of an object is its acknowledged change with the latest vendor time, not the one
acknowledged last: a stale retry of an older change that the bridge acknowledges after a newer one
does not change the model, exactly as the bridge must keep the newer change. Changes never
acknowledged are not in the model (the soak re-sends every change until it is acknowledged before it
checks, so none is left in doubt).
"""

from __future__ import annotations

import threading
from collections import Counter, defaultdict
from typing import Any

from bench.soak.vendors import SHAPES, Change


class Model:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.last: dict[str, Change] = {}
        self.acknowledged = 0
        self.acknowledged_stale = 0
        """Acknowledgements of a change older than the object's last word (late retries, reordering)."""
        self.acknowledged_by_vendor: Counter[str] = Counter()

    def acknowledge(self, change: Change) -> None:
        with self._lock:
            self.acknowledged += 1
            self.acknowledged_by_vendor[change.vendor] += 1
            last = self.last.get(change.obj)
            if last is None or change.word > last.word:
                self.last[change.obj] = change
            elif change.word < last.word:
                self.acknowledged_stale += 1


def object_of(alert: dict[str, Any]) -> str | None:
    """The value of the label that names the alert's object (:attr:`VendorShape.label`), for its vendor."""
    labels = alert.get("labels", {})
    shape = SHAPES.get(labels.get("vendor", ""))
    return labels.get(shape.label) if shape else None


def label_value(change: Change) -> str:
    """The value :func:`object_of` gives the alerts of ``change``'s object."""
    return SHAPES[change.vendor].label_value(change.obj)


def check(model: Model, held: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Compare what each Alertmanager holds (GET /api/v2/alerts: resolved alerts are not returned) with
    the model. ``held``: Alertmanager URL → its alerts."""
    result: dict[str, Any] = {"lost": [], "resurrected": [], "duplicates": [], "unknown": []}
    for url, alerts in held.items():
        by_object: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for alert in alerts:
            by_object[object_of(alert) or repr(alert.get("labels"))].append(alert)
        known = set()
        for obj, change in model.last.items():
            value = label_value(change)
            known.add(value)
            count = len(by_object.get(value, []))
            where = {"alertmanager": url, "vendor": change.vendor, "object": obj}
            if change.firing and count == 0:
                result["lost"].append({**where, "last_word": _word(change)})
            if not change.firing and count:
                result["resurrected"].append({**where, "last_word": _word(change)})
            if count > 1:
                result["duplicates"].append({**where, "alerts": count})
        result["unknown"] += [{"alertmanager": url, "object": obj} for obj in by_object if obj not in known]
    firing = Counter(c.firing for c in model.last.values())
    result["objects"] = {"firing": firing[True], "resolved": firing[False]}
    return result


def _word(change: Change) -> str:
    return f"{'firing' if change.firing else 'resolved'} at {change.event_at} (change {change.id})"


def failures(result: dict[str, Any]) -> int:
    return sum(len(result[key]) for key in ("lost", "resurrected", "duplicates", "unknown"))
