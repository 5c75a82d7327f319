"""Fuzz every route of the OpenAPI document with schemathesis (bounded: a fixed number of
examples per route, no deadline): no 5xx, and every response matches the schema it claims.
Also: schema-invalid requests are rejected with 4xx (negative_data_rejection), every status code
and content type is documented. The app runs with authentication on, as an admin, over a fake runner and SQLite."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from bunkhouse.config import Config
from helpers.fakes import FakeEngine, FakeRunner
from helpers.unit_app import close, make_app, unit_environment

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory):
    instance = tmp_path_factory.mktemp("fuzz")
    config = Config.from_environ(unit_environment(instance, BUNKHOUSE_AUTH="on", BUNKHOUSE_REQUEST_TIMEOUT="5"))
    engine = FakeEngine([f"node-{index}" for index in range(1, 11)])
    app = make_app(config, FakeRunner(delay=0), engine)
    app.config["FUZZ_TOKEN"] = config.admin_token_file.read_text().strip()
    yield app
    close(app)


def test_no_route_fails_or_breaks_its_schema(fuzz_app):
    schema = schemathesis.openapi.from_wsgi("/openapi.json", fuzz_app)
    headers = {"Authorization": f"Bearer {fuzz_app.config['FUZZ_TOKEN']}"}
    failures, operations = {}, 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def fuzz(case):
            # Every default check but positive_data_acceptance: the service has rules the schema
            # cannot hold (password length and counts from settings, the image's system accounts)
            # and answers 400 for them on purpose.
            # Logout revokes the token it is called with: it gets a token of its own each time.
            own = {"Authorization": f"Bearer {_throwaway_token(fuzz_app)}"} if case.path.endswith("/logout") else {}
            case.call_and_validate(headers={**headers, **own},
                                   excluded_checks=[schemathesis.checks.positive_data_acceptance])

        try:
            fuzz()
        except (Exception, BaseExceptionGroup) as error:  # noqa: BLE001 - collect every failure, then report
            failures[operation.label] = str(error)[:2000]
    assert operations >= 15
    assert failures == {}, "\n\n".join(f"{label}:\n{text}" for label, text in failures.items())


def _throwaway_token(app) -> str:
    _, token = app.extensions["bunkhouse.tokens"].create("admin", actor="fuzz", label="logout")
    return token
