"""The containers file: a valid one loads whole; each kind of fault is refused with the file,
the entry and the field named."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bunkhouse.fleet.catalog import CatalogError, NodeBounds, NodePoolSpec, load

EXAMPLE = Path(__file__).resolve().parents[3] / "config" / "containers.example.yml"
POOLS = {"hot": {"ttl_seconds": 0}, "warm": {"ttl_seconds": 60, "health_check_interval": 5},
         "cold": {"ttl_seconds": 0}}


def write(tmp_path: Path, document) -> Path:
    path = tmp_path / "containers.yml"
    path.write_text(document if isinstance(document, str) else yaml.safe_dump(document))
    return path


def entry(name="tool", **fields):
    return {"name": name, "image": "bunkhouse/tool:latest", "pool": "warm", **fields}


def test_the_example_file_loads():
    catalog = load(EXAMPLE)
    assert set(catalog.pools) == {"hot", "warm", "cold"}
    assert [spec.pool for spec in catalog.containers.values()] == ["hot", "warm", "cold"]
    assert catalog.profiles["red_team_operator"] == ("ats_network_nmap", "ats_recon_amass")
    nmap = catalog.containers["ats_network_nmap"]
    assert nmap.ports == (8080,) and nmap.environment == {"TOOL_NAME": "nmap"}
    assert nmap.health_check.command == ("test", "-f", "/tmp/ready")
    assert Path(nmap.build).is_dir()
    assert catalog.containers["ats_core_api"].limits.memory == "128m"


def test_defaults_and_a_command_string(tmp_path):
    catalog = load(write(tmp_path, {"pools": POOLS, "containers": [entry(command="sleep 60")]}))
    spec = catalog.containers["tool"]
    assert spec.command == ("/bin/sh", "-c", "sleep 60")
    assert (spec.limits.cpus, spec.limits.memory, spec.limits.pids) == (0.5, "256m", 128)
    assert catalog.pools["hot"].health_check_interval == 60
    assert catalog.pools["warm"].description.startswith("Warm pool")


def test_the_digest_follows_the_entry(tmp_path):
    first = load(write(tmp_path, {"pools": POOLS, "containers": [entry()]})).containers["tool"].digest
    again = load(write(tmp_path, {"pools": POOLS, "containers": [entry()]})).containers["tool"].digest
    other = load(write(tmp_path, {"pools": POOLS, "containers": [entry(environment={"A": "b"})]}))
    assert first == again != other.containers["tool"].digest


@pytest.mark.parametrize(("document", "says"), [
    ({"pools": POOLS, "containers": [entry(poool="warm")]}, "containers[0] (tool): poool: unknown field"),
    ({"pools": POOLS, "containers": [entry(pool="hott")]}, "containers[0] (tool): pool: unknown pool 'hott'"),
    ({"pools": POOLS, "containers": [entry(), entry()]}, "containers[1] (tool): name: 'tool' is already"),
    ({"pools": {**POOLS, "warm": {"ttl_seconds": -5}}, "containers": []}, "pools.warm: ttl_seconds:"),
    ({"pools": {"lukewarm": {"ttl_seconds": 5}}}, "pools.lukewarm: unknown pool"),
    ({"pools": POOLS, "containers": [entry(limits={"memory": "lots"})]},
     "containers[0] (tool): limits.memory: must be a size"),
    ({"pools": POOLS, "containers": [{"name": "tool", "pool": "warm"}]}, "containers[0] (tool): image:"),
    ({"pools": POOLS, "containers": [entry(name="../etc")]}, "containers[0] (../etc): name: must be"),
    ({"pools": POOLS, "containers": [entry(ports=[8080, 8080])]}, "ports: a port is listed twice"),
    ({"pools": POOLS, "containers": [entry(build="no/such/folder")]}, "build:"),
    ({"pools": POOLS, "containers": [entry()], "profile_mappings": {"red": ["tool", "nmap"]}},
     "profile_mappings.red: unknown container 'nmap'"),
    ({"pools": POOLS, "containers": [entry()], "profile_mappings": {"red": []}}, "profile_mappings.red: must be"),
    ({"pool": POOLS}, "unknown section 'pool'"),
    ("containers: [unclosed", "is not valid YAML"),
    ("- a list", "must be a mapping"),
])
def test_a_fault_is_refused_naming_its_place(tmp_path, document, says):
    path = write(tmp_path, document)
    with pytest.raises(CatalogError) as raised:
        load(path)
    assert str(raised.value).startswith(f"{path}: ")
    assert says in str(raised.value)


def test_a_missing_file_is_refused(tmp_path):
    with pytest.raises(CatalogError, match="cannot be read"):
        load(tmp_path / "nowhere.yml")


NODES = NodeBounds("default", max_members=20, default_min=5)


def node_entry(**fields):
    return {"name": "default", "kind": "ssh_node", "pool": "hot", **fields}


def test_the_ssh_node_entry_carries_the_node_pools_size_and_limits(tmp_path):
    catalog = load(write(tmp_path, {"pools": POOLS, "containers": [
        node_entry(min=2, max=6, idle_seconds=30, limits={"memory": "512m"}), entry()]}), NODES)
    assert catalog.node_pool == NodePoolSpec("default", "hot", 2, 6, 30, None, "512m", None)
    assert set(catalog.containers) == {"tool"}  # it is no named container


@pytest.mark.parametrize(("fields", "says"), [
    ({"name": "lab"}, "containers[0] (lab): name: the SSH node pool is 'default' (BUNKHOUSE_POOL)"),
    ({"kind": "ssh"}, "containers[0] (default): kind: unknown kind 'ssh'"),
    ({"pool": "warm"}, "containers[0] (default): pool: the SSH node pool is hot"),
    ({"min": 5, "max": 3}, "containers[0] (default): min: 5 is above max 3"),
    ({"max": 21}, "containers[0] (default): max: the SSH port range"),
    ({"max": 3}, "containers[0] (default): max: 3 is below the pool's min 5 (BUNKHOUSE_POOL_SIZE)"),
    ({"min": 0}, "containers[0] (default): min:"),
    ({"limits": {"memory": "lots"}}, "containers[0] (default): limits.memory: must be a size"),
    ({"ports": [22]}, "containers[0] (default): ports: unknown field"),
])
def test_a_bad_ssh_node_entry_is_refused_with_its_place(tmp_path, fields, says):
    path = write(tmp_path, {"pools": POOLS, "containers": [node_entry(**fields)]})
    with pytest.raises(CatalogError) as refused:
        load(path, NODES)
    assert says in str(refused.value) and str(path) in str(refused.value)


def test_min_and_max_belong_to_the_ssh_node_entry_only(tmp_path):
    with pytest.raises(CatalogError, match=r"containers\[0\] \(tool\): max: min and max are for exclusive members"):
        load(write(tmp_path, {"pools": POOLS, "containers": [entry(max=3)]}), NODES)
    with pytest.raises(CatalogError, match=r"containers\[1\] \(default\): kind: a second ssh_node entry"):
        load(write(tmp_path, {"pools": POOLS, "containers": [node_entry(), node_entry()]}), NODES)
