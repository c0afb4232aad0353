"""The real ``serve`` under hostile traffic: no 5xx, no stack traces, no leaked token, and delivery goes on.

The HTTP fuzz budget follows the hypothesis profile: 400 requests in CI, 4000 with HYPOTHESIS_PROFILE=long.
"""

from __future__ import annotations

import collections
import contextlib
import json
import select
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlencode

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.web.page import PAGES
from tests.harness.alertmanager import Alertmanager, active
from tests.harness.bridge_process import Bridge
from tests.harness.fuzzing import (
    CONTENT_TYPES,
    PROFILE,
    authorization_values,
    deep_bodies,
    invalid_utf8,
    json_values,
    mutated_form,
    mutated_json,
    pathological_texts,
    raw_targets,
    texts,
)
from tests.harness.payloads import kingsoft, tencent
from tests.harness.processes import wait_for

pytestmark = pytest.mark.e2e
TOKEN = "fuzz-s3cret-token"
BODY_LIMIT = 64 * 1024
HTTP_EXAMPLES = {"long": 4000}.get(PROFILE, 400)
INSPECTOR_PAGES = {path.encode() for path, _ in PAGES}
"""The inspector's pages answer HTML (a 403 page too, saying how to get in); every other answer is JSON."""


@pytest.fixture
def bridge(alertmanager: Alertmanager, start_bridge: Callable[..., Bridge]) -> Bridge:
    return start_bridge([alertmanager.url], f"--token={TOKEN}", f"--max-body-bytes={BODY_LIMIT}",
                        "--request-timeout=2")


def huge(n: int) -> bytes:
    return b'{"alarmStatus": "1", "sessionId": "' + b"x" * n + b'"}'


bodies = st.one_of(
    st.tuples(st.just("application/json"), mutated_json().map(lambda sample: sample[1])),
    st.tuples(st.just("application/x-www-form-urlencoded"), mutated_form()),
    st.tuples(st.sampled_from(CONTENT_TYPES), st.binary(max_size=4096)),
    st.tuples(st.sampled_from(CONTENT_TYPES), json_values.map(lambda v: json.dumps(v).encode())),
    st.tuples(st.just("application/json"), deep_bodies),
    st.tuples(st.just("application/json"), invalid_utf8),
    st.tuples(st.just("application/json"), pathological_texts.map(str.encode)),
    st.tuples(st.just("application/x-www-form-urlencoded"),
              pathological_texts.map(lambda text: urlencode({"alertState": "ALERT", "dimensions": text}).encode())),
    st.tuples(st.just("application/json"), st.integers(BODY_LIMIT - 100, BODY_LIMIT * 4).map(huge)),
)
requests_ = st.fixed_dictionaries({
    "method": st.sampled_from(["POST"] * 8 + ["GET", "HEAD", "PUT", "DELETE", "PATCH", "OPTIONS"]),
    "vendor": st.sampled_from(["tencent", "aliyun", "kingsoft", "tencent", "aliyun", "kingsoft", "gcp", "volcengine",
                               "azure", "..%2f"]),
    "token": st.sampled_from([TOKEN] * 6 + [None, "wrong", TOKEN + "x"]),
    "session": texts,
    "body": bodies,
})


