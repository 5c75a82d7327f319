"""health.yml tells healthy nodes from dead ones."""

from support import POOL, docker


def test_health_passes_on_a_healthy_pool_and_names_a_stopped_node(provisioner, pool):
    healthy = provisioner.run_playbook("health.yml", {"health_nodes": f"bunkhouse_pool_{POOL}"})
    assert healthy.ok, healthy.stdout_tail
    assert set(healthy.ok_hosts) >= {node.name for node in pool}

    stopped = pool[-1]
    docker("stop", "--time", "1", stopped.name)
    try:
        unhealthy = provisioner.run_playbook("health.yml", {"health_nodes": f"bunkhouse_pool_{POOL}"})
        assert not unhealthy.ok
        assert unhealthy.failed_hosts == (stopped.name,)
    finally:
        docker("start", stopped.name)
    # Back in service: sshd answers again (the provision playbook waits for it).
    from support import POOL_SIZE, PORT_FIRST, pool_variables

    assert provisioner.run_playbook("provision.yml", pool_variables(POOL, POOL_SIZE, PORT_FIRST)).ok
    assert provisioner.run_playbook("health.yml", {"health_nodes": f"bunkhouse_pool_{POOL}"}).ok
