"""Logs as one JSON object per line, for the bridge and for gunicorn, with secrets kept out."""

from __future__ import annotations

import functools
import json
import logging
import re
import sys
import time
from typing import Any
from urllib.parse import unquote_plus

from gunicorn.glogging import Logger as GunicornLogger

_SECRET_WORDS = ("token", "signature", "secret", "password", "passwd")
"""A parameter whose name holds one of these, however spelt, has its value hidden."""
_PARAMETER_IN_TEXT = re.compile(r"(?:^|(?<=[\s?&;\"']))([^\s=&?;\"']+)=([^\s&]*)")
"""A ``name=value`` anywhere in a message: a malformed request line that gunicorn quotes may hold
spaces inside its query string, so a parameter is looked for wherever one can start."""
_RESERVED = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}
ACCESS_FIELDS = "bridge.access_log"
"""The WSGI environ key where the app leaves what the access log line should add (vendor, alerts...)."""
CLIENT_ADDRESS = "bridge.client"
"""The WSGI environ key of the client address the app checked (from X-Forwarded-For behind a trusted proxy)."""
QUIET_PATHS = frozenset({"/metrics", "/-/healthy", "/-/ready"})
"""Scrapes and probes: logged at debug when they succeed, so they do not drown the callbacks."""


@functools.lru_cache(maxsize=256)
def redact_query(query: str) -> str:
    """Replace the value of every secret parameter (the callback token) with ***, whatever it holds.

    Names are compared as Werkzeug reads them, percent-decoded (``%74oken`` is ``token``), so that
    every spelling the app accepts is hidden; and near misses too (``token[]``, ``token%00``,
    ``x=1;token=``, ``tokens``), since a mistyped parameter may carry a real token: over-hiding a
    log value costs nothing, leaking a token costs a rotation.
    """
    return "&".join(_redact_parameter(parameter) for parameter in query.split("&"))


def _redact_parameter(parameter: str) -> str:
    """Hide from the first secret ``name=`` on, to the next ``&``; ``;`` also separates parameters to some
    servers and proxies, so a name after one counts too."""
    pieces = parameter.split(";")
    for index, piece in enumerate(pieces):
        name, sep, _value = piece.partition("=")
        if sep and is_secret_name(name):
            return ";".join([*pieces[:index], f"{name}=***"])
    return parameter


def is_secret_name(name: str) -> bool:
    """Whether a parameter name, percent-decoded (repeatedly) and stripped of all but letters and digits,
    holds a secret word."""
    for _ in range(3):
        decoded = unquote_plus(name)
        if decoded == name:
            break
        name = decoded
    bare = "".join(char for char in name.lower() if char.isascii() and char.isalnum())
    return any(word in bare for word in _SECRET_WORDS)


def redact_text(text: str) -> str:
    """A message with every secret parameter in it redacted (gunicorn's messages quote request lines)."""
    return _PARAMETER_IN_TEXT.sub(lambda match: _redact_parameter(match.group()), text)


class JsonFormatter(logging.Formatter):
    """One JSON object a line: ts, level, logger, msg, and every ``extra=`` field."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": _second(int(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            # gunicorn's own messages may quote a request line, query string and all
            "msg": redact_text(record.getMessage()),
        }
        entry.update({k: v for k, v in vars(record).items() if k not in _RESERVED and not k.startswith("_")})
        if record.exc_info:
            entry["exception"] = redact_text(self.formatException(record.exc_info))
        return json_line(entry)


@functools.lru_cache(maxsize=4)
def _second(epoch_second: int) -> str:
    """A timestamp's date and time to the second, formatted once for all the lines of that second."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch_second))


def json_line(entry: dict[str, Any]) -> str:
    """``entry`` as one line of JSON, UTF-8 as written, escaped where it could not be written."""
    line = json.dumps(entry, ensure_ascii=False, default=str)
    if not line.isascii():
        try:
            line.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate from a vendor's "\ud800": the stream cannot write
            line = json.dumps(entry, default=str)  # it, so the line would be lost; JSON escapes it
    return line


def setup(level: str = "info") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


