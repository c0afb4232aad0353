"""Settings: what ``serve`` runs with, resolved from flags, environment and the configuration file.

Precedence is flag > environment > file > default (the option table is :mod:`bridge.options`). Problems
are collected and reported together, each naming where the bad value came from. The file's mapping
rules are checked by :mod:`bridge.rules.loading`, whose ``load_settings`` is how to call :func:`load`.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from bridge.config_file import ConfigError, parse_text, read_text, yaml_text
from bridge.options import OPTIONS, TOKEN_OPTIONS, duration, env_name, file_key, parse_value, read_secret


@dataclass(frozen=True)
class TlsConfig:
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""
    insecure_skip_verify: bool = False


TENANT_HEADER = "X-Scope-OrgID"
DNS_PREFIX, SRV_PREFIX = "dns+", "dnssrv+"
"""Addresses whose replicas are found by DNS (A/AAAA, SRV), as Thanos and Cortex write them: bridge.discovery."""
DEFAULT_PORTS = {"http": 80, "https": 443}


def discovered(url: str) -> bool:
    """Whether ``url`` names a set of Alertmanagers found by DNS rather than one Alertmanager."""
    return url.startswith((DNS_PREFIX, SRV_PREFIX))


def address_problem(url: str) -> str:
    """What is wrong with an Alertmanager address, or ""."""
    prefix = SRV_PREFIX if url.startswith(SRV_PREFIX) else DNS_PREFIX if url.startswith(DNS_PREFIX) else ""
    parts = urlsplit(url.removeprefix(prefix))
    try:
        port = parts.port
    except ValueError:
        return "has an invalid port"
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        return f"must start with {prefix}http:// or {prefix}https://"
    if prefix == SRV_PREFIX and port is not None:
        return "must leave the port out: dnssrv+ takes the ports from the SRV records"
    if parts.path.rstrip("/").endswith(("/api/v2/alerts", "/api/v1/alerts")):
        return "must be the base URL: give the base URL; the bridge adds /api/v2/alerts"
    return ""


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
    allow_topics: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    signing_hosts: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    signing_ca_files: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    max_json_depth: int = 32
    max_dimensions: int = 32
    max_labels: int = 40
    max_label_value_length: int = 1024
    max_alerts_per_callback: int = 100
    max_alert_bytes: int = 16 << 10
    max_callback_bytes: int = 256 << 10
    request_timeout: float = 10.0
    max_connections: int = 1000
    log_level: str = "info"
    store_max_alerts: int = 100_000
    store_max_bytes: int = 256 << 20
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
    journal_max_callbacks: int = 1000
    journal_max_bytes: int = 16 << 20
    admin_tokens: tuple[str, ...] = field(default=(), repr=False)
    """Tokens that open the inspector (GET /, /api/v1/); none: only loopback clients."""
    alertmanager_refresh_interval: float = 30.0
    dns_server: str = ""
    config_file: str = ""

    @property
    def timezone(self) -> ZoneInfo:
        return ZoneInfo(self.vendor_timezone)


SIGNED_PUSH_OPTIONS = ("allow_topic", "signing_host", "signing_ca_file")
"""Per-vendor options of signed pushes (bridge.verify), each a mapping vendor → values in Settings."""

MAPPING_OPTIONS = frozenset({"vendor_timezone", "default_severity", "resend_interval", "max_json_depth",
                             "max_dimensions", "max_labels", "max_label_value_length", "max_alerts_per_callback",
                             "max_alert_bytes", "max_callback_bytes"})
"""The options that change what a callback becomes (``translate`` resolves only these, so previewing rules
with a production file never needs its secret files or its Alertmanagers)."""


def shown_defaults() -> dict[str, str]:
    """Each option's default as ``--help`` shows it, by option name; none for options off by default."""
    defaults = Settings()
    shown: dict[str, str] = {}
    for option in OPTIONS:
        field_name = "alertmanagers" if option.name == "alertmanager_url" else file_key(option.name)
        value = getattr(defaults, field_name, None)
        if option.name == "alertmanager_url":
            value = ", ".join(target.url for target in defaults.alertmanagers)
        elif option.parse is duration or option.name == "lease_ttl":
            value = f"{value:g}s"
        if value not in (None, "", (), {}):
            shown[option.name] = str(value)
    return shown


_URL_OPTION = next(option for option in OPTIONS if option.name == "alertmanager_url")

FileCheck = Callable[[Mapping[str, Any], str, str | None, str, list[str]], object]
"""Checks the rest of a configuration file: ``(data, path, default_severity, severity_from, problems)``."""


