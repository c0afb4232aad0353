"""The fault soak: vendor changes for many objects, faults at random moments, then a check of every
Alertmanager against a model of what the clouds last said about each object.

    .venv/bin/python bench/soak/run.py --store sqlite --minutes 30          # faults, then the check
    .venv/bin/python bench/soak/run.py --mode load --minutes 60            # steady load, memory slopes
    .venv/bin/python bench/soak/run.py --ci --seed 1                       # the suite's 15-second run
    make soak                                                              # the long run (README "Soak")

Exit status 1 when anything acknowledged is lost, a resolved object is active again, an object has two
active alerts, any answer was a 5xx other than a 503 with Retry-After, or a fault could not be undone;
the report (stdout, and JSON under --output) gives the seed that replays the run's plan.
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # ``python bench/soak/run.py`` puts bench/soak/, not the checkout, on the path

from bench.soak.clouds import Clouds  # noqa: E402
from bench.soak.faults import Faults, kinds_for  # noqa: E402
from bench.soak.model import Model, check, failures  # noqa: E402
from bench.soak.sampling import Sampler  # noqa: E402
from bench.soak.stack import Stack  # noqa: E402

SETTLE = 45.0
"""After the faults stop and every change is acknowledged: how long delivery may take to match the model
(several re-send intervals, and a lease handover)."""


COVER_LIMIT = 60.0
"""At most this much more load while waiting for a kind of fault that has not happened yet."""


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].replace("\n", " "))
    parser.add_argument("--mode", choices=("faults", "load"), default="faults",
                        help="faults: inject them, then check; load: no faults, for the memory slopes")
    parser.add_argument("--store", choices=("sqlite", "redis"), default="sqlite")
    parser.add_argument("--seed", type=int, default=None, help="replays a run's plan (default: a new seed)")
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--rate", type=float, default=20.0, help="plan steps a second (each one or more callbacks)")
    parser.add_argument("--objects", type=int, default=600)
    parser.add_argument("--fault-interval", type=float, default=20.0, help="mean seconds between faults")
    parser.add_argument("--downtime", type=float, default=1.0, help="scales how long outages last")
    parser.add_argument("--sample-interval", type=float, default=15.0, help="seconds between memory samples")
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "soak" / "results")
    parser.add_argument("--workdir", type=Path, help="keep the processes' files and logs here (default: removed)")
    parser.add_argument("--ci", action="store_true", help="the suite's size: 15 s, 60 objects, a fault a second")
    args = parser.parse_args(argv)
    if args.ci:
        args.minutes, args.objects, args.rate, args.fault_interval = 0.25, 60, 15.0, 1.2
        args.downtime, args.sample_interval = 0.4, 1.0
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(1_000_000)
    return args


def soak(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    started = time.time()
    stack = Stack(workdir, args.store)
    model = Model()
    clouds = Clouds(args.seed, stack.endpoints, model, args.objects,  # the endpoints are known before start
                    signing=stack.signing)
    sampler = Sampler(stack, args.sample_interval)
    report: dict[str, Any] = {"seed": args.seed, "mode": args.mode, "store": args.store, "minutes": args.minutes,
                              "rate": args.rate, "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    try:
        stack.start()
        faults = (Faults(stack, random.Random(f"{args.seed}/faults"), kinds_for(args.store), args.fault_interval,
                         args.downtime) if args.mode == "faults" else None)  # after start: is there a disk?
        sampler.start()
        if faults:
            faults.start()
        clouds.run(args.minutes * 60, args.rate)
        if faults:  # a short run goes on until each kind of fault has happened once
            clouds.run(COVER_LIMIT, args.rate, until=lambda: faults.covered)
            faults.stop()
        report["not_ready"] = stack.wait_up()
        report["drained"] = clouds.drain(timeout=90)
        settle_start = time.monotonic()
        result = _settle(stack, model)
        report["settle_seconds"] = round(time.monotonic() - settle_start, 1)
        sampler.stop()
        report.update(check=result, clouds=clouds.report(), model={
            "acknowledged": model.acknowledged, "acknowledged_stale": model.acknowledged_stale,
            "acknowledged_by_vendor": dict(sorted(model.acknowledged_by_vendor.items())),
            "objects_with_a_last_word": len(model.last)})
        report["faults"] = faults.report() if faults else None
        report["memory"] = sampler.report()
        report["bridge_log_tracebacks"] = stack.tracebacks()
    finally:
        clouds.close()
        stack.stop()
    report["wall_minutes"] = round((time.time() - started) / 60, 1)
    report["verdict"] = verdict(report)
    return report


def _settle(stack: Stack, model: Model) -> dict[str, Any]:
    """Poll every Alertmanager until what it holds matches the model, or SETTLE runs out."""
    deadline = time.monotonic() + SETTLE
    while True:
        result = check(model, {am.url: am.alerts() for am in stack.ams})
        if not failures(result) or time.monotonic() > deadline:
            return result
        time.sleep(1)


def verdict(report: dict[str, Any]) -> dict[str, Any]:
    result, clouds, faults = report["check"], report["clouds"], report["faults"] or {}
    five_xx = sum(n for reason, n in clouds["refused"].items() if reason[:1] == "5" and not reason.startswith("503"))
    figures = {"lost": len(result["lost"]), "resurrected": len(result["resurrected"]),
               "duplicates": len(result["duplicates"]), "unknown_active": len(result["unknown"]), "5xx": five_xx,
               "answer_errors": len(clouds["errors"]), "fault_errors": len(faults.get("errors", [])),
               "tracebacks": report["bridge_log_tracebacks"], "undrained": 0 if report["drained"] else 1,
               "not_ready": len(report["not_ready"])}
    return {**figures, "ok": not any(figures.values())}


def summary(report: dict[str, Any]) -> str:
    v, c, m = report["verdict"], report["clouds"], report["model"]
    faults = report["faults"] or {}
    lines = [f"soak {report['mode']} on {report['store']}: seed {report['seed']}, {report['minutes']} min of load, "
             f"{report['wall_minutes']} min in all",
             f"  changes {c['tally'].get('changes', 0)} for {c['objects']} objects of {', '.join(c['vendors'])}; "
             f"posts {c['tally'].get('posts', 0)}; acknowledged {m['acknowledged']} "
             f"(of which stale {m['acknowledged_stale']}); exact repeats {c['tally'].get('exact_repeats', 0)}, "
             f"late retries {c['tally'].get('late_retries', 0)}, bursts {c['tally'].get('bursts', 0)}, "
             f"given up then re-sent {c['tally'].get('re_sent_after_giving_up', 0)}",
             f"  acknowledged by vendor: {json.dumps(m.get('acknowledged_by_vendor', {}))}",
             f"  faults injected: {json.dumps(faults.get('injected', {}))}",
             f"  faults skipped: {json.dumps(faults.get('skipped', {}))}",
             *(f"  note: {note}" for note in faults.get("notes", [])),
             f"  after a supervisor kill the rest lived on (s): {faults.get('after_supervisor_kill_others_lived_s')}",
             f"  while the disk was full: {json.dumps(faults.get('disk_full_seen'))}",
             f"  refused: {json.dumps(c['refused'])}",
             f"  last words: {json.dumps(report['check']['objects'])}; settled in {report['settle_seconds']} s",
             f"  lost {v['lost']}, resurrected {v['resurrected']}, duplicates {v['duplicates']}, "
             f"unknown active {v['unknown_active']}, 5xx {v['5xx']}, answer errors {v['answer_errors']}, "
             f"fault errors {v['fault_errors']}, tracebacks {v['tracebacks']}: {'OK' if v['ok'] else 'FAILED'}"]
    for role, figures in report["memory"].items():
        lines.append(f"  {role}: RSS {figures['rss_mb_first']} -> {figures['rss_mb_last']} MB "
                     f"({figures['rss_mb_per_hour']:+} MB/h), fds {figures['fds_first']} -> {figures['fds_last']} "
                     f"({figures['fds_per_hour']:+}/h) over {figures['minutes']} min")
    for key in ("lost", "resurrected", "duplicates", "unknown"):
        lines += [f"  {key}: {json.dumps(item)}" for item in report["check"][key][:10]]
    lines += [f"  error: {e}" for e in c["errors"][:10] + faults.get("errors", [])[:10] + report["not_ready"]]
    if not v["ok"]:
        lines.append(f"  replay the plan: bench/soak/run.py --store {report['store']} --seed {report['seed']} "
                     f"--minutes {report['minutes']} ...")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop every process and unmount on the way out
    print(f"soak {args.mode} on {args.store}, seed {args.seed}, {args.minutes} min", flush=True)
    if args.workdir:
        args.workdir.mkdir(parents=True)
        report = soak(args, args.workdir)
    else:
        with tempfile.TemporaryDirectory(prefix="cloud-alarm-bridge-soak-") as workdir:
            report = soak(args, Path(workdir))
    args.output.mkdir(parents=True, exist_ok=True)
    name = f"{report['mode']}-{report['store']}-{report['seed']}.json"
    (args.output / name).write_text(json.dumps(report, indent=2) + "\n")
    (args.output / f"latest-{report['mode']}-{report['store']}.json").write_text(json.dumps(report, indent=2) + "\n")
    print(summary(report), flush=True)
    return 0 if report["verdict"]["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
