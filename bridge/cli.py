"""The ``cloud-alarm-bridge`` command: ``serve``, ``translate``, ``check-config`` and ``store`` (argument parsing
only)."""

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
from bridge.store import StoreError, admin, open_store
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
    _add_store_parser(commands)
    args = parser.parse_args(argv)
    if args.command == "serve":
        return _serve(args)
    if args.command == "check-config":
        return _check_config(args)
    if args.command == "store":
        return _store(args)
    return _translate(args)


def _add_store_parser(commands: argparse._SubParsersAction) -> None:
    store = commands.add_parser("store", help="inspect the store, list alerts, purge them (works while serve runs)",
                                description="Matchers as amtool's: name=value, name!=value, name=~regex, "
                                "name!~regex. The store is --store, else BRIDGE_STORE, else the --config "
                                "file's, as serve would open it.")
    store.add_argument("action", choices=("stats", "list", "purge"))
    store.add_argument("matchers", nargs="*", metavar="MATCHER", help="label matchers; all must hold")
    store.add_argument("--state", action="append", default=[], choices=("firing", "resolved"))
    store.add_argument("--vendor", action="append", default=[], choices=tuple(VENDORS))
    store.add_argument("--store", metavar="URL", help="the store URL (default: as serve resolves it)")
    store.add_argument("--config", metavar="FILE", help="the configuration file serve runs with")
    store.add_argument("--all", action="store_true", help="purge: with no matcher, state or vendor, purge all")
    store.add_argument("--dry-run", action="store_true", help="purge: count what would go, delete nothing")


def _store(args: argparse.Namespace) -> int:
    try:
        settings = load_settings(argparse.Namespace(store=args.store, config=args.config))
        selection = admin.parse_selection(args.matchers, args.state, args.vendor)
    except (ConfigError, ValueError) as exc:
        print(f"cloud-alarm-bridge: {exc}", file=sys.stderr)
        return 2
    if args.action == "purge" and selection.everything and not args.all:
        print("cloud-alarm-bridge: purge needs a matcher, --state or --vendor (or --all)", file=sys.stderr)
        return 2
    now = time.time()
    try:
        store = open_store(settings.store)
        try:
            if args.action == "stats":
                print(json.dumps(admin.summary(store, now, settings.store_max_alerts, settings.store_max_bytes)))
            elif args.action == "list":
                for stored in admin.selected(store, selection, now):
                    print(json.dumps(admin.listing(stored), ensure_ascii=False))
            elif args.dry_run:
                print(json.dumps({"would_purge": sum(1 for _ in admin.selected(store, selection, now))}))
            else:
                deleted, freed = admin.purge(store, selection, now)
                print(json.dumps({"purged": deleted, "bytes": freed}))
        finally:
            store.close()
    except (StoreError, ValueError) as exc:
        print(f"cloud-alarm-bridge: store: {exc}", file=sys.stderr)
        return 1
    return 0


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
        supervisor.log.error("cannot start", extra={"error": str(exc)})
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
