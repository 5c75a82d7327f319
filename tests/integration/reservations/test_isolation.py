"""Tenants stay in their box, against the real stack: a tenant logged in over SSH tries a fork
bomb, a memory hog and filling its writable places, reaches for other nodes, the host, the
metadata address and the outside; names of the node image's accounts are refused; the password
hash never shows in a command line; nothing of a tenant is left for the next one.

Every address used is this machine's own, a container's, or one in a network namespace the test
makes (and removes)."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers.api import reserve
from helpers.nodes import Node, docker, logs_in, node_sh, nodes_of, pool_variables, ssh_run
from helpers.service import free_port, port_range, running_service
from helpers.waiting import wait_for

POOL = "iso"
POOL_SIZE = 4
PASSWORD = "Iso-tenant-pw-1"


@pytest.fixture(scope="module")
def server(tmp_path_factory, docker_engine):
    with running_service(tmp_path_factory.mktemp("service-iso"), pool=POOL, pool_size=POOL_SIZE,
                         BUNKHOUSE_SWEEP_INTERVAL="3600") as server:
        yield server


@pytest.fixture(scope="module")
def tenants(server):
    """Two tenants, one node each: the attacker and the neighbour."""
    attacker = reserve(server.api, "mallory", PASSWORD)
    neighbour = reserve(server.api, "nina", PASSWORD)
    assert attacker.status == 201 and neighbour.status == 201, (attacker.body, neighbour.body)
    yield nodes_of(attacker.body)[0], nodes_of(neighbour.body)[0]
    for answer in (attacker, neighbour):
        server.api.delete(f"/api/v1/reservations/{answer.body['id']}")


def as_tenant(node: Node, command: str, user: str = "mallory") -> str:
    return ssh_run(node, user, command, password=PASSWORD)


def still_fine(server, attacker: Node, neighbour: Node) -> None:
    """The host, the service and every other node keep working."""
    assert logs_in(neighbour, "nina", PASSWORD)
    assert server.api.get("/healthz").status == 200
    assert docker("inspect", "-f", "{{.State.Running}}", attacker.name).stdout.strip() == "true"


def ip_of(node: Node) -> str:
    return docker("inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", node.name).stdout.strip()


def gateway_of(node: Node) -> str:
    return docker("inspect", "-f", "{{range .NetworkSettings.Networks}}{{.Gateway}}{{end}}", node.name).stdout.strip()


def tcp_from(node: Node, host: str, port: int) -> str:
    """Open TCP from the tenant's shell: 'open', or how it failed."""
    script = (f"if timeout 5 bash -c 'exec 3<>/dev/tcp/{host}/{port}' 2>/tmp/tcp.err; then echo open;"
              " else cat /tmp/tcp.err; echo failed; fi")
    return as_tenant(node, script).strip()


def test_every_node_has_limits_and_capped_writable_places(tenants):
    attacker, _ = tenants
    limits = node_sh(attacker, "cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max;"
                               " cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null"
                               " || cat /sys/fs/cgroup/memory.max").stdout.split()
    assert limits == ["256", str(1 << 30)]
    config = json.loads(docker("inspect", attacker.name).stdout)[0]["HostConfig"]
    assert config["NanoCpus"] == 10 ** 9 and config["MemorySwap"] == 1 << 30
    assert config["CapDrop"] == ["ALL"] and "NET_RAW" not in config["CapAdd"]
    assert config["SecurityOpt"] == ["no-new-privileges:true"]
    mounts = as_tenant(attacker, "df -k --output=target,size /tmp /var/tmp /dev/shm /home | tail -n +2").split()
    assert dict(zip(mounts[::2], map(int, mounts[1::2]), strict=True)) == {
        "/tmp": 256 << 10, "/var/tmp": 64 << 10, "/dev/shm": 64 << 10, "/home": 256 << 10}


