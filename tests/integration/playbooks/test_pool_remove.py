"""pool_remove.yml removes every node of a pool, and only that pool's."""

from helpers.nodes import docker, pool_variables
from helpers.service import port_range

POOL = "itest-gone"


def _containers(pool: str) -> list[str]:
    return docker("ps", "-a", "--filter", f"label=bunkhouse.pool={pool}", "--format", "{{.Names}}").stdout.split()


def test_unprovision_leaves_no_node_of_the_pool_behind(runner, pool):
    provisioned = runner.run("pool_provision.yml", pool_variables(POOL, 2, port_range()))
    assert provisioned.ok, provisioned.stdout_tail
    assert sorted(_containers(POOL)) == [f"bunkhouse-{POOL}-1", f"bunkhouse-{POOL}-2"]
    # A stopped node is still a node of the pool.
    docker("stop", "--time", "1", f"bunkhouse-{POOL}-2")

    removed = runner.run("pool_remove.yml", {"pool_node_pool": POOL})
    assert removed.ok, removed.stdout_tail
    assert _containers(POOL) == []
    # The other pool is untouched.
    assert sorted(_containers("itest")) == sorted(node.name for node in pool)

    again = runner.run("pool_remove.yml", {"pool_node_pool": POOL})
    assert again.ok and again.changed_hosts == ()
