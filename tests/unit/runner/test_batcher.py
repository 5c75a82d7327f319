"""The batcher: one Ansible run for everything pending, never two changes to a host in one run."""

from __future__ import annotations

import threading

import pytest

from bunkhouse.runner.batcher import Batcher, Job, JobGroup, _one_change_per_host
from helpers.fakes import FakeRunner
from helpers.waiting import wait_for

VARIABLE = "bunkhouse_account_ops"


def group(*hosts, state="present"):
    return JobGroup([Job(host, {"name": "alice", "state": state}) for host in hosts], purpose="test")


def batcher(runner, **options) -> Batcher:
    return Batcher(runner, "account_batch.yml", VARIABLE, **options)


def test_pending_groups_share_a_run_unless_they_touch_the_same_host():
    first, second, clash = group("a", "b"), group("c"), group("b", "d", state="absent")
    batch, later = _one_change_per_host([first, second, clash])
    assert batch == [first, second]
    assert later == [clash]


def test_a_group_may_not_change_a_host_twice():
    with pytest.raises(ValueError):
        batcher(FakeRunner(delay=0), batching=False).submit(group("a", "a"))


def test_everything_pending_goes_into_one_run_with_the_extra_variables():
    runner = FakeRunner(delay=0)
    queue = batcher(runner, window=0.2, extra_variables={"bunkhouse_host_timeout": 7})
    groups = [group(f"node-{index}") for index in range(8)]
    queue.start()
    for pending in groups:
        queue.submit(pending)
    assert all(pending.wait(10) for pending in groups)
    queue.stop()
    assert len(runner.calls) == 1
    _, variables, _ = runner.calls[0]
    assert sorted(variables[VARIABLE]) == [f"node-{index}" for index in range(8)]
    assert variables["bunkhouse_host_timeout"] == 7
    assert all(job.ok for pending in groups for job in pending.jobs)


def test_a_batch_goes_to_the_standby_run_and_a_new_one_is_started():
    runner = FakeRunner(delay=0)
    queue = batcher(runner, window=0.01)
    queue.start()
    first = queue.submit(group("a"))
    assert first.wait(10)
    # The first batch used the oldest of the two standbys started with the batcher; a third
    # was started after its run.
    assert wait_for(lambda: runner.standbys_started == 3, timeout=10)
    second = queue.submit(group("b"))
    assert second.wait(10)
    queue.stop()
    assert [sorted(call[1][VARIABLE]) for call in runner.calls] == [["a"], ["b"]]
    assert queue._standbys == []  # stop() ended the waiting standbys


def test_a_dead_standby_is_not_used():
    runner = FakeRunner(delay=0)
    queue = batcher(runner, window=0.01)
    queue.start()
    assert wait_for(lambda: len(queue._standbys) == 2, timeout=10)
    for dead in queue._standbys:
        dead.used = True  # as if its process had died: alive() is now False
    done = queue.submit(group("a"))
    assert done.wait(10) and done.ok_hosts == ["a"]
    queue.stop()
    assert len(runner.calls) == 1  # the batch ran the ordinary way, once


def test_no_standby_without_batching():
    runner = FakeRunner(delay=0)
    queue = batcher(runner, batching=False)
    queue.start()
    assert queue.submit(group("a")).done.is_set()
    queue.stop()
    assert runner.standbys_started == 0


def test_failed_hosts_are_reported_per_job_with_why():
    runner = FakeRunner(delay=0)
    runner.failing_hosts = {"b"}
    done = batcher(runner, batching=False).submit(group("a", "b"))
    assert done.done.is_set()
    assert done.ok_hosts == ["a"] and done.failed_hosts == ["b"]
    assert "it broke" in done.errors()["b"]


def test_stopping_releases_waiting_groups_without_deciding_anything():
    """When the service stops, a group whose run is cut short is released, interrupted: its
    on_done (which would free or quarantine nodes) does not run."""
    runner = FakeRunner(delay=0)
    runner.hold = threading.Event()
    decided = []
    queue = batcher(runner, window=0.01, standbys=0)
    queue.start()
    running = queue.submit(JobGroup([Job("a", {})], purpose="test", on_done=decided.append))
    assert wait_for(lambda: runner.calls, timeout=10)
    waiting = queue.submit(JobGroup([Job("a", {})], purpose="test", on_done=decided.append))
    runner.stop()  # the service stops: its runs end (here: the held run returns)
    runner.hold.set()
    queue.stop()
    assert running.wait(10) and waiting.wait(10)
    assert running.interrupted and waiting.interrupted and decided == []
