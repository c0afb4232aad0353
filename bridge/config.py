"""Settings: every option is a flag, an environment variable and a key of the YAML file.

Precedence is flag > environment > file > default. Problems are collected and reported together,
each naming where the bad value came from.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from bridge.rules import Action, AnnotationTemplate, RelabelConfig, Rules


class ConfigError(ValueError):
    """The configuration is invalid; the message lists every problem."""


@dataclass(frozen=True)
class TlsConfig:
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""
    insecure_skip_verify: bool = False


TENANT_HEADER = "X-Scope-OrgID"


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
    name: str = ""
    """The target's identity: its cursor in the store and the ``alertmanager`` label of metrics and logs.
    Empty means :attr:`url_name`."""

    def __post_init__(self) -> None:
        if not self.name:
            object.__setattr__(self, "name", self.url_name)

    @property
    def url_name(self) -> str:
        """The URL without credentials."""
        scheme, sep, rest = self.url.partition("://")
        return f"{scheme}{sep}{rest.rpartition('@')[2]}".rstrip("/")

    @property
    def tenant(self) -> str:
        """The ``X-Scope-OrgID`` header (Mimir, Cortex), whatever its case; empty without one."""
        return next((v for k, v in self.headers.items() if k.lower() == TENANT_HEADER.lower()), "")

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
    vendor_tokens: Mapping[str, tuple[str, ...]] = field(default_factory=dict, repr=False)
    allow_cidrs: tuple[str, ...] = ()
    vendor_allow_cidrs: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    trusted_proxies: tuple[str, ...] = ()
    max_json_depth: int = 32
    max_dimensions: int = 32
    max_labels: int = 40
    max_label_value_length: int = 1024
    max_alerts_per_callback: int = 100
    request_timeout: float = 10.0
    log_level: str = "info"
    store_max_alerts: int = 100_000
    batch_size: int = 256
    max_firing_age: float = 0.0
    vendor_timezone: str = "Asia/Shanghai"
    max_body_bytes: int = 1 << 20
    default_severity: str = "warning"
    default_severity_from: str = ""
    """The flag or environment variable that set ``default_severity``; "" if the file or the default did.
    A reload must refuse a ``severity.default`` that conflicts with it, as the start did."""
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


def _token_files(value: Any) -> tuple[str, ...]:
    """Tokens from files, one per line (blank lines and ``#`` comments skipped): rotate by adding a line.

    A file without a token is an error: an empty mounted secret must not leave the endpoint open.
    """
    tokens: list[str] = []
    for path in _strings(value):
        lines = _read_secret(path).splitlines()
        found = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
        if not found:
            raise ValueError(f"{path} holds no token (it is empty or only # comments)")
        tokens.extend(found)
    return tuple(tokens)


def _vendor(name: str) -> str:
    from bridge.vendors import VENDORS

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


def _cidrs(value: Any) -> tuple[str, ...]:
    """IPv4/IPv6 networks; a bare address is a /32 (or /128)."""
    networks = []
    for item in _strings(value):
        try:
            networks.append(str(ipaddress.ip_network(item, strict=False)))
        except ValueError:
            raise ValueError(f"not an IP network: {item!r} (use e.g. 47.74.206.0/26 or 10.0.0.1)") from None
    return tuple(networks)


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
    Option("token_file", "file of tokens, one per line (a mounted Kubernetes Secret); repeatable",
           _token_files, "FILE", repeatable=True),
    Option("vendor_token", "token accepted for one vendor only, e.g. tencent=SECRET; repeatable",
           _per_vendor(_strings), "VENDOR=SECRET", repeatable=True),
    Option("vendor_token_file", "file of tokens for one vendor, one per line, e.g. aliyun=/run/secrets/aliyun",
           _per_vendor(_token_files), "VENDOR=FILE", repeatable=True),
    Option("allow_cidr", "accept callbacks only from these source networks; repeatable",
           _cidrs, "CIDR", repeatable=True),
    Option("vendor_allow_cidr", "source networks for one vendor, replacing --allow-cidr for it, "
           "e.g. aliyun=47.74.206.0/26", _per_vendor(_cidrs), "VENDOR=CIDR", repeatable=True),
    Option("trusted_proxy", "proxies whose X-Forwarded-For names the client; repeatable",
           _cidrs, "CIDR", repeatable=True),
    Option("max_json_depth", "deepest JSON nesting accepted (400 above)", _positive_int, "N"),
    Option("max_dimensions", "most dimensions one alarm may have (400 above)", _positive_int, "N"),
    Option("max_labels", "most labels one alert may have, core labels included (400 above)", _positive_int, "N"),
    Option("max_label_value_length", "longer label values are cut and marked; the whole value goes to the "
           "annotation <label>_full", _positive_int, "CHARS"),
    Option("max_alerts_per_callback", "most alerts one callback may carry (400 above)", _positive_int, "N"),
    Option("request_timeout", "time allowed for a whole request (line, headers, body) to arrive; 408 mid-body",
           _duration, "DURATION"),
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
TOKEN_OPTIONS = ("token", "token_file", "vendor_token", "vendor_token_file")
"""Given, they must yield a token: an empty secret or variable must never open the endpoint."""
_ENV_NAMES = {"alertmanager_url": "BRIDGE_ALERTMANAGER_URLS", "token": "BRIDGE_TOKEN",
              "vendor_token": "BRIDGE_VENDOR_TOKENS", "vendor_token_file": "BRIDGE_VENDOR_TOKEN_FILES",
              "allow_cidr": "BRIDGE_ALLOW_CIDRS", "vendor_allow_cidr": "BRIDGE_VENDOR_ALLOW_CIDRS",
              "trusted_proxy": "BRIDGE_TRUSTED_PROXIES"}
_FILE_KEYS = {"alertmanager_url": "alertmanager_urls", "token": "tokens", "vendor_token": "vendor_tokens",
              "vendor_token_file": "vendor_token_files", "allow_cidr": "allow_cidrs",
              "vendor_allow_cidr": "vendor_allow_cidrs", "trusted_proxy": "trusted_proxies"}


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
    config_text = read_text(config_path) if config_path else ""
    file_values = parse_text(config_text, config_path) if config_path else {}
    problems: list[str] = []
    values: dict[str, Any] = {}
    for option in OPTIONS:
        env_name = _ENV_NAMES.get(option.name, option.env)
        secret = option.name in TOKEN_OPTIONS
        for source, raw in ((f"flag {option.flag}", flags.get(option.name)),
                            (f"environment {env_name}", env.get(env_name) if secret else env.get(env_name) or None),
                            (f"{config_path}: {_file_key(option.name)}", file_values.get(_file_key(option.name)))):
            if raw is None:
                continue
            try:
                values[option.name] = _parse(option, raw)
            except (ValueError, TypeError) as exc:
                problems.append(f"{source}: {exc}")
            break
    targets = _targets(values, file_values, config_path, problems)
    values["default_severity_from"] = severity_given(flags, env)
    if config_path:
        _check_file(file_values, config_path, values.get("default_severity"), values["default_severity_from"],
                    problems)
    if problems:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(dict.fromkeys(problems)))
    return _settings(values, targets, config_path)


def severity_given(flags: Mapping[str, Any], env: Mapping[str, str]) -> str:
    """The flag or environment variable that sets the default severity, or ""."""
    if flags.get("default_severity"):
        return "flag --default-severity"
    return "environment BRIDGE_DEFAULT_SEVERITY" if env.get("BRIDGE_DEFAULT_SEVERITY") else ""


def _parse(option: Option, raw: Any) -> Any:
    if option.repeatable and isinstance(raw, list):
        value = tuple(item for value in raw for item in option.parse(value))
    else:
        value = option.parse(raw)
    if option.name in TOKEN_OPTIONS and not value:
        raise ValueError("given but empty; set a token, or leave the option out to run without tokens")
    return value


def _file_key(name: str) -> str:
    return _FILE_KEYS.get(name, name)


def _settings(values: dict[str, Any], targets: tuple[AlertmanagerTarget, ...], config_path: str) -> Settings:
    tokens = tuple(values.pop("token", ())) + tuple(values.pop("token_file", ()))
    vendor_tokens = _group(values.pop("vendor_token", ()) + values.pop("vendor_token_file", ()))
    values["allow_cidrs"] = values.pop("allow_cidr", ())
    values["vendor_allow_cidrs"] = _group(values.pop("vendor_allow_cidr", ()))
    values["trusted_proxies"] = values.pop("trusted_proxy", ())
    values.pop("alertmanager_url", None)
    values.pop("config", None)
    known = {f.name for f in fields(Settings)}
    settings = Settings(**{k: v for k, v in values.items() if k in known})
    return replace(settings, alertmanagers=targets or Settings.alertmanagers, tokens=_unique(tokens),
                   vendor_tokens=vendor_tokens, config_file=config_path)


def _group(pairs: tuple[tuple[str, str], ...]) -> dict[str, tuple[str, ...]]:
    grouped: dict[str, tuple[str, ...]] = {}
    for vendor, value in pairs:
        grouped[vendor] = _unique((*grouped.get(vendor, ()), value))
    return grouped


def _unique(items: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def read_text(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read configuration file {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not valid UTF-8 ({exc.reason} at byte {exc.start})") from None


def parse_text(text: str, path: str) -> dict[str, Any]:
    """The option mapping of a configuration file's text; ``path`` names it in errors."""
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of option names")
    if "token" in data and "tokens" not in data:  # one token or a list, under either name
        data["tokens"] = data.pop("token")
    allowed = {_file_key(o.name) for o in OPTIONS} | {"alertmanagers"} | set(RULE_KEYS)
    unknown = sorted(set(map(str, data)) - allowed)
    if unknown:
        raise ConfigError(f"{path}: unknown option(s) {', '.join(unknown)}; known: {', '.join(sorted(allowed))}")
    return data


def _targets(values: dict[str, Any], file_values: Mapping[str, Any], path: str,
             problems: list[str]) -> tuple[AlertmanagerTarget, ...]:
    entries: list[tuple[int, AlertmanagerTarget, bool]] = []
    for index, raw in enumerate(file_values.get("alertmanagers") or ()):
        try:
            entries.append((index, _target(raw), isinstance(raw, dict) and "name" in raw))
        except (ValueError, TypeError) as exc:
            problems.append(f"{path}: alertmanagers[{index}]: {exc}")
    from_file = _named_by_tenant(entries)
    by_name: dict[str, AlertmanagerTarget] = {}
    for url in values.get("alertmanager_url", ()):
        by_name.setdefault(AlertmanagerTarget(url).name, AlertmanagerTarget(url))
    for target in from_file.values():  # a file entry refines a flag's URL
        by_name.pop(target.url_name, None)
    for index, target in from_file.items():
        if target.name in by_name:
            problems.append(f"{path}: alertmanagers[{index}]: another entry has the name {target.name!r}; "
                            f"give each entry its own `name:` (or its own {TENANT_HEADER} header)")
        by_name[target.name] = target
    targets = tuple(by_name.values())
    for target in targets:
        if not re.match(r"https?://[^/]+", target.url):
            problems.append(f"alertmanager URL {target.name!r} must start with http:// or https://")
        if target.url.rstrip("/").endswith(("/api/v2/alerts", "/api/v1/alerts")):
            problems.append(f"alertmanager URL {target.name!r}: give the base URL; the bridge adds /api/v2/alerts")
    return targets


def _named_by_tenant(entries: list[tuple[int, AlertmanagerTarget, bool]]) -> dict[int, AlertmanagerTarget]:
    """File entries by index, those that share a URL (Mimir tenants) named apart by their tenant.

    A URL used once keeps its name, so a store's cursor and metrics series keep theirs too.
    """
    uses: dict[str, int] = {}
    for _, target, explicit in entries:
        if not explicit:
            uses[target.url_name] = uses.get(target.url_name, 0) + 1
    return {index: replace(target, name=f"{target.url_name} (tenant {target.tenant})")
            if not explicit and uses[target.url_name] > 1 and target.tenant else target
            for index, target, explicit in entries}


_TARGET_KEYS = {"name", "url", "timeout", "headers", "basic_auth", "bearer_token", "bearer_token_file", "tls_config"}


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
    name = raw.get("name", "")
    if "name" in raw and (isinstance(name, dict | list) or not _text(name).strip()):
        raise ValueError("name: must be a non-empty string")
    return AlertmanagerTarget(
        name=_text(name).strip(),
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
    for key in ("tokens", "allow_cidrs", "trusted_proxies"):
        data[key] = tuple(data[key])
    for key in ("vendor_tokens", "vendor_allow_cidrs"):
        data[key] = {vendor: tuple(values) for vendor, values in data[key].items()}
    return Settings(**{**data, "alertmanagers": targets})


# --- mapping rules (file only; reloaded on SIGHUP and POST /-/reload) --------------------------------------
RULE_KEYS = ("external_labels", "alert_relabel_configs", "vendors", "annotation_templates", "severity")
_RELABEL_KEYS = ("source_labels", "separator", "regex", "modulus", "target_label", "replacement", "action")


def load_rules(path: str, default_severity: str | None = None, severity_from: str = "") -> Rules:
    """Read and check the whole file (every option, not only the rules) and return its rules.

    ``default_severity`` (the resolved start-time option; None: the file's ``default_severity``) applies
    when the file sets no ``severity.default``. Raise ConfigError listing every problem, each naming its
    place in the file.
    """
    return check_text(read_text(path), path, default_severity, severity_from)


def check_text(text: str, path: str, default_severity: str | None = None, severity_from: str = "") -> Rules:
    """``load_rules`` for a file's text already read: what was checked is exactly what applies.

    ``severity_from`` names the flag or environment variable that set ``default_severity``, if one did.
    """
    problems: list[str] = []
    rules = _check_file(parse_text(text, path), path, default_severity, severity_from, problems)
    if problems:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems))
    return rules


