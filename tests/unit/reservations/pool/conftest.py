"""A node pool of min 2 and max 4 on a fake engine whose pool_provision.yml runs make and remove
the numbered nodes they name."""

from __future__ import annotations

import pytest

from bunkhouse.config import Config
from helpers.api import Api
from helpers.fakes import FakeEngine
from helpers.unit_app import close, make_app, unit_environment


@pytest.fixture
def engine() -> FakeEngine:
    engine = FakeEngine(["node-1", "node-2"])
    engine.ports = {"node-1": 22001, "node-2": 22002}
    return engine


@pytest.fixture
def growing_app(tmp_path, database_url, fake_runner, engine):
    config = Config.from_environ(unit_environment(tmp_path, database_url, BUNKHOUSE_POOL_SIZE="2",
                                                  BUNKHOUSE_POOL_MAX="4", BUNKHOUSE_POOL_IDLE_SECONDS="60"))
    app = make_app(config, fake_runner, engine, nodes=2)
    fake_runner.on_run = engine.apply_node_run  # a run on node numbers makes or removes them
    yield app
    close(app)


@pytest.fixture
def api(growing_app) -> Api:
    return Api(growing_app.test_client())
