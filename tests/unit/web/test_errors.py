"""A request body over BUNKHOUSE_MAX_BODY_BYTES is refused before it is read: 413, in the one
JSON error shape (code body_too_large)."""

from __future__ import annotations

import json

from bunkhouse.config import Config
from helpers.unit_app import close, make_app, unit_environment


def test_a_body_over_the_limit_is_a_413_in_the_json_shape(client, unit_config, service):
    limit = unit_config.http.max_body_bytes
    assert limit == 65536
    body = json.dumps({"username": "alice", "password": "p" * limit, "count": 1})
    response = client.post("/api/v1/reservations", data=body, content_type="application/json")
    assert response.status_code == 413
    error = response.json["error"]
    assert error["status"] == 413 and error["code"] == "body_too_large" and error["limit_bytes"] == limit
    assert service.all() == []


def test_the_limit_is_a_setting(tmp_path, fake_runner, fake_engine):
    config = Config.from_environ(unit_environment(tmp_path, BUNKHOUSE_MAX_BODY_BYTES="2048"))
    app = make_app(config, fake_runner, fake_engine)
    try:
        client = app.test_client()
        small = client.post("/api/v1/reservations", json={"username": "alice", "password": "alice-pw", "count": 1})
        assert small.status_code == 201
        big = client.post("/api/v1/reservations", json={"username": "bob", "password": "x" * 3000, "count": 1})
        assert big.status_code == 413 and big.json["error"]["code"] == "body_too_large"
    finally:
        close(app)
