"""The life of the service process, for real (gunicorn, as `just run` serves it):

- it answers from its first second: while its pool is provisioned, /healthz says `starting`
  and a reservation gets 503 with Retry-After;
- SIGTERM stops it within seconds, and no Ansible run outlives it, not even one in flight;
- a second process on the same database is a secondary: it serves, it changes nothing, it
  undoes nothing of the first's.
"""

from __future__ import annotations

import os
import re
import signal
import threading
import time
from pathlib import Path

import pytest

from bunkhouse.runner.folders import RunFolder
from helpers.api import reserve
from helpers.nodes import logs_in, node_sh, nodes_of
from helpers.service import Server, remove_pool
from helpers.waiting import wait_for

POOL = "life"
POOL_SIZE = 2


def runs_of(instance: Path, playbook: str = "") -> list[RunFolder]:
    """The run folders (named <time>-<playbook>-<id>) of the instance; anything else in runs/ is
    not a run (a stray fact_cache folder was once seen there: see the issue 9 note)."""
    runs = instance / "runs"
    if not runs.is_dir():
        return []
    return [RunFolder(path.name, Path(), path) for path in sorted(runs.glob(f"*{playbook}*"))
            if re.match(r"^\d{8}T\d{6}-", path.name)]


def leftovers(instance: Path) -> dict:
    """Every process of every Ansible run of this instance still alive."""
    return {folder.ident: folder.members() for folder in runs_of(instance) if folder.members()}


def signal_run(folder: RunFolder, signum: int) -> None:
    for pid in folder.members():
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass


@pytest.fixture(scope="module")
def instance(tmp_path_factory, docker_engine):
    instance = tmp_path_factory.mktemp("life")
    yield instance
    remove_pool(POOL)


@pytest.fixture
def server_of(instance):
    """Servers on the module's instance, every one stopped when the test ends, whatever happens."""
    made = []

    def make(**settings) -> Server:
        made.append(Server(instance, pool=POOL, pool_size=POOL_SIZE, BUNKHOUSE_MONITOR_INTERVAL="0", **settings))
        return made[-1]

    yield make
    for server in made:
        server.stop()


def test_it_answers_while_it_provisions_its_pool(instance, server_of):
    server = server_of()
    server.spawn()
    provision = None
    try:
        # Hold the provisioning run where it is, to look at the service meanwhile.
        provision = wait_for(lambda: next((folder for folder in runs_of(instance, "pool_provision")
                                           if folder.guard_group()), None), timeout=120)
        assert provision, server.tail()
        signal_run(provision, signal.SIGSTOP)
        health = wait_for(lambda: _answer(server, "/healthz"), timeout=60)
        assert health.status == 503 and health.body["status"] == "starting", health
        assert health.body["waiting_for"] == "provisioning the pool"
        refused = reserve(server.api, "early", "early-pw-1", timeout=10)
        assert refused.status == 503 and refused.error["code"] == "starting" and refused.headers["Retry-After"]
        signal_run(provision, signal.SIGCONT)
        assert wait_for(lambda: _answer(server, "/healthz", 200), timeout=180), server.tail()
        made = reserve(server.api, "prompt", "prompt-pw-1")
        assert made.status == 201, made.body
        assert server.api.delete(f"/api/v1/reservations/{made.body['id']}").status == 200
    finally:
        if provision:
            signal_run(provision, signal.SIGCONT)
        server.stop()


def _answer(server, path, status=None):
    try:
        answer = server.api.request("GET", path, timeout=5)
    except OSError:
        return None
    return answer if status is None or answer.status == status else None


def test_sigterm_stops_it_within_seconds_and_no_run_outlives_it(instance, server_of):
    server = server_of(BUNKHOUSE_PROVISION_ON_START="off")
    server.start()
    nodes = server.api.get("/api/v1/nodes").body["nodes"]
    assert [node["state"] for node in nodes] == ["free", "free"]
    # An account run in flight that would never end by itself: useradd hangs on both nodes.
    for node in nodes:
        node_sh(node["name"], "mv /usr/sbin/useradd /usr/sbin/useradd.real && printf '#!/bin/sh\\nexec sleep 3600\\n'"
                              " > /usr/sbin/useradd && chmod 755 /usr/sbin/useradd")
    try:
        waiting = {}
        request = threading.Thread(target=lambda: waiting.update(answer=_swallow(
            reserve, server.api, "stuck", "stuck-pw-1", count=2)))
        request.start()
        assert wait_for(lambda: any(n["state"] == "reserving" for n in server.api.get("/api/v1/nodes").body["nodes"]),
                        timeout=30)
        assert wait_for(lambda: any(folder.members() for folder in runs_of(instance, "account_batch")), timeout=30)
        started = time.monotonic()
        os.killpg(server.process.pid, signal.SIGTERM)
        server.process.wait(30)
        stopped_after = time.monotonic() - started
        request.join(30)
        print(f"SIGTERM to exit: {stopped_after:.2f} s")
        assert stopped_after < 10, f"the service took {stopped_after:.1f} s to stop"
        assert wait_for(lambda: not leftovers(instance), timeout=10), leftovers(instance)
        # The waiting request got an answer or a closed connection, never a hang.
        assert not request.is_alive()
        answer = waiting["answer"]
        assert isinstance(answer, OSError) or (answer.status == 503 and answer.error["code"] == "stopping")
    finally:
        for node in nodes:
            node_sh(node["name"], "mv -f /usr/sbin/useradd.real /usr/sbin/useradd; pkill -f 'sleep 3600'; true",
                    check=False)
    # The next start rolls the interrupted reservation back; the nodes are clean and free.
    server.start()
    assert wait_for(lambda: all(n["state"] == "free" for n in server.api.get("/api/v1/nodes").body["nodes"]),
                    timeout=120)
    stuck, = [r for r in server.api.get("/api/v1/reservations?all=1").body["reservations"] if r["username"] == "stuck"]
    assert stuck["state"] == "failed"
    for node in nodes:
        assert node_sh(node["name"], "getent passwd stuck", check=False).returncode == 2
    server.stop()


def test_a_second_process_on_the_same_database_is_a_secondary(instance, server_of, tmp_path):
    first = server_of(BUNKHOUSE_PROVISION_ON_START="off")
    first.start()
    second = server_of()
    answer = reserve(first.api, "first", "first-pw-1")
    assert answer.status == 201, answer.body
    node, = nodes_of(answer.body)
    runs_before = {folder.ident for folder in runs_of(instance)}
    second.log = tmp_path / "second.log"
    second.start()
    health = second.api.get("/healthz").body
    assert health["role"] == "secondary" and first.api.get("/healthz").body["role"] == "primary"
    assert second.api.get(f"/api/v1/reservations/{answer.body['id']}").body["state"] == "active"
    refused = reserve(second.api, "second", "second-pw-1")
    assert refused.status == 503 and refused.error["code"] == "not_primary"
    # It ran no Ansible of its own (no provisioning, no reconcile) and undid nothing.
    assert {folder.ident for folder in runs_of(instance)} - runs_before <= {
        folder.ident for folder in runs_of(instance, "account_batch")}
    assert logs_in(node, "first", "first-pw-1")
    assert first.api.delete(f"/api/v1/reservations/{answer.body['id']}").status == 200


def _swallow(function, *args, **kwargs):
    try:
        return function(*args, **kwargs)
    except OSError as error:
        return error
