"""The README's soak figures, as Markdown, from the JSON reports of a long run (bench/soak/results/).

    .venv/bin/python bench/soak/figures.py [results directory]
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).with_name("results")


def faults_table(reports: list[dict[str, Any]]) -> list[str]:
    lines = ["| run | seed | load | changes (acknowledged, of them stale) | faults injected | refused, by reason "
             "| lost | resurrected | duplicates | 5xx |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in reports:
        tally, v = r["clouds"]["tally"], r["verdict"]
        faults = ", ".join(f"{k} {n}" for k, n in sorted((r["faults"] or {}).get("injected", {}).items())) or "none"
        refused = ", ".join(f"{k}: {n}" for k, n in r["clouds"]["refused"].items()) or "none"
        lines.append(f"| {r['mode']}, {r['store']} | {r['seed']} | {r['minutes']} min at {r['rate']:g} steps/s "
                     f"| {tally.get('changes', 0)} ({r['model']['acknowledged']}, {r['model']['acknowledged_stale']}) "
                     f"| {faults} | {refused} | {v['lost']} | {v['resurrected']} | {v['duplicates']} | {v['5xx']} |")
    return lines


def memory_table(report: dict[str, Any]) -> list[str]:
    lines = [f"Memory and descriptors, {report['mode']} run on {report['store']} ({report['minutes']} min):", "",
             "| process | RSS first → last (max) MB | RSS slope | fds first → last | fds slope |",
             "|---|---|---|---|---|"]
    for role, m in report["memory"].items():
        lines.append(f"| {role} | {m['rss_mb_first']} → {m['rss_mb_last']} ({m['rss_mb_max']}) "
                     f"| {m['rss_mb_per_hour']:+} MB/h | {m['fds_first']} → {m['fds_last']} "
                     f"| {m['fds_per_hour']:+}/h |")
    return lines


def main(argv: list[str]) -> int:
    directory = Path(argv[0]) if argv else RESULTS
    reports = [json.loads(p.read_text()) for p in sorted(directory.glob("latest-*.json"))]
    if not reports:
        print(f"no latest-*.json in {directory}", file=sys.stderr)
        return 1
    lines = faults_table(reports)
    for report in reports:
        if report["mode"] == "load":
            lines += ["", *memory_table(report)]
    print("\n".join(lines))
    print(f"\n(load average at the end: {os.getloadavg()[0]:.1f})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
