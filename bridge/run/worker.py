"""The gunicorn worker that serves callbacks: an event loop that reads requests whole, threads that answer them.

gunicorn's gthread worker hands a connection to a thread as soon as its first byte arrives, and the
thread then blocks reading the rest: thirty senders trickling a header line a second take every
thread, and valid callbacks wait. It also stops polling altogether once ``worker_connections``
connections are open, so a client that opens that many idle connections and closes them hangs the
worker for good while its heartbeat keeps it looking alive. This worker keeps gthread's threads and
its keep-alive, and changes who waits for bytes:

- the loop reads every connection without blocking and buffers it until the request is whole
  (:mod:`bridge.run.framing`); a thread only gets whole requests, so slow senders cost no thread;
  a head over :data:`MAX_HEAD_BYTES` (431) or a body over ``--max-body-bytes`` (413) the loop refuses
  itself and closes, and a malformed request a thread gets ends where its bytes end: no thread ever
  reads a request from the socket;
- every connection has a deadline: ``--request-timeout`` for a request to arrive whole (counted from
  the connection's start or from a kept-alive request's first byte), gunicorn's ``keepalive`` for an
  idle kept-alive connection; a request still incomplete then gets 408, an idle one is closed;
- at ``--max-connections`` (per worker) the loop keeps accepting and closes the connection it has
  been holding longest instead, so new callbacks always get in; a connection being answered is
  never closed this way, and a valid callback takes milliseconds, so the oldest is an idle one;
- the bytes buffered for incomplete requests have a budget per worker (:data:`BUFFER_BUDGET`): a
  client without a token could otherwise park ``--max-body-bytes`` on every connection before the
  app ever sees the request; above it, the connections buffering longest are closed likewise;
- a worker holding more connections than its share leaves new ones to the others for a moment
  (:mod:`bridge.run.balance`), so that a pool opened at once does not land on one worker's one core.
"""

from __future__ import annotations

import collections
import contextlib
import errno
import json
import os
import resource
import selectors
import socket
import time
from concurrent import futures
from functools import partial
from typing import Any

from gunicorn import http
from gunicorn.workers.gthread import TConn, ThreadWorker

from bridge.run.balance import PAUSE, ConnectionShares
from bridge.run.framing import BODY_TOO_LARGE, HAND_OVER, HEAD_TOO_LARGE, BufferedSource, RequestFraming

MAX_HEAD_BYTES = 64 * 1024
"""A request line and headers (or trailer fields) longer than this get 431 from the loop, and the connection
closes. gunicorn's own limits (:data:`GUNICORN_HEAD_LIMITS`) refuse single lines and fields within it."""
GUNICORN_HEAD_LIMITS = {"limit_request_line": 4094, "limit_request_fields": 100,
                        "limit_request_field_size": 8190}
"""gunicorn's limits on a head, set by the web server; with MAX_HEAD_BYTES capping the whole, a head
gunicorn would accept (up to ~800 KB by these, its defaults) never reaches a thread."""
BUFFER_BUDGET = 64 * 1024 * 1024
"""Bytes of incomplete requests one worker buffers at most (at least four whole bodies)."""
_READ_SIZE = 64 * 1024
_ACCEPT_BATCH = 64
_SWEEP_INTERVAL = 0.25
"""How often deadlines are checked: a deadline may be overrun by this much."""
_FDS_KEPT = 64
"""File descriptors kept free of connections: the store, logs, metrics files, the wake-up pipe."""
_TOO_SLOW = json.dumps({"error": "the request did not arrive in time"}).encode()
_HEAD_TOO_LARGE = json.dumps({"error": f"the request line and headers are larger than {MAX_HEAD_BYTES} bytes"}).encode()

SERVER_HEADER = "cloud-alarm-bridge"
"""Sent as ``Server``: gunicorn always sends the header, so name the service and no version."""

request_timeout: float = 10.0
"""Set by WebServer.load_config in the master (0: no deadline); workers are forked from it and inherit it."""
max_body_bytes: int = 1 << 20
"""Likewise: a body announced or sent larger gets 413 from the loop, before it is sent (no 100 Continue)."""
shares: ConnectionShares | None = None
"""Likewise, with more than one worker: how many connections each holds (bridge.run.balance)."""


