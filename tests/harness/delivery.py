"""Delivery without Alertmanager: a target whose client records each POST, and the alerts to send it."""

from __future__ import annotations

import time
from typing import Any

from bridge.model import AlarmState, Alert
from bridge.settings import AlertmanagerTarget

TARGET = AlertmanagerTarget("http://am.invalid:9093")


class RecordingClient:
    def __init__(self) -> None:
        self.posts: list[list[dict[str, Any]]] = []
        self.timeouts: list[float | None] = []
        self.probes = 0
        self.rejection_messages: dict[int, str] = {}

    def send(self, alerts: list[dict[str, Any]], offset: int = 0, deadline: float | None = None) -> list[int]:
        self.posts.append(list(alerts))
        self.timeouts.append(None if deadline is None else deadline - time.monotonic())
        return []

    def probe(self) -> None:
        self.probes += 1

    def close(self) -> None:
        pass


def alert(name: str, at: float) -> Alert:
    return Alert(labels={"alertname": "a", "host": name}, annotations={}, state=AlarmState.FIRING,
                 starts_at=at, event_at=at)


def hosts(post: list[dict[str, Any]]) -> list[str]:
    return [a["labels"]["host"] for a in post]


class AnswerResolver:
    """A resolver whose A answer the test sets (``answer[host] = [addresses]``), as a DNS change would."""

    def __init__(self, **answers: list[str]) -> None:
        self.answer: dict[str, list[str]] = dict(answers)

    def addresses(self, host: str) -> list[str]:
        return list(self.answer.get(host, []))

    def services(self, name: str) -> list[tuple[str, int]]:
        return []
