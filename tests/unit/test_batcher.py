"""The batcher: one Ansible run for everything pending, never two changes to a node in one run."""

from __future__ import annotations

import pytest

from bunkhouse.batcher import AccountBatcher, AccountJob, JobGroup, _one_change_per_node
from conftest import FakeProvisioner


def group(*nodes, state="present"):
    return JobGroup([AccountJob(node, "alice", state, "$6$x$y" if state == "present" else "") for node in nodes],
                    purpose="test")


def test_pending_groups_share_a_run_unless_they_touch_the_same_node():
    first, second, clash = group("a", "b"), group("c"), group("b", "d", state="absent")
    batch, later = _one_change_per_node([first, second, clash])
    assert batch == [first, second]
    assert later == [clash]


def test_a_group_may_not_change_a_node_twice():
    batcher = AccountBatcher(FakeProvisioner(delay=0), batching=False)
    with pytest.raises(ValueError):
        batcher.submit(group("a", "a"))


def test_everything_pending_goes_into_one_run():
    provisioner = FakeProvisioner(delay=0)
    batcher = AccountBatcher(provisioner, batching=True, window=0.2)
    groups = [group(f"node-{index}") for index in range(8)]
    batcher.start()
    for pending in groups:
        batcher.submit(pending)
    assert all(pending.wait(10) for pending in groups)
    batcher.stop()
    assert len(provisioner.calls) == 1
    _, variables, limit = provisioner.calls[0]
    assert limit == [f"node-{index}" for index in range(8)]
    assert set(variables["bunkhouse_account_ops"]) == set(limit)
    assert all(job.ok for pending in groups for job in pending.jobs)


def test_failed_nodes_are_reported_per_job():
    provisioner = FakeProvisioner(delay=0)
    provisioner.failing_nodes = {"b"}
    batcher = AccountBatcher(provisioner, batching=False)
    done = batcher.submit(group("a", "b"))
    assert done.done.is_set()
    assert done.ok_nodes == ["a"] and done.failed_nodes == ["b"]
