"""Integration fixtures: a real Docker engine, the real node image, a real pool of nodes
provisioned with the project's playbooks through the real runner."""

from __future__ import annotations

import pytest

from bunkhouse.fleet.engines import EngineClient, load_engines
from helpers.nodes import Node, pool_variables, remove_leftover_pools
from helpers.service import port_range

POOL = "itest"
POOL_SIZE = 3


@pytest.fixture(scope="session")
def docker_engine(project_dir) -> str:
    version = EngineClient(load_engines(project_dir / "inventory")[0]).version()
    if version is None:
        pytest.fail("no Docker engine answers: run scripts/ensure-docker.sh (./just test does it)")
    return version


@pytest.fixture(scope="session", autouse=True)
def no_leftover_pools(docker_engine) -> None:
    """Before any test: no node of a test pool left by a run that was cut short."""
    remove_leftover_pools()


@pytest.fixture(scope="session")
def pool_ports(no_leftover_pools) -> int:
    # Leftovers hold ports: the range is picked once they are gone.
    return port_range()


@pytest.fixture(scope="session")
def pool(runner, docker_engine, pool_ports) -> list[Node]:
    """A pool of three nodes provisioned with playbooks/pool_provision.yml for the whole session."""
    result = runner.run("pool_provision.yml", pool_variables(POOL, POOL_SIZE, pool_ports))
    assert result.ok, result.stdout_tail
    yield [Node(f"bunkhouse-{POOL}-{index}", pool_ports + index - 1) for index in range(1, POOL_SIZE + 1)]
    runner.run("pool_remove.yml", {"pool_node_pool": POOL})
