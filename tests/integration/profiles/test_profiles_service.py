"""Profiles on the real stack: the real service (gunicorn) with a containers file of three
named containers (hot, warm, cold) from the example tool image, built offline from the node
image; real pool_member.yml runs; real HTTP to each container; seed 004's own Python client."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from helpers.named import remove_named_containers, tool
from helpers.nodes import tcp_from_container
from helpers.seed_004_client import ContainerClient
from helpers.service import free_port, running_service
from helpers.waiting import wait_for

POOL = "prof"
NAMES = ("itest_core", "itest_nmap", "itest_amass", "itest_zap")
FILE = {
    "pools": {"hot": {"ttl_seconds": 0, "health_check_interval": 1},
              "warm": {"ttl_seconds": 3, "health_check_interval": 1},
              "cold": {"ttl_seconds": 0, "health_check_interval": 1}},
    "containers": [tool("itest_core", "hot"), tool("itest_nmap", "warm"), tool("itest_amass", "cold")],
    "profile_mappings": {"red_team_operator": ["itest_nmap", "itest_amass"], "blue": ["itest_core"]},
}


def docker(*args: str) -> str:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=False).stdout.strip()


def docker_state(name: str) -> str:
    """running, exited, or '' when there is no such container."""
    return docker("ps", "-a", "--filter", f"name=^bunkhouse-c-{name}$", "--format", "{{.State}}")


def fetch(address: str) -> dict:
    with urllib.request.urlopen(f"http://{address}/", timeout=5) as response:
        return json.loads(response.read())


@pytest.fixture(scope="module")
def containers_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("containers") / "containers.yml"
    path.write_text(yaml.safe_dump(FILE))
    return path


@pytest.fixture(scope="module")
def server(tmp_path_factory, docker_engine, containers_file):
    remove_named_containers(NAMES)
    try:
        with running_service(tmp_path_factory.mktemp("service-prof"), pool=POOL, pool_size=1, BUNKHOUSE_AUTH="on",
                             BUNKHOUSE_CONTAINERS_FILE=str(containers_file), BUNKHOUSE_CONTAINERS_ROUND_SECONDS="1",
                             BUNKHOUSE_MONITOR_INTERVAL="0") as server:
            yield server
    finally:
        remove_named_containers(NAMES)


@pytest.fixture(scope="module")
def admin(server):
    return server.api.as_((server.instance_dir / "admin-token").read_text().strip())


@pytest.fixture(scope="module")
def seed_client(server, admin):
    client = ContainerClient(server.api.target)
    client.session.headers["Authorization"] = f"Bearer {admin.token}"
    return client


def status(admin, profile: str) -> dict:
    return admin.get(f"/api/v1/containers/status/{profile}").body


def test_the_hot_container_runs_without_being_asked(admin):
    assert wait_for(lambda: status(admin, "blue")["ready"], 120)
    core = status(admin, "blue")["containers"]["itest_core"]
    assert core["status"] == "running" and core["pool"] == "hot"
    assert fetch(core["addresses"]["8080"])["tool"] == "itest_core"
    # Bounded like every container, and published on loopback only.
    limits = json.loads(docker("inspect", "bunkhouse-c-itest_core", "--format",
                               "{{json .HostConfig}}"))
    assert (limits["Memory"], limits["PidsLimit"], limits["CapDrop"]) == (96 * 2**20, 48, ["ALL"])
    assert core["addresses"]["8080"].startswith("127.0.0.1:")


def test_a_named_container_reaches_nothing_of_the_host_nor_the_metadata_address():
    network = json.loads(docker("network", "inspect", "bunkhouse-containers"))[0]
    bridge = "br-" + network["Id"][:12]
    gateway = network["IPAM"]["Config"][0]["Gateway"]
    # The same chains as an SSH node pool's network, on the network's own bridge.
    rules = subprocess.run(["iptables", "-w", "10", "-S", f"BH-{bridge[3:]}-FWD"], capture_output=True, text=True)
    assert rules.returncode == 0 and "169.254.0.0/16" in rules.stdout, rules.stderr
    port = free_port()
    # A service of the host on every address: a plain container reaches it at its gateway.
    host_service = subprocess.Popen(["timeout", "120", sys.executable, "-m", "http.server", "--bind", "0.0.0.0",
                                     str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                    start_new_session=True)
    try:
        assert wait_for(lambda: subprocess.run([sys.executable, "-c", f"import socket; socket.create_connection("
                                                f"('127.0.0.1', {port}), 1)"]).returncode == 0, 30, interval=0.2)
        assert "refused" in tcp_from_container("bunkhouse-c-itest_core", gateway, port)
        assert "refused" in tcp_from_container("bunkhouse-c-itest_core", "169.254.169.254", 80)
    finally:
        os.killpg(host_service.pid, signal.SIGKILL)
        host_service.wait(10)


def test_the_seed_client_prepares_a_profile_and_each_container_answers(seed_client, admin):
    prepared = seed_client.prepare_profile("red_team_operator")
    assert prepared["all_ready"] is False and prepared["estimated_wait_seconds"] > 0
    assert set(prepared["containers"]) == {"itest_nmap", "itest_amass"}
    assert seed_client.wait_for_profile("red_team_operator", timeout=120) is True
    for name, entry in status(admin, "red_team_operator")["containers"].items():
        assert fetch(entry["addresses"]["8080"])["tool"] == name
    started = seed_client.start_container("itest_nmap")
    assert started["container_name"] == "itest_nmap" and started["message"] == "Container itest_nmap is running"
    metrics = seed_client.get_metrics()
    assert metrics["total_starts"] >= 3 and metrics["active_containers"] == 3
    assert metrics["pool_distribution"] == {"hot": 1, "warm": 1, "cold": 1}
    assert metrics["average_startup_time"] > 0


def test_after_release_warm_stops_after_its_ttl_cold_goes_and_warm_comes_back(admin):
    leases = admin.get("/api/v1/containers/leases").body["leases"]
    for lease in leases:
        assert admin.delete(f"/api/v1/containers/leases/{lease['id']}").body["end_reason"] == "released"
    assert wait_for(lambda: status(admin, "red_team_operator")["containers"]["itest_nmap"]["status"] == "stopped",
                    60)
    assert docker_state("itest_nmap") == "exited"  # kept, stopped: the next start is a warm one
    assert wait_for(lambda: docker_state("itest_amass") == "", 60)  # cold: removed after use
    assert docker_state("itest_core") == "running"
    again = admin.post("/api/v1/containers/prepare", {"profile_id": "red_team_operator"}).body
    assert again["containers"]["itest_nmap"]["status"] == "starting"
    assert wait_for(lambda: status(admin, "red_team_operator")["ready"], 120)
    assert docker_state("itest_nmap") == "running"


def test_stop_of_a_held_container_is_refused_naming_its_lease(admin):
    lease = admin.get("/api/v1/containers/leases").body["leases"][0]
    refused = admin.post("/api/v1/containers/stop", {"container_name": "itest_nmap", "force": False})
    assert refused.status == 409 and refused.error["lease_id"] == lease["id"] and lease["id"] in refused.body["detail"]
    assert docker_state("itest_nmap") == "running"


def test_reload_adds_and_removes_exactly_those(admin, containers_file):
    kept = {name: docker("inspect", "--format", "{{.Id}}", f"bunkhouse-c-{name}") for name in ("itest_core",
                                                                                                 "itest_nmap")}
    changed = {**FILE, "containers": [tool("itest_core", "hot"), tool("itest_nmap", "warm"), tool("itest_zap", "hot")],
               "profile_mappings": {"red_team_operator": ["itest_nmap"], "blue": ["itest_core", "itest_zap"]}}
    containers_file.write_text(yaml.safe_dump(changed))
    answer = admin.post("/api/v1/containers/reload-config", {"strategy": "immediate"})
    assert answer.status == 200, answer.body
    assert (answer.body["added"], answer.body["removed"], answer.body["changed"]) == (["itest_zap"], ["itest_amass"],
                                                                                     [])
    assert wait_for(lambda: status(admin, "blue")["ready"], 120)
    assert fetch(status(admin, "blue")["containers"]["itest_zap"]["addresses"]["8080"])["tool"] == "itest_zap"
    assert docker_state("itest_amass") == ""
    # The two kept containers are the same containers as before: nothing else was touched.
    assert {name: docker("inspect", "--format", "{{.Id}}", f"bunkhouse-c-{name}") for name in kept} == kept


def test_an_invalid_reload_is_refused_and_the_running_file_stays(admin, containers_file):
    before = containers_file.read_text()
    containers_file.write_text(before.replace("pool: warm", "pool: wram"))
    answer = admin.post("/api/v1/containers/reload-config")
    assert answer.status == 400 and "pool: unknown pool 'wram'" in answer.body["detail"]
    assert admin.get("/api/v1/containers/pools/warm").body["containers"] == ["itest_nmap"]
    assert admin.get("/api/v1/containers/health").status == 200
    containers_file.write_text(before)


def test_metrics_count_the_work_across_gunicorn_workers(server, admin):
    # gunicorn.conf.py gave this run a multiprocess folder of its own: the scrape adds up its files.
    folders = list((server.instance_dir / "metrics").iterdir())
    assert len(folders) == 1 and any(folders[0].glob("histogram_*.db"))
    answer = urllib.request.urlopen(urllib.request.Request(
        f"{server.api.target}/metrics", headers={"Authorization": f"Bearer {admin.token}"}), timeout=10)
    samples = {}
    for family in text_string_to_metric_families(answer.read().decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value

    def value(name, **labels):
        return samples.get((name, tuple(sorted(labels.items()))), 0.0)

    starts = "bunkhouse_container_start_duration_seconds_count"
    assert value(starts, kind="named", launch="cold", status="success") >= 4  # core, nmap, amass, zap
    assert value(starts, kind="named", launch="warm", status="success") >= 1  # nmap, from stopped
    assert value("bunkhouse_ansible_run_duration_seconds_count", playbook="pool_member.yml",
                 status="successful") >= 3
    assert value("bunkhouse_containers", pool="containers:hot", state="running") == 2
    assert value("bunkhouse_containers", pool="containers:cold", state="running") == 0
    claims = sum(value("bunkhouse_claim_duration_seconds_count", kind="profile", launch=launch, status="success")
                 for launch in ("hot", "warm", "cold"))
    assert claims >= 2
    assert value("bunkhouse_http_request_duration_seconds_count", method="POST",
                 route="/api/v1/containers/prepare", code="200") >= 2