def _check_file(data: Mapping[str, Any], path: str, default_severity: str | None, severity_from: str,
                problems: list[str]) -> Rules:
    """The one check of a configuration file, for start, reload and check-config alike: a file a
    reload accepts must not be one the next start refuses."""
    for option in OPTIONS:
        raw = data.get(_file_key(option.name))
        if raw is not None:
            try:
                _parse(option, raw)
            except (ValueError, TypeError) as exc:
                problems.append(f"{path}: {_file_key(option.name)}: {exc}")
    _targets({}, data, path, problems)
    _severity_conflict(data, path, severity_from, problems)
    return rules_from(data, path, _fallback_severity(data, default_severity), problems)


def _severity_conflict(data: Mapping[str, Any], path: str, severity_from: str, problems: list[str]) -> None:
    """Two settings for one thing: refuse rather than let one of them be silently ignored."""
    severity = data.get("severity")
    if not isinstance(severity, dict) or severity.get("default") is None:
        return
    source = severity_from or (f"{path}: default_severity" if data.get("default_severity") else "")
    if source:
        problems.append(f"{path}: severity.default: conflicts with {source}; set only one")


def rules_in(text: str, path: str, default_severity: str | None = None) -> Rules:
    """The rules of a file's text that ``check_text`` has accepted, without checking the other options
    again: they may name secret files, and whether those are readable now must not change the rules."""
    data = parse_text(text, path)
    problems: list[str] = []
    rules = rules_from(data, path, _fallback_severity(data, default_severity), problems)
    if problems:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems))
    return rules


