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
from bridge.rules.loading import load_settings, load_with_rules
from bridge.run import supervisor
from bridge.settings import MAPPING_OPTIONS, ConfigError, shown_defaults
from bridge.store import StoreError, admin, open_store
from bridge.vendors import VENDORS

USAGE_ERROR = 2
"""The exit status of a usage or configuration error (argparse's own), whichever command finds it."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cloud-alarm-bridge",
                                     description="Cloud-vendor alarm callbacks in, Alertmanager v2 alerts out.")
    parser.add_argument("--version", action="version", version=f"cloud-alarm-bridge {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="receive callbacks and deliver them to Alertmanager",
                                description="Receive cloud alarm callbacks on POST /callbacks/<vendor> and "
                                "deliver them to Alertmanager. Precedence: flag > environment > --config file "
                                "> default.")
    add_arguments(serve, shown_defaults())
    translate = commands.add_parser(
        "translate", help="print the alerts a saved callback payload becomes",
        description="Print, as Alertmanager would receive them, the alerts a saved callback payload becomes: "
        "the same parsing, mapping, rules and limits as serve. Reads no environment variable.")
    translate.add_argument("vendor", help=", ".join(VENDORS))
    translate.add_argument("file", type=Path, help="the payload, as the vendor posts it ('-' for stdin)")
    translate.add_argument("--content-type", help="default: guessed from the payload (JSON or a form)")
    translate.add_argument("--vendor-timezone", metavar="TZ", help="zone of times that carry none (default: "
                           f"the --config file's vendor_timezone, else {shown_defaults()['vendor_timezone']})")
    translate.add_argument("--config", metavar="FILE", help="apply this configuration file's mapping rules "
                           "and limits (its other settings, secret files and Alertmanagers are not read)")
    check = commands.add_parser(
        "check-config", help="check a configuration file, as serve and reloads would",
        description="Check a configuration file as serve and a reload would: every option, Alertmanager entry "
        "(secret files must be readable) and mapping rule, each problem named with its place. Reads "
        "BRIDGE_DEFAULT_SEVERITY from the environment, as serve does. Exit status 0: valid, 1: invalid.")
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


def _fail(message: str, status: int = USAGE_ERROR) -> int:
    """One short line on stderr, no traceback: what is wrong and what to change."""
    print(f"cloud-alarm-bridge: {message}", file=sys.stderr)
    return status


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
        return _fail(str(exc))
    if args.action == "purge" and selection.everything and not args.all:
        return _fail("purge needs a matcher, --state or --vendor (or --all)")
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
        return _fail(f"store: {exc}", 1)
    return 0


def _serve(args: argparse.Namespace) -> int:
    try:
        settings = load_settings(args)
    except ConfigError as exc:
        return _fail(str(exc))
    logs.setup(settings.log_level)
    metrics_dir = None
    try:
        metrics_dir = supervisor.prepare_metrics_dir()
        return supervisor.serve(settings)
    except supervisor.StartError as exc:
        return _fail(str(exc), exc.exit_code)
    finally:
        supervisor.remove_metrics_dir(metrics_dir)


def _translate(args: argparse.Namespace) -> int:
    """Print what ``serve`` would store for a payload: the same pipeline, limits and rules."""
    vendor = VENDORS.get(args.vendor)
    if vendor is None:
        return _fail(f"unknown vendor {args.vendor!r}; known: {', '.join(VENDORS)}")
    try:
        settings, rules = load_with_rules(
            argparse.Namespace(config=args.config, vendor_timezone=args.vendor_timezone), env={},
            only=MAPPING_OPTIONS)
    except ConfigError as exc:
        return _fail(str(exc))
    try:
        body = sys.stdin.buffer.read() if str(args.file) == "-" else args.file.read_bytes()
    except OSError as exc:
        return _fail(f"cannot read the payload {args.file}: {_reason(exc)}")
    now = time.time()
    if getattr(vendor, "signed_by", ""):
        print(f"note: the signature of this {args.vendor} message is NOT checked by translate; serve checks it "
              "and refuses (403) what fails", file=sys.stderr)
    try:
        parsed = pipeline.parse_pasted(vendor, body, args.content_type, settings, now)
        alerts = pipeline.to_alerts(parsed.alarms, rules, Limits.from_settings(settings), now)
    except (InvalidPayload, UnsupportedMediaType) as exc:
        print(f"invalid {args.vendor} payload: {exc}", file=sys.stderr)
        return 1
    if parsed.ignored:
        print(f"no alarm: {parsed.ignored}", file=sys.stderr)
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
        _settings, rules = load_with_rules(argparse.Namespace(config=args.file), env)
    except ConfigError as exc:
        print(f"cloud-alarm-bridge: {exc}", file=sys.stderr)
        return 1
    vendor_rules = sum(len(configs) for configs in rules.vendor_relabel_configs.values())
    print(f"{args.file}: valid: {len(rules.relabel_configs)} global and {vendor_rules} per-vendor relabel configs, "
          f"{len(rules.external_labels)} external labels, {len(rules.annotation_templates)} annotation templates")
    return 0


def _reason(exc: OSError) -> str:
    if isinstance(exc, IsADirectoryError):
        return "it is a directory; give the payload file (or - for stdin)"
    if isinstance(exc, FileNotFoundError):
        return "no such file"
    if isinstance(exc, PermissionError):
        return "permission denied"
    return exc.strerror or str(exc)


if __name__ == "__main__":
    sys.exit(main())
