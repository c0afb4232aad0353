"""Settings: every option is a flag, an environment variable and a key of the YAML file.

Precedence is flag > environment > file > default. Problems are collected and reported together,
each naming where the bad value came from.
"""

from __future__ import annotations

import argparse
import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml


class ConfigError(ValueError):
    """The configuration is invalid; the message lists every problem."""


@dataclass(frozen=True)
class TlsConfig:
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""
    insecure_skip_verify: bool = False


@dataclass(frozen=True)
class AlertmanagerTarget:
    """One Alertmanager (or Mimir/Cortex tenant) that gets every alert."""

    url: str
    timeout: float = 10.0
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    username: str = ""
    password: str = field(default="", repr=False)
    bearer_token: str = field(default="", repr=False)
    tls: TlsConfig = field(default_factory=TlsConfig)

    @property
    def name(self) -> str:
        """The URL without credentials: the ``alertmanager`` label of metrics and logs."""
        scheme, sep, rest = self.url.partition("://")
        return f"{scheme}{sep}{rest.rpartition('@')[2]}".rstrip("/")

    @property
    def alerts_url(self) -> str:
        return self.url.rstrip("/") + "/api/v2/alerts"


@dataclass(frozen=True)
class Settings:
    listen: str = "0.0.0.0:8080"
    alertmanagers: tuple[AlertmanagerTarget, ...] = (AlertmanagerTarget("http://127.0.0.1:9093"),)
    store: str = "sqlite:///data/bridge.db"
    resend_interval: float = 60.0
    workers: int = 2
    threads: int = 4
    tokens: tuple[str, ...] = field(default=(), repr=False)
    log_level: str = "info"
    store_max_alerts: int = 100_000
    batch_size: int = 256
    max_firing_age: float = 0.0
    vendor_timezone: str = "Asia/Shanghai"
    max_body_bytes: int = 1 << 20
    default_severity: str = "warning"
    shutdown_timeout: float = 20.0
    lease_ttl: float = 15.0
    config_file: str = ""

    @property
    def timezone(self) -> ZoneInfo:
        return ZoneInfo(self.vendor_timezone)


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


def _duration(value: Any) -> float:
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
    seconds = _duration(value)
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


def _read_secret(path: Any) -> str:
    try:
        return Path(str(path)).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror}") from None


