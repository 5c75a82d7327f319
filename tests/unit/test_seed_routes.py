"""The seed README's requests, answered with the seed's field names."""

from __future__ import annotations

import logging


def test_seed_reserve_available_reservations_release_all(client, service):
    reserved = client.get("/reserve?username=alice&password=test&count=2")
    assert reserved.status_code == 201, reserved.json
    assert reserved.json["status"] == "success"
    assert reserved.json["containers"] == ["node-1", "node-2"]
    assert reserved.json["expiration_time"].endswith("+00:00")

    client.get("/reserve?username=test&password=test&count=1&duration=5")
    available = client.get("/available").json
    assert available["reserved"] == ["node-1", "node-2", "node-3"]
    assert available["available"] == [f"node-{index}" for index in range(4, 11)]

    rows = client.get("/reservations").json["reservations"]
    assert [(row["username"], row["container"]) for row in rows] == [
        ("alice", "node-1"), ("alice", "node-2"), ("test", "node-3")]
    for row in rows:
        assert row["expiration_time"] and row["time_remaining"].endswith("minutes remaining")
    assert rows[2]["time_remaining"] in ("5.0 minutes remaining", "4.9 minutes remaining")

    released = client.get("/release_all")
    assert released.json["status"] == "success" and released.json["message"] == "All containers released"
    assert client.get("/reservations").json == {"reservations": []}
    assert len(client.get("/available").json["available"]) == 10


def test_seed_reserve_defaults_and_errors(client):
    assert client.get("/reserve?username=bob&password=pw12").json["expiration_time"]
    missing = client.get("/reserve?username=bob")
    assert missing.status_code == 400 and missing.json["error"]["field"] == "password"
    bad_count = client.get("/reserve?username=bob&password=pw12&count=two")
    assert bad_count.status_code == 400 and bad_count.json["error"]["field"] == "count"
    too_many = client.get("/reserve?username=bob&password=pw12&count=11")
    assert too_many.status_code == 400
    exhausted = client.get("/reserve?username=carol&password=pw12&count=10")
    assert exhausted.status_code == 409 and exhausted.json["error"]["free"] == 9


def test_passwords_in_query_strings_are_never_logged(client, caplog):
    caplog.set_level(logging.INFO)
    client.get("/reserve?username=alice&password=Sup3r-Secret&count=1")
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "/reserve?username=alice&password=[REDACTED]&count=1 201" in logged
    assert "Sup3r-Secret" not in logged