class Connection(TConn):
    """A client connection and what the loop knows of its current request."""

    def __init__(self, cfg: Any, sock: socket.socket, client: Any, server: Any) -> None:
        super().__init__(cfg, sock, client, server)
        self.buffer = bytearray()
        self.framing = RequestFraming(MAX_HEAD_BYTES, max_body_bytes)
        self.deadline = 0.0
        self.request_started = time.monotonic()  # the connection's start, then each kept-alive request's first byte
        self.whole = True  # False while a thread answers a request handed over before its body arrived
        self.continue_sent = False

    def wait_for_request(self, idle_timeout: float, now: float) -> None:
        """Back in the loop (new, or kept alive): wait for the next request's first byte, at most this long."""
        self.framing = RequestFraming(MAX_HEAD_BYTES, max_body_bytes)
        self.deadline = now + idle_timeout
        self.whole = True
        self.continue_sent = False

    def request_deadline(self) -> float | None:
        return self.request_started + request_timeout if request_timeout else None


class CallbackWorker(ThreadWorker):
    """gthread's threads and keep-alive behind an event loop that reads requests whole (module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.waiting: collections.OrderedDict[Connection, None] = collections.OrderedDict()
        """Connections the loop holds (not being answered), oldest first."""
        self.returned: collections.deque[tuple[Connection, bool]] = collections.deque()
        """Connections a thread has answered, and whether to keep them, for the loop to take back."""
        self._next_sweep = 0.0
        self.accepting: dict[socket.socket, Any] = {}
        """Each listening socket and what accepts from it."""
        self._accept_again = 0.0
        """While over its share of connections (bridge.run.balance), when this worker accepts again."""
        self._paused_last = False
        """Paused since its last accept: then it takes the next connection whatever the shares say, so that a
        share misread (a worker that died within STALE) can slow accepting, never stop it."""
        self._wake_pending = False
        self.buffered = 0
        """Bytes buffered for the connections in ``waiting``."""
        self.buffer_budget = max(BUFFER_BUDGET, 4 * (max_body_bytes + MAX_HEAD_BYTES))
        self._next_shed_warning = 0.0
        self.closed: Any = None
        """The app's cloud_alarm_bridge_connections_closed_total, once the app is loaded."""

    def init_process(self) -> None:
        """In the forked worker (the master keeps the worker object: nothing here must be opened in it)."""
        self.worker_connections = min(self.worker_connections, _usable_fds() - _FDS_KEPT)
        self._wake_read, self._wake_write = os.pipe()
        super().init_process()

    def load_wsgi(self) -> None:
        super().load_wsgi()
        state = getattr(self.wsgi, "extensions", {}).get("bridge")
        self.closed = state.metrics.connections_closed if state else None

    def _count_close(self, reason: str) -> None:
        if self.closed is not None:
            self.closed.labels(reason).inc()

    def run(self) -> None:
        if shares is not None:  # counted once it accepts (the app is loaded), not while it starts
            shares.claim(self.age, time.monotonic())
        try:
            self._serve()
        finally:
            if shares is not None:
                shares.leave()

    def _serve(self) -> None:
        os.set_blocking(self._wake_read, False)
        os.set_blocking(self._wake_write, False)
        self.poller.register(self._wake_read, selectors.EVENT_READ, self._take_back)
        for listener in self.sockets:
            listener.setblocking(False)
            # named once: during a graceful shutdown the name may no longer be available (as gthread does)
            self.accepting[listener] = partial(self.accept, listener.getsockname())
            self.poller.register(listener, selectors.EVENT_READ, self.accepting[listener])
        while self.alive:
            self.notify()
            now = time.monotonic()
            wake_at = min(self._next_sweep, self._accept_again or self._next_sweep)
            for key, _ in self.poller.select(max(0.0, min(1.0, wake_at - now))):
                key.data(key.fileobj)
            now = time.monotonic()
            if now >= self._next_sweep:
                self._sweep(now)
            if self._accept_again and now >= self._accept_again:
                self._accept_again = 0.0
                for listener, accept in self.accepting.items():
                    self.poller.register(listener, selectors.EVENT_READ, accept)
            if shares is not None:
                shares.publish(self.nr_conns, now)
            if not self.is_parent_alive():
                break
        self.tpool.shutdown(False)
        self.poller.close()
        for listener in self.sockets:
            listener.close()
        futures.wait(self.futures, timeout=self.cfg.graceful_timeout)

    def accept(self, server: Any, listener: socket.socket) -> None:
        """Take every waiting connection, while within this worker's share; over the cap, make room by closing
        the one held longest."""
        for _ in range(_ACCEPT_BATCH):
            if self._accept_again:  # paused by another listener's accept in this batch of events
                return
            if shares is not None and not self._paused_last and shares.over_share(self.nr_conns, time.monotonic()):
                self._pause_accepting()
                return
            try:
                sock, client = listener.accept()
            except BlockingIOError:  # none left, or another worker took it
                return
            except OSError as exc:
                if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    self._shed_oldest()  # room for the next try; this one stays in the backlog
                    return
                if exc.errno == errno.ECONNABORTED:
                    continue
                raise
            conn = Connection(self.cfg, sock, client, server)
            self.nr_conns += 1
            self._paused_last = False
            if self.nr_conns > self.worker_connections and not self._shed_oldest():
                self.nr_conns -= 1  # every other connection is being answered: this one cannot be held
                conn.close()
                self._count_close("shed")
                continue
            conn.wait_for_request(request_timeout or self.cfg.keepalive or 5, time.monotonic())
            self._hold(conn)

    def _pause_accepting(self) -> None:
        """Leave the waiting connections to the other workers for a moment (bridge.run.balance)."""
        self._accept_again, self._paused_last = time.monotonic() + PAUSE, True
        for listener in self.accepting:
            self.poller.unregister(listener)

    def _hold(self, conn: Connection) -> None:
        self.waiting[conn] = None
        self.buffered += len(conn.buffer)
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._readable, conn))

    def _release(self, conn: Connection) -> None:
        del self.waiting[conn]
        self.buffered -= len(conn.buffer)
        self.poller.unregister(conn.sock)

    def _close(self, conn: Connection, answer: bytes = b"") -> None:
        self._release(conn)
        if answer:
            with contextlib.suppress(OSError):  # non-blocking and small: best effort
                conn.sock.send(answer)
                conn.sock.shutdown(socket.SHUT_WR)
                # what the client sent already, read so closing does not reset the connection (and
                # discard the answer) at once; a client still sending may get a reset all the same
                for _ in range(4):
                    if not conn.sock.recv(_READ_SIZE):
                        break
        self.nr_conns -= 1
        conn.close()

    def _shed_oldest(self) -> bool:
        if not self.waiting:
            return False
        self._close(next(iter(self.waiting)))
        self._count_close("shed")
        now = time.monotonic()
        if now >= self._next_shed_warning:  # an attack or a too low cap: say so, once a minute at most
            self._next_shed_warning = now + 60
            self.log.warning("at --max-connections (%d): closing the connections held longest",
                             self.worker_connections)
        return True

    def _readable(self, conn: Connection, _sock: socket.socket) -> None:
        if conn not in self.waiting:  # closed (shed) earlier in the same batch of events
            return
        try:
            data = conn.sock.recv(_READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:  # the client went away
            self._close(conn)
            return
        if not conn.buffer and not conn.framing.has_head and conn.initialized:
            conn.request_started = time.monotonic()  # a kept-alive connection's next request begins
        conn.buffer += data
        self.buffered += len(data)
        self._advance(conn)
        if self.buffered > self.buffer_budget:
            self._shed_buffering()

    def _shed_buffering(self) -> None:
        """Over the buffer budget: close the connections that have been buffering longest."""
        for conn in [c for c in self.waiting if c.buffer]:
            if self.buffered <= self.buffer_budget:
                break
            self._close(conn)
            self._count_close("shed")

    def _advance(self, conn: Connection) -> None:
        """Hand the request to a thread once it is whole (or must be refused now); else wait for more."""
        had_head = conn.framing.has_head
        end = conn.framing.scan(conn.buffer)
        if end is None:
            deadline = conn.request_deadline()
            conn.deadline = deadline if deadline is not None else float("inf")
            if conn.framing.expects_continue and not had_head:  # the client waits for this to send its body
                with contextlib.suppress(OSError):
                    conn.sock.send(b"HTTP/1.1 100 Continue\r\n\r\n")
                conn.continue_sent = True
            return
        if end == HEAD_TOO_LARGE:
            self._close(conn, _answer(431, "Request Header Fields Too Large", _HEAD_TOO_LARGE))
            self._count_close("head_too_large")
            return
        if end == BODY_TOO_LARGE:  # the app's words (bridge.web.errors.too_large_message)
            message = f"the body is larger than {max_body_bytes} bytes (--max-body-bytes)"
            self._close(conn, _answer(413, "Request Entity Too Large", json.dumps({"error": message}).encode()))
            self._count_close("body_too_large")
            return
        self._release(conn)
        if end == HAND_OVER:
            request, conn.buffer = bytes(conn.buffer), bytearray()
            self._submit(conn, request, whole=False)
        else:
            request, conn.buffer = bytes(conn.buffer[:end]), conn.buffer[end:]
            self._submit(conn, request, whole=True)

    def _submit(self, conn: Connection, request: bytes, whole: bool, timed_out: bool = False) -> None:
        conn.whole = whole
        conn.initialized = True
        conn.sock.settimeout(request_timeout or None)  # blocking for the thread's writes, bounded
        conn.parser = http.RequestParser(self.cfg, BufferedSource(request, timed_out), conn.client)
        future = self.tpool.submit(self.handle, conn)
        future.add_done_callback(partial(self._answered, conn))
        self.futures.append(future)

    def handle(self, conn: Connection) -> tuple[bool, Connection]:
        keepalive, _ = super().handle(conn)
        return keepalive and conn.whole, conn

    def handle_request(self, req: Any, conn: Connection) -> bool:
        if not conn.whole:  # its body may be unread: the answer says the connection closes, and it does
            req.must_close = True
        if conn.continue_sent:  # the loop sent 100 Continue: gunicorn must not send a second one
            req.headers = [(name, value) for name, value in req.headers if name != "EXPECT"]
        return super().handle_request(req, conn)

    def _answered(self, conn: Connection, future: futures.Future) -> None:
        """In the thread that answered: give the connection back to the loop."""
        try:
            keepalive = not future.cancelled() and future.result()[0] and self.alive
        except Exception:
            keepalive = False
        self.returned.append((conn, keepalive))
        if not self._wake_pending:  # one wake-up takes back every connection returned until then
            self._wake_pending = True
            with contextlib.suppress(BlockingIOError):
                os.write(self._wake_write, b".")

    def _take_back(self, _fd: int) -> None:
        with contextlib.suppress(BlockingIOError):
            while os.read(self._wake_read, 4096):
                pass
        self._wake_pending = False  # after draining: a thread that returns from now on writes again
        now = time.monotonic()
        while self.returned:
            conn, keepalive = self.returned.popleft()
            if not keepalive:
                self.nr_conns -= 1
                conn.close()
                continue
            conn.sock.setblocking(False)
            conn.wait_for_request(self.cfg.keepalive, now)
            self._hold(conn)
            if conn.buffer:  # the client sent its next request already (pipelining)
                conn.request_started = now
                self._advance(conn)

    def _sweep(self, now: float) -> None:
        """Close idle connections past their deadline; answer 408 to requests that did not arrive in time."""
        self._next_sweep = now + _SWEEP_INTERVAL
        self.futures = collections.deque(f for f in self.futures if not f.done())  # kept for a graceful stop
        for conn in [c for c in self.waiting if c.deadline <= now]:
            if conn.framing.has_head:  # headers read: the app answers 408 and counts it (bridge.web.ingest)
                self._release(conn)
                request, conn.buffer = bytes(conn.buffer), bytearray()
                self._submit(conn, request, whole=False, timed_out=True)
                self._count_close("slow")
            elif conn.buffer:
                self._close(conn, _answer(408, "Request Timeout", _TOO_SLOW))
                self._count_close("slow")
            else:
                self._close(conn)
                self._count_close("idle")


def _answer(status: int, reason: str, body: bytes) -> bytes:
    return (f"HTTP/1.1 {status} {reason}\r\nServer: {SERVER_HEADER}\r\nConnection: close\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            "X-Content-Type-Options: nosniff\r\n\r\n").encode() + body


def _usable_fds() -> int:
    """Raise the soft open-files limit to the hard one, as servers do, and say what it is now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass
    return soft if soft != resource.RLIM_INFINITY else 1 << 20
