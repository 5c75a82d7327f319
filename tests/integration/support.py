"""Helpers of the integration tests: docker exec into nodes, real SSH logins, the test pool."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import paramiko

POOL = "itest"
POOL_SIZE = 3
PORT_FIRST = 23001


@dataclass(frozen=True)
class Node:
    name: str
    port: int


def docker(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check, timeout=60)


def node_sh(node: Node | str, script: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run a shell script inside a node as root (docker exec), the way an operator would look."""
    name = node.name if isinstance(node, Node) else node
    return docker("exec", name, "sh", "-c", script, check=check)


def ssh_run(node: Node, username: str, command: str, password: str | None = None, key=None) -> str:
    """Log in over real SSH (password or key) and run a command; raises on a refused login."""
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    try:
        client.connect(
            "127.0.0.1", port=node.port, username=username, password=password, pkey=key,
            allow_agent=False, look_for_keys=False, timeout=10, banner_timeout=10, auth_timeout=10,
        )
        _, stdout, stderr = client.exec_command(command, timeout=30)
        output = stdout.read().decode()
        stdout.channel.recv_exit_status()
        return output
    finally:
        client.close()


def login_refused(node: Node, username: str, password: str) -> bool:
    try:
        ssh_run(node, username, "true", password=password)
    except paramiko.AuthenticationException:
        return True
    return False


def pool_variables(pool: str, count: int, port_first: int) -> dict:
    return {
        "pool_node_pool": pool,
        "pool_node_count": count,
        "pool_node_ssh_port_first": port_first,
        "pool_node_ssh_port_last": port_first + 99,
        # Test accounts have throwaway passwords: keep their nodes off the network.
        "pool_node_ssh_bind_address": "127.0.0.1",
    }


def run_accounts(provisioner, nodes, **variables):
    """playbooks/accounts.yml on the given nodes, variables passed as a dict."""
    return provisioner.run_playbook("accounts.yml", variables, limit=[node.name for node in nodes])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """The service as a real process: started, killed with SIGKILL, started again."""

    def __init__(self, project_dir: Path, instance_dir: Path, *, pool: str, pool_size: int, ssh_port_first: int,
                 **settings: str):
        self.project_dir = project_dir
        self.instance_dir = instance_dir
        self.port = _free_port()
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
            **settings,
        }
        self.log = instance_dir / "server.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        gunicorn = str(Path(sys.executable).parent / "gunicorn")
        with open(self.log, "a") as log:
            self.process = subprocess.Popen(
                [gunicorn, "--chdir", "src", "--workers", "1", "--threads", "64",
                 "--bind", f"127.0.0.1:{self.port}", "api:app"],
                cwd=self.project_dir, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"the service exited:\n{self.log.read_text()[-3000:]}")
            try:
                if self.request("GET", "/healthz")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.5)
        raise AssertionError(f"the service did not answer:\n{self.log.read_text()[-3000:]}")

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

    def request(self, method: str, path: str, body: dict | None = None, timeout: float = 180,
                token: str | None = None):
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if data else {}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=data, method=method,
                                         headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")


def wait_for(condition, timeout: float, interval: float = 0.5):
    """Poll condition() until it returns something true (returned), or timeout; then its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    return condition()
