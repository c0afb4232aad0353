"""The outbound client's contract, against a local HTTP server that records what it receives."""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from bridge.deliver.alertmanager import AlertmanagerClient, SendError, postable
from bridge.model import AlarmState, Alert
from bridge.settings import AlertmanagerTarget

Reply = Callable[[list[dict[str, Any]]], int]


class Recorder:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.reply: Reply = lambda alerts: 200
        self.status_answer = 200
        """What GET /api/v2/status (the reachability probe) answers."""


@pytest.fixture
def server() -> Iterator[tuple[str, Recorder]]:
    recorder = Recorder()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            recorder.requests.append({"path": self.path, "headers": dict(self.headers), "alerts": body})
            status = recorder.reply(body)
            self.send_response(status)
            self.end_headers()
            if status != 200:
                self.wfile.write(b'"invalid label set: invalid name \\"bad-name\\""')

        def do_GET(self) -> None:
            recorder.requests.append({"path": self.path, "headers": dict(self.headers)})
            self.send_response(recorder.status_answer)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", recorder
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def client() -> Iterator[Callable[[AlertmanagerTarget], AlertmanagerClient]]:
    made: list[AlertmanagerClient] = []

    def make(target: AlertmanagerTarget) -> AlertmanagerClient:
        made.append(AlertmanagerClient(target))
        return made[-1]

    yield make
    for c in made:
        c.close()


def alerts(n: int, bad: set[int] = frozenset()) -> list[dict[str, Any]]:
    return [{"labels": {"alertname": "a", ("bad-name" if i in bad else "i"): str(i)}} for i in range(n)]


def reject_bad(body: list[dict[str, Any]]) -> int:
    return 422 if any("bad-name" in a["labels"] for a in body) else 200


def test_it_posts_to_api_v2_under_the_path_prefix_with_tenant_and_basic_auth(server, client) -> None:
    url, recorder = server
    target = AlertmanagerTarget(url=url + "/alertmanager/", headers={"X-Scope-OrgID": "team-a"},
                                username="bridge", password="s3cret")
    assert client(target).send(alerts(2)) == []
    [request] = recorder.requests
    assert request["path"] == "/alertmanager/api/v2/alerts"
    assert request["headers"]["X-Scope-OrgID"] == "team-a"
    assert request["headers"]["Authorization"] == "Basic " + base64.b64encode(b"bridge:s3cret").decode()
    assert request["headers"]["Content-Type"] == "application/json"
    assert len(request["alerts"]) == 2


def test_it_keeps_what_alertmanager_said_rejecting_each_alert_of_the_last_batch(server, client) -> None:
    url, recorder = server
    recorder.reply = reject_bad
    am = client(AlertmanagerTarget(url=url))
    assert am.send(alerts(8, bad={0, 5})) == [0, 5]
    assert set(am.rejection_messages) == {0, 5}
    assert am.rejection_messages[5].startswith("HTTP 422: ") and "invalid label set" in am.rejection_messages[5]
    assert am.send(alerts(2)) == [] and am.rejection_messages == {}  # the next batch starts afresh


def test_it_sends_a_bearer_token(server, client) -> None:
    url, recorder = server
    client(AlertmanagerTarget(url=url, bearer_token="tok")).send(alerts(1))
    assert recorder.requests[0]["headers"]["Authorization"] == "Bearer tok"


def test_a_rejected_batch_is_split_until_the_bad_alert_stands_alone(server, client) -> None:
    url, recorder = server
    recorder.reply = reject_bad
    assert client(AlertmanagerTarget(url=url)).send(alerts(8, bad={5})) == [5]
    accepted = {a["labels"].get("i") for r in recorder.requests if reject_bad(r["alerts"]) == 200
                for a in r["alerts"]}
    assert accepted == {str(i) for i in range(8) if i != 5}
    assert len(recorder.requests) <= 1 + 2 * 3  # the batch, then two halves per level of log2(8)


