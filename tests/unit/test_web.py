from bunkhouse import engine


def test_healthz_reports_database_engine_and_scheduler(monkeypatch, client):
    monkeypatch.setattr(engine, "engine_version", lambda timeout=5.0: "20.10.24")
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json["status"] == "ok"
    assert response.json["docker"] == {"ok": True, "version": "20.10.24"}
    assert response.json["database"] == {"ok": True}
    assert response.json["scheduler"] == {"ok": True, "running": False, "enabled": False}


def test_healthz_is_503_when_the_engine_is_down(monkeypatch, client):
    monkeypatch.setattr(engine, "engine_version", lambda timeout=5.0: None)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json["status"] == "degraded"
    assert response.json["docker"]["ok"] is False


def test_unknown_routes_get_the_json_error_shape(client):
    response = client.get("/no-such-thing")
    assert response.status_code == 404
    assert response.is_json
    assert response.json["error"]["status"] == 404
    assert response.json["error"]["code"] == "not_found"


def test_wrong_method_gets_the_json_error_shape(client):
    response = client.put("/api/v1/nodes")
    assert response.status_code == 405
    assert response.json["error"]["status"] == 405
