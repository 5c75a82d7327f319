"""Integration fixtures: a real Docker engine, the real node image, a real pool of nodes
provisioned with the project's playbooks through ansible-runner."""

from __future__ import annotations

import pytest

from bunkhouse import engine
from support import POOL, POOL_SIZE, PORT_FIRST, Node, pool_variables


@pytest.fixture(scope="session")
def docker_engine() -> str:
    version = engine.engine_version()
    if version is None:
        pytest.fail("no Docker engine answers: run scripts/ensure-docker.sh (./just test does it)")
    return version


@pytest.fixture(scope="session")
def pool(provisioner, docker_engine) -> list[Node]:
    """A pool of three nodes provisioned with playbooks/provision.yml for the whole session."""
    result = provisioner.run_playbook("provision.yml", pool_variables(POOL, POOL_SIZE, PORT_FIRST))
    assert result.ok, result.stdout_tail
    yield [Node(f"bunkhouse-{POOL}-{index}", PORT_FIRST + index - 1) for index in range(1, POOL_SIZE + 1)]
    provisioner.run_playbook("unprovision.yml", {"pool_node_pool": POOL})
