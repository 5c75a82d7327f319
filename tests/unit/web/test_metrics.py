"""/metrics: Prometheus text that prometheus_client's own parser reads, whose series exist
before any event and move when work is done, behind a token of its own or an admin's."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from bunkhouse.config import Config
from bunkhouse.runner.records import recorder
from bunkhouse.runner.results import RunResult
from helpers.api import make_user, reserve
from helpers.unit_app import close, make_app, unit_environment

METRICS_TOKEN = "scrape-token-for-the-tests"


@pytest.fixture
def auth_setting() -> str:
    return "on"


@pytest.fixture
def unit_config(tmp_path, database_url) -> Config:
    return Config.from_environ(unit_environment(tmp_path, database_url, BUNKHOUSE_AUTH="on",
                                                BUNKHOUSE_METRICS_TOKEN=METRICS_TOKEN))


def scrape(client, token: str = METRICS_TOKEN) -> dict[tuple[str, tuple], float]:
    response = client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200 and response.content_type.startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples, name, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_the_series_a_dashboard_needs_exist_before_any_event(client):
    samples = scrape(client)
    for kind, launch in (("reservation", "hot"), ("profile", "warm"), ("profile", "cold")):
        for status in ("success", "failure"):
            assert ("bunkhouse_claim_duration_seconds_count",
                    tuple(sorted({"kind": kind, "launch": launch, "status": status}.items()))) in samples
    assert ("bunkhouse_ansible_run_duration_seconds_count",
            (("playbook", "pool_member.yml"), ("status", "timeout"))) in samples
    assert value(samples, "bunkhouse_containers", pool="unit", state="free") == 10
    assert value(samples, "bunkhouse_containers", pool="unit", state="quarantined") == 0
    assert value(samples, "bunkhouse_build_info", version=__import__("bunkhouse").__version__) == 1


def test_counters_move_when_work_is_done(client, admin):
    before = scrape(client)
    answer = reserve(admin, "alice", "alice-pw-123", count=2)
    assert answer.status == 201, answer.body
    after = scrape(client)
    claims = {"kind": "reservation", "launch": "hot", "status": "success"}
    assert value(after, "bunkhouse_claim_duration_seconds_count", **claims) == value(
        before, "bunkhouse_claim_duration_seconds_count", **claims) + 1
    requests = {"method": "POST", "route": "/api/v1/reservations", "code": "201"}
    assert value(after, "bunkhouse_http_request_duration_seconds_count", **requests) == value(
        before, "bunkhouse_http_request_duration_seconds_count", **requests) + 1
    assert value(after, "bunkhouse_containers", pool="unit", state="reserved") == 2
    assert value(after, "bunkhouse_containers", pool="unit", state="free") == 8


def test_who_may_scrape(client, admin):
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer not-the-token"}).status_code == 401
    user = make_user(admin, "bob")
    assert client.get("/metrics", headers={"Authorization": f"Bearer {user}"}).status_code == 403
    assert client.get("/metrics", headers={"Authorization": f"Bearer {admin.token}"}).status_code == 200
    assert client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}).status_code == 200


def test_open_on_a_setting(tmp_path, fake_runner, fake_engine):
    config = Config.from_environ(unit_environment(tmp_path, BUNKHOUSE_AUTH="on", BUNKHOUSE_METRICS_OPEN="on"))
    app = make_app(config, fake_runner, fake_engine)
    try:
        assert app.test_client().get("/metrics").status_code == 200
    finally:
        close(app)


def test_every_recorded_run_is_in_the_run_durations(client, database):
    # The fake runner records nothing; the real one hands every result to this recorder.
    labels = {"playbook": "pool_provision.yml", "status": "failed"}
    before = value(scrape(client), "bunkhouse_ansible_run_duration_seconds_sum", **labels)
    recorder(database)(RunResult("r1", "/somewhere/playbooks/pool_provision.yml", "failed", 2, 7.5, (), (), (), ""),
                       "provision")
    after = scrape(client)
    assert value(after, "bunkhouse_ansible_run_duration_seconds_sum", **labels) == before + 7.5
