"""A gunicorn worker forked before a reload, whose app loads after it, must not keep the old rules.

The master forks workers and handles SIGHUP in one loop, but a worker loads its app after the fork:
if a reload is accepted in between, the worker holds the rules of the fork while the shared
generation already names the new ones.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from bridge.reload import SharedReload
from bridge.rules.loading import rules_for
from bridge.run.webserver import WebServer
from bridge.settings import Settings
from bridge.store.sqlite import SqliteStore
from bridge.web.app import create_app
from tests.harness.fixtures import fixture_bytes

OLD = "external_labels: {team: infra}\n"
NEW = "external_labels: {team: infra, cluster: prod}\n"


def test_a_worker_loading_after_a_reload_applies_the_reloaded_rules(tmp_path: Path) -> None:
    config = tmp_path / "bridge.yml"
    config.write_text(OLD)
    settings = Settings(config_file=str(config))
    shared = SharedReload()
    try:
        rules_at_fork, generation_at_fork = rules_for(settings), shared.generation()
        config.write_text(NEW)
        shared.accept(NEW)  # the reload, accepted after the fork, before the worker's app loaded
        app = create_app(settings, store=SqliteStore(tmp_path / "bridge.db"), rules=rules_at_fork,
                         coordinator=shared, rules_generation=generation_at_fork)
        response = app.test_client().post("/callbacks/tencent", data=fixture_bytes("tencent", "metric-firing.json"),
                                          content_type="application/json")
        assert response.status_code == 200
        [stored] = app.extensions["bridge"].store().active("", 10, now=2e9, resolved_for=1e12)
        assert stored.alert.labels["cluster"] == "prod"
    finally:
        shared.remove()



def test_a_snapshot_that_cannot_be_written_refuses_the_reload_instead_of_crashing(tmp_path: Path) -> None:
    config = tmp_path / "bridge.yml"
    config.write_text(OLD)
    server = WebServer(Settings(config_file=str(config), listen="127.0.0.1:0"))
    try:
        shutil.rmtree(server.shared.directory)  # what a /tmp cleaner does to a long-running server
        config.write_text(NEW)
        assert server.refresh_rules() is False  # before: OSError, which stops gunicorn's master
        assert server.shared.generation() == 0
    finally:
        server.shared.remove()


class UnreadableSnapshot:
    """A coordinator whose master accepts the reload, but whose snapshot this worker cannot read."""

    def generation(self) -> int:
        return 1

    def request(self) -> bool:
        return True

    def config_text(self, generation: int) -> str:
        raise OSError("snapshot gone")


def test_a_reload_this_worker_cannot_apply_is_not_answered_ok(tmp_path: Path) -> None:
    config = tmp_path / "bridge.yml"
    config.write_text(OLD)
    settings = Settings(config_file=str(config))
    app = create_app(settings, store=SqliteStore(tmp_path / "bridge.db"), rules=rules_for(settings),
                     coordinator=UnreadableSnapshot(), rules_generation=0)
    response = app.test_client().post("/-/reload")
    assert response.status_code == 500
    assert "could not apply" in response.text
