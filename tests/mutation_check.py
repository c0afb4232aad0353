"""Mutation check: break the delivery and ingest paths on purpose and make sure the fast suite notices.

Each mutation is a text replacement in one module of a copy of the project (the working tree is never
touched); the fast layer (tests/unit, tests/contract) then runs against the copy and must fail. A
mutation that survives means a real bug of that kind would reach users with every test green.

    make mutation-check                                   # every mutation, the whole fast layer (minutes)
    .venv/bin/python tests/mutation_check.py --list
    .venv/bin/python tests/mutation_check.py -m send-error-advances -- tests/unit/test_target_loop.py

Not collected by pytest (the name does not match test_*.py). Exit status 1 if any mutation survives, 2 if
the unmutated copy already fails.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FAST_SUITE = ["tests/unit", "tests/contract"]
APPLIES_TEST = "tests/unit/test_mutation_check_applies.py"


@dataclass(frozen=True)
class Mutation:
    name: str
    path: str
    old: str
    new: str
    why: str


MUTATIONS = [
    Mutation("send-error-advances", "bridge/deliver/target.py",
             "            self._failed(error, len(bodies))\n            return False",
             "            self._failed(error, len(bodies))\n            return True",
             "a failed POST advances the cursor: the batch is lost"),
    Mutation("rejected-forgotten", "bridge/deliver/target.py",
             "self.rejected[alerts[index].fingerprint] = alerts[index].seq", "pass",
             "alerts Alertmanager rejected are re-sent at every sweep"),
    Mutation("store-error-unhandled-in-delivery", "bridge/deliver/target.py",
             "            except StoreError as exc:\n"
             "                self.store_down.failed(str(exc), logging.ERROR)\n"
             "                busy, pause = False, _backoff(self.store_down.failures)\n",
             "",
             "a store outage during delivery is logged as a bug, with a traceback at every poll"),
    Mutation("http-400-retried", "bridge/deliver/alertmanager.py",
             "if response.status_code in (400, 422):", "if response.status_code in (422,):",
             "what the real Alertmanager answers to a bad alert is retried forever, blocking the target"),
    Mutation("store-error-is-500", "bridge/web/errors.py",
             "    if isinstance(error, StoreError):\n", "    if False:\n",
             "a callback during a store outage gets a 500, not a 503 with Retry-After"),
    Mutation("ready-ignores-store", "bridge/web/ops.py",
             "        app_state().store().ping()\n", "        pass\n",
             "/-/ready says OK while the store is down"),
    Mutation("sqlite-ping-does-nothing", "bridge/store/sqlite.py",
             "    def ping(self) -> None:\n        self._read(", "    def ping(self) -> None:\n        return (",
             "the SQLite store answers pings while broken"),
    Mutation("ack-before-commit", "bridge/web/ingest.py",
             "    outcomes = state.store().apply(alerts, now, record)\n", "    outcomes = []\n",
             "a callback gets its 200 without being stored"),
    Mutation("no-retry-after", "bridge/web/errors.py",
             'RETRY_AFTER = {"Retry-After": "5"}', "RETRY_AFTER: dict[str, str] = {}",
             "a vendor told 503 is not told when to retry"),
    Mutation("token-not-checked", "bridge/web/ingest.py",
             "    if not guard.token_ok(vendor_name, presented_token(req.args, req.headers)):",
             "    if False:",
             "anyone can post alarms to a bridge that has tokens configured"),
    Mutation("invalid-is-500", "bridge/web/errors.py",
             "    if isinstance(error, InvalidPayload):\n", "    if False:\n",
             "a bad callback gets a 500 instead of a 400 naming the field"),
    Mutation("signature-not-checked", "bridge/verify/gate.py",
             "            key.verify(signed.signature, signed.signed_bytes, padding.PKCS1v15(), signed.hash)\n",
             "            pass\n",
             "a forged SNS message raises or resolves alerts"),
    Mutation("certificate-from-any-host", "bridge/verify/certificates.py",
             "    if parts.username or parts.password or not hosts.matches(host):",
             "    if parts.username or parts.password:",
             "a forger names a certificate on a host of their own, and it is fetched and trusted"),
    Mutation("subscription-confirmed-every-time", "bridge/verify/gate.py",
             "            if envelope.message_id in self._confirmed:", "            if False:",
             "each SNS retry of a confirmation fetches its SubscribeURL again"),
    Mutation("smn-any-certificate-path", "bridge/verify/smn.py",
             "        if not CERTIFICATE_PATH.fullmatch(_path(certificate_url)):", "        if False:",
             "a Huawei message makes the bridge fetch any path of Huawei's hosts as its certificate"),
    Mutation("smn-signed-with-sha1", "bridge/verify/smn.py",
             'HASHES = {"v1": hashes.SHA256}', 'HASHES = {"v1": hashes.SHA1}',
             "every genuine Huawei message is refused (SMN v1 is SHA256withRSA)"),
    Mutation("inspector-open-to-all", "bridge/web/admin.py",
             '    if local and loopback_host(headers.get("Host", "")):\n',
             "    if True:\n",
             "the inspector shows payloads to any client when no admin token is configured"),
    Mutation("refused-flood-evicts-accepted", "bridge/store/sqlite_journal.py",
             '    where = " WHERE accepted = 0" if record.refused else ""\n', '    where = ""\n',
             "a flood of refused callbacks pushes every accepted one out of the journal"),
    Mutation("journal-keeps-secrets", "bridge/web/journal.py",
             "            text = _JSON_PAIR.sub(_json_pair, text)\n", "            pass\n",
             "a recorded body shows its signature and token fields"),
    Mutation("writer-lock-request-served-twice", "bridge/store/writer_lock.py",
             "self._wanted, self._granted = False, True", "self._granted = True",
             "a waiter takes the lock again for a request already served, then lets go of what its writer holds:"
             " two writers commit at once"),
    Mutation("writer-lock-abandoned-kept", "bridge/store/writer_lock.py",
             "meanwhile\n                    fcntl.flock(self.fd, fcntl.LOCK_UN)\n",
             "meanwhile\n                    pass\n",
             "a writer that gave up waiting leaves its waiter holding the lock: every other writer waits for good"),
    Mutation("writer-lock-waiters-pile-up", "bridge/store/writer_lock.py",
             "if not self._owner.is_alive():", "if False:",
             "each delivery thread that ends leaves its waiter thread and lock file behind, for good"),
    Mutation("balance-never-yields", "bridge/run/balance.py",
             "return connections > fewest + MARGIN", "return False",
             "one worker takes every connection a pool opens at once; its one core serves the bridge alone"),
]


def copy_project(destination: Path) -> None:
    """The project's sources and tests (not its venv, caches or results) under ``destination``."""
    ignore = shutil.ignore_patterns(".venv", ".git", "__pycache__", "*.egg-info", ".pytest_cache",
                                    ".hypothesis", "results", ".ruff_cache")
    shutil.copytree(ROOT, destination, ignore=ignore)


