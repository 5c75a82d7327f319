"""/healthz asks the database and the engine at most once every BUNKHOUSE_HEALTH_CACHE_SECONDS,
and what it says of the database never names its host, user or password."""

from __future__ import annotations

import threading

from bunkhouse.config import Config
from bunkhouse.core.db import Database
from bunkhouse.web.health import HealthCache
from helpers.unit_app import close, make_app, unit_environment


class CountingStatus:
    def __init__(self, app):
        self.real = app.extensions["bunkhouse.status"]
        self.calls = 0
        app.extensions["bunkhouse.status"] = self

    def __call__(self):
        self.calls += 1
        return self.real()


def test_healthz_answers_from_its_cache_within_the_setting(tmp_path, fake_runner, fake_engine):
    assert Config.from_environ({}).http.health_cache_seconds == 2  # the default
    config = Config.from_environ(unit_environment(tmp_path, BUNKHOUSE_HEALTH_CACHE_SECONDS="2"))
    app = make_app(config, fake_runner, fake_engine)
    try:
        status = CountingStatus(app)
        client = app.test_client()
        answers = [client.get("/healthz") for _ in range(20)]
        assert {answer.status_code for answer in answers} == {200}
        assert status.calls == 1
    finally:
        close(app)


def test_the_cache_expires_and_a_setting_of_zero_turns_it_off(tmp_path, fake_runner, fake_engine):
    now = [100.0]
    cache = HealthCache(2, clock=lambda: now[0])
    calls = []

    def status():
        calls.append(now[0])
        return {"status": "ok"}, True

    for moment in (100.0, 101.9, 102.0, 103.0, 104.5):
        now[0] = moment
        assert cache.get(status) == ({"status": "ok"}, True)
    assert calls == [100.0, 102.0, 104.5]

    config = Config.from_environ(unit_environment(tmp_path, BUNKHOUSE_HEALTH_CACHE_SECONDS="0"))
    app = make_app(config, fake_runner, fake_engine)
    try:
        counted = CountingStatus(app)
        client = app.test_client()
        fake_engine.down = True
        assert client.get("/healthz").status_code == 503
        fake_engine.down = False
        assert client.get("/healthz").status_code == 200
        assert counted.calls == 2
    finally:
        close(app)


def test_callers_at_once_share_one_answer():
    release, calls = threading.Event(), []

    def slow():
        calls.append(1)
        release.wait(5)
        return {"status": "ok"}, True

    cache = HealthCache(2)
    threads = [threading.Thread(target=cache.get, args=(slow,)) for _ in range(8)]
    for thread in threads:
        thread.start()
    release.set()
    for thread in threads:
        thread.join(5)
    assert len(calls) == 1


def test_a_database_that_does_not_answer_is_reported_without_its_address_or_credentials(app, client):
    database = Database("postgresql+psycopg://bunk_admin:hunter2-pw@127.0.0.1:1/bunkhouse?connect_timeout=2")
    try:
        said = database.answers()
    finally:
        database.dispose()
    assert said == "the database does not answer (OperationalError)"
    real = app.extensions["bunkhouse.database"]
    real.answers = lambda: said
    body = client.get("/healthz").json
    assert body["database"] == {"ok": False, "error": said}
    for secret in ("127.0.0.1", "bunk_admin", "hunter2-pw"):
        assert secret not in str(body)