def test_the_halves_of_a_rejected_batch_end_by_the_lease_deadline(server, client) -> None:
    """Issue 19 review of item 11: the halves of a split batch are POSTs of their own; each gets only what is
    left of the lease, and none starts after it, or a replica that lost its lease would still be posting."""
    url, recorder = server

    def reply(body: list[dict[str, Any]]) -> int:
        time.sleep(0.3)  # a busy Alertmanager: each POST well within the timeout, all of them not
        return reject_bad(body)

    recorder.reply = reply
    am = client(AlertmanagerTarget(url=url, timeout=10))
    started = time.monotonic()
    with pytest.raises(SendError) as error:
        am.send(alerts(8, bad={5}), deadline=started + 0.5)  # up to 7 POSTs: 2.1 s
    assert not error.value.permanent  # retried later, by whoever holds the lease then
    assert time.monotonic() - started < 0.9
    assert len(recorder.requests) == 2  # the batch, then its first half: cut short at the deadline
    with pytest.raises(SendError) as error:
        am.send(alerts(1), deadline=time.monotonic())
    assert not error.value.permanent and len(recorder.requests) == 2  # past the deadline: no POST at all


def test_alertmanagers_own_400_isolates_the_bad_alert_like_a_422(server, client) -> None:
    """The real Alertmanager answers 400 to a batch with an invalid alert: retrying it would block the target."""
    url, recorder = server
    recorder.reply = lambda body: 400 if any("bad-name" in a["labels"] for a in body) else 200
    assert client(AlertmanagerTarget(url=url)).send(alerts(4, bad={2})) == [2]


def test_server_errors_and_unreachable_targets_are_retryable(server, client) -> None:
    url, recorder = server
    recorder.reply = lambda body: 503
    with pytest.raises(SendError) as error:
        client(AlertmanagerTarget(url=url)).send(alerts(3))
    assert not error.value.permanent and "HTTP 503" in str(error.value)
    with pytest.raises(SendError) as error:
        client(AlertmanagerTarget(url="http://127.0.0.1:9", timeout=1)).send(alerts(1))
    assert not error.value.permanent


def test_firing_alerts_carry_a_fresh_endsat_and_resolved_ones_their_own() -> None:
    firing = Alert(labels={"alertname": "a"}, annotations={}, state=AlarmState.FIRING, starts_at=100.0,
                   event_at=100.0, generator_url="https://console.example/")
    body = postable(firing, now=1000.0, valid_for=240.0)
    assert body["startsAt"] == "1970-01-01T00:01:40.000Z"
    assert body["endsAt"] == "1970-01-01T00:20:40.000Z"  # now + 4 x 60 s
    assert body["generatorURL"] == "https://console.example/"
    resolved = Alert(labels={"alertname": "a"}, annotations={}, state=AlarmState.RESOLVED, starts_at=100.0,
                     event_at=200.0, ends_at=200.0)
    body = postable(resolved, now=1000.0, valid_for=240.0)
    assert body["endsAt"] == "1970-01-01T00:03:20.000Z"
    assert "generatorURL" not in body  # never an empty string: Alertmanager wants a URI


def test_a_failed_post_or_probe_says_what_went_wrong_in_a_few_words() -> None:
    """Not urllib3's "Max retries exceeded with url: ... (Caused by NewConnectionError(<object at 0x...>..."."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    client = AlertmanagerClient(AlertmanagerTarget(f"http://127.0.0.1:{port}", timeout=2))
    for attempt in (lambda: client.send([{"labels": {"alertname": "a"}}]), client.probe):
        with pytest.raises(SendError) as caught:
            attempt()
        assert str(caught.value) == "Connection refused"


@pytest.mark.parametrize(("status", "reachable"), [(200, True), (404, True), (405, True), (401, False),
                                                   (403, False), (500, False), (503, False)])
def test_the_probe_counts_an_answering_server_as_reachable_and_refusals_as_down(
        server: tuple[str, Recorder], client: Callable[[AlertmanagerTarget], AlertmanagerClient],
        status: int, reachable: bool) -> None:
    """A gateway serving only the POST path answers 404/405 to the status GET, and is up; wrong credentials
    (401/403) and a failing server (5xx) fail the POSTs too, so they count as down (issue 20 review item 4)."""
    url, recorder = server
    recorder.status_answer = status
    if reachable:
        client(AlertmanagerTarget(url)).probe()
    else:
        with pytest.raises(SendError, match=f"HTTP {status} from /api/v2/status"):
            client(AlertmanagerTarget(url)).probe()
    assert recorder.requests[-1]["path"] == "/api/v2/status"
