"""The long soak (``make soak``): a steady load whose processes' memory and fds are sampled, and beside it
the fault soak, first on SQLite and then on three replicas on Redis, each half the time.

Every run writes its JSON report to --output (bench/soak/results/) and its summary to stdout; the exit
status is 1 if any run failed its check.
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
from pathlib import Path

RUN = Path(__file__).with_name("run.py")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=55.0, help="the load soak's length; faults: half each")
    parser.add_argument("--seed", type=int, default=None, help="seeds: this, +1 (SQLite faults), +2 (Redis faults)")
    parser.add_argument("--output", type=Path, default=RUN.parent / "results")
    args = parser.parse_args(argv)
    seed = random.SystemRandom().randrange(1_000_000) if args.seed is None else args.seed
    common = [sys.executable, str(RUN), f"--output={args.output}"]
    load = subprocess.Popen([*common, "--mode=load", f"--seed={seed}", f"--minutes={args.minutes}"])
    failed = 0
    for offset, store in enumerate(("sqlite", "redis"), 1):
        failed += subprocess.run([*common, f"--store={store}", f"--seed={seed + offset}",
                                  f"--minutes={args.minutes / 2 - 1}"], check=False).returncode != 0
    failed += load.wait() != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
