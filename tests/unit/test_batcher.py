"""The batcher: one Ansible run for everything pending, never two changes to a node in one run."""

from __future__ import annotations

import time

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


def wait_for(condition, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return False


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
    _, variables, _ = provisioner.calls[0]
    assert sorted(variables["bunkhouse_account_ops"]) == [f"node-{index}" for index in range(8)]
    assert all(job.ok for pending in groups for job in pending.jobs)


def test_a_batch_goes_to_the_standby_run_and_a_new_one_is_started():
    provisioner = FakeProvisioner(delay=0)
    batcher = AccountBatcher(provisioner, batching=True, window=0.01)
    batcher.start()
    first = batcher.submit(group("a"))
    assert first.wait(10)
    # The first batch used the oldest of the two standbys started with the batcher; a third
    # was started after its run.
    assert wait_for(lambda: provisioner.standbys_started == 3)
    second = batcher.submit(group("b"))
    assert second.wait(10)
    batcher.stop()
    assert [sorted(call[1]["bunkhouse_account_ops"]) for call in provisioner.calls] == [["a"], ["b"]]
    assert batcher._standbys == []  # stop() ended the waiting standbys


def test_a_dead_standby_is_not_used():
    provisioner = FakeProvisioner(delay=0)
    batcher = AccountBatcher(provisioner, batching=True, window=0.01)
    batcher.start()
    assert wait_for(lambda: len(batcher._standbys) == 2)
    for dead in batcher._standbys:
        dead.used = True  # as if its process had died: alive() is now False
    done = batcher.submit(group("a"))
    assert done.wait(10) and done.ok_nodes == ["a"]
    batcher.stop()
    assert len(provisioner.calls) == 1  # the batch ran the ordinary way, once


def test_no_standby_without_batching():
    provisioner = FakeProvisioner(delay=0)
    batcher = AccountBatcher(provisioner, batching=False)
    batcher.start()
    assert batcher.submit(group("a")).done.is_set()
    batcher.stop()
    assert provisioner.standbys_started == 0


def test_failed_nodes_are_reported_per_job():
    provisioner = FakeProvisioner(delay=0)
    provisioner.failing_nodes = {"b"}
    batcher = AccountBatcher(provisioner, batching=False)
    done = batcher.submit(group("a", "b"))
    assert done.done.is_set()
    assert done.ok_nodes == ["a"] and done.failed_nodes == ["b"]
