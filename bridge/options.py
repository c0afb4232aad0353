"""The option table: every option is a flag, an environment variable and a key of the YAML file.

Each option names its parser, which turns a flag's, a variable's or a file's value into the setting's
value or raises ValueError saying what is wrong; :mod:`bridge.settings` applies the precedence.
"""

from __future__ import annotations

import argparse
import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bridge.vendors import VENDORS


@dataclass(frozen=True)
class Option:
    name: str
    help: str
    parse: Callable[[Any], Any]
    metavar: str = "VALUE"
    repeatable: bool = False

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def env(self) -> str:
        return "BRIDGE_" + self.name.upper()


def duration(value: Any) -> float:
    """Seconds as a number, or a Prometheus-style duration such as 90s, 5m, 1h30m."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        text = str(value).strip()
        units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
        parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)", text)
        if re.fullmatch(r"\d+(\.\d+)?", text):
            seconds = float(text)
        elif parts and "".join(n + u for n, u in parts) == text:
            seconds = sum(float(n) * units[u] for n, u in parts)
        else:
            raise ValueError(f"not a duration: {text!r} (use seconds or e.g. 30s, 5m, 1h)")
    if seconds < 0:
        raise ValueError("must not be negative")
    return seconds


def _positive_duration(value: Any) -> float:
    seconds = duration(value)
    if seconds <= 0:
        raise ValueError("must be more than 0")
    return seconds


def _positive_int(value: Any) -> int:
    number = int(str(value).strip())
    if number < 1:
        raise ValueError("must be at least 1")
    return number


def _count(value: Any) -> int:
    number = int(str(value).strip())
    if number < 0:
        raise ValueError("must not be negative")
    return number


def _listen(value: Any) -> str:
    _host, sep, port = str(value).rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"expected HOST:PORT, got {value!r}")
    return str(value)


def _timezone(value: Any) -> str:
    try:
        ZoneInfo(str(value))
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r}") from None
    return str(value)


def _choice(*allowed: str) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        text = str(value).strip().lower()
        if text not in allowed:
            raise ValueError(f"must be one of {', '.join(allowed)}, got {value!r}")
        return text

    return parse


def _strings(value: Any) -> tuple[str, ...]:
    items = value if isinstance(value, list | tuple) else str(value).split(",")
    return tuple(str(item).strip() for item in items if str(item).strip())


def _token_files(value: Any) -> tuple[str, ...]:
    """Tokens from files, one per line (blank lines and ``#`` comments skipped): rotate by adding a line.

    A file without a token is an error: an empty mounted secret must not leave the endpoint open.
    """
    tokens: list[str] = []
    for path in _strings(value):
        lines = read_secret(path).splitlines()
        found = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
        if not found:
            raise ValueError(f"{path} holds no token (it is empty or only # comments)")
        tokens.extend(found)
    return tuple(tokens)


def _vendor(name: str) -> str:
    vendor = name.strip().lower()
    if vendor not in VENDORS:
        raise ValueError(f"unknown vendor {name!r}; known: {', '.join(VENDORS)}")
    return vendor


def _per_vendor(parse_value: Callable[[Any], tuple[str, ...]]) -> Callable[[Any], tuple[tuple[str, str], ...]]:
    """``VENDOR=VALUE`` pairs: repeated flags, a comma-separated variable, or a file mapping."""

    def parse(value: Any) -> tuple[tuple[str, str], ...]:
        if isinstance(value, dict):
            items = [(str(k), v) for k, v in value.items()]
        else:
            items = []
            for entry in _strings(value):
                vendor, sep, rest = entry.partition("=")
                if not sep or not rest.strip():  # never echo the entry: it may be a secret
                    raise ValueError("expected VENDOR=VALUE, e.g. tencent=…")
                items.append((vendor, rest))
        pairs = []
        for vendor, raw in items:
            parsed = parse_value(raw)
            if not parsed:  # an empty entry would fall back to the global setting, perhaps none
                raise ValueError(f"{_vendor(vendor)}: empty")
            pairs.extend((_vendor(vendor), item) for item in parsed)
        return tuple(pairs)

    return parse


def _signed_per_vendor(parse_value: Callable[[Any], tuple[str, ...]]) -> Callable[[Any], tuple[tuple[str, str], ...]]:
    """``VENDOR=VALUE`` pairs (as :func:`_per_vendor`) for vendors whose pushes are signed (aws, huawei)."""
    per_vendor = _per_vendor(parse_value)

    def parse(value: Any) -> tuple[tuple[str, str], ...]:
        pairs = per_vendor(value)
        signed = [name for name, vendor in VENDORS.items() if getattr(vendor, "signed_by", "")]
        for vendor, _ in pairs:
            if vendor not in signed:
                raise ValueError(f"{vendor}: its callbacks are not signed; signed: {', '.join(signed)}")
        return pairs

    return parse


def _readable_files(value: Any) -> tuple[str, ...]:
    paths = _strings(value)
    for path in paths:
        read_secret(path)
    return paths


def _cidrs(value: Any) -> tuple[str, ...]:
    """IPv4/IPv6 networks; a bare address is a /32 (or /128)."""
    networks = []
    for item in _strings(value):
        try:
            networks.append(str(ipaddress.ip_network(item, strict=False)))
        except ValueError:
            raise ValueError(f"not an IP network: {item!r} (use e.g. 47.74.206.0/26 or 10.0.0.1)") from None
    return tuple(networks)


def _dns_server(value: Any) -> str:
    text = str(value).strip()
    host, sep, port = text.rpartition(":")
    if sep and "]" not in port and not (":" in host and not host.startswith("[")):
        if not port.isdigit() or not 0 < int(port) <= 65535:
            raise ValueError(f"expected HOST or HOST:PORT, got {value!r}")
    else:
        host = text
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        raise ValueError(f"give the DNS server's IP address, got {value!r}") from None
    return text


def read_secret(path: Any) -> str:
    try:
        return Path(str(path)).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror}") from None


OPTIONS: tuple[Option, ...] = (
    Option("listen", "address to serve callbacks, /metrics and health on", _listen, "HOST:PORT"),
    Option("alertmanager_url", "Alertmanager to send to (its base URL); repeat for every member of an HA set, or "
           "let DNS find them: dns+http://HOST:PORT (A/AAAA), dnssrv+http://_web._tcp.HOST (SRV)",
           _strings, "URL", repeatable=True),
    Option("alertmanager_refresh_interval", "look dns+ and dnssrv+ Alertmanager addresses up again this often",
           _positive_duration, "DURATION"),
    Option("dns_server", "DNS server for dns+ and dnssrv+ addresses, HOST[:PORT] (default: the system's "
           "resolver)", _dns_server, "HOST[:PORT]"),
    Option("store", "sqlite:///relative/path (to the working directory), sqlite:////absolute/path, or "
           "redis://host:port/db for several replicas", str, "URL"),
    Option("resend_interval", "re-send every firing alert this often (seconds or e.g. 1m)", duration, "DURATION"),
    Option("workers", "gunicorn worker processes for callbacks", _positive_int, "N"),
    Option("threads", "threads per gunicorn worker", _positive_int, "N"),
    Option("config", "YAML file with any of these options (and per-Alertmanager auth and TLS)", str, "FILE"),
    Option("token", "shared secret callbacks must present; repeat to accept several while rotating",
           _strings, "SECRET", repeatable=True),
    Option("token_file", "file of tokens, one per line, # comments allowed (a mounted Kubernetes Secret); "
           "rotate by adding a line; repeatable",
           _token_files, "FILE", repeatable=True),
    Option("vendor_token", "token accepted for one vendor only, e.g. tencent=SECRET; repeatable",
           _per_vendor(_strings), "VENDOR=SECRET", repeatable=True),
    Option("vendor_token_file", "file of tokens for one vendor, one per line, e.g. aliyun=/run/secrets/aliyun",
           _per_vendor(_token_files), "VENDOR=FILE", repeatable=True),
    Option("allow_cidr", "accept callbacks only from these source networks; repeatable",
           _cidrs, "CIDR", repeatable=True),
    Option("vendor_allow_cidr", "source networks for one vendor, replacing --allow-cidr for it, "
           "e.g. aliyun=47.74.206.0/26", _per_vendor(_cidrs), "VENDOR=CIDR", repeatable=True),
    Option("allow_topic", "accept signed pushes only from these topics, e.g. aws=arn:aws:sns:*:123456789012:*"
           " (an SNS topic ARN or SMN topic URN; * matches any characters); none given: any topic (a warning at "
           "start); repeatable", _signed_per_vendor(_strings), "VENDOR=TOPIC", repeatable=True),
    Option("signing_host", "also fetch one vendor's signing certificates and subscribe URLs from this host "
           "(exact, or * for one DNS label), e.g. aws=127.0.0.1; for tests and private endpoints; repeatable",
           _signed_per_vendor(_strings), "VENDOR=HOST", repeatable=True),
    Option("signing_ca_file", "CA bundle trusted besides the system's for one vendor's certificate and subscribe "
           "URL fetches, e.g. aws=/etc/test-ca.pem; for tests and private endpoints; repeatable",
           _signed_per_vendor(_readable_files), "VENDOR=FILE", repeatable=True),
    Option("trusted_proxy", "proxies whose X-Forwarded-For names the client; repeatable",
           _cidrs, "CIDR", repeatable=True),
    Option("max_json_depth", "deepest JSON nesting accepted (400 above)", _positive_int, "N"),
    Option("max_dimensions", "most dimensions one alarm may have (400 above)", _positive_int, "N"),
    Option("max_labels", "most labels one alert may have, core labels included (400 above)", _positive_int, "N"),
    Option("max_label_value_length", "longer label values are cut and marked; the whole value goes to the "
           "annotation <label>_full", _positive_int, "CHARS"),
    Option("max_alerts_per_callback", "most alerts one callback may carry (400 above)", _positive_int, "N"),
    Option("max_alert_bytes", "bytes of one alert's labels, annotations and URL; longer annotations are cut "
           "and marked (labels over it: 400)", _positive_int, "BYTES"),
    Option("max_callback_bytes", "bytes of all alerts of one callback together, shared out fairly; cut as "
           "for --max-alert-bytes", _positive_int, "BYTES"),
    Option("request_timeout", "time allowed for a whole request (line, headers, body) to arrive; 408 mid-body",
           duration, "DURATION"),
    Option("max_connections", "open connections per worker; above it, the one held longest (idle or slow) is closed",
           _positive_int, "N"),
    Option("log_level", "debug, info, warning or error", _choice("debug", "info", "warning", "error"), "LEVEL"),
    Option("store_max_alerts", "answer 503 when the store holds this many alerts (0: no limit)", _count, "N"),
    Option("store_max_bytes", "answer 503 when the alerts in the store take this many bytes (0: no limit); "
           "resolved alerts are evicted first", _count, "BYTES"),
    Option("batch_size", "most alerts in one POST to Alertmanager", _positive_int, "N"),
    Option("max_firing_age", "resolve firing alerts the vendor has not mentioned for this long (0: never)",
           duration, "DURATION"),
    Option("vendor_timezone", "time zone of vendor times that carry none (Tencent)", _timezone, "TZ"),
    Option("max_body_bytes", "largest callback body accepted (413 above)", _positive_int, "BYTES"),
    Option("default_severity", "severity label for alarms whose vendor sends none", str, "SEVERITY"),
    Option("shutdown_timeout", "on SIGTERM, wait this long for requests and the current send", duration,
           "DURATION"),
    Option("journal_max_callbacks", "recent callbacks kept for the inspector (GET /, /api/v1/callbacks); refused "
           "ones have their own budget beside them, a quarter of it (0: keep none)", _count, "N"),
    Option("journal_max_bytes", "bytes of recent callbacks kept for the inspector; refused ones have their own "
           "budget beside them, a quarter of it", _count, "BYTES"),
    Option("admin_token", "secret for the inspector (GET /, /api/v1/); without one, only loopback clients get in; "
           "repeat to rotate", _strings, "SECRET", repeatable=True),
    Option("admin_token_file", "file of admin tokens, one per line, # comments allowed; repeatable",
           _token_files, "FILE", repeatable=True),
    Option("lease_ttl", "replicas sharing a store: another takes over delivery this long after the holder's "
           "last renewal (renewed every third of it)", _positive_duration, "DURATION"),
)
TOKEN_OPTIONS = ("token", "token_file", "vendor_token", "vendor_token_file", "admin_token", "admin_token_file")
"""Given, they must yield a token: an empty secret or variable must never open the endpoint."""
_ENV_NAMES = {"alertmanager_url": "BRIDGE_ALERTMANAGER_URLS", "token": "BRIDGE_TOKEN",
              "admin_token": "BRIDGE_ADMIN_TOKEN",
              "vendor_token": "BRIDGE_VENDOR_TOKENS", "vendor_token_file": "BRIDGE_VENDOR_TOKEN_FILES",
              "allow_cidr": "BRIDGE_ALLOW_CIDRS", "vendor_allow_cidr": "BRIDGE_VENDOR_ALLOW_CIDRS",
              "trusted_proxy": "BRIDGE_TRUSTED_PROXIES", "allow_topic": "BRIDGE_ALLOW_TOPICS",
              "signing_host": "BRIDGE_SIGNING_HOSTS", "signing_ca_file": "BRIDGE_SIGNING_CA_FILES"}
_FILE_KEYS = {"alertmanager_url": "alertmanager_urls", "token": "tokens", "admin_token": "admin_tokens",
              "vendor_token": "vendor_tokens",
              "vendor_token_file": "vendor_token_files", "allow_cidr": "allow_cidrs",
              "vendor_allow_cidr": "vendor_allow_cidrs", "trusted_proxy": "trusted_proxies",
              "allow_topic": "allow_topics", "signing_host": "signing_hosts", "signing_ca_file": "signing_ca_files"}


def env_name(option: Option) -> str:
    return _ENV_NAMES.get(option.name, option.env)


def file_key(name: str) -> str:
    """The option's key in the configuration file."""
    return _FILE_KEYS.get(name, name)


def add_arguments(parser: argparse.ArgumentParser, defaults: dict[str, str] | None = None) -> None:
    """One flag per option; its help ends with the real default (``defaults``, by option name, as
    :func:`bridge.settings.shown_defaults` gives them) and its environment variable, each said once."""
    for option in OPTIONS:
        env = env_name(option) + (", comma-separated" if option.repeatable else "")
        default = (defaults or {}).get(option.name)
        given = f"default: {default}; env {env}" if default else f"env {env}"
        parser.add_argument(option.flag, dest=option.name, metavar=option.metavar, default=None,
                            action="append" if option.repeatable else "store",
                            help=f"{option.help} ({given})".replace("%", "%%"))


def parse_value(option: Option, raw: Any) -> Any:
    """The option's value from one source; ValueError or TypeError says what is wrong with it."""
    if option.repeatable and isinstance(raw, list):
        value = tuple(item for value in raw for item in option.parse(value))
    else:
        value = option.parse(raw)
    if option.name in TOKEN_OPTIONS and not value:
        raise ValueError("given but empty; set a token, or leave the option out to run without tokens")
    return value