OPTIONS: tuple[Option, ...] = (
    Option("listen", "address to serve callbacks, /metrics and health on", _listen, "HOST:PORT"),
    Option("alertmanager_url", "Alertmanager to send to; repeat for every member of an HA set "
           "(environment: comma-separated BRIDGE_ALERTMANAGER_URLS)", _strings, "URL", repeatable=True),
    Option("store", "store URL; the default is an SQLite file under ./data", str, "URL"),
    Option("resend_interval", "re-send every firing alert this often (seconds or e.g. 1m)", _duration, "DURATION"),
    Option("workers", "gunicorn worker processes for callbacks", _positive_int, "N"),
    Option("threads", "threads per gunicorn worker", _positive_int, "N"),
    Option("config", "YAML file with any of these options (and per-Alertmanager auth and TLS)", str, "FILE"),
    Option("token", "shared secret callbacks must present; repeat to accept several while rotating",
           _strings, "SECRET", repeatable=True),
    Option("token_file", "file holding the token (a mounted Kubernetes Secret)", _read_secret, "FILE"),
    Option("log_level", "debug, info, warning or error", _choice("debug", "info", "warning", "error"), "LEVEL"),
    Option("store_max_alerts", "answer 503 when the store holds this many alerts (0: no limit)", _count, "N"),
    Option("batch_size", "most alerts in one POST to Alertmanager", _positive_int, "N"),
    Option("max_firing_age", "resolve firing alerts the vendor has not mentioned for this long (0: never)",
           _duration, "DURATION"),
    Option("vendor_timezone", "time zone of vendor times that carry none (Tencent)", _timezone, "TZ"),
    Option("max_body_bytes", "largest callback body accepted (413 above)", _positive_int, "BYTES"),
    Option("default_severity", "severity label for alarms whose vendor sends none", str, "SEVERITY"),
    Option("shutdown_timeout", "on SIGTERM, wait this long for requests and the current send", _duration,
           "DURATION"),
    Option("lease_ttl", "replicas sharing a store: another takes over delivery this long after the holder's "
           "last renewal (renewed every third of it)", _positive_duration, "DURATION"),
)
_ENV_NAMES = {"alertmanager_url": "BRIDGE_ALERTMANAGER_URLS", "token": "BRIDGE_TOKEN"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    for option in OPTIONS:
        env = _ENV_NAMES.get(option.name, option.env)
        parser.add_argument(option.flag, dest=option.name, metavar=option.metavar, default=None,
                            action="append" if option.repeatable else "store",
                            help=f"{option.help} [env {env}]")


def load(args: argparse.Namespace | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Resolve settings from flags, then environment, then the config file, then defaults."""
    env = os.environ if env is None else env
    flags = {k: v for k, v in vars(args or argparse.Namespace()).items() if v is not None}
    config_path = flags.get("config") or env.get("BRIDGE_CONFIG") or ""
    file_values = read_file(config_path) if config_path else {}
    problems: list[str] = []
    values: dict[str, Any] = {}
    for option in OPTIONS:
        env_name = _ENV_NAMES.get(option.name, option.env)
        for source, raw in ((f"flag {option.flag}", flags.get(option.name)),
                            (f"environment {env_name}", env.get(env_name) or None),
                            (f"{config_path}: {option.name}", file_values.get(_file_key(option.name)))):
            if raw is None:
                continue
            try:
                values[option.name] = _parse(option, raw)
            except (ValueError, TypeError) as exc:
                problems.append(f"{source}: {exc}")
            break
    targets = _targets(values, file_values, config_path, problems)
    if problems:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems))
    return _settings(values, targets, config_path)


def _parse(option: Option, raw: Any) -> Any:
    if option.repeatable and isinstance(raw, list):
        return tuple(item for value in raw for item in option.parse(value))
    return option.parse(raw)


def _file_key(name: str) -> str:
    return {"alertmanager_url": "alertmanager_urls", "token": "tokens"}.get(name, name)


def _settings(values: dict[str, Any], targets: tuple[AlertmanagerTarget, ...], config_path: str) -> Settings:
    tokens = tuple(values.pop("token", ())) + ((values.pop("token_file"),) if "token_file" in values else ())
    values.pop("alertmanager_url", None)
    values.pop("config", None)
    known = {f.name for f in fields(Settings)}
    settings = Settings(**{k: v for k, v in values.items() if k in known})
    return replace(settings, alertmanagers=targets or Settings.alertmanagers, tokens=tokens,
                   config_file=config_path)


def read_file(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as handle:
            data = yaml.safe_load(handle) or {}
    except OSError as exc:
        raise ConfigError(f"cannot read configuration file {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of option names")
    if "token" in data and "tokens" not in data:  # one token or a list, under either name
        data["tokens"] = data.pop("token")
    allowed = {_file_key(o.name) for o in OPTIONS} | {"alertmanagers"}
    unknown = sorted(set(map(str, data)) - allowed)
    if unknown:
        raise ConfigError(f"{path}: unknown option(s) {', '.join(unknown)}; known: {', '.join(sorted(allowed))}")
    return data


def _targets(values: dict[str, Any], file_values: Mapping[str, Any], path: str,
             problems: list[str]) -> tuple[AlertmanagerTarget, ...]:
    targets = [AlertmanagerTarget(url) for url in values.get("alertmanager_url", ())]
    for index, raw in enumerate(file_values.get("alertmanagers") or ()):
        try:
            targets.append(_target(raw))
        except (ValueError, TypeError) as exc:
            problems.append(f"{path}: alertmanagers[{index}]: {exc}")
    targets = list({t.name: t for t in targets}.values())  # a file entry refines a flag's URL
    for target in targets:
        if not re.match(r"https?://[^/]+", target.url):
            problems.append(f"alertmanager URL {target.name!r} must start with http:// or https://")
        if target.url.rstrip("/").endswith(("/api/v2/alerts", "/api/v1/alerts")):
            problems.append(f"alertmanager URL {target.name!r}: give the base URL; the bridge adds /api/v2/alerts")
    return tuple(targets)


_TARGET_KEYS = {"url", "timeout", "headers", "basic_auth", "bearer_token", "bearer_token_file", "tls_config"}


def _target(raw: Any) -> AlertmanagerTarget:
    if not isinstance(raw, dict) or "url" not in raw:
        raise ValueError("each entry needs at least a url")
    unknown = sorted(set(raw) - _TARGET_KEYS)
    if unknown:
        raise ValueError(f"unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(_TARGET_KEYS))}")
    auth = raw.get("basic_auth") or {}
    tls = raw.get("tls_config") or {}
    password = auth.get("password") or (_read_secret(auth["password_file"]) if auth.get("password_file") else "")
    token = raw.get("bearer_token") or (
        _read_secret(raw["bearer_token_file"]) if raw.get("bearer_token_file") else "")
    if auth and token:
        raise ValueError("basic_auth and bearer_token are mutually exclusive")
    return AlertmanagerTarget(
        url=str(raw["url"]),
        timeout=_duration(raw.get("timeout", 10)),
        headers={str(k): str(v) for k, v in (raw.get("headers") or {}).items()},
        username=str(auth.get("username", "")),
        password=str(password),
        bearer_token=str(token),
        tls=TlsConfig(**{k: tls[k] for k in ("ca_file", "cert_file", "key_file", "insecure_skip_verify")
                         if k in tls}),
    )


def to_json(settings: Settings) -> str:
    """Serialise resolved settings for the gunicorn process (sent over a pipe, never the environment)."""
    return json.dumps(asdict(settings))


def from_json(text: str) -> Settings:
    data = json.loads(text)
    targets = tuple(AlertmanagerTarget(**{**t, "tls": TlsConfig(**t["tls"])}) for t in data.pop("alertmanagers"))
    return Settings(**{**data, "tokens": tuple(data["tokens"]), "alertmanagers": targets})
