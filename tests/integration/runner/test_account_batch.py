"""account_batch.yml, the service's batch playbook, on real nodes: run directly and as a
standby run that is started first and handed its batch later (runner/standby.py); a node that
hangs fails alone; a standby does not outlive the process that started it."""

import os
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

from bunkhouse.config import AnsibleSettings
from bunkhouse.reservations.accounts import PLAYBOOK
from bunkhouse.reservations.passwords import hash_password
from bunkhouse.runner.playbooks import Runner
from helpers.nodes import login_refused, node_sh, ssh_run
from helpers.waiting import wait_for


def _ops(nodes, name, state, password_hash="", **extra):
    ops = {node.name: {"name": name, "state": state} for node in nodes}
    if state == "present":
        for op in ops.values():
            op["password_hash"] = password_hash
    return {"bunkhouse_account_ops": ops, **extra}


def _dispatch(standby, nodes, name, state, password_hash=""):
    return standby.dispatch(_ops(nodes, name, state, password_hash), hosts=[node.name for node in nodes],
                            purpose="test")


def _files_containing(folder, needle: str) -> list[str]:
    found = []
    for root, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(root, name)
            if not os.path.isfile(path):  # the signal FIFO: opening it would block
                continue
            try:
                with open(path, "rb") as handle:
                    if needle.encode() in handle.read():
                        found.append(path)
            except OSError:
                pass
    return found


def test_a_standby_run_applies_the_batch_it_is_handed(runner, pool, config):
    nodes = pool[:2]
    password_hash = hash_password("Standby-pw-1")
    standby = runner.start_standby(PLAYBOOK, wait=120)
    time.sleep(3)  # let it reach the point where it waits (it works if it has not, too)
    assert standby.alive()

    result = _dispatch(standby, nodes, "stella", "present", password_hash)
    assert result is not None and result.ok, result and result.stdout_tail
    assert set(result.changed_hosts) == {node.name for node in nodes}
    assert not standby.alive()
    for node in nodes:
        assert ssh_run(node, "stella", "id -un", password="Standby-pw-1").strip() == "stella"
    # The hash reached the nodes through a 0600 file that is gone now, and no artifact of the
    # run (events, stdout, command) holds it.
    assert _files_containing(config.runs_dir / standby.ident, password_hash) == []
    assert not (config.runs_dir / standby.ident / "batch.yml").exists()

    removed = runner.run(PLAYBOOK, _ops(nodes, "stella", "absent"))
    assert removed.ok, removed.stdout_tail
    for node in nodes:
        assert login_refused(node, "stella", "Standby-pw-1")
        assert node_sh(node, "getent passwd stella", check=False).returncode == 2


def test_a_standby_given_nothing_ends_by_itself_changing_nothing(runner, pool):
    standby = runner.start_standby(PLAYBOOK, wait=1)
    assert wait_for(lambda: not standby.alive(), timeout=60, interval=0.2)
    # Handed a batch after it ended, it says so (None) instead of reporting work not done.
    assert _dispatch(standby, pool[:1], "late", "present", hash_password("late-pw")) is None
    assert node_sh(pool[0], "getent passwd late", check=False).returncode == 2


def test_a_killed_standby_is_reported_not_trusted(runner, pool, config):
    standby = runner.start_standby(PLAYBOOK, wait=120)
    time.sleep(3)
    # This runner does not kill its own standby; a restarted service (a new runner on the same
    # instance folder) does.
    assert runner.kill_orphans() == []
    assert standby.alive()
    assert Runner(config.project_dir, config.inventory_dir, config.runs_dir, config.ansible).kill_orphans()
    assert wait_for(lambda: not standby.alive(), timeout=30, interval=0.2)
    assert _dispatch(standby, pool[:1], "ghost", "present", hash_password("ghost-pw")) is None
    assert node_sh(pool[0], "getent passwd ghost", check=False).returncode == 2


def test_a_name_that_is_no_node_fails_alone(runner, pool):
    ops = _ops(pool[:1], "nora", "present", hash_password("nora-pw"))
    ops["bunkhouse_account_ops"]["localhost"] = {"name": "nora", "state": "present", "password_hash": "x"}
    result = runner.run(PLAYBOOK, ops)
    # "localhost" is no bunkhouse node of the inventory: it matches nothing, so nothing runs on
    # the controller (the batcher counts a node missing from the results as failed), and the
    # real node still gets its account.
    assert "localhost" not in result.ok_hosts
    assert pool[0].name in result.ok_hosts
    assert "nora" not in open("/etc/passwd").read()
    assert runner.run(PLAYBOOK, _ops(pool[:1], "nora", "absent")).ok


