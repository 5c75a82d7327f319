"""Questions about the Docker engine that hosts the nodes. Read-only: every change on a node or
on the engine is made by Ansible (provisioner.py)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from dataclasses import dataclass


@dataclass(frozen=True)
class NodeContainer:
    name: str
    ssh_port: int | None
    running: bool


def _docker(*args: str, timeout: float = 15.0) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, check=False)


def engine_answers(timeout: float = 2.0) -> bool:
    """Whether the engine answers its /_ping, asked directly on its Unix socket: about a
    millisecond, cheap enough to ask before every reservation. Any other DOCKER_HOST is asked
    through the docker CLI."""
    host = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    if not host.startswith("unix://"):
        return engine_version(timeout) is not None
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
            connection.settimeout(timeout)
            connection.connect(host[len("unix://"):])
            connection.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            status_line = connection.recv(64).split(b"\r\n", 1)[0]
    except OSError:
        return False
    return status_line.startswith(b"HTTP/1.") and status_line.split(b" ")[1:2] == [b"200"]


def engine_version(timeout: float = 5.0) -> str | None:
    """The engine's version, or None when it does not answer."""
    try:
        done = _docker("info", "--format", "{{.ServerVersion}}", timeout=timeout)
    except (OSError, subprocess.TimeoutExpired):
        return None
    version = done.stdout.strip()
    return version if done.returncode == 0 and version else None


def pool_containers(pool: str) -> list[NodeContainer]:
    """Every node container of the pool on the engine, running or not."""
    done = _docker("ps", "--all", "--no-trunc", "--filter", "label=bunkhouse.node=true",
                   "--filter", f"label=bunkhouse.pool={pool}", "--format", "{{json .}}")
    if done.returncode != 0:
        raise RuntimeError(f"docker ps failed: {done.stderr.strip()}")
    containers = []
    for line in done.stdout.splitlines():
        row = json.loads(line)
        containers.append(NodeContainer(
            name=row["Names"].split(",")[0],
            ssh_port=_published_ssh_port(row.get("Ports", "")),
            running=row.get("State") == "running",
        ))
    return containers


def _published_ssh_port(ports: str) -> int | None:
    # "127.0.0.1:23001->22/tcp" or "0.0.0.0:22001->22/tcp, :::22001->22/tcp"
    for mapping in ports.split(","):
        mapping = mapping.strip()
        if mapping.endswith("->22/tcp") and ":" in mapping:
            return int(mapping.split("->")[0].rsplit(":", 1)[1])
    return None


def host_key_fingerprints(node: str) -> dict[str, str]:
    """SHA256 fingerprints of a node's SSH host keys, by key type, as ssh shows them."""
    script = "for key in /etc/ssh/ssh_host_*_key.pub; do ssh-keygen -lf \"$key\"; done"
    done = _docker("exec", node, "sh", "-c", script)
    fingerprints = {}
    for line in done.stdout.splitlines():
        parts = line.split()
        # "256 SHA256:abc... root@host (ED25519)"
        if len(parts) >= 3 and parts[1].startswith("SHA256:"):
            fingerprints[parts[-1].strip("()")] = parts[1]
    return fingerprints
