"""Real nodes: docker exec into them, real SSH logins, the test pools' variables."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass

import paramiko

# Every pool the tests and benchmarks make, and only those: a session removes their leftovers.
# A run cut short (a killed session, a restarted machine) leaves its nodes behind, the engine
# starts them again (unless-stopped) at their old SSH ports, and a provision that finds a pool's
# nodes running leaves them alone: a session would then hand its tests nodes at ports it never
# gave them. An operator's own pools are never in this list.
TEST_POOLS = frozenset({
    "itest", "itest-gone", "svc", "monitor", "auth", "outage", "life", "bench", "bench10", "bench10off",
    "bench10sudo", "bench50", "iso", "isooff", "recr", "prof", "benchprof", "grow", "chal", "benchchal",
})
# Named containers (the containers file's) of the tests and benches start with these.
TEST_CONTAINER_PREFIXES = ("itest_", "bench_")


def checked_pool(pool: str) -> str:
    """The name, once it is known to be a test pool (one that remove_leftover_pools() clears)."""
    if pool not in TEST_POOLS:
        raise ValueError(f"{pool!r} is not in helpers.nodes.TEST_POOLS: add it, so leftovers of it are removed")
    return pool


def remove_leftover_pools() -> list[str]:
    """Remove every node container of a test pool, and every named container of a test, that a run
    cut short left behind; return their names."""
    listed = docker("ps", "-a", "--filter", "label=bunkhouse.node=true",
                    "--format", '{{.Names}} {{.Label "bunkhouse.pool"}}').stdout.splitlines()
    leftovers = [name for name, _, pool in (line.partition(" ") for line in listed) if pool in TEST_POOLS]
    named = docker("ps", "-a", "--filter", "label=bunkhouse.member=true",
                   "--format", '{{.Names}} {{.Label "bunkhouse.container"}}').stdout.splitlines()
    leftovers += [name for name, _, container in (line.partition(" ") for line in named)
                  if container.startswith(TEST_CONTAINER_PREFIXES)]
    if leftovers:
        docker("rm", "--force", *leftovers)
    return leftovers


@dataclass(frozen=True)
class Node:
    name: str
    port: int


def docker(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check, timeout=60)


def tcp_from_container(container: str, host: str, port: int) -> str:
    """TCP from inside a container (as its own user, with its bash): 'open', or how it failed."""
    return docker("exec", container, "bash", "-c",
                  f"timeout 5 bash -c 'exec 3<>/dev/tcp/{host}/{port}' 2>&1 && echo open || echo failed",
                  check=False).stdout.strip()


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


def logs_in(node: Node, username: str, password: str) -> bool:
    """Whether the login works now (sshd may still be starting: then not yet)."""
    try:
        return ssh_run(node, username, "id -un", password=password).strip() == username
    except Exception:  # noqa: BLE001 - refused, or not answering yet
        return False


def nodes_of(body: dict) -> list[Node]:
    """The nodes of a reservation's answer."""
    return [Node(node["name"], node["port"]) for node in body["nodes"]]


# The session pool's tests give accounts sudo, which needs setuid: its nodes run without
# no-new-privileges, as any pool whose tenants get sudo (pool_node_sudo).
SUDO_POOLS = frozenset({"itest"})


def pool_variables(pool: str, count: int, port_first: int) -> dict:
    return {
        "pool_node_pool": checked_pool(pool),
        "pool_node_sudo": pool in SUDO_POOLS,
        "pool_node_count": count,
        "pool_node_ssh_port_first": port_first,
        "pool_node_ssh_port_last": port_first + 99,
        # Test accounts have throwaway passwords: keep their nodes off the network.
        "pool_node_ssh_bind_address": "127.0.0.1",
    }


def run_accounts(runner, nodes, **variables):
    """playbooks/account_manage.yml on the given nodes, variables passed as a dict."""
    return runner.run("account_manage.yml", variables, purpose="test", limit=[node.name for node in nodes])