def load(args: argparse.Namespace | None, env: Mapping[str, str] | None, *, check_file: FileCheck,
         only: frozenset[str] | None = None) -> Settings:
    """Resolve settings from flags, then environment, then the config file, then defaults.

    ``check_file`` checks what else the file holds (its mapping rules; bridge.rules.loading.load_settings
    passes their check), so that start-up reports the problems of options and rules
    together. ``only`` names the options to resolve (the others keep their defaults and the file's
    values for them are not read, nor are its ``alertmanagers``). Raise ConfigError listing every problem.
    """
    env = os.environ if env is None else env
    flags = {k: v for k, v in vars(args or argparse.Namespace()).items() if v is not None}
    config_path = flags.get("config") or env.get("BRIDGE_CONFIG") or ""
    file_values = parse_text(read_text(config_path), config_path) if config_path else {}
    problems: list[str] = []
    values: dict[str, Any] = {}
    for option in OPTIONS:
        if only is not None and option.name not in only:
            continue
        variable = env_name(option)
        secret = option.name in TOKEN_OPTIONS
        for source, raw in ((f"flag {option.flag}", flags.get(option.name)),
                            (f"environment {variable}", env.get(variable) if secret else env.get(variable) or None),
                            (f"{config_path}: {file_key(option.name)}", file_values.get(file_key(option.name)))):
            if raw is None:
                continue
            try:
                values[option.name] = parse_value(option, raw)
            except (ValueError, TypeError) as exc:
                problems.append(f"{source}: {exc}")
            break
    targets = _targets(values, file_values if only is None else {}, config_path, problems)
    values["default_severity_from"] = severity_given(flags, env)
    if config_path:
        check_file_options(file_values, config_path, problems, only)
        check_file(file_values, config_path, values.get("default_severity"), values["default_severity_from"],
                   problems)
    if problems:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(dict.fromkeys(problems)))
    return _settings(values, targets, config_path)


def check_file_options(data: Mapping[str, Any], path: str, problems: list[str],
                       only: frozenset[str] | None = None) -> None:
    """Check every option a file sets (or those named in ``only``), even those a flag overrides now: a
    file a reload accepts must not be one the next start refuses."""
    for option in OPTIONS:
        if only is not None and option.name not in only:
            continue
        raw = data.get(file_key(option.name))
        if raw is not None:
            try:
                parse_value(option, raw)
            except (ValueError, TypeError) as exc:
                problems.append(f"{path}: {file_key(option.name)}: {exc}")
    if only is not None:
        return
    urls = data.get(file_key("alertmanager_url"))
    try:
        values = {"alertmanager_url": parse_value(_URL_OPTION, urls)} if urls is not None else {}
    except (ValueError, TypeError):  # reported above
        values = {}
    _targets(values, data, path, problems)


def severity_given(flags: Mapping[str, Any], env: Mapping[str, str]) -> str:
    """The flag or environment variable that sets the default severity, or ""."""
    if flags.get("default_severity"):
        return "flag --default-severity"
    return "environment BRIDGE_DEFAULT_SEVERITY" if env.get("BRIDGE_DEFAULT_SEVERITY") else ""


def _settings(values: dict[str, Any], targets: tuple[AlertmanagerTarget, ...], config_path: str) -> Settings:
    tokens = tuple(values.pop("token", ())) + tuple(values.pop("token_file", ()))
    values["admin_tokens"] = _unique(tuple(values.pop("admin_token", ())) + tuple(values.pop("admin_token_file", ())))
    vendor_tokens = _group(values.pop("vendor_token", ()) + values.pop("vendor_token_file", ()))
    values["allow_cidrs"] = values.pop("allow_cidr", ())
    values["vendor_allow_cidrs"] = _group(values.pop("vendor_allow_cidr", ()))
    values["trusted_proxies"] = values.pop("trusted_proxy", ())
    for option in SIGNED_PUSH_OPTIONS:
        values[file_key(option)] = _group(values.pop(option, ()))
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
        problem = address_problem(target.url)
        if problem:
            problems.append(f"alertmanager URL {target.name!r} {problem}")
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
    for key in ("basic_auth", "tls_config", "headers"):
        if raw.get(key) is not None and not isinstance(raw[key], dict):  # never echo it: it may be a secret
            raise ValueError(f"{key}: must be a mapping, got {type(raw[key]).__name__}")
    auth = raw.get("basic_auth") or {}
    tls = raw.get("tls_config") or {}
    password = auth.get("password") or (read_secret(auth["password_file"]) if auth.get("password_file") else "")
    token = raw.get("bearer_token") or (
        read_secret(raw["bearer_token_file"]) if raw.get("bearer_token_file") else "")
    if auth and token:
        raise ValueError("basic_auth and bearer_token are mutually exclusive")
    name = raw.get("name", "")
    if "name" in raw and (isinstance(name, dict | list) or not yaml_text(name).strip()):
        raise ValueError("name: must be a non-empty string")
    return AlertmanagerTarget(
        name=yaml_text(name).strip(),
        url=str(raw["url"]),
        timeout=duration(raw.get("timeout", 10)),
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
    for key in ("tokens", "allow_cidrs", "trusted_proxies", "admin_tokens"):
        data[key] = tuple(data[key])
    for key in ("vendor_tokens", "vendor_allow_cidrs", *map(file_key, SIGNED_PUSH_OPTIONS)):
        data[key] = {vendor: tuple(values) for vendor, values in data[key].items()}
    return Settings(**{**data, "alertmanagers": targets})