def _fallback_severity(data: Mapping[str, Any], default_severity: str | None) -> str:
    return default_severity or _text(data.get("default_severity")) or Settings.default_severity


def rules_for(settings: Settings) -> Rules:
    """The rules the settings' configuration file holds (none without a file)."""
    return checked_config(settings)[1]


def checked_config(settings: Settings) -> tuple[str, Rules]:
    """The configuration file's text, read once, and its rules once checked ("" and the defaults without one)."""
    if not settings.config_file:
        return "", Rules(default_severity=settings.default_severity)
    text = read_text(settings.config_file)
    return text, check_text(text, settings.config_file, settings.default_severity, settings.default_severity_from)


def rules_from(data: Mapping[str, Any], path: str, default_severity: str, problems: list[str]) -> Rules:
    """Build the rules from a parsed file, appending ``FILE: place: problem`` for each problem."""
    from bridge.vendors import VENDORS

    def problem(place: str, message: str) -> None:
        problems.append(f"{path}: {place}: {message}")

    severity = _mapping(data.get("severity"), "severity", problem)
    for key in sorted(set(severity) - {"default", "vendors"}):
        problem(f"severity.{key}", "unknown key; known: default, vendors")
    by_vendor = {vendor: _text(value) for vendor, value in _mapping(
        severity.get("vendors"), "severity.vendors", problem).items()}
    vendor_rules: dict[str, tuple[RelabelConfig, ...]] = {}
    for vendor, raw in _mapping(data.get("vendors"), "vendors", problem).items():
        entry = _mapping(raw, f"vendors.{vendor}", problem)
        for key in sorted(set(entry) - {"alert_relabel_configs"}):
            problem(f"vendors.{vendor}.{key}", "unknown key; known: alert_relabel_configs")
        vendor_rules[vendor] = _relabel_configs(entry.get("alert_relabel_configs"),
                                                f"vendors.{vendor}.alert_relabel_configs", problem)
    for vendor in sorted((set(by_vendor) | set(vendor_rules)) - set(VENDORS)):
        where = "severity.vendors" if vendor in by_vendor else "vendors"
        problem(f"{where}.{vendor}", f"unknown vendor; known: {', '.join(VENDORS)}")
    for vendor, value in by_vendor.items():
        if not value:
            problem(f"severity.vendors.{vendor}", "must be a non-empty string")
    default = severity.get("default")
    if default is not None and not _text(default):
        problem("severity.default", "must be a non-empty string")
    return Rules(
        default_severity=_text(default) or default_severity,
        severity_by_vendor=by_vendor,
        external_labels=_external_labels(data.get("external_labels"), problem),
        relabel_configs=_relabel_configs(data.get("alert_relabel_configs"), "alert_relabel_configs", problem),
        vendor_relabel_configs=vendor_rules,
        annotation_templates=_templates(data.get("annotation_templates"), problem),
    )


