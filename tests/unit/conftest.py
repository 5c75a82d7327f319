"""Unit fixtures: the real app, service and database (SQLite, and PostgreSQL when
./just test provides one), with a fake Ansible runner and a fake Docker engine."""

from __future__ import annotations

import os

import pytest

from bunkhouse.config import Config
from bunkhouse.core.db import Database
from helpers.api import Api
from helpers.fakes import FakeEngine, FakeRunner
from helpers.unit_app import POOL_SIZE, close, empty_database, make_app, unit_environment

POSTGRES_URL = os.environ.get("BUNKHOUSE_TEST_POSTGRES_URL", "")


def empty_postgres() -> str:
    """The test PostgreSQL database, emptied."""
    database = Database(POSTGRES_URL)
    empty_database(database)
    database.dispose()
    return POSTGRES_URL


@pytest.fixture(params=[
    "sqlite",
    pytest.param("postgresql", marks=pytest.mark.skipif(
        not POSTGRES_URL, reason="BUNKHOUSE_TEST_POSTGRES_URL is not set (./just test sets it)")),
])
def database_url(request) -> str:
    """Every service test runs on the default SQLite file and on PostgreSQL."""
    return "" if request.param == "sqlite" else empty_postgres()


@pytest.fixture
def auth_setting() -> str:
    """Authentication is off for most unit tests; the identity and access tests turn it on."""
    return "off"


@pytest.fixture
def unit_config(tmp_path, database_url, auth_setting) -> Config:
    return Config.from_environ(unit_environment(tmp_path, database_url, BUNKHOUSE_AUTH=auth_setting,
                                                BUNKHOUSE_RATE_LIMIT="0" if auth_setting == "off" else "5"))


@pytest.fixture
def fake_runner() -> FakeRunner:
    return FakeRunner()


@pytest.fixture
def fake_engine() -> FakeEngine:
    engine = FakeEngine([f"node-{index}" for index in range(1, POOL_SIZE + 1)])
    engine.ports = {f"node-{index}": 30000 + index for index in range(1, POOL_SIZE + 1)}
    return engine


@pytest.fixture
def app(unit_config, fake_runner, fake_engine):
    app = make_app(unit_config, fake_runner, fake_engine)
    yield app
    close(app)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def api(client) -> Api:
    return Api(client)


@pytest.fixture
def admin(api, unit_config) -> Api:
    """The API as the first admin (for the modules that turn authentication on)."""
    return api.as_(unit_config.admin_token_file.read_text().strip())


@pytest.fixture
def service(app):
    return app.extensions["bunkhouse.reservations"]


@pytest.fixture
def fleet(app):
    return app.extensions["bunkhouse.fleet"]


@pytest.fixture
def database(app):
    return app.extensions["bunkhouse.database"]
