"""The HTTP shell: /healthz, and the one JSON error shape for every error."""

from __future__ import annotations


def test_healthz_reports_database_engine_scheduler_and_role(api, fake_engine):
    answer = api.get("/healthz")
    assert answer.status == 200
    assert answer.body["status"] == "ok" and answer.body["role"] == "primary"
    assert answer.body["docker"] == {"ok": True, "version": "test"}
    assert answer.body["database"] == {"ok": True} and answer.body["primary_lock"] == {"ok": True}
    # start_background=False: nothing runs in the background, the scheduler is not started.
    assert answer.body["scheduler"] == {"ok": True, "running": False, "enabled": True}


def test_healthz_is_503_when_the_engine_is_down(api, fake_engine):
    fake_engine.down = True
    answer = api.get("/healthz")
    assert answer.status == 503 and answer.body["status"] == "degraded"
    assert answer.body["docker"]["ok"] is False


def test_unknown_routes_get_the_json_error_shape(api):
    answer = api.get("/no-such-thing")
    assert answer.status == 404 and answer.error["status"] == 404 and answer.error["code"] == "not_found"


def test_wrong_method_gets_the_json_error_shape(api):
    answer = api.request("PUT", "/api/v1/nodes")
    assert answer.status == 405 and answer.error["status"] == 405


def test_engine_answers_asks_the_socket_for_its_ping(tmp_path):
    import socket
    import threading

    from bunkhouse.fleet.engines import Engine, EngineClient

    path = str(tmp_path / "docker.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)

    def answer(status: bytes):
        connection, _ = server.accept()
        with connection:
            connection.recv(1024)
            connection.sendall(b"HTTP/1.1 " + status + b"\r\nContent-Length: 2\r\n\r\nOK")

    engine = EngineClient(Engine("test", f"unix://{path}"))
    for status, expected in [(b"200 OK", True), (b"500 Internal Server Error", False)]:
        thread = threading.Thread(target=answer, args=(status,))
        thread.start()
        assert engine.answers() is expected
        thread.join(5)
    server.close()
    assert EngineClient(Engine("gone", f"unix://{tmp_path / 'nobody-here.sock'}")).answers() is False


def test_the_engines_are_read_from_the_inventorys_one_list(project_dir, tmp_path):
    import pytest

    from bunkhouse.fleet.engines import EngineListError, load_engines

    assert [(engine.name, engine.docker_host) for engine in load_engines(project_dir / "inventory")] == [
        ("local", "unix:///var/run/docker.sock")]
    (tmp_path / "engines.yml").write_text(
        "bunkhouse_engines:\n  hosts:\n    far:\n      bunkhouse_docker_host: \"{{ lookup('env', 'X') }}\"\n")
    with pytest.raises(EngineListError, match="far"):
        load_engines(tmp_path)