def test_a_fork_bomb_stops_at_the_pids_limit_and_the_rest_keeps_working(server, tenants):
    attacker, neighbour = tenants
    # Forks until the kernel says no; each child sleeps 20 s with no terminal, so the bomb's
    # processes are all alive while the neighbour, the host and the API are checked.
    bomb = ("python3 -c 'import os, time\n"
            "n = 0\n"
            "try:\n"
            "    while n < 5000:\n"
            "        if os.fork() == 0:\n"
            "            os.closerange(0, 3); time.sleep(20); os._exit(0)\n"
            "        n += 1\n"
            "except OSError as error:\n"
            "    print(n, error.errno)'")
    forks, errno = as_tenant(attacker, bomb).split()
    assert int(forks) < 256 and errno == "11"  # EAGAIN: the pids cgroup is full
    still_fine(server, attacker, neighbour)
    assert node_sh(neighbour, "echo fine").stdout.strip() == "fine"
    # The bomb's processes end by themselves; the node is the tenant's again.
    assert wait_for(lambda: processes_in(attacker) < 50, timeout=60)


def processes_in(node: Node) -> int:
    read = docker("exec", node.name, "sh", "-c", "cat /sys/fs/cgroup/pids/pids.current 2>/dev/null"
                                                 " || cat /sys/fs/cgroup/pids.current", check=False).stdout.strip()
    return int(read) if read.isdigit() else 10 ** 6


def test_a_memory_hog_is_killed_inside_its_node(server, tenants):
    attacker, neighbour = tenants
    out = as_tenant(attacker, "python3 -c 'b = b\"x\" * (1500 << 20); print(\"survived\")'; echo rc=$?")
    assert "survived" not in out and "rc=137" in out  # SIGKILL by the node's own OOM killer
    still_fine(server, attacker, neighbour)


@pytest.mark.parametrize("folder", ["/tmp", "$HOME", "/dev/shm", "/var/tmp"])
def test_filling_a_writable_place_stops_at_its_cap(server, tenants, folder):
    attacker, neighbour = tenants
    out = as_tenant(attacker, f"dd if=/dev/zero of={folder}/fill bs=1M count=400 2>&1;"
                              f" du -m {folder}/fill | cut -f1; rm -f {folder}/fill")
    assert "No space left on device" in out
    assert int(out.split()[-1]) <= 256
    still_fine(server, attacker, neighbour)


CONTROL_NETWORK, CONTROL_BRIDGE = "bunkhouse-test-control", "bhtest-ctl"
CONTROL_GATEWAY = "10.254.171.1"


@pytest.fixture(scope="module", autouse=True)
def control_network(docker_engine):
    """A plain Docker network (no bunkhouse rules): what a container reaches without them."""
    docker("network", "rm", CONTROL_NETWORK, check=False)
    docker("network", "create", "--subnet", "10.254.171.0/24", "--gateway", CONTROL_GATEWAY,
           "--opt", f"com.docker.network.bridge.name={CONTROL_BRIDGE}", CONTROL_NETWORK)
    yield CONTROL_NETWORK
    docker("network", "rm", CONTROL_NETWORK, check=False)


def from_control(host: str, port: int) -> str:
    """TCP from a container of the control network: 'open' or 'failed' (tries for a few seconds,
    while a listener the test just started comes up)."""
    return docker("run", "--rm", "--network", CONTROL_NETWORK, "--entrypoint", "sh", "bunkhouse/node:latest", "-c",
                  f"for i in $(seq 20); do timeout 2 bash -c 'exec 3<>/dev/tcp/{host}/{port}' 2>/dev/null"
                  " && echo open && exit; sleep 0.3; done; echo failed", check=False).stdout.strip()