class JsonGunicornLogger(GunicornLogger):
    """Gunicorn's error and access logs as JSON; the access log never records the token."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for logger in (self.error_log, self.access_log):
            for handler in logger.handlers:
                handler.setFormatter(JsonFormatter())
        self._access_on = bool(cfg.accesslog or cfg.logconfig or cfg.logconfig_dict or cfg.syslog)
        plain = [h for h in self.access_log.handlers
                 if type(h) in (logging.StreamHandler, logging.FileHandler) and not h.filters]
        self._access_streams = plain if plain and len(plain) == len(self.access_log.handlers) \
            and not self.access_log.filters and not self.access_log.propagate else []
        """The access log's handlers when they are only streams that JsonFormatter formats (gunicorn's
        ``--access-logfile``): a line is then written to them directly, as JsonFormatter would format it,
        without a LogRecord; that was most of a callback's logging CPU (bench/NOTES.md). Empty (the
        logging module does it all) for syslog or a logging configuration of one's own."""

    def exception(self, msg: str, *args: Any, **kwargs: Any) -> None:
        """A timed-out slow sender is routine on a public endpoint: one line, no traceback."""
        if isinstance(sys.exc_info()[1], TimeoutError):
            self.info("closed a connection whose request arrived too slowly")
            return
        super().exception(msg, *args, **kwargs)

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> None:
        """One line a request; a callback's line says what it did (the app's ``ACCESS_FIELDS``), and
        ``remote`` is the client the app checked (the proxy, if one forwarded it, is ``peer``)."""
        if not self._access_on:
            return
        status = resp.status_code if hasattr(resp, "status_code") else str(resp.status).split()[0]
        path = environ.get("PATH_INFO")
        peer = environ.get("REMOTE_ADDR")
        client = environ.get(CLIENT_ADDRESS) or peer
        quiet = path in QUIET_PATHS and str(status).startswith("2")
        level = logging.DEBUG if quiet else logging.INFO
        if not self.access_log.isEnabledFor(level):
            return
        self._write_access(level, {
            "method": environ.get("REQUEST_METHOD"),
            "path": redact_text(path or ""),  # ;token=... in a path is a near miss too
            "query": redact_query(environ.get("QUERY_STRING", "")),
            "status": status,
            "bytes": getattr(resp, "sent", None),
            "duration_seconds": round(request_time.total_seconds(), 6),
            "remote": client,
            **({"peer": peer} if client != peer else {}),
            "user_agent": environ.get("HTTP_USER_AGENT"),
            **environ.get(ACCESS_FIELDS, {}),
        })

    def _write_access(self, level: int, fields: dict[str, Any]) -> None:
        """The line JsonFormatter would write for ``self.access_log.log(level, "request", extra=fields)``."""
        if not self._access_streams:
            self.access_log.log(level, "request", extra=fields)
            return
        now = time.time()
        line = json_line({"ts": f"{_second(int(now))}.{int(now % 1 * 1000):03d}Z",
                          "level": logging.getLevelName(level).lower(), "logger": self.access_log.name,
                          "msg": "request", **fields}) + "\n"
        for handler in self._access_streams:
            if level >= handler.level:
                with handler.lock:
                    handler.stream.write(line)
                    handler.flush()


class Outage:
    """Log a failure that repeats while it lasts (a store or an Alertmanager down) without flooding.

    The first failure is logged at once; while it goes on, a reminder at most every ``remind_every``
    seconds says how many attempts failed since; when an attempt succeeds again, one line says so.
    """

    def __init__(self, logger: logging.Logger, first: str, reminder: str, recovered: str,
                 remind_every: float = 60.0, **fields: Any) -> None:
        self.logger, self.fields, self.remind_every = logger, fields, remind_every
        self.messages = (first, reminder, recovered)
        self.failures = 0
        self._started = self._reminded = 0.0
        self._since_reminder = 0

    @property
    def ongoing(self) -> bool:
        return self.failures > 0

    def failed(self, error: str, level: int = logging.WARNING, **extra: Any) -> None:
        now = time.monotonic()
        self.failures += 1
        self._since_reminder += 1
        if self.failures == 1:
            self._started = self._reminded = now
            self._since_reminder = 0
            self.logger.log(level, self.messages[0], extra={**self.fields, "error": error, **extra})
        elif now - self._reminded >= self.remind_every:
            self.logger.log(level, self.messages[1], extra={
                **self.fields, "error": error, "failures": self.failures,
                "failures_since_last_log": self._since_reminder, "outage_seconds": round(now - self._started, 1),
                **extra})
            self._reminded, self._since_reminder = now, 0

    def ended(self) -> None:
        """An attempt succeeded: one line if there was an outage, then forget it."""
        if self.failures:
            self.logger.info(self.messages[2], extra={**self.fields, "failures": self.failures,
                                                      "outage_seconds": round(time.monotonic() - self._started, 1)})
        self.failures = self._since_reminder = 0
