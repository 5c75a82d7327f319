"""Unit fixtures: the real app and service on a real SQLite file, with the Ansible runner
replaced by a fake that records its calls and can make chosen nodes fail."""

from __future__ import annotations

import os
import threading
import time

import pytest
from sqlalchemy import create_engine

from bunkhouse.config import Config
from bunkhouse.models import FREE, Base, Node
from bunkhouse.provisioner import RunResult
from bunkhouse.web import create_app


class FakeProvisioner:
    def __init__(self, delay: float = 0.05):
        self.calls: list[tuple[str, dict, list[str] | None]] = []
        self.failing_nodes: set[str] = set()
        self.delay = delay
        self.lock = threading.Lock()
        self.standbys_started = 0

    def run_playbook(self, playbook, variables=None, *, limit=None, timeout=None, inventory=None):
        with self.lock:
            self.calls.append((str(playbook), dict(variables or {}), list(limit or [])))
        time.sleep(self.delay)  # an Ansible run takes time; lets concurrent requests pile up
        # account_batch.yml picks its nodes from the operations, as the real playbook does.
        hosts = sorted((variables or {}).get("bunkhouse_account_ops", {})) or list(limit or [])
        failed = tuple(sorted(host for host in hosts if host in self.failing_nodes))
        ok = tuple(sorted(host for host in hosts if host not in self.failing_nodes))
        return RunResult(ident=f"fake-{len(self.calls)}", playbook=str(playbook),
                         status="failed" if failed else "successful", rc=2 if failed else 0, duration=self.delay,
                         failed_hosts=failed, ok_hosts=ok, changed_hosts=ok, stdout_tail="")

    def start_standby(self, playbook, *, wait):
        with self.lock:
            self.standbys_started += 1
        return FakeStandby(self, playbook, wait)

    def kill_orphaned_runs(self):
        return []

    def account_calls(self):
        return [call for call in self.calls if call[0] == "account_batch.yml"]


class FakeStandby:
    """Like provisioner.StandbyRun: started ahead, used once."""

    def __init__(self, fake: FakeProvisioner, playbook, wait):
        self.fake, self.playbook, self.wait = fake, playbook, wait
        self.started = time.monotonic()
        self.ident = f"fake-standby-{fake.standbys_started}"
        self.used = self.cancelled = False

    @property
    def age(self):
        return time.monotonic() - self.started

    def alive(self):
        return not self.used

    def dispatch(self, variables, hosts):
        assert not self.used, "a standby run is used once"
        self.used = True
        return self.fake.run_playbook(self.playbook, variables)

    def cancel(self):
        self.used = self.cancelled = True


POOL_SIZE = 10


@pytest.fixture(autouse=True)
def engine_answers(monkeypatch):
    """Unit tests have no Docker engine: it answers unless a test says otherwise."""
    from bunkhouse import engine

    monkeypatch.setattr(engine, "engine_version", lambda timeout=5.0: "test")
    monkeypatch.setattr(engine, "engine_answers", lambda timeout=2.0: True)


POSTGRES_URL = os.environ.get("BUNKHOUSE_TEST_POSTGRES_URL", "")


@pytest.fixture(params=[
    "sqlite",
    pytest.param("postgresql", marks=pytest.mark.skipif(
        not POSTGRES_URL, reason="BUNKHOUSE_TEST_POSTGRES_URL is not set (./just test sets it)")),
])
def database_url(request) -> str:
    """Every service test runs on the default SQLite file and on PostgreSQL."""
    if request.param == "sqlite":
        return ""
    engine = create_engine(POSTGRES_URL)
    Base.metadata.drop_all(engine)
    engine.dispose()
    return POSTGRES_URL


@pytest.fixture
def auth_setting() -> str:
    """Authentication is off for the service tests; test_auth.py turns it on."""
    return "off"


@pytest.fixture
def unit_config(tmp_path, database_url, auth_setting) -> Config:
    return Config.from_environ({
        "BUNKHOUSE_AUTH": auth_setting,
        "BUNKHOUSE_RATE_LIMIT": "0" if auth_setting == "off" else "5",
        "BUNKHOUSE_DATABASE_URL": database_url,
        "BUNKHOUSE_INSTANCE_DIR": str(tmp_path),
        "BUNKHOUSE_SCHEDULER": "off",
        "BUNKHOUSE_PROVISION_ON_START": "off",
        "BUNKHOUSE_POOL": "unit",
        "BUNKHOUSE_POOL_SIZE": str(POOL_SIZE),
        "BUNKHOUSE_SSH_HOST": "lab.example.org",
        "BUNKHOUSE_REQUEST_TIMEOUT": "10",
    })


@pytest.fixture
def fake_provisioner() -> FakeProvisioner:
    return FakeProvisioner()


@pytest.fixture
def app(unit_config, fake_provisioner):
    app = create_app(unit_config, provisioner=fake_provisioner, start_background=False)
    service = app.extensions["bunkhouse"]
    with service.sessions.begin() as session:
        for index in range(1, POOL_SIZE + 1):
            session.add(Node(name=f"node-{index}", pool="unit", ssh_port=30000 + index, state=FREE,
                             host_keys={"ED25519": f"SHA256:key{index}"}))
    yield app
    service.stop()
    app.extensions["bunkhouse.database"].dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def service(app):
    return app.extensions["bunkhouse"]
