"""Fuzz every route of the OpenAPI document with schemathesis (bounded: a fixed number of
examples per route, no deadline): no 5xx, and every response matches the schema it claims.
Also: schema-invalid requests are rejected with 4xx (negative_data_rejection), every status code
and content type is documented. The app runs with authentication on, as an admin, over a fake provisioner and SQLite."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from conftest import POOL_SIZE, FakeProvisioner

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory):
    from bunkhouse.config import Config
    from bunkhouse.models import FREE, Node
    from bunkhouse.web import create_app

    instance = tmp_path_factory.mktemp("fuzz")
    config = Config.from_environ({
        "BUNKHOUSE_INSTANCE_DIR": str(instance), "BUNKHOUSE_SCHEDULER": "off", "BUNKHOUSE_POOL": "unit",
        "BUNKHOUSE_POOL_SIZE": str(POOL_SIZE), "BUNKHOUSE_RATE_LIMIT": "0", "BUNKHOUSE_REQUEST_TIMEOUT": "5",
    })
    app = create_app(config, provisioner=FakeProvisioner(delay=0), start_background=False)
    service = app.extensions["bunkhouse"]
    with service.sessions.begin() as session:
        for index in range(1, POOL_SIZE + 1):
            session.add(Node(name=f"node-{index}", pool="unit", ssh_port=30000 + index, state=FREE,
                             host_keys={"ED25519": f"SHA256:key{index}"}))
    app.config["FUZZ_TOKEN"] = config.admin_token_file.read_text().strip()
    yield app
    service.stop()


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
            case.call_and_validate(headers=headers, excluded_checks=[schemathesis.checks.positive_data_acceptance])

        try:
            fuzz()
        except (Exception, BaseExceptionGroup) as error:  # noqa: BLE001 - collect every failure, then report
            failures[operation.label] = str(error)[:2000]
    assert operations >= 15
    assert failures == {}, "\n\n".join(f"{label}:\n{text}" for label, text in failures.items())
