"""The only module that imports ansible_runner: start one playbook run in its folder, the way
AWX drives it (an ident per run, an event handler, a cancel callback, a timeout), with the
guard (guard.py) as the process in front of ansible-playbook."""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ansible_runner

from bunkhouse.runner.folders import RunFolder
from bunkhouse.runner.results import RunResult

GUARD = Path(__file__).resolve().parent / "guard.py"
# Seconds between two looks at the cancel callback: a cancelled run ends this soon.
CANCEL_POLL_SECONDS = 0.2
# Longest message kept of one failed host.
_ERROR_LENGTH = 300


@dataclass
class Invocation:
    """A started run: its folder, the runner thread and object, what its events said."""

    folder: RunFolder
    thread: threading.Thread
    runner: Any
    host_errors: dict[str, str]

    def alive(self) -> bool:
        return self.thread.is_alive()

    def wait(self, timeout: float | None = None) -> bool:
        self.thread.join(timeout)
        return not self.thread.is_alive()

    def result(self, duration: float, stdout_lines: int = 40) -> RunResult:
        stats = self.runner.stats or {}
        failed = set(stats.get("failures", {})) | set(stats.get("dark", {}))
        seen = set(stats.get("ok", {})) | set(stats.get("changed", {})) | set(stats.get("skipped", {}))
        outcome = self.folder.guard_outcome() or ""
        status = "timeout" if "deadline" in outcome else ("canceled" if outcome else self.runner.status)
        return RunResult(
            ident=self.folder.ident,
            playbook=self.folder.playbook_path.name,
            status=status,
            rc=self.runner.rc if self.runner.rc is not None else -1,
            duration=duration,
            failed_hosts=tuple(sorted(failed)),
            ok_hosts=tuple(sorted(seen - failed)),
            changed_hosts=tuple(sorted(stats.get("changed", {}))),
            stdout_tail=_tail(self.folder.stdout_file, stdout_lines),
            host_errors=dict(self.host_errors),
        )


def start(folder: RunFolder, *, project_dir: Path, inventory: str, limit: Sequence[str] | None, forks: int,
          backstop_seconds: int, cancelled: Callable[[], bool]) -> Invocation:
    """Start the run in a thread. The guard enforces the deadline of the folder; `backstop_seconds`
    (ansible-runner's own timeout, from the start) only catches a guard that failed."""
    host_errors: dict[str, str] = {}
    thread, runner = ansible_runner.run_async(
        private_data_dir=str(folder.path),
        ident=folder.ident,
        project_dir=str(project_dir),
        binary=str(GUARD),
        # With `binary`, ansible-runner passes the playbook only as a command-line argument.
        cmdline=os.path.relpath(folder.playbook_path, project_dir),
        inventory=inventory,
        limit=",".join(limit) if limit else None,
        forks=forks,
        timeout=backstop_seconds,
        envvars={
            "ANSIBLE_CONFIG": str(project_dir / "ansible.cfg"),
            "ANSIBLE_ROLES_PATH": str(project_dir / "roles"),
            "ANSIBLE_NOCOLOR": "1",
            "PATH": _path_with_this_python(),
            "BUNKHOUSE_RUN_DEADLINE_FILE": str(folder.deadline_file),
        },
        settings={"pexpect_timeout": CANCEL_POLL_SECONDS},
        cancel_callback=cancelled,
        event_handler=lambda event: _note_failure(event, host_errors),
        # Keep runner from writing its own copies of settings into env/.
        suppress_env_files=True,
        quiet=True,
    )
    return Invocation(folder, thread, runner, host_errors)


def _note_failure(event: dict, host_errors: dict[str, str]) -> bool:
    """Keep why each host failed (its last failed task). Always keeps the event: the run's
    stats are read from the events."""
    if event.get("event") in ("runner_on_failed", "runner_on_unreachable"):
        data = event.get("event_data") or {}
        if data.get("host") and not data.get("ignore_errors"):
            result = data.get("res") or {}
            detail = str(result.get("msg") or "failed")
            # A command's own last word (a script's error line) says more than "non-zero return code".
            output = [line for line in str(result.get("stderr") or result.get("stdout") or "").splitlines()
                      if line.strip()]
            if output and output[-1].strip() not in detail:
                detail = f"{detail}: {output[-1].strip()}"
            host_errors[data["host"]] = f"{data.get('task', 'a task')}: {detail}"[:_ERROR_LENGTH]
    return True


def _path_with_this_python() -> str:
    """PATH with this Python's bin/ first, so its ansible-playbook runs even outside the venv."""
    return os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", os.defpath)])


def _tail(path: Path, lines: int) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