def test_a_node_that_hangs_fails_alone_and_the_others_of_the_batch_go_on(config, pool):
    """One node of the batch hangs in its account change (useradd never returns); past the
    per-node bound that node fails, alone: the other node gets its account, and the run ends
    long before the run timeout."""
    slow, fast = pool[1], pool[2]
    node_sh(slow, "mv /usr/sbin/useradd /usr/sbin/useradd.real && printf '#!/bin/sh\\nexec sleep 3600\\n'"
                  " > /usr/sbin/useradd && chmod 755 /usr/sbin/useradd")
    runner = Runner(config.project_dir, config.inventory_dir, config.runs_dir,
                    replace(AnsibleSettings(), timeout=240))
    try:
        outcome = {}
        worker = threading.Thread(target=lambda: outcome.update(result=runner.run(PLAYBOOK, _ops(
            [slow, fast], "hugo", "present", hash_password("Hugo-pw-1"), bunkhouse_host_timeout=8))))
        worker.start()
        worker.join(120)
        assert not worker.is_alive(), "the batch waited for the hung node"
        result = outcome["result"]
        assert result.status == "failed"  # not "timeout": the run as a whole ended in time
        assert result.failed_hosts == (slow.name,) and fast.name in result.ok_hosts
        assert "timed out" in result.host_errors[slow.name].lower() or "timeout" in result.host_errors[slow.name]
        assert ssh_run(fast, "hugo", "id -un", password="Hugo-pw-1").strip() == "hugo"
    finally:
        node_sh(slow, "mv -f /usr/sbin/useradd.real /usr/sbin/useradd; pkill -f 'sleep 3600'; true", check=False)
        assert runner.run(PLAYBOOK, _ops([slow, fast], "hugo", "absent")).ok


def test_a_standby_does_not_outlive_the_process_that_started_it(config):
    """SIGKILL the process holding a standby: the standby ends at once, instead of waiting out
    its time as an orphan."""
    script = (
        "import time\n"
        "from bunkhouse.config import Config\n"
        "from bunkhouse.runner.playbooks import Runner\n"
        f"config = Config.from_environ({{'BUNKHOUSE_INSTANCE_DIR': {str(config.instance_dir)!r}}})\n"
        "standby = Runner(config.project_dir, config.inventory_dir, config.runs_dir, config.ansible)"
        ".start_standby('account_batch.yml', wait=300)\n"
        "print(standby.ident, flush=True)\n"
        "time.sleep(600)\n"
    )
    holder = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[3] / "src")})
    ident = holder.stdout.readline().strip()
    assert ident
    from bunkhouse.runner.folders import RunFolder

    folder = RunFolder(ident, Path(), config.runs_dir / ident)
    assert wait_for(lambda: len(folder.members()) > 2, timeout=30), "the standby's ansible-playbook never started"
    time.sleep(3)  # well into its wait on the FIFO
    holder.kill()
    holder.wait(10)
    assert wait_for(lambda: not folder.members(), timeout=30), folder.members()


def test_a_group_of_the_image_is_refused_as_bad_input_and_changes_nothing(runner, pool):
    """The node script tells a caller's mistake from a broken node: `disk` is a group of the
    node image, so it exits 3, the run says "bad input", and the node is as it was."""
    node = pool[0]
    before = node_sh(node, "cat /etc/passwd /etc/group /etc/shadow; ls -a /home").stdout
    result = runner.run(PLAYBOOK, _ops([node], "disk", "present", hash_password("Whatever-pw-1")), purpose="test")
    assert not result.ok and result.failed_hosts == (node.name,)
    error = result.error_of(node.name)
    assert "bad input: node-account: disk is a group of the node image" in error, error
    assert node_sh(node, "cat /etc/passwd /etc/group /etc/shadow; ls -a /home").stdout == before
    # Removing it is refused the same way: bunkhouse never changes an image's group.
    result = runner.run(PLAYBOOK, _ops([node], "disk", "absent"), purpose="test")
    assert "bad input:" in result.error_of(node.name)
    assert node_sh(node, "getent group disk").returncode == 0
