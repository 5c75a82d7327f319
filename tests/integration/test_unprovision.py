"""unprovision.yml removes every node of a pool, and only that pool's."""

from support import docker, pool_variables

POOL = "itest-gone"


def _containers(pool: str) -> list[str]:
    return docker("ps", "-a", "--filter", f"label=bunkhouse.pool={pool}", "--format", "{{.Names}}").stdout.split()


def test_unprovision_leaves_no_node_of_the_pool_behind(provisioner, pool):
    provisioned = provisioner.run_playbook("provision.yml", pool_variables(POOL, 2, 23101))
    assert provisioned.ok, provisioned.stdout_tail
    assert sorted(_containers(POOL)) == [f"bunkhouse-{POOL}-1", f"bunkhouse-{POOL}-2"]
    # A stopped node is still a node of the pool.
    docker("stop", "--time", "1", f"bunkhouse-{POOL}-2")

    removed = provisioner.run_playbook("unprovision.yml", {"pool_node_pool": POOL})
    assert removed.ok, removed.stdout_tail
    assert _containers(POOL) == []
    # The other pool is untouched.
    assert sorted(_containers("itest")) == sorted(node.name for node in pool)

    again = provisioner.run_playbook("unprovision.yml", {"pool_node_pool": POOL})
    assert again.ok and again.changed_hosts == ()