def run_suite(copy: Path, tests: list[str]) -> tuple[int, str, str]:
    """The suite, on the copy's sources: PYTHONPATH puts the copy ahead of the editable install."""
    env = {**os.environ, "PYTHONPATH": str(copy), "HYPOTHESIS_PROFILE": os.environ.get("HYPOTHESIS_PROFILE", "ci")}
    # without the test that each mutation applies to the sources: in a mutated copy it fails by construction,
    # and would count every mutation as caught
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
                             f"--ignore={APPLIES_TEST}", *tests],
                            cwd=copy, env=env, capture_output=True, text=True)
    lines = result.stdout.strip().splitlines()
    failed = [line.split(" - ")[0].removeprefix("FAILED ") for line in lines if line.startswith("FAILED ")]
    summary = lines[-1] if lines else result.stderr.strip()[-500:]
    return result.returncode, f"{summary} {failed}" if failed else summary, result.stdout


def baseline(tests: list[str]) -> bool:
    """The unmutated copy passes: otherwise every mutation would look caught."""
    with tempfile.TemporaryDirectory(prefix="mutation-") as tmp:
        copy = Path(tmp) / "project"
        copy_project(copy)
        code, summary, output = run_suite(copy, tests)
    print(f"{'baseline ' if code == 0 else 'BROKEN   '} unmutated copy: {summary}")
    if code != 0:  # a test that fails (or flakes, under load) without any mutation: show why
        print("\n".join(line for line in output.splitlines() if line.startswith(("E ", "FAILED", "ERROR")))[-3000:])
    return code == 0


def check(mutation: Mutation, tests: list[str]) -> bool:
    """Apply ``mutation`` to a fresh copy; True when the suite fails (the mutation is caught)."""
    with tempfile.TemporaryDirectory(prefix="mutation-") as tmp:
        copy = Path(tmp) / "project"
        copy_project(copy)
        target = copy / mutation.path
        source = target.read_text()
        if source.count(mutation.old) != 1:
            print(f"STALE     {mutation.name}: the text to replace is not in {mutation.path} exactly once; "
                  "update tests/mutation_check.py")
            return False
        target.write_text(source.replace(mutation.old, mutation.new))
        started = time.monotonic()
        code, summary, _ = run_suite(copy, tests)
        seconds = time.monotonic() - started
    caught = code == 1  # 1: tests failed; anything else (2-5) is an error of the run, not a catch
    print(f"{'caught   ' if caught else 'SURVIVED '} {mutation.name} ({seconds:.0f} s): {summary}")
    if not caught:
        print(f"          {mutation.why}")
    return caught


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-m", "--mutation", action="append", help="run only this mutation (repeatable)")
    parser.add_argument("--list", action="store_true", help="list the mutations and exit")
    parser.add_argument("tests", nargs="*", default=FAST_SUITE, help=f"what to run (default: {FAST_SUITE})")
    args = parser.parse_args()
    if args.list:
        for mutation in MUTATIONS:
            print(f"{mutation.name:36} {mutation.path}: {mutation.why}")
        return 0
    chosen = [m for m in MUTATIONS if not args.mutation or m.name in args.mutation]
    if args.mutation and len(chosen) != len(set(args.mutation)):
        parser.error(f"unknown mutation; known: {', '.join(m.name for m in MUTATIONS)}")
    if not baseline(args.tests):
        return 2
    survivors = [m.name for m in chosen if not check(m, args.tests)]
    print(f"{len(chosen) - len(survivors)} of {len(chosen)} mutations caught"
          + (f"; survived: {', '.join(survivors)}" if survivors else ""))
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main())
