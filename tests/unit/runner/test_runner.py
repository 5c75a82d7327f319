"""The runner with real ansible-runner runs on localhost (no Docker needed): variables stay
text and off the command line, runs are recorded and rotated, and every run ends at its
deadline or with the process that started it, its whole process group with it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

from bunkhouse.config import AnsibleSettings
from bunkhouse.runner.folders import RunFolder, RunFolders
from bunkhouse.runner.playbooks import Runner
from helpers.waiting import wait_for

HOSTILE = [
    "bob account_state=absent",
    "x; touch /tmp/pwned",
    "$(id)",
    "a\nb: c",
    "{{ lookup('pipe', 'touch /tmp/bunkhouse-template-pwned') }}",
    "{% raw %}é ünïcode{% endraw %}",
]
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


def make_runner(project_dir, tmp_path, recorder=None, **settings) -> Runner:
    return Runner(project_dir, project_dir / "inventory", tmp_path / "runs", replace(AnsibleSettings(), **settings),
                  recorder)


def echo(runner, output, name="n", **more):
    return runner.run(FIXTURES / "echo_vars.yml", {"echo_output": str(output), "echo_name": name, "echo_count": 1,
                                                   "echo_items": [], **more}, purpose="test", inventory="localhost,")


def run_gone(folder: RunFolder) -> bool:
    """No process of the run is left: not ansible-playbook, not a worker, not a task's program."""
    return not folder.members()


def test_hostile_values_reach_ansible_as_plain_text(runner, tmp_path):
    output = tmp_path / "vars.json"
    template = HOSTILE[4]
    result = runner.run(FIXTURES / "echo_vars.yml",
                        {"echo_output": str(output), "echo_name": template, "echo_count": 3, "echo_items": HOSTILE},
                        purpose="test", inventory="localhost,")
    assert result.ok, result.stdout_tail
    # Every value arrives as it was sent; none set another variable (state stays untouched).
    assert json.loads(output.read_text()) == {"name": template, "count": 3, "items": HOSTILE, "state": "untouched"}
    assert not os.path.exists("/tmp/bunkhouse-template-pwned")


def test_a_run_is_recorded_and_leaves_no_variables_file(project_dir, tmp_path):
    recorded = []
    runner = make_runner(project_dir, tmp_path, lambda result, purpose: recorded.append((result, purpose)))
    output = tmp_path / "vars.json"
    result = echo(runner, output)
    assert result.ok and result.rc == 0 and result.status == "successful"
    assert result.ok_hosts == ("localhost",) and result.failed_hosts == ()
    assert recorded == [(result, "test")]
    run_dir = tmp_path / "runs" / result.ident
    assert (run_dir / "artifacts" / result.ident / "stdout").is_file()
    assert not (run_dir / "env" / "extravars").exists()
    command = json.loads((run_dir / "artifacts" / result.ident / "command").read_text())["command"]
    # Variables travel in a file: nothing of their values is on the command line.
    assert not any("echo_name" in arg or str(output) in arg for arg in command)


def test_a_failing_run_names_the_failed_host_and_why(runner):
    result = echo(runner, "/nonexistent-dir/x.json")
    assert not result.ok
    assert result.failed_hosts == ("localhost",)
    assert "nonexistent-dir" in result.stdout_tail
    assert "Write the variables to the output file" in result.host_errors["localhost"]
    assert result.error_of("localhost").startswith(f"run {result.ident} on localhost: ")


def test_old_runs_are_rotated(project_dir, tmp_path):
    runner = make_runner(project_dir, tmp_path, runs_kept=2)
    for index in range(4):
        echo(runner, tmp_path / f"{index}.json")
    assert len(list((tmp_path / "runs").iterdir())) == 2
    assert oct((tmp_path / "runs").stat().st_mode & 0o777) == "0o700"


def test_rotation_skips_a_folder_another_thread_removed_meanwhile(tmp_path, monkeypatch):
    runs = tmp_path / "runs"
    for index in range(4):
        (runs / f"run-{index}").mkdir(parents=True)
        os.utime(runs / f"run-{index}", (index, index))
    listing = list(runs.iterdir()) + [runs / "removed-by-another-thread"]
    monkeypatch.setattr(Path, "iterdir", lambda self: iter(listing))
    RunFolders(runs, keep=2).rotate()
    monkeypatch.undo()
    assert sorted(path.name for path in runs.iterdir()) == ["run-2", "run-3"]


def test_a_run_whose_rotation_fails_still_reports_its_outcome(project_dir, tmp_path, monkeypatch):
    def broken(self):
        raise FileNotFoundError("a folder vanished")

    monkeypatch.setattr(RunFolders, "rotate", broken)
    assert echo(make_runner(project_dir, tmp_path), tmp_path / "out.json").ok


