"""The Docker engines that host containers, listed once in the inventory's engines.yml (which
Ansible reads too), and read-only questions to them. Every change on an engine or in a
container is made by Ansible.
"""

from __future__ import annotations

import json
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml


class EngineListError(ValueError):
    """inventory/engines.yml cannot be used."""


@dataclass(frozen=True)
class Engine:
    name: str
    docker_host: str  # unix:///var/run/docker.sock, ssh://..., tcp://...


@dataclass(frozen=True)
class ContainerInfo:
    name: str
    port: int | None  # the published main port (22/tcp for an SSH node)
    running: bool
    # What it was made of (label bunkhouse.digest, Pool.digest); empty when it has none.
    digest: str = ""


@dataclass(frozen=True)
class MemberInfo:
    """A named container (label bunkhouse.member=true) as the engine sees it."""

    name: str  # its name in bunkhouse (label bunkhouse.container)
    running: bool
    healthy: bool | None  # None: no health check, or not decided yet
    ports: dict[str, int]  # container port -> published port
    digest: str


def load_engines(inventory_dir: Path) -> list[Engine]:
    """The engines of the group bunkhouse_engines in engines.yml, each with its
    bunkhouse_docker_host (a plain value: the service does not evaluate templates)."""
    path = inventory_dir / "engines.yml"
    try:
        hosts = (yaml.safe_load(path.read_text()) or {})["bunkhouse_engines"]["hosts"]
    except (OSError, yaml.YAMLError, KeyError, TypeError) as error:
        raise EngineListError(f"{path}: no group bunkhouse_engines with hosts ({error})") from None
    engines = []
    for name, variables in (hosts or {}).items():
        docker_host = (variables or {}).get("bunkhouse_docker_host", "")
        if not isinstance(docker_host, str) or not docker_host or "{{" in docker_host:
            raise EngineListError(f"{path}: engine {name}: bunkhouse_docker_host must be a plain URL")
        engines.append(Engine(str(name), docker_host))
    if not engines:
        raise EngineListError(f"{path}: lists no engine")
    return engines


