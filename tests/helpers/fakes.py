"""Fakes for unit tests: a runner that records what it was asked to run and can make chosen
hosts fail, and an engine whose containers the test sets. Everything else is real (the app,
the database, the batcher, the transitions)."""

from __future__ import annotations

import threading
import time

from bunkhouse.fleet.engines import ContainerInfo, MemberInfo
from bunkhouse.fleet.probe import Problem
from bunkhouse.runner.results import RunResult


class FakeRunner:
    def __init__(self, delay: float = 0.05):
        self.calls: list[tuple[str, dict, list[str]]] = []
        self.failing_hosts: set[str] = set()
        # Hosts where the node script refuses the input (exit 3: nothing changed).
        self.refusing_hosts: set[str] = set()
        # Playbooks whose every run fails (pool_provision.yml: a recreation that did not work).
        self.failing_playbooks: set[str] = set()
        self.delay = delay
        self.lock = threading.Lock()
        self.standbys_started = 0
        self.stopping = False
        # Set to a threading.Event to hold every run until the test sets it.
        self.hold: threading.Event | None = None
        # Called with (playbook, variables) by every run: a fake engine's apply_member_run
        # makes a pool_member.yml run change its named containers, as the real one does.
        self.on_run = None

    def run(self, playbook, variables=None, *, purpose="", limit=None, timeout=None, inventory=None) -> RunResult:
        with self.lock:
            self.calls.append((str(playbook), dict(variables or {}), list(limit or [])))
        if self.hold is not None:
            self.hold.wait(30)
        time.sleep(self.delay)  # an Ansible run takes time; lets concurrent requests pile up
        if self.on_run is not None:
            self.on_run(str(playbook), dict(variables or {}))
        # A batch playbook picks its hosts from its changes, as the real one does.
        hosts = sorted((variables or {}).get("bunkhouse_account_ops", {})) or list(limit or [])
        # pool_provision.yml: each node is a host of its own.
        nodes = self._node_hosts(variables or {}) if str(playbook) == "pool_provision.yml" \
            and (variables or {}).get("pool_node_state") != "absent" else []
        hosts += nodes
        # challenge_instance.yml: each instance is a host of its own (its container's name).
        hosts += [item["name"] for item in (variables or {}).get("challenge_instances", [])]
        bad = self.failing_hosts | self.refusing_hosts
        failed = tuple(sorted(host for host in hosts if host in bad))
        ok = tuple(sorted(host for host in hosts if host not in bad))
        errors = {host: ("apply: bad input: node-account: disk is a group of the node image"
                         if host in self.refusing_hosts else "node-account: it broke") for host in failed}
        if str(playbook) in self.failing_playbooks:
            return RunResult(ident=f"fake-{len(self.calls)}", playbook=str(playbook), status="failed", rc=2,
                             duration=self.delay, failed_hosts=tuple(nodes), ok_hosts=(), changed_hosts=(),
                             stdout_tail="", host_errors={node: "docker_container: the engine said no"
                                                          for node in nodes})
        return RunResult(ident=f"fake-{len(self.calls)}", playbook=str(playbook),
                         status="failed" if failed else "successful", rc=2 if failed else 0, duration=self.delay,
                         failed_hosts=failed, ok_hosts=ok, changed_hosts=ok, stdout_tail="", host_errors=errors)

    def _node_hosts(self, variables: dict) -> list[str]:
        """The nodes a pool_provision.yml run changes, each a host of its own (<name>@<engine>)."""
        indexes = variables.get("pool_node_indexes") or range(1, variables.get("pool_node_count", 0) + 1)
        prefix = variables.get("pool_node_name_prefix") or f"bunkhouse-{variables.get('pool_node_pool')}-"
        return [f"{prefix}{index}@local" for index in indexes]

    def start_standby(self, playbook, *, wait, inventory=None):
        with self.lock:
            self.standbys_started += 1
        return FakeStandby(self, playbook, wait)

    def kill_orphans(self):
        return []

    def stop(self):
        self.stopping = True

    def account_calls(self):
        return [call for call in self.calls if call[0] == "account_batch.yml"]

    def provision_calls(self) -> list[dict]:
        """The variables of every pool_provision.yml run, in order."""
        return [call[1] for call in self.calls if call[0] == "pool_provision.yml"]

    def account_changes(self) -> list[dict]:
        """Every account change asked for, in order: {host: change} per run."""
        return [call[1]["bunkhouse_account_ops"] for call in self.account_calls()]


