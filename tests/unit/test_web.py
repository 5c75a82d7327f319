from bunkhouse import engine
from bunkhouse.config import Config
from bunkhouse.web import create_app


def test_healthz_reports_the_engine(monkeypatch):
    monkeypatch.setattr(engine, "engine_version", lambda timeout=5.0: "20.10.24")
    response = create_app(Config.from_environ({})).test_client().get("/healthz")
    assert response.status_code == 200
    assert response.json["docker"] == {"ok": True, "version": "20.10.24"}


def test_healthz_is_503_when_the_engine_is_down(monkeypatch):
    monkeypatch.setattr(engine, "engine_version", lambda timeout=5.0: None)
    response = create_app(Config.from_environ({})).test_client().get("/healthz")
    assert response.status_code == 503
    assert response.json["status"] == "degraded"


def test_unknown_routes_get_the_json_error_shape():
    response = create_app(Config.from_environ({})).test_client().get("/no-such-thing")
    assert response.status_code == 404
    assert response.is_json
    assert response.json["error"]["status"] == 404
    assert response.json["error"]["code"] == "not_found"