def test_a_run_ends_at_its_deadline_with_its_whole_process_group(project_dir, tmp_path):
    runner = make_runner(project_dir, tmp_path, timeout=3)
    outcome = {}
    worker = threading.Thread(target=lambda: outcome.update(result=runner.run(
        FIXTURES / "sleep.yml", {"sleep_seconds": 600}, purpose="test", inventory="localhost,")))
    worker.start()
    worker.join(60)
    assert not worker.is_alive(), "the run outlived its deadline"
    result = outcome["result"]
    assert result.status == "timeout" and not result.ok
    folder = RunFolder(result.ident, Path(), tmp_path / "runs" / result.ident)
    assert wait_for(lambda: run_gone(folder), timeout=20), f"processes of the run are left: {folder.members()}"


def test_a_standby_deadline_counts_from_its_dispatch(project_dir, tmp_path):
    """A standby started long ago and handed a batch gets the run timeout from then: not its
    waiting time on top (which could be up to ten minutes)."""
    runner = make_runner(project_dir, tmp_path, timeout=3)
    standby = runner.start_standby(FIXTURES / "standby_sleep.yml", wait=600)
    assert wait_for(lambda: (standby.folder.path / "guard-pgid").exists(), timeout=30)
    time.sleep(2)  # waiting on its FIFO
    outcome = {}
    worker = threading.Thread(target=lambda: outcome.update(result=standby.dispatch(
        {"sleep_seconds": 600}, hosts=["localhost"], purpose="test")))
    worker.start()
    worker.join(60)
    assert not worker.is_alive(), "the dispatched standby outlived the run timeout"
    assert outcome["result"] is not None and outcome["result"].status == "timeout"
    assert wait_for(lambda: run_gone(standby.folder), timeout=20), standby.folder.members()


def _start_in_a_child(project_dir, runs_dir: Path, playbook: str, variables: dict, timeout: int = 600):
    """A run started by another process (as by a service), and the folder it runs in."""
    script = (
        "import sys, threading, time\n"
        "from dataclasses import replace\n"
        "from pathlib import Path\n"
        "from bunkhouse.config import AnsibleSettings\n"
        "from bunkhouse.runner.playbooks import Runner\n"
        f"runner = Runner(Path({str(project_dir)!r}), Path({str(project_dir / 'inventory')!r}), "
        f"Path({str(runs_dir)!r}), replace(AnsibleSettings(), timeout={timeout}))\n"
        f"threading.Thread(target=runner.run, args=({playbook!r}, {variables!r}), "
        "kwargs={'purpose': 'test', 'inventory': 'localhost,'}).start()\n"
        "time.sleep(900)\n"
    )
    holder = subprocess.Popen([sys.executable, "-c", script],
                              env={**os.environ, "PYTHONPATH": str(project_dir / "src")})
    folder = wait_for(lambda: next((RunFolder(path.name, Path(), path) for path in runs_dir.glob("*")
                                    if (path / "guard-pgid").exists()), None), timeout=30)
    assert folder is not None, "the run never started"
    # Its task runs: a worker (in a session of its own, as Ansible's workers are) and its sleep.
    assert wait_for(lambda: len(set(folder.members().values())) >= 2, timeout=60), "the task never started"
    return holder, folder, folder.guard_group()


def test_a_run_does_not_outlive_the_process_that_started_it(project_dir, tmp_path):
    holder, folder, _ = _start_in_a_child(project_dir, tmp_path / "runs", str(FIXTURES / "sleep.yml"),
                                          {"sleep_seconds": 600})
    holder.kill()  # SIGKILL: no clean-up code of the starter runs
    holder.wait(10)
    assert wait_for(lambda: run_gone(folder), timeout=20), f"the run went on after its starter died: {folder.members()}"


def test_orphans_are_killed_by_their_process_group_and_strangers_are_left_alone(project_dir, tmp_path):
    runs = tmp_path / "runs"
    holder, folder, group = _start_in_a_child(project_dir, runs, str(FIXTURES / "sleep.yml"), {"sleep_seconds": 600})
    # A stranger whose command line names the runs folder, as an argv match would catch.
    stranger = subprocess.Popen(["sh", "-c", "sleep 300", str(folder.path)])
    try:
        os.kill(group, signal.SIGKILL)  # the guard alone dies: the rest of the run goes on, orphaned
        assert wait_for(lambda: not Path(f"/proc/{group}").exists(), timeout=10)
        time.sleep(1)
        assert folder.members(), "nothing of the run was left to orphan"
        # The next life of the service kills what the last one left, and only that.
        assert make_runner(project_dir, tmp_path).kill_orphans()
        assert wait_for(lambda: run_gone(folder), timeout=20), folder.members()
        assert stranger.poll() is None, "a process that only named the runs folder was killed"
    finally:
        stranger.kill()
        holder.kill()
        holder.wait(10)
