"""account_batch.yml, the service's playbook, on real nodes: run directly and as a standby run
that is started first and handed its batch later (provisioner.StandbyRun)."""

import os
import subprocess
import sys
import time
from pathlib import Path

from bunkhouse.batcher import PLAYBOOK
from bunkhouse.passwords import hash_password
from bunkhouse.provisioner import Provisioner
from support import login_refused, node_sh, ssh_run


def _ops(nodes, name, state, password_hash=""):
    ops = {node.name: {"name": name, "state": state} for node in nodes}
    if state == "present":
        for op in ops.values():
            op["password_hash"] = password_hash
    return {"bunkhouse_account_ops": ops}


def _dispatch(standby, nodes, name, state, password_hash=""):
    return standby.dispatch(_ops(nodes, name, state, password_hash), hosts=[node.name for node in nodes])


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


def test_a_standby_run_applies_the_batch_it_is_handed(provisioner, pool, config):
    nodes = pool[:2]
    password_hash = hash_password("Standby-pw-1")
    standby = provisioner.start_standby(PLAYBOOK, wait=120)
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

    removed = provisioner.run_playbook(PLAYBOOK, _ops(nodes, "stella", "absent"))
    assert removed.ok, removed.stdout_tail
    for node in nodes:
        assert login_refused(node, "stella", "Standby-pw-1")
        assert node_sh(node, "getent passwd stella", check=False).returncode == 2


def test_a_standby_given_nothing_ends_by_itself_changing_nothing(provisioner, pool):
    standby = provisioner.start_standby(PLAYBOOK, wait=1)
    deadline = time.monotonic() + 60
    while standby.alive() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not standby.alive()
    # Handed a batch after it ended, it says so (None) instead of reporting work not done.
    assert _dispatch(standby, pool[:1], "late", "present", hash_password("late-pw")) is None
    assert node_sh(pool[0], "getent passwd late", check=False).returncode == 2


def test_a_killed_standby_is_reported_not_trusted(provisioner, pool, config):
    standby = provisioner.start_standby(PLAYBOOK, wait=120)
    time.sleep(3)
    # This process does not kill its own standby; a restarted service (a new provisioner on
    # the same instance folder) does.
    assert provisioner.kill_orphaned_runs() == []
    assert standby.alive()
    assert Provisioner(config).kill_orphaned_runs()
    deadline = time.monotonic() + 30
    while standby.alive() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _dispatch(standby, pool[:1], "ghost", "present", hash_password("ghost-pw")) is None
    assert node_sh(pool[0], "getent passwd ghost", check=False).returncode == 2


def test_a_name_that_is_no_node_fails_alone(provisioner, pool):
    ops = _ops(pool[:1], "nora", "present", hash_password("nora-pw"))
    ops["bunkhouse_account_ops"]["localhost"] = {"name": "nora", "state": "present", "password_hash": "x"}
    result = provisioner.run_playbook(PLAYBOOK, ops)
    # "localhost" is no bunkhouse node of the inventory: it matches nothing, so nothing runs on
    # the controller (the batcher counts a node missing from the results as failed), and the
    # real node still gets its account.
    assert "localhost" not in result.ok_hosts
    assert pool[0].name in result.ok_hosts
    assert "nora" not in open("/etc/passwd").read()
    assert provisioner.run_playbook(PLAYBOOK, _ops(pool[:1], "nora", "absent")).ok


def test_a_standby_does_not_outlive_the_process_that_started_it(config):
    """SIGKILL the process holding a standby: the standby reads end-of-file and ends at once,
    instead of waiting out its time as an orphan."""
    script = (
        "import sys, time\n"
        "from bunkhouse.config import Config\n"
        "from bunkhouse.provisioner import Provisioner\n"
        f"standby = Provisioner(Config.from_environ({{'BUNKHOUSE_INSTANCE_DIR': {str(config.instance_dir)!r}}}))"
        ".start_standby('account_batch.yml', wait=300)\n"
        "print(standby.ident, flush=True)\n"
        "time.sleep(600)\n"
    )
    holder = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2] / "src")})
    ident = holder.stdout.readline().strip()
    assert ident

    def running() -> bool:
        return subprocess.run(["pgrep", "-f", ident], capture_output=True).returncode == 0

    deadline = time.monotonic() + 30
    while not running() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert running(), "the standby's ansible-playbook never started"
    time.sleep(3)  # well into its wait on the FIFO
    holder.kill()
    holder.wait(10)
    deadline = time.monotonic() + 30
    while running() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not running()
