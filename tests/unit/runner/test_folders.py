"""Run folders keep a run's record, never its secrets: after a real ansible-runner run on
localhost (no Docker), no file of the run folder holds the service's environment or the run's
variables, and only the owner can read any of it."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from bunkhouse.config import AnsibleSettings
from bunkhouse.runner.folders import RunFolders, scrub
from bunkhouse.runner.playbooks import Runner

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
ENV_MARKER = "env-marker-5b1e0c7d"
VARIABLE_MARKER = "$6$variable-marker$9f3a"


def files_containing(folder: Path, marker: str) -> list[str]:
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*")
                  if path.is_file() and marker.encode() in path.read_bytes())


def test_a_finished_run_keeps_its_record_but_no_environment_or_variables(project_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("BUNKHOUSE_TEST_SECRET", ENV_MARKER)
    runner = Runner(project_dir, project_dir / "inventory", tmp_path / "runs", AnsibleSettings())
    result = runner.run(FIXTURES / "echo_vars.yml",
                        {"echo_output": str(tmp_path / "out.json"), "echo_name": VARIABLE_MARKER, "echo_count": 1,
                         "echo_items": []}, purpose="test", inventory="localhost,")
    assert result.ok, result.stdout_tail
    # The variables did reach the playbook ...
    assert json.loads((tmp_path / "out.json").read_text())["name"] == VARIABLE_MARKER
    run_dir = tmp_path / "runs" / result.ident
    # ... and neither they nor the service's environment stay in the run folder.
    assert files_containing(run_dir, ENV_MARKER) == []
    assert files_containing(run_dir, VARIABLE_MARKER) == []
    # The record stays: what ran, its output and its outcome.
    artifacts = run_dir / "artifacts" / result.ident
    assert json.loads((artifacts / "command").read_text())["command"]
    assert (artifacts / "stdout").is_file() and (artifacts / "status").read_text() == "successful"
    # Only the owner reads any of it.
    for path in [tmp_path / "runs", *run_dir.rglob("*"), run_dir]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode & 0o077 == 0, f"{path} is {oct(mode)}"


def test_a_run_folder_left_by_a_previous_life_is_scrubbed_at_start(tmp_path):
    run_dir = tmp_path / "runs" / "20261201T000000-account_batch-0123abcd"
    artifacts = run_dir / "artifacts" / run_dir.name
    (run_dir / "env").mkdir(parents=True)
    artifacts.mkdir(parents=True)
    (run_dir / "env" / "extravars").write_text(f"hash: {VARIABLE_MARKER}\n")
    (run_dir / "batch.yml").write_text(f"hash: {VARIABLE_MARKER}\n")
    (artifacts / "command").write_text(json.dumps({"command": ["ansible-playbook"], "cwd": "/",
                                                   "env": {"BUNKHOUSE_TEST_SECRET": ENV_MARKER}}))
    (artifacts / "stdout").write_text("PLAY RECAP\n")
    assert RunFolders(tmp_path / "runs", keep=5).kill_orphans() == []
    assert files_containing(run_dir, ENV_MARKER) == files_containing(run_dir, VARIABLE_MARKER) == []
    assert json.loads((artifacts / "command").read_text()) == {"command": ["ansible-playbook"], "cwd": "/"}
    assert (artifacts / "stdout").read_text() == "PLAY RECAP\n"


def test_scrubbing_empties_a_command_file_it_cannot_read_and_tolerates_a_gone_folder(tmp_path):
    artifacts = tmp_path / "run" / "artifacts" / "run"
    artifacts.mkdir(parents=True)
    (artifacts / "command").write_text(f'{{"env": {{"X": "{ENV_MARKER}"')  # cut short
    scrub(tmp_path / "run")
    assert json.loads((artifacts / "command").read_text()) == {}
    scrub(tmp_path / "gone")