def test_a_fuzz_run_gets_no_5xx_and_a_valid_callback_still_goes_through(bridge: Bridge,
                                                                       alertmanager: Alertmanager) -> None:
    assert bridge.post("tencent", tencent("ins-before"), params={"token": TOKEN}).status_code == 200
    alertmanager.wait_for(active, message="the alert from before the fuzz", unInstanceId="ins-before")
    statuses: collections.Counter[int] = collections.Counter()
    session = requests.Session()

    @settings(max_examples=HTTP_EXAMPLES, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(request=requests_)
    def one(request: dict) -> None:
        content_type, body = request["body"]
        params: dict[str, bytes | str] = {"sessionId": request["session"].encode("utf-8", "surrogatepass")}
        if request["token"] is not None:
            params["token"] = request["token"]
        response = session.request(request["method"], f"{bridge.url}/callbacks/{request['vendor']}", params=params,
                                   data=body, headers={"Content-Type": content_type}, timeout=10)
        statuses[response.status_code] += 1
        assert response.status_code < 500, (response.status_code, response.text[:300], body[:200])
        if response.status_code >= 400 and request["method"] != "HEAD":
            assert set(response.json()) == {"error"}
            assert "Traceback" not in response.text and "/bridge/" not in response.text

    try:
        one()
    finally:
        session.close()
    assert sum(statuses.values()) >= HTTP_EXAMPLES  # hypothesis may stop early only by exhausting the space
    assert {200, 400, 401, 413} <= set(statuses), statuses

    assert bridge.post("kingsoft", kingsoft("host-after"), params={"token": TOKEN}).status_code == 200
    alertmanager.wait_for(active, message="the callback after the fuzz", host="host-after")
    assert active(alertmanager.alerts(unInstanceId="ins-before")), "the fuzz harmed a stored alert"
    log = bridge.log_text()
    assert TOKEN not in log
    assert "Traceback" not in log and "unexpected error" not in log
    print(f"HTTP fuzz: {sum(statuses.values())} requests, statuses {dict(sorted(statuses.items()))}")


def read_response(sock: socket.socket) -> bytes:
    """One HTTP response: the head, then as many body bytes as Content-Length says."""
    data = b""
    while b"\r\n\r\n" not in data and (chunk := sock.recv(65536)):
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lengths = [int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")]
    while lengths and len(body) < lengths[0] and (chunk := sock.recv(65536)):
        body += chunk
    return head + b"\r\n\r\n" + body


def raw(bridge: Bridge, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", bridge.port), timeout=5) as sock:
        sock.sendall(request)
        return read_response(sock)


@pytest.mark.parametrize("request_bytes", [
    b"GARBAGE /callbacks/tencent?token=" + TOKEN.encode() + b" HTTP/9.9\r\n\r\n",
    b"POST /callbacks/tencent HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
    b"POST /callbacks/tencent HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
    b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    b"POST /callbacks/tencent HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\nhello",
], ids=["request-line", "transfer-coding", "header", "long-uri", "double-length"])
def test_malformed_http_gets_a_json_4xx_from_a_nameless_server(bridge: Bridge, request_bytes: bytes) -> None:
    answer = raw(bridge, request_bytes)
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split()[1])
    assert 400 <= status < 500, answer[:300]
    assert b"Server: cloud-alarm-bridge\r\n" in head and b"gunicorn" not in answer
    assert b"application/json" in head and "error" in json.loads(body)
    assert TOKEN not in bridge.log_text()


def test_a_stalled_sender_is_cut_off_and_does_not_block_others(bridge: Bridge) -> None:
    started = time.monotonic()
    with contextlib.ExitStack() as sockets:
        stalled = sockets.enter_context(socket.create_connection(("127.0.0.1", bridge.port), timeout=10))
        stalled.sendall(b"POST /callbacks/tencent?token=" + TOKEN.encode() + b" HTTP/1.1\r\nHost: x\r\n"
                        b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{")
        # eight more stalled senders would fill 2 workers x 4 threads without the timeout
        for _ in range(8):
            other = sockets.enter_context(socket.create_connection(("127.0.0.1", bridge.port), timeout=10))
            other.sendall(b"POST /callbacks/kingsoft HTTP/1.1\r\nHost: x\r\n")
        answer = read_response(stalled)
        assert answer.startswith(b"HTTP/1.1 408"), answer
        assert json.loads(answer.partition(b"\r\n\r\n")[2]) == {"error": "the request body did not arrive in time"}
        assert time.monotonic() - started < 6
        assert bridge.post("tencent", tencent("ins-x"), params={"token": TOKEN}).status_code == 200
    assert 'cloud_alarm_bridge_callbacks_total{outcome="timeout",vendor="tencent"} 1.0' in bridge.metrics()


def test_no_spelling_of_the_token_reaches_the_access_log(bridge: Bridge) -> None:
    body = tencent("ins-spelled")

    def post(query: bytes) -> int:
        head = (b"POST /callbacks/tencent?" + query + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                b"Content-Type: application/json\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n")
        answer = raw(bridge, head + body)
        return int(answer.split()[1])

    assert post(b"%74oken=" + TOKEN.encode() + b"&sessionId=1") == 200  # accepted: Werkzeug decodes the name
    assert post(b'token=old"' + TOKEN.encode()) == 401  # perhaps a real token, mistyped or rotated out
    assert post(b"x=1;token=" + TOKEN.encode()) == 401  # near misses (issue 19 item 11)
    assert post(b"token[]=" + TOKEN.encode()) == 401
    assert int(raw(bridge, b"GET /callbacks/tencent;token=" + TOKEN.encode() + b" HTTP/1.1\r\nHost: x\r\n"
                           b"Connection: close\r\n\r\n").split()[1]) == 404
    lines = ('"query": "%74oken=***&sessionId=1"', '"query": "token=***"', '"query": "x=1;token=***"',
             '"query": "token[]=***"', '"path": "/callbacks/tencent;token=***"')
    wait_for(lambda: all(line in bridge.log_text() for line in lines), message="every access log line")
    assert TOKEN not in bridge.log_text()


def trickle(socks: list[socket.socket], limit: float) -> dict[socket.socket, tuple[float, bytes]]:
    """Send each socket one byte every half second until the server answers or closes it: when, and what."""
    started = time.monotonic()
    ended: dict[socket.socket, tuple[float, bytes]] = {}
    while len(ended) < len(socks) and time.monotonic() - started < limit:
        for sock in (s for s in socks if s not in ended):
            try:
                if select.select([sock], [], [], 0)[0]:
                    ended[sock] = (time.monotonic() - started, sock.recv(65536))
                else:
                    sock.sendall(b"x")
            except OSError:  # reset by the server
                ended[sock] = (time.monotonic() - started, b"")
        time.sleep(0.5)
    return ended


def test_a_trickling_sender_is_cut_off_at_the_request_deadline(bridge: Bridge) -> None:
    """--request-timeout=2 bounds the whole request, not each read: a byte every half second would keep
    eight connections (every thread of 2 workers x 4) busy forever, and no callback would get through."""
    with contextlib.ExitStack() as stack:
        senders = [stack.enter_context(socket.create_connection(("127.0.0.1", bridge.port), timeout=10))
                   for _ in range(8)]
        for body_sender in senders[:4]:
            body_sender.sendall(b"POST /callbacks/tencent?token=" + TOKEN.encode() + b" HTTP/1.1\r\nHost: x\r\n"
                                b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{")
        for header_sender in senders[4:]:
            header_sender.sendall(b"POST /callbacks/kingsoft HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        answers: list[int] = []
        normal = threading.Thread(target=lambda: answers.append(
            bridge.post("tencent", tencent("ins-meanwhile"), params={"token": TOKEN}).status_code))
        normal.start()
        ended = trickle(senders, limit=12)
        normal.join(10)
    assert len(ended) == 8, "a trickling sender was never cut off"
    times = sorted(elapsed for elapsed, _ in ended.values())
    assert 1.5 < times[0] < 3, times  # the deadline, counted from each connection's start: no sender
    assert times[-1] < 4, times  # waits for a thread first (the event loop holds them, not the threads)
    for sender in senders:  # headers or body: told why, in JSON
        assert ended[sender][1].startswith(b"HTTP/1.1 408") and b"application/json" in ended[sender][1], ended[sender]
    assert answers == [200]
    with requests.Session() as session:  # keep-alive: each request on a connection gets the whole time again
        for _ in range(2):
            response = session.post(f"{bridge.url}/callbacks/kingsoft", data=kingsoft("host-kept"),
                                    params={"token": TOKEN}, headers={"Content-Type": "application/json"}, timeout=5)
            assert response.status_code == 200
            time.sleep(2.5)


def test_only_allowed_sources_behind_a_trusted_proxy_reach_alertmanager(tmp_path: Path,
                                                                       alertmanager: Alertmanager) -> None:
    b = Bridge(tmp_path, [alertmanager.url], "--vendor-allow-cidr=kingsoft=47.74.206.0/26",
               "--trusted-proxy=127.0.0.1", "--vendor-token=kingsoft=ks-token", "--vendor-token=tencent=tc-token",
               "--max-label-value-length=64").start()
    try:
        def send(host: str, forwarded: str, token: str = "ks-token") -> requests.Response:
            return b.post("kingsoft", kingsoft(host), headers={"X-Forwarded-For": forwarded,
                                                                "Authorization": f"Bearer {token}"})

        assert send("spoofed", "47.74.206.1, 203.0.113.9").status_code == 403  # the client wrote the left part
        assert send("outside", "203.0.113.9").status_code == 403
        assert send("other-vendor-token", "47.74.206.1", "tc-token").status_code == 401
        assert send("allowed", "47.74.206.1").status_code == 200
        long_instance = "ins-" + "长" * 100
        assert b.post("tencent", tencent(long_instance), params={"token": "tc-token"}).status_code == 200

        alertmanager.wait_for(active, message="the allowed callback", host="allowed")
        [cut] = alertmanager.wait_for(active, message="the long value", vendor="tencent")
        assert cut["labels"]["unInstanceId"] == long_instance[:63] + "…"
        assert cut["annotations"]["unInstanceId_full"] == long_instance
        assert {a["labels"].get("host") for a in active(alertmanager.alerts(vendor="kingsoft"))} == {"allowed"}
        metrics = b.metrics()
        assert 'cloud_alarm_bridge_callbacks_total{outcome="forbidden",vendor="kingsoft"} 2.0' in metrics
        assert "ks-token" not in b.log_text() and "tc-token" not in b.log_text()
    finally:
        b.stop()


def answer_of(raw_answer: bytes) -> tuple[int, bytes, dict]:
    """Status, head and JSON body of a raw answer."""
    head, _, body = raw_answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), head, json.loads(body)


def test_undecodable_bytes_get_a_counted_json_400_not_a_traceback(bridge: Bridge) -> None:
    for request_bytes in (b"GET /callbacks/tencent?\xff HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                          b"POST /-/reload?\xff HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"):
        status, _, body = answer_of(raw(bridge, request_bytes))
        assert status == 400 and "UTF-8" in body["error"], body
    status, _, body = answer_of(raw(bridge, b"POST /callbacks/tencent HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                                            b"Authorization: Basic \xc3\xa9\r\nContent-Length: 2\r\n\r\n{}"))
    assert status == 401, body
    metrics = bridge.metrics()
    assert 'cloud_alarm_bridge_callbacks_total{outcome="invalid",vendor="tencent"} 1.0' in metrics
    assert 'cloud_alarm_bridge_callbacks_total{outcome="unauthorized",vendor="tencent"} 1.0' in metrics
    assert "Traceback" not in bridge.log_text() and "unexpected error" not in bridge.log_text()


def test_a_doubled_slash_is_not_redirected_and_options_gets_json(bridge: Bridge) -> None:
    """A redirect would carry the token to whatever host the Host header names."""
    doubled = (b"POST /callbacks//tencent?token=" + TOKEN.encode() + b" HTTP/1.1\r\nHost: evil.example\r\n"
               b"Connection: close\r\nContent-Length: 2\r\n\r\n{}")
    status, head, body = answer_of(raw(bridge, doubled))
    assert status == 404 and b"location" not in head.lower() and b"evil.example" not in head, head
    assert "/callbacks/<vendor>" in body["error"] and "tencent" in body["error"]
    status, head, body = answer_of(raw(bridge, b"OPTIONS /callbacks/tencent HTTP/1.1\r\nHost: x\r\n"
                                               b"Connection: close\r\n\r\n"))
    assert status == 405 and b"application/json" in head and b"text/html" not in head, head
    assert b"Allow: " in head and b"POST" in head.partition(b"Allow: ")[2].split(b"\r\n")[0]


def test_a_chunked_body_over_the_limit_gets_413_like_one_with_a_length(bridge: Bridge,
                                                                        alertmanager: Alertmanager) -> None:
    body = tencent("ins-chunked-huge").rstrip(b"}") + b', "pad": "' + b"x" * (3 * BODY_LIMIT) + b'"}'
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 8192]), body[i:i + 8192]) for i in range(0, len(body), 8192))
    head = (b"POST /callbacks/tencent?token=" + TOKEN.encode() + b" HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
    with socket.create_connection(("127.0.0.1", bridge.port), timeout=5) as sock:
        sock.sendall(head)
        with contextlib.suppress(OSError):  # the server may answer and close before it has read it all
            sock.sendall(chunks + b"0\r\n\r\n")
        status, head_answer, answer = answer_of(read_response(sock))
    assert status == 413 and "--max-body-bytes" in answer["error"], answer
    assert b"Connection: close" in head_answer
    small = tencent("ins-chunked-small")
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(small), small)
    status, _, _ = answer_of(raw(bridge, head.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n") + chunked))
    assert status == 200
    alertmanager.wait_for(active, message="the small chunked callback", unInstanceId="ins-chunked-small")
    assert not alertmanager.alerts(unInstanceId="ins-chunked-huge")


def test_script_name_from_a_loopback_peer_does_not_re_route(bridge: Bridge) -> None:
    """gunicorn trusts loopback peers as proxies by default: SCRIPT_NAME would turn /callbacks/metrics
    into /metrics behind an ingress that exposes only /callbacks/."""
    status, _, body = answer_of(raw(bridge, b"GET /callbacks/metrics HTTP/1.1\r\nHost: x\r\nSCRIPT_NAME: /callbacks\r\n"
                                            b"Connection: close\r\n\r\n"))
    assert status == 404 and "metrics" in body["error"], body


def test_raw_request_lines_and_credentials_get_json_4xx_never_a_5xx_or_a_redirect(bridge: Bridge) -> None:
    """Bytes a client can put where requests-style clients cannot: the request target and the credentials."""
    statuses: collections.Counter[int] = collections.Counter()

    @settings(max_examples=HTTP_EXAMPLES // 4, deadline=None, database=None)
    @given(method=st.sampled_from([b"GET", b"POST", b"OPTIONS", b"PUT", b"HEAD"]), target=raw_targets,
           authorization=st.none() | authorization_values, token=st.booleans())
    def one(method: bytes, target: bytes, authorization: bytes | None, token: bool) -> None:
        if token:
            target += (b"&" if b"?" in target else b"?") + b"token=" + TOKEN.encode()
        head = method + b" " + target + b" HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n"
        if authorization is not None:
            head += b"Authorization: " + authorization + b"\r\n"
        answer = raw(bridge, head + b"Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
        status_line, _, rest = answer.partition(b"\r\n")
        status = int(status_line.split()[1])
        statuses[status] += 1
        assert status < 500 and not 300 <= status < 400, answer[:300]
        head = rest.partition(b"\r\n\r\n")[0].lower()
        assert b"\r\nlocation:" not in head
        if b"text/html" in rest:  # only the inspector's pages are HTML (for a person), locked down by their CSP;
            # a request line gunicorn refuses (a target with a space) gets its JSON 400 whatever the path
            assert target.partition(b"?")[0] in INSPECTOR_PAGES, answer[:300]
            assert b"content-security-policy: default-src 'none'" in head, answer[:300]
            return
        if status >= 400 and method != b"HEAD" and not target.startswith(b"/-/reload"):  # (text, as Prometheus')
            assert b"application/json" in rest, answer[:300]

    one()
    assert {400, 404, 405} <= set(statuses), statuses
    log = bridge.log_text()
    assert TOKEN not in log and "Traceback" not in log and "unexpected error" not in log
