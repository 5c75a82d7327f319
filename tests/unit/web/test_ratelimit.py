"""A reservation request counts against its caller's rate limit whatever its answer: one that
failed (its provisioning, its body, its rules) uses the budget as one that succeeded, so a
caller cannot hammer the service with failing requests."""

from __future__ import annotations

import pytest

from bunkhouse.config import Config
from helpers.api import Api, reserve
from helpers.fakes import FakeEngine, FakeRunner
from helpers.unit_app import POOL_SIZE, close, make_app, unit_environment

LIMIT = 3


@pytest.fixture
def limited(tmp_path):
    runner = FakeRunner(delay=0)
    runner.failing_hosts = {f"node-{index}" for index in range(1, POOL_SIZE + 1)}  # every run fails
    config = Config.from_environ(unit_environment(tmp_path, BUNKHOUSE_RATE_LIMIT=str(LIMIT)))
    app = make_app(config, runner, FakeEngine([f"node-{index}" for index in range(1, POOL_SIZE + 1)]))
    yield Api(app.test_client()), runner
    close(app)


def test_failed_provisionings_count_against_the_limit(limited):
    api, runner = limited
    answers = [reserve(api, username=f"u{index}") for index in range(LIMIT)]
    assert [(answer.status, answer.error["code"]) for answer in answers] == [(503, "provisioning_failed")] * LIMIT
    runner.failing_hosts = set()
    limited_answer = reserve(api, username="next")
    assert limited_answer.status == 429 and limited_answer.error["code"] == "rate_limited"


@pytest.mark.parametrize("bad", [
    {"count": "2"},  # refused by the schema, before the view
    {"surprise": 1},  # refused by the schema: an unknown field
    {"username": "Root"},  # refused by the service's rules
])
def test_refused_bodies_count_against_the_limit(limited, bad):
    api, _runner = limited
    for _ in range(LIMIT):
        assert reserve(api, **bad).status == 400
    assert reserve(api).status == 429
    # The seed route shares the budget.
    assert api.get("/reserve?username=alice&password=alice-pw").status == 429
