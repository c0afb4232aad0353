"""The ``cloud-alarm-bridge`` command: ``serve``, ``translate`` and ``check-config`` (argument parsing only)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from bridge import __version__, logs, pipeline
from bridge.deliver.alertmanager import ENDS_AT_RESENDS, postable
from bridge.mapping.limits import Limits
from bridge.model import InvalidPayload, UnsupportedMediaType
from bridge.options import add_arguments
from bridge.rules.loading import load_settings, rules_for
from bridge.run import supervisor
from bridge.settings import ConfigError
from bridge.store import StoreError, redact_url
from bridge.vendors import VENDORS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cloud-alarm-bridge",
                                     description="Cloud-vendor alarm callbacks in, Alertmanager v2 alerts out.")
    parser.add_argument("--version", action="version", version=f"cloud-alarm-bridge {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="receive callbacks and deliver them to Alertmanager",
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add_arguments(serve)
    translate = commands.add_parser("translate", help="print the alerts a saved callback payload becomes")
    translate.add_argument("vendor", help="tencent, aliyun or kingsoft")
    translate.add_argument("file", type=Path, help="the payload, as the vendor posts it ('-' for stdin)")
    translate.add_argument("--content-type", help="default: guessed from the payload")
    translate.add_argument("--vendor-timezone", help="zone of times that carry none (default: the --config "
                           "file's vendor_timezone, else Asia/Shanghai)")
    translate.add_argument("--config", metavar="FILE", help="apply this configuration file's mapping rules")
    check = commands.add_parser("check-config", help="check a configuration file, as serve and reloads would "
                                "(with BRIDGE_DEFAULT_SEVERITY from the environment, as serve reads it)")
    check.add_argument("file", help="the YAML configuration file")
    args = parser.parse_args(argv)
    if args.command == "serve":
        return _serve(args)
    if args.command == "check-config":
        return _check_config(args)
    return _translate(args)


def _serve(args: argparse.Namespace) -> int:
    try:
        settings = load_settings(args)
    except ConfigError as exc:
        print(f"cloud-alarm-bridge: {exc}", file=sys.stderr)
        return 2
    logs.setup(settings.log_level)
    supervisor.prepare_metrics_dir()
    try:
        return supervisor.serve(settings)
    except (StoreError, ValueError) as exc:
        supervisor.log.error("cannot start", extra={"error": str(exc), "store": redact_url(settings.store)})
        return 1


def _translate(args: argparse.Namespace) -> int:
    """Print what ``serve`` would store for a payload: the same pipeline, limits and rules."""
    vendor = VENDORS.get(args.vendor)
    if vendor is None:
        print(f"unknown vendor {args.vendor!r}; known: {', '.join(VENDORS)}", file=sys.stderr)
        return 2
    try:
        settings = load_settings(argparse.Namespace(config=args.config, vendor_timezone=args.vendor_timezone),
                                 env={})
        rules = rules_for(settings, check_options=False)
    except ConfigError as exc:
        print(f"cloud-alarm-bridge: {exc}", file=sys.stderr)
        return 2
    body = sys.stdin.buffer.read() if str(args.file) == "-" else args.file.read_bytes()
    content_type = args.content_type or _guess_content_type(body)
    now = time.time()
    try:
        parsed = pipeline.parse(vendor, body, content_type, settings, now)
        alerts = pipeline.to_alerts(parsed.alarms, rules, Limits.from_settings(settings), now)
    except (InvalidPayload, UnsupportedMediaType) as exc:
        print(f"invalid {args.vendor} payload: {exc}", file=sys.stderr)
        return 1
    shown = []
    for index, (alarm, alert) in enumerate(zip(parsed.alarms, alerts, strict=True)):
        if alert.resolve_only:
            print(f"alarm {index} ({alarm.name}) is dropped by alert_relabel_configs", file=sys.stderr)
        else:
            shown.append(postable(alert, now, ENDS_AT_RESENDS * settings.resend_interval))
    try:
        print(json.dumps(shown, ensure_ascii=False, indent=2))
        sys.stdout.flush()
    except BrokenPipeError:  # `translate ... | head` is fine
        sys.stdout = None  # type: ignore[assignment]
    return 0


def _check_config(args: argparse.Namespace) -> int:
    env = {"BRIDGE_DEFAULT_SEVERITY": os.environ.get("BRIDGE_DEFAULT_SEVERITY", "")}
    try:
        settings = load_settings(argparse.Namespace(config=args.file), env)
        rules = rules_for(settings, check_options=False)
    except ConfigError as exc:
        print(f"cloud-alarm-bridge: {exc}", file=sys.stderr)
        return 1
    vendor_rules = sum(len(configs) for configs in rules.vendor_relabel_configs.values())
    print(f"{args.file}: valid: {len(rules.relabel_configs)} global and {vendor_rules} per-vendor relabel configs, "
          f"{len(rules.external_labels)} external labels, {len(rules.annotation_templates)} annotation templates")
    return 0


def _guess_content_type(body: bytes) -> str:
    return "application/json" if body.lstrip()[:1] in (b"{", b"[") else "application/x-www-form-urlencoded"


if __name__ == "__main__":
    sys.exit(main())