def _text(value: Any) -> str:
    """A YAML scalar as Go's YAML would read it into a string (``true``, not ``True``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _mapping(value: Any, place: str, problem: Callable[[str, str], None]) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        problem(place, f"must be a mapping, got {type(value).__name__}")
        return {}
    return {str(k): v for k, v in value.items()}


def _external_labels(value: Any, problem: Callable[[str, str], None]) -> dict[str, str]:
    from bridge.rules import LABEL_NAME, RESERVED_PREFIX

    labels: dict[str, str] = {}
    for name, raw in _mapping(value, "external_labels", problem).items():
        if not LABEL_NAME.fullmatch(name) or name.startswith(RESERVED_PREFIX):
            problem(f"external_labels.{name}", "not a valid label name (use [a-zA-Z_][a-zA-Z0-9_]*, not __*)")
        elif isinstance(raw, dict | list) or not _text(raw):
            problem(f"external_labels.{name}", "the value must be a non-empty string")
        else:
            labels[name] = _text(raw)
    return labels


def _templates(value: Any, problem: Callable[[str, str], None]) -> tuple[AnnotationTemplate, ...]:
    templates = []
    for name, source in _mapping(value, "annotation_templates", problem).items():
        if not isinstance(source, str):
            problem(f"annotation_templates.{name}", "must be a string (a Jinja2 template)")
            continue
        try:
            templates.append(AnnotationTemplate(name, source))
        except ValueError as exc:
            problem(f"annotation_templates.{name}", str(exc))
    return tuple(templates)


def _relabel_configs(value: Any, place: str, problem: Callable[[str, str], None]) -> tuple[RelabelConfig, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        problem(place, "must be a list of relabel configs")
        return ()
    configs = []
    for index, raw in enumerate(value):
        where = f"{place}[{index}]"
        try:
            configs.append(_relabel_config(raw))
        except ValueError as exc:
            field_name, sep, message = str(exc).partition(": ")
            if sep and field_name in _RELABEL_KEYS:
                problem(f"{where}.{field_name}", message)
            else:
                problem(where, str(exc))
    return tuple(configs)


def _relabel_config(raw: Any) -> RelabelConfig:
    """One relabel config from YAML; raise ValueError ``field: problem``."""
    if not isinstance(raw, dict):
        raise ValueError("each relabel config must be a mapping")
    unknown = sorted(set(map(str, raw)) - set(_RELABEL_KEYS))
    if unknown:
        raise ValueError(f"unknown key(s) {', '.join(unknown)}; known: {', '.join(_RELABEL_KEYS)}")
    given = {key: value for key, value in raw.items() if value is not None}
    kwargs: dict[str, Any] = {}
    if "source_labels" in given:
        labels = given["source_labels"]
        if not isinstance(labels, list) or any(isinstance(x, dict | list) for x in labels):
            raise ValueError("source_labels: must be a list of label names")
        kwargs["source_labels"] = tuple(_text(x) for x in labels)
    for key in ("separator", "regex", "target_label", "replacement"):
        if key in given:
            if isinstance(given[key], dict | list):
                raise ValueError(f"{key}: must be a string")
            kwargs[key] = _text(given[key])
    if "modulus" in given:
        modulus = given["modulus"]
        if isinstance(modulus, bool) or not isinstance(modulus, int) or modulus < 0:
            raise ValueError("modulus: must be a non-negative integer")
        kwargs["modulus"] = modulus
    if "action" in given:
        action = _text(given["action"]).lower()
        if not action:
            raise ValueError("action: cannot be empty")
        if action not in set(Action):
            raise ValueError(f"action: unknown relabel action {given['action']!r}; known: {', '.join(Action)}")
        kwargs["action"] = Action(action)
    return RelabelConfig(**kwargs)
