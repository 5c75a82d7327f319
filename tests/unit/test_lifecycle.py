"""The service answers from its first second: while the primary starts (provisions its pool,
reads it, reconciles), /healthz says `starting` and what it waits for, and a change gets 503
with Retry-After, never a hanging connection. Then it serves, the jobs running."""

from __future__ import annotations

import threading

from bunkhouse.config import Config
from helpers.api import Api, reserve
from helpers.fakes import FakeEngine, FakeRunner
from helpers.unit_app import close, make_app, unit_environment
from helpers.waiting import wait_for


def test_the_service_answers_while_it_starts_and_serves_once_started(tmp_path):
    runner = FakeRunner(delay=0)
    runner.hold = threading.Event()  # provisioning the pool takes as long as the test says
    config = Config.from_environ(unit_environment(tmp_path, BUNKHOUSE_PROVISION_ON_START="on"))
    made = {}
    factory = threading.Thread(target=lambda: made.update(app=make_app(config, runner, FakeEngine(["node-1"]),
                                                                       start_background=True)))
    factory.start()
    factory.join(30)
    assert not factory.is_alive(), "creating the app waited for the pool to be provisioned"
    app = made["app"]
    try:
        api = Api(app.test_client())
        health = api.get("/healthz")
        assert health.status == 503 and health.body["status"] == "starting"
        assert health.body["waiting_for"] == "provisioning the pool"
        refused = reserve(api)
        assert refused.status == 503 and refused.error["code"] == "starting" and refused.headers["Retry-After"] == "5"
        assert "provisioning the pool" in refused.error["message"]
        assert api.get("/api/v1/reservations").status == 200  # reads are served meanwhile

        runner.hold.set()
        assert wait_for(lambda: api.get("/healthz").status == 200, timeout=30)
        health = api.get("/healthz").body
        assert health["status"] == "ok" and health["scheduler"]["running"] and "waiting_for" not in health
        assert reserve(api).status == 201
        scheduler = app.extensions["bunkhouse.lifecycle"].scheduler
        assert {"sweep", "reconcile", "monitor"} <= set(scheduler.job_ids())
    finally:
        runner.hold.set()
        close(app)
    assert not app.extensions["bunkhouse.lifecycle"].scheduler.running
