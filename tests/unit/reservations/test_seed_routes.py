"""Seed 002's requests, answered with seed 002's field names and the JSON API's rules."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta


def test_seed_reserve_available_reservations_release_all(client, service):
    moment = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    service.clock = lambda: moment
    reserved = client.get("/reserve?username=alice&password=test&count=2")
    assert reserved.status_code == 201, reserved.json
    assert reserved.json["status"] == "success"
    assert reserved.json["containers"] == ["node-1", "node-2"]
    assert reserved.json["expiration_time"] == "2026-12-01T13:00:00+00:00"

    service.clock = lambda: moment + timedelta(seconds=1)
    client.get("/reserve?username=test&password=test&count=1&duration=5")
    available = client.get("/available").json
    assert available["reserved"] == ["node-1", "node-2", "node-3"]
    assert available["available"] == [f"node-{index}" for index in range(4, 11)]

    service.clock = lambda: moment + timedelta(seconds=6)
    rows = client.get("/reservations").json["reservations"]
    assert [(row["username"], row["container"]) for row in rows] == [
        ("alice", "node-1"), ("alice", "node-2"), ("test", "node-3")]
    assert [row["time_remaining"] for row in rows] == ["59.9 minutes remaining"] * 2 + ["4.9 minutes remaining"]
    assert all(row["expiration_time"] for row in rows)

    released = client.get("/release_all")
    assert released.json["status"] == "success" and released.json["message"] == "All containers released"
    assert client.get("/reservations").json == {"reservations": []}
    assert len(client.get("/available").json["available"]) == 10


def test_seed_reserve_defaults_and_errors(client):
    assert client.get("/reserve?username=bob&password=pw12").json["expiration_time"]
    missing = client.get("/reserve?username=bob")
    assert missing.status_code == 400 and missing.json["error"]["field"] == "password"
    # Seed 002's own fields beside bunkhouse's error.
    assert missing.json["status"] == "error" and missing.json["message"] == missing.json["error"]["message"]
    bad_count = client.get("/reserve?username=bob&password=pw12&count=two")
    assert bad_count.status_code == 400 and bad_count.json["error"]["field"] == "count"
    too_many = client.get("/reserve?username=bob&password=pw12&count=11")
    assert too_many.status_code == 400 and too_many.json["error"]["code"] == bad_count.json["error"]["code"]
    exhausted = client.get("/reserve?username=carol&password=pw12&count=10")
    assert exhausted.status_code == 409 and exhausted.json["error"]["free"] == 9


def test_one_rule_one_code_and_the_field_as_this_route_names_it(client):
    """duration=abc and duration=-5 break the same rule: the same code, the field named `duration`
    (as the JSON API's duration_minutes=-5 is the same code too)."""
    words = client.get("/reserve?username=bob&password=pw12&duration=abc").json["error"]
    negative = client.get("/reserve?username=bob&password=pw12&duration=-5").json["error"]
    assert words["code"] == negative["code"] == "invalid_duration"
    assert words["field"] == negative["field"] == "duration"
    api = client.post("/api/v1/reservations", json={"username": "bob", "password": "pw12", "duration_minutes": -5})
    assert api.json["error"]["code"] == "invalid_duration" and api.json["error"]["field"] == "duration_minutes"


def test_passwords_in_query_strings_are_never_logged(client, caplog):
    caplog.set_level(logging.INFO)
    client.get("/reserve?username=alice&password=Sup3r-Secret&count=1")
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "/reserve?username=alice&password=[REDACTED]&count=1 201" in logged
    assert "Sup3r-Secret" not in logged
