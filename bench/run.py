"""The benchmark: throughput, latency, a storm, batching, outage drain, memory and replicas, beside baselines.

Run ``make bench`` (or ``.venv/bin/python bench/run.py``). Everything runs on this machine in one go,
so the ratios hold on a noisy machine even where the absolute figures do not. Every server here is real:
Debian's Alertmanager, the real ``cloud-alarm-bridge serve`` (SQLite, and Redis for replicas), and two
baselines under the same gunicorn settings as the bridge (bench/baselines/). Load comes from wrk
(saturation) and from bench/load.py (a fixed rate). A figure only counts if every acknowledged alarm
reached Alertmanager: that is checked in each scenario, and a failed check makes the run exit 1.

``--smoke`` runs every scenario with tiny numbers (CI runs it, so the benchmark cannot rot).

This file is only the entry point: it parses the flags, runs the scenarios (bench/scenarios.py) in
order and writes the report (bench/report.py); the exit code says whether every check held.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # ``python bench/run.py`` puts bench/, not the checkout, on the path

from bench.report import correctness, machine, markdown, update_readme, verdicts  # noqa: E402
from bench.scenarios import FULL, SMOKE, Bench  # noqa: E402

SCENARIOS = ("throughput", "fixed_rate", "storm", "burst", "outage_drain", "memory", "replicas")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny numbers: proves the benchmark runs")
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results", help="where latest.json/.md go")
    parser.add_argument("--update-readme", action="store_true", help="put the table into README.md")
    args = parser.parse_args(argv)
    scale = SMOKE if args.smoke else FULL
    args.output.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"date": time.strftime("%Y-%m-%d"), "scale": asdict(scale), "machine": machine(),
                               "smoke": args.smoke}
    with tempfile.TemporaryDirectory(prefix="cloud-alarm-bridge-bench-") as workdir:
        bench = Bench(scale, Path(workdir))
        for name in SCENARIOS:
            print(f"{name} ...", flush=True)
            started = time.monotonic()
            results[name] = getattr(bench, name)()
            print(f"  {json.dumps(results[name])}\n  ({time.monotonic() - started:.0f} s)", flush=True)
    results["verdicts"] = verdicts(results)
    results["correctness_failures"] = correctness(results)
    table = markdown(results)
    (args.output / "latest.json").write_text(json.dumps(results, indent=2) + "\n")
    (args.output / "latest.md").write_text(table)
    print("\n" + table)
    if args.update_readme and not args.smoke:
        update_readme(table)
    return 1 if results["correctness_failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