class FakeStandby:
    """Like runner.standby.StandbyRun: started ahead, used once."""

    def __init__(self, fake: FakeRunner, playbook, wait):
        self.fake, self.playbook, self.wait = fake, playbook, wait
        self.started = time.monotonic()
        self.ident = f"fake-standby-{fake.standbys_started}"
        self.used = self.cancelled = False

    @property
    def age(self):
        return time.monotonic() - self.started

    def alive(self):
        return not self.used

    def dispatch(self, variables, hosts, *, purpose):
        assert not self.used, "a standby run is used once"
        self.used = True
        return self.fake.run(self.playbook, variables, purpose=purpose)

    def cancel(self):
        self.used = self.cancelled = True


class FakeEngine:
    """The engine, as the fleet asks it: containers running (or not), host keys, a ping."""

    name = "local"

    def __init__(self, names=()):
        self.running: dict[str, bool] = {name: True for name in names}
        self.ports: dict[str, int] = {}
        # Each node's label bunkhouse.digest, as the run that made it gave it (none: unknown).
        self.digests: dict[str, str] = {}
        # Nodes whose recreation fails half-way: the old container removed, no new one made.
        self.failing_nodes: set[str] = set()
        self.down = False
        self.bad_ssh: set[str] = set()
        # Named containers (the containers file's), as pool_member.yml runs leave them ...
        self.members: dict[str, MemberInfo] = {}
        # ... but these fail to start.
        self.failing_members: set[str] = set()

    def named_containers(self) -> dict[str, MemberInfo]:
        if self.down:
            raise RuntimeError("Cannot connect to the Docker daemon")
        return dict(self.members)

    def apply_member_run(self, playbook: str, variables: dict) -> None:
        if playbook != "pool_member.yml":
            return
        for item in variables["pool_member_containers"]:
            name, state = item["name"], item["state"]
            if state == "absent":
                self.members.pop(name, None)
            elif state == "stopped" and name in self.members:
                self.members[name] = MemberInfo(name, False, None, {}, self.members[name].digest)
            elif state in ("started", "recreated") and name not in self.failing_members:
                port = 40000 + len(self.members)
                self.members[name] = MemberInfo(name, True, True if item.get("healthcheck") else None,
                                                {str(p): port for p in item.get("ports", [])}, item.get("digest", ""))

    def apply_node_run(self, playbook: str, variables: dict) -> None:
        """A pool_provision.yml run on named node numbers: made running at their ports, or removed."""
        if playbook != "pool_provision.yml" or not variables.get("pool_node_indexes"):
            return
        for index in variables["pool_node_indexes"]:
            name = f"{variables['pool_node_name_prefix']}{index}"
            if variables.get("pool_node_state") == "absent" or name in self.failing_nodes:
                self.running.pop(name, None)
                self.ports.pop(name, None)
            else:
                self.running[name] = True
                self.ports[name] = variables["pool_node_ssh_port_first"] + index - 1
                self.digests[name] = variables.get("pool_node_labels", {}).get("bunkhouse.digest", "")

    def answers(self, timeout: float = 2.0) -> bool:
        return not self.down

    def version(self, timeout: float = 5.0) -> str | None:
        return None if self.down else "test"

    def containers(self, pool: str, port: int = 22) -> list[ContainerInfo]:
        if self.down:
            raise RuntimeError("Cannot connect to the Docker daemon")
        return [ContainerInfo(name, self.ports.get(name), running, self.digests.get(name, ""))
                for name, running in self.running.items()]

    def host_keys(self, name: str) -> dict[str, str]:
        return {"ED25519": f"SHA256:new-{name}"}

    # The user and group names of the fake node image.
    image_names = frozenset({"root", "daemon", "sshd", "nobody", "disk", "tty", "staff", "shadow", "users",
                             "nogroup"})

    def account_names(self, name: str) -> frozenset[str]:
        return self.image_names

    def probe(self, name: str, keys: dict) -> Problem | None:
        """The monitor's probe: the sshd of a node in bad_ssh does not answer."""
        return Problem("sshd does not answer inside the node", sshd_only=True) if name in self.bad_ssh else None