class EngineClient:
    """Questions to one engine, through its socket (for the cheap ping) or the docker CLI."""

    def __init__(self, engine: Engine):
        self.engine = engine

    @property
    def name(self) -> str:
        return self.engine.name

    def answers(self, timeout: float = 2.0) -> bool:
        """Whether the engine answers its /_ping: about a millisecond on a Unix socket, cheap
        enough to ask before every claim. Any other kind of host is asked through the CLI."""
        host = self.engine.docker_host
        if not host.startswith("unix://"):
            return self.version(timeout) is not None
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
                connection.settimeout(timeout)
                connection.connect(host[len("unix://"):])
                connection.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
                status_line = connection.recv(64).split(b"\r\n", 1)[0]
        except OSError:
            return False
        return status_line.startswith(b"HTTP/1.") and status_line.split(b" ")[1:2] == [b"200"]

    def version(self, timeout: float = 5.0) -> str | None:
        """The engine's version, or None when it does not answer."""
        try:
            done = self._docker("info", "--format", "{{.ServerVersion}}", timeout=timeout)
        except (OSError, subprocess.TimeoutExpired):
            return None
        version = done.stdout.strip()
        return version if done.returncode == 0 and version else None

    def containers(self, pool: str, port: int = 22) -> list[ContainerInfo]:
        """Every container of the pool on the engine, running or not; raises when the engine
        does not answer."""
        done = self._docker("ps", "--all", "--no-trunc", "--filter", "label=bunkhouse.node=true",
                            "--filter", f"label=bunkhouse.pool={pool}", "--format", "{{json .}}")
        if done.returncode != 0:
            raise RuntimeError(f"docker ps failed: {done.stderr.strip()}")
        found = []
        for line in done.stdout.splitlines():
            row = json.loads(line)
            found.append(ContainerInfo(name=row["Names"].split(",")[0], port=_published(row.get("Ports", ""), port),
                                       running=row.get("State") == "running",
                                       digest=_labels(row).get("bunkhouse.digest", "")))
        return found

    def named_containers(self) -> dict[str, MemberInfo]:
        """Every named container on the engine, running or not, by its bunkhouse name; raises
        when the engine does not answer."""
        done = self._docker("ps", "--all", "--no-trunc", "--filter", "label=bunkhouse.member=true",
                            "--format", "{{json .}}")
        if done.returncode != 0:
            raise RuntimeError(f"docker ps failed: {done.stderr.strip()}")
        found = {}
        for line in done.stdout.splitlines():
            row = json.loads(line)
            labels = _labels(row)
            name = labels.get("bunkhouse.container")
            if not name:
                continue
            status = row.get("Status", "")
            healthy = True if "(healthy)" in status else False if "(unhealthy)" in status else None
            found[name] = MemberInfo(name, row.get("State") == "running", healthy, _all_published(row.get("Ports", "")),
                                     labels.get("bunkhouse.digest", ""))
        return found

    def host_keys(self, name: str) -> dict[str, str]:
        """SHA256 fingerprints of a container's SSH host keys, by key type, as ssh shows them."""
        script = "for key in /etc/ssh/ssh_host_*_key.pub; do ssh-keygen -lf \"$key\"; done"
        done = self._docker("exec", name, "sh", "-c", script)
        fingerprints = {}
        for line in done.stdout.splitlines():
            parts = line.split()
            # "256 SHA256:abc... root@host (ED25519)"
            if len(parts) >= 3 and parts[1].startswith("SHA256:"):
                fingerprints[parts[-1].strip("()")] = parts[1]
        return fingerprints

    def exec_read(self, name: str, script: str, timeout: float = 10.0) -> tuple[int, str]:
        """Run a read-only shell script inside a container: (exit code, output). Raises
        OSError or TimeoutError when docker cannot be asked."""
        try:
            done = self._docker("exec", name, "sh", "-c", script, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise TimeoutError(f"docker exec into {name} took over {timeout:g} s") from None
        # docker's own failures (no such container, not running, no daemon) are not the script's.
        if done.returncode in (125, 126, 127) or (done.returncode != 0 and done.stderr.startswith("Error")):
            raise OSError(done.stderr.strip() or f"docker exec failed with {done.returncode}")
        return done.returncode, done.stdout

    def account_names(self, name: str) -> frozenset[str]:
        """The user and group names of a container, but for bunkhouse's own tenants (whose
        comment starts with "bunkhouse"): read from a free node, these are the node image's.
        Empty when the container cannot be asked."""
        try:
            rc, output = self.exec_read(name, "getent passwd; echo ---; getent group")
        except (OSError, TimeoutError):
            return frozenset()
        users, _, groups = output.partition("---")
        tenants = {line.split(":")[0] for line in users.splitlines() if line.count(":") >= 6
                   and line.split(":")[4].startswith("bunkhouse")}
        names = {line.split(":")[0] for line in (users + "\n" + groups).splitlines() if ":" in line}
        return frozenset(names - tenants) if rc == 0 else frozenset()

    def _docker(self, *args: str, timeout: float = 15.0) -> subprocess.CompletedProcess:
        return subprocess.run(["docker", "--host", self.engine.docker_host, *args], capture_output=True, text=True,
                              timeout=timeout, check=False)


def _labels(row: dict) -> dict[str, str]:
    """A `docker ps` row's labels ("a=1,b=2"; bunkhouse's own values hold no comma)."""
    return dict(pair.split("=", 1) for pair in row.get("Labels", "").split(",") if "=" in pair)


def _published(ports: str, port: int) -> int | None:
    # "127.0.0.1:23001->22/tcp" or "0.0.0.0:22001->22/tcp, :::22001->22/tcp"
    for mapping in ports.split(","):
        mapping = mapping.strip()
        if mapping.endswith(f"->{port}/tcp") and ":" in mapping:
            return int(mapping.split("->")[0].rsplit(":", 1)[1])
    return None


def _all_published(ports: str) -> dict[str, int]:
    # "127.0.0.1:49153->8080/tcp, 127.0.0.1:49154->9090/tcp"
    found = {}
    for mapping in ports.split(","):
        mapping = mapping.strip()
        if "->" in mapping and ":" in mapping.split("->")[0] and mapping.endswith("/tcp"):
            host, container = mapping.split("->")
            found.setdefault(container[:-len("/tcp")], int(host.rsplit(":", 1)[1]))
    return found
