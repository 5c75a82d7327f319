"""pool_provision.yml starts real node containers; the inventory finds them on the engines of
engines.yml; the image holds its promises."""

import json
import subprocess
import sys
from pathlib import Path

from helpers.nodes import docker, node_sh, pool_variables

POOL = "itest"


def test_provision_starts_labelled_nodes_with_published_ssh_ports(pool):
    for node in pool:
        info = json.loads(docker("inspect", node.name).stdout)[0]
        assert info["State"]["Running"] is True
        labels = info["Config"]["Labels"]
        assert labels["bunkhouse.node"] == "true"
        assert labels["bunkhouse.pool"] == POOL
        assert info["HostConfig"]["PortBindings"]["22/tcp"] == [{"HostIp": "127.0.0.1", "HostPort": str(node.port)}]
        assert info["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"
        assert info["Config"]["Image"] == "bunkhouse/node:latest"


def test_provisioning_again_changes_nothing(runner, pool, pool_ports):
    result = runner.run("pool_provision.yml", pool_variables(POOL, len(pool), pool_ports))
    assert result.ok, result.stdout_tail
    assert result.changed_hosts == ()


def _plain(value):
    """ansible-inventory --list writes values that came from the engine as {"__ansible_unsafe": value}."""
    return value["__ansible_unsafe"] if isinstance(value, dict) and "__ansible_unsafe" in value else value


def test_the_inventory_finds_exactly_the_provisioned_nodes(project_dir, pool):
    listed = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-inventory"), "-i", "inventory/", "--list"],
        cwd=project_dir, capture_output=True, text=True, check=True, timeout=60,
    )
    inventory = json.loads(listed.stdout)
    assert sorted(inventory[f"bunkhouse_pool_{POOL}"]["hosts"]) == sorted(node.name for node in pool)
    assert set(inventory["bunkhouse_nodes"]["hosts"]) >= {node.name for node in pool}
    for node in pool:
        hostvars = {key: _plain(value) for key, value in inventory["_meta"]["hostvars"][node.name].items()}
        assert hostvars["ansible_connection"] == "community.docker.docker_api"
        assert hostvars["bunkhouse_ssh_port"] == node.port
        assert hostvars["bunkhouse_ssh_host"] == "127.0.0.1"
        # Found on the engine engines.yml lists, and reached through that engine.
        assert hostvars["bunkhouse_engine"] == "local"
        assert hostvars["ansible_docker_docker_host"] == "unix:///var/run/docker.sock"
    assert inventory["bunkhouse_engines"]["hosts"] == ["local"]


def test_every_node_has_its_own_host_keys(pool):
    command = "ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub"
    fingerprints = {node_sh(node, command).stdout.split()[1] for node in pool}
    assert len(fingerprints) == len(pool)


def test_the_image_has_no_host_keys_baked_in(docker_engine):
    listing = docker("run", "--rm", "--entrypoint", "sh", "bunkhouse/node:latest", "-c", "ls /etc/ssh/").stdout
    assert "ssh_host_" not in listing


def test_root_has_no_password_and_cannot_log_in_over_ssh(pool):
    for node in pool:
        shadow_password = node_sh(node, "getent shadow root").stdout.split(":")[1]
        assert shadow_password.startswith(("!", "*"))
        effective = node_sh(node, "sshd -T").stdout
        assert "permitrootlogin no" in effective
        assert "passwordauthentication yes" in effective
