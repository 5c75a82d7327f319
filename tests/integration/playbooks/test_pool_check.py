"""pool_check.yml, the operator's check, tells working nodes from dead ones."""

from helpers.nodes import docker, pool_variables

POOL = "itest"


def test_the_check_passes_on_a_working_pool_and_names_a_stopped_node(runner, pool, pool_ports):
    passed = runner.run("pool_check.yml", {"check_nodes": f"bunkhouse_pool_{POOL}"})
    assert passed.ok, passed.stdout_tail
    assert set(passed.ok_hosts) >= {node.name for node in pool}

    stopped = pool[-1]
    docker("stop", "--time", "1", stopped.name)
    try:
        failed = runner.run("pool_check.yml", {"check_nodes": f"bunkhouse_pool_{POOL}"})
        assert not failed.ok
        assert failed.failed_hosts == (stopped.name,)
    finally:
        docker("start", stopped.name)
    # Back in service: sshd answers again (the provision playbook waits for it).
    assert runner.run("pool_provision.yml", pool_variables(POOL, len(pool), pool_ports)).ok
    assert runner.run("pool_check.yml", {"check_nodes": f"bunkhouse_pool_{POOL}"}).ok
