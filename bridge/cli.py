"""The ``cloud-alarm-bridge`` command: ``serve``, ``translate`` and ``check-config``."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

from bridge import __version__, config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cloud-alarm-bridge",
                                     description="Cloud-vendor alarm callbacks in, Alertmanager v2 alerts out.")
    parser.add_argument("--version", action="version", version=f"cloud-alarm-bridge {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="receive callbacks and deliver them to Alertmanager",
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    config.add_arguments(serve)
    translate = commands.add_parser("translate", help="print the alerts a saved callback payload becomes")
    translate.add_argument("vendor", help="tencent, aliyun or kingsoft")
    translate.add_argument("file", type=Path, help="the payload, as the vendor posts it ('-' for stdin)")
    translate.add_argument("--content-type", help="default: guessed from the payload")
    translate.add_argument("--vendor-timezone", default="Asia/Shanghai", help="zone of times that carry none")
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
    from bridge import logs, server
    from bridge.store import StoreError

    try:
        settings = config.load(args)
    except config.ConfigError as exc:
        print(f"cloud-alarm-bridge: {exc}", file=sys.stderr)
        return 2
    logs.setup(settings.log_level)
    server.prepare_metrics_dir()
    try:
        return server.serve(settings)
    except (StoreError, ValueError) as exc:
        logging.getLogger("bridge.server").error("cannot start", extra={"error": str(exc)})
        return 1


def _translate(args: argparse.Namespace) -> int:
    from zoneinfo import ZoneInfo

    from bridge.alertmanager import postable
    from bridge.rules import Rules
    from bridge.vendors import VENDORS, InvalidPayload, ParseContext, UnsupportedMediaType

    vendor = VENDORS.get(args.vendor)
    if vendor is None:
        print(f"unknown vendor {args.vendor!r}; known: {', '.join(VENDORS)}", file=sys.stderr)
        return 2
    try:
        rules = config.load_rules(args.config) if args.config else Rules()
    except config.ConfigError as exc:
        print(f"cloud-alarm-bridge: {exc}", file=sys.stderr)
        return 2
    body = sys.stdin.buffer.read() if str(args.file) == "-" else args.file.read_bytes()
    content_type = args.content_type or _guess_content_type(body)
    now = time.time()
    try:
        parsed = vendor.parse(body, content_type, ParseContext(now=now, timezone=ZoneInfo(args.vendor_timezone)))
    except (InvalidPayload, UnsupportedMediaType) as exc:
        print(f"invalid {args.vendor} payload: {exc}", file=sys.stderr)
        return 1
    alerts = []
    for index, alarm in enumerate(parsed.alarms):
        alert = rules.apply(alarm, now)
        if alert.resolve_only:
            print(f"alarm {index} ({alarm.name}) is dropped by alert_relabel_configs", file=sys.stderr)
        else:
            alerts.append(postable(alert, now, 240.0))
    try:
        print(json.dumps(alerts, ensure_ascii=False, indent=2))
        sys.stdout.flush()
    except BrokenPipeError:  # `translate ... | head` is fine
        sys.stdout = None  # type: ignore[assignment]
    return 0


def _check_config(args: argparse.Namespace) -> int:
    try:
        rules = config.load_rules(args.file, os.environ.get("BRIDGE_DEFAULT_SEVERITY") or None,
                                  config.severity_given({}, os.environ))
    except config.ConfigError as exc:
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
