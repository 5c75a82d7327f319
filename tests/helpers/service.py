"""The service as a real process (gunicorn, as `just run` serves it), with its ports picked for
it: start it, kill it with SIGKILL, stop it with SIGTERM, start it again; and running_service(),
the one factory every integration module uses."""

from __future__ import annotations

import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from helpers.api import Api
from helpers.nodes import checked_pool

PROJECT_DIR = Path(__file__).resolve().parents[2]

# SSH port ranges of the test pools: each pool gets its own 100 ports, never reused in a session.
_PORT_RANGES = itertools.count(23000, 100)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_range(size: int = 100) -> int:
    """The first port of a range of `size` ports nothing on this machine listens on."""
    for first in _PORT_RANGES:
        if first + size > 30000:
            break
        if all(_bindable(port) for port in range(first, first + size)):
            return first
    raise RuntimeError("no free range of SSH ports left for the test pools")


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class Server:
    def __init__(self, instance_dir: Path, *, pool: str, pool_size: int, ssh_port_first: int | None = None,
                 **settings: str):
        self.instance_dir = instance_dir
        self.pool = checked_pool(pool)
        self.port = free_port()
        ssh_port_first = ssh_port_first or port_range(max(100, pool_size))
        self.env = {
            **os.environ,
            "BUNKHOUSE_PORT": str(self.port),
            "BUNKHOUSE_INSTANCE_DIR": str(instance_dir),
            "BUNKHOUSE_POOL": pool,
            "BUNKHOUSE_POOL_SIZE": str(pool_size),
            "BUNKHOUSE_SSH_PORT_FIRST": str(ssh_port_first),
            "BUNKHOUSE_SSH_PORT_LAST": str(ssh_port_first + max(99, pool_size - 1)),
            # Test and benchmark accounts have throwaway passwords: keep their nodes off the network.
            "BUNKHOUSE_SSH_BIND_ADDRESS": "127.0.0.1",
            "BUNKHOUSE_SSH_HOST": "127.0.0.1",
            # Most tests are about reservations, not tokens: they turn authentication on themselves.
            "BUNKHOUSE_AUTH": "off",
            "BUNKHOUSE_RATE_LIMIT": "0",
            # Tests poll /healthz for what just changed: no cached answers.
            "BUNKHOUSE_HEALTH_CACHE_SECONDS": "0",
            **settings,
        }
        self.log = instance_dir / "server.log"
        self.process: subprocess.Popen | None = None
        self.api = Api(f"http://127.0.0.1:{self.port}")

    def spawn(self) -> None:
        """Start the process; do not wait for it."""
        gunicorn = str(Path(sys.executable).parent / "gunicorn")
        with open(self.log, "a") as log:
            self.process = subprocess.Popen(
                [gunicorn, "--chdir", "src", "--workers", "1", "--threads", "64", "--graceful-timeout", "4",
                 "--bind", f"127.0.0.1:{self.port}", "api:app"],
                cwd=PROJECT_DIR, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )

    def start(self, timeout: float = 300) -> None:
        """Start it and wait until /healthz says it is ready (its pool provisioned and synced)."""
        self.spawn()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"the service exited:\n{self.tail()}")
            try:
                if self.api.get("/healthz").status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"the service did not become ready:\n{self.tail()}")

    def tail(self, characters: int = 3000) -> str:
        return self.log.read_text()[-characters:]

    def kill(self) -> None:
        """SIGKILL the whole process group: no clean-up code runs."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(30)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()


def run_by_hand(playbook: str, variables: dict) -> subprocess.CompletedProcess:
    """A playbook run as an operator runs it (ansible-playbook from the repository, variables as JSON)."""
    return subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), f"playbooks/{playbook}",
                           "-e", json.dumps(variables)], cwd=PROJECT_DIR, capture_output=True, timeout=300,
                          env={**os.environ, "ANSIBLE_CONFIG": str(PROJECT_DIR / "ansible.cfg")}, check=False)


def remove_pool(pool: str) -> None:
    """pool_remove.yml for a test pool, by hand (the service is gone by then)."""
    run_by_hand("pool_remove.yml", {"pool_node_pool": pool})


@contextmanager
def running_service(instance_dir: Path, *, pool: str, pool_size: int, **settings: str):
    """A started service on its own pool, stopped and its pool removed afterwards."""
    server = Server(instance_dir, pool=pool, pool_size=pool_size, **settings)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        remove_pool(pool)
