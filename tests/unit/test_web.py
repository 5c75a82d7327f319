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


def test_engine_answers_asks_the_socket_for_its_ping(tmp_path, monkeypatch):
    import socket
    import threading

    from bunkhouse import engine

    monkeypatch.undo()  # conftest's engine_answers fixture stands in for the engine: use the real one
    engine_answers = engine.engine_answers
    path = str(tmp_path / "docker.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)

    def answer(status: bytes):
        connection, _ = server.accept()
        with connection:
            connection.recv(1024)
            connection.sendall(b"HTTP/1.1 " + status + b"\r\nContent-Length: 2\r\n\r\nOK")

    monkeypatch.setenv("DOCKER_HOST", f"unix://{path}")
    for status, expected in [(b"200 OK", True), (b"500 Internal Server Error", False)]:
        thread = threading.Thread(target=answer, args=(status,))
        thread.start()
        assert engine_answers() is expected
        thread.join(5)
    server.close()
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path / 'nobody-here.sock'}")
    assert engine_answers() is False