def test_a_node_reaches_no_other_node_and_nothing_of_the_host(server, tenants):
    attacker, neighbour = tenants
    assert "refused" in tcp_from(attacker, ip_of(neighbour), 22)
    # A service of the host listening on every address, which a plain container reaches at its
    # own gateway: from the node, the same service at the pool's gateway is refused.
    port = free_port()
    host_service = subprocess.Popen(["timeout", "120", sys.executable, "-m", "http.server", "--bind", "0.0.0.0",
                                     str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                    start_new_session=True)
    try:
        assert from_control(CONTROL_GATEWAY, port) == "open"
        assert "refused" in tcp_from(attacker, gateway_of(attacker), port)
    finally:
        os.killpg(host_service.pid, signal.SIGKILL)
        host_service.wait(10)
    # The node's own sshd still answers inside it: the rules are about leaving the node.
    assert tcp_from(attacker, "127.0.0.1", 22) == "open"


@pytest.fixture
def namespace_listener():
    """make(name, host_address, listen): a TCP listener at listen:80 (or the veth's own address
    when listen is empty) inside a network namespace of the test's own, with a veth pair whose
    host side has host_address/30. Returns (the namespace's veth address, the host side)."""
    made = []

    def make(name: str, host_address: str, listen: str):
        host_side, ns_side = f"{name}-h", f"{name}-n"
        run = lambda *args: subprocess.run(args, check=True, capture_output=True, timeout=30)  # noqa: E731
        remove_namespace(name, host_side)  # what a run cut short left
        run("ip", "netns", "add", name)
        made.append((name, host_side))
        run("ip", "link", "add", host_side, "type", "veth", "peer", "name", ns_side)
        run("ip", "link", "set", ns_side, "netns", name)
        run("ip", "addr", "add", f"{host_address}/30", "dev", host_side)
        run("ip", "link", "set", host_side, "up")
        peer = host_address.rsplit(".", 1)[0] + "." + str(int(host_address.rsplit(".", 1)[1]) + 1)
        run("ip", "netns", "exec", name, "ip", "addr", "add", f"{peer}/30", "dev", ns_side)
        if listen:  # an address of its own beside the veth's (169.254.169.254)
            run("ip", "netns", "exec", name, "ip", "addr", "add", f"{listen}/32", "dev", ns_side)
        run("ip", "netns", "exec", name, "ip", "link", "set", ns_side, "up")
        run("ip", "netns", "exec", name, "ip", "link", "set", "lo", "up")
        run("ip", "netns", "exec", name, "ip", "route", "add", "default", "via", host_address)
        address = listen or peer
        # A bare TCP listener (its own session, so that killing it kills all of it; 300 s at most).
        listener = subprocess.Popen(
            ["ip", "netns", "exec", name, "timeout", "300", sys.executable, "-c",
             "import socket\ns = socket.socket()\ns.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
             f"s.bind(({address!r}, 80))\ns.listen(64)\nwhile True:\n    s.accept()[0].close()"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        made.append(listener)
        up = wait_for(lambda: subprocess.run(["ip", "netns", "exec", name, sys.executable, "-c",
                                              f"import socket; socket.create_connection(({address!r}, 80), 1)"],
                                             capture_output=True).returncode == 0, timeout=30, interval=0.2)
        assert up, f"the test's listener at {address}:80 did not come up"
        return peer, host_side

    yield make
    for item in reversed(made):
        if isinstance(item, subprocess.Popen):
            os.killpg(item.pid, signal.SIGKILL)
            item.wait(10)
        else:
            remove_namespace(*item)


def remove_namespace(name: str, host_side: str) -> None:
    subprocess.run(["ip", "link", "del", host_side], capture_output=True)
    subprocess.run(["ip", "netns", "del", name], capture_output=True)


METADATA = "169.254.169.254"
TABLE = "4242"


def test_the_metadata_address_is_refused_where_a_plain_container_reaches_it(tenants, namespace_listener):
    """The test's own listener at 169.254.169.254 (in a namespace), reached from the pool's
    bridge and from a control network's bridge by a policy rule the test adds: the host's own
    route to that address is left as it is."""
    attacker, _ = tenants
    _, host_side = namespace_listener("bhmeta", "10.254.169.1", METADATA)
    route_before = subprocess.run(["ip", "route", "get", METADATA], capture_output=True, text=True).stdout
    rules = [["iif", bridge, "to", METADATA, "lookup", TABLE] for bridge in ("bh-iso", CONTROL_BRIDGE)]
    remove_rules(rules)  # what a run cut short left
    try:
        subprocess.run(["ip", "route", "add", METADATA, "dev", host_side, "table", TABLE], check=True)
        for rule in rules:
            subprocess.run(["ip", "rule", "add", *rule], check=True)
        assert from_control(METADATA, 80) == "open"  # the route works, from a plain container
        assert "refused" in tcp_from(attacker, METADATA, 80)  # and the pool's rule rejects it
    finally:
        remove_rules(rules)
    assert subprocess.run(["ip", "route", "get", METADATA], capture_output=True, text=True).stdout == route_before


def remove_rules(rules: list[list[str]]) -> None:
    for rule in rules:
        while subprocess.run(["ip", "rule", "del", *rule], capture_output=True).returncode == 0:
            pass
    subprocess.run(["ip", "route", "flush", "table", TABLE], capture_output=True)


def test_outbound_follows_the_setting(runner, tenants, namespace_listener):
    attacker, _ = tenants
    server_address, _ = namespace_listener("bhout", "10.254.170.1", "")
    assert tcp_from(attacker, server_address, 80) == "open"  # on by default
    ports = port_range()
    off = {**pool_variables("isooff", 1, ports), "pool_node_outbound": False}
    assert runner.run("pool_provision.yml", off).ok
    try:
        closed = Node("bunkhouse-isooff-1", ports)
        out = node_sh(closed, f"timeout 5 bash -c 'exec 3<>/dev/tcp/{server_address}/80' 2>&1; echo rc=$?",
                      check=False).stdout
        assert "refused" in out and "rc=1" in out
    finally:
        runner.run("pool_remove.yml", {"pool_node_pool": "isooff"})


@pytest.mark.parametrize("username", ["disk", "tty", "staff", "shadow", "users", "nogroup"])
def test_names_of_the_images_groups_are_a_400_and_no_node_moves(server, username):
    before = server.api.get("/api/v1/nodes").body["nodes"]
    answer = reserve(server.api, username, PASSWORD)
    assert answer.status == 400, answer.body
    assert answer.error["code"] == "invalid_username" and username in answer.error["message"]
    assert server.api.get("/api/v1/nodes").body["nodes"] == before


def test_the_password_hash_is_in_no_command_line(server):
    """What the engine is asked to run (its exec_create events, read back for the time of the
    reservation) and every ansible-playbook command line of the service's runs hold no hash;
    the account was made all the same."""
    since = f"{time.time() - 1:.3f}"
    answer = reserve(server.api, "hashless", PASSWORD, count=2)
    assert answer.status == 201, answer.body
    try:
        with sqlite3.connect(server.instance_dir / "bunkhouse.db") as database:
            (password_hash,) = database.execute("SELECT password_hash FROM reservations WHERE id = ?",
                                                (answer.body["id"],)).fetchone()
        for node in nodes_of(answer.body):
            assert password_hash and password_hash in node_sh(node, "getent shadow hashless").stdout
        until = f"{time.time() + 1:.3f}"
        time.sleep(1.5)  # the window is over: docker events answers at once
        lines = docker("events", "--since", since, "--until", until, "--filter", "event=exec_create",
                       "--format", "{{json .}}").stdout.splitlines()
    finally:
        server.api.delete(f"/api/v1/reservations/{answer.body['id']}")
    execs = [json.loads(line)["Action"] for line in lines]
    assert sum("node-account" in action and "hashless" in action for action in execs) >= 2, execs
    digest = password_hash.split("$")[-1]
    assert not any(digest in action for action in execs)
    commands = [path.read_text() for path in Path(server.instance_dir, "runs").rglob("command")]
    assert commands and not any(digest in command for command in commands)


def test_nothing_of_a_released_tenant_is_left_for_the_next(server):
    answer = reserve(server.api, "ipcuser", PASSWORD)
    assert answer.status == 201, answer.body
    node = nodes_of(answer.body)[0]
    try:
        ssh_run(node, "ipcuser", "python3 -c 'import ctypes; c = ctypes.CDLL(None); rt = ctypes.CDLL(\"librt.so.1\");"
                                 " print(c.shmget(0x71, 4096, 0o1600), c.semget(0x72, 1, 0o1600),"
                                 " c.msgget(0x73, 0o1600), rt.mq_open(b\"/left\", 0o102, 0o600, None))'",
                password=PASSWORD)
        uid = node_sh(node, "id -u ipcuser").stdout.strip()
        listed = node_sh(node, "ipcs; ls -n /dev/mqueue").stdout
    finally:
        released = server.api.delete(f"/api/v1/reservations/{answer.body['id']}")
    assert listed.count("ipcuser") == 3 and "left" in listed
    assert released.status == 200
    after = node_sh(node, "ipcs -c; ls -n /dev/mqueue").stdout
    assert "ipcuser" not in after and f" {uid} " not in after and "left" not in after
