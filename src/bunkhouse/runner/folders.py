"""The run folders under the instance's runs/ (mode 0700): one private data folder per run,
its variables in a 0600 file, its deadline, and what its guard recorded.

A folder is kept after its run for its artifacts (stdout, events), scrubbed of secrets (its
variables files, and the service's environment ansible-runner copies into
artifacts/<ident>/command), and the oldest are deleted beyond `keep`; deleting tolerates a
folder that is already gone. Every folder of it is 0700, every file 0600. At start, runs left by a
previous life of the service are ended the way their guard ends them (guard.end_run): every
process that carries the run's own deadline file in its environment, with its process group.
A process that merely names the run folder on its command line is a stranger, left alone.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bunkhouse.core.files import DIR_MODE, open_private, private_dir, tighten_file
from bunkhouse.runner.extravars import render_extravars, write_private
from bunkhouse.runner.guard import end_run, members

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunFolder:
    ident: str
    playbook_path: Path
    path: Path

    @property
    def extravars_file(self) -> Path:
        return self.path / "env" / "extravars"

    @property
    def deadline_file(self) -> Path:
        return self.path / "deadline"

    @property
    def stdout_file(self) -> Path:
        return self.path / "artifacts" / self.ident / "stdout"

    def set_deadline(self, at: float) -> None:
        """Move the run's deadline (a Unix time), replacing the file at once so the guard never
        reads half a number."""
        fresh = self.path / "deadline.new"
        with os.fdopen(open_private(fresh, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), "w") as handle:
            handle.write(f"{at:.3f}\n")
        os.replace(fresh, self.deadline_file)

    def guard_outcome(self) -> str | None:
        """Why the guard ended the run, if it did."""
        try:
            return (self.path / "guard-outcome").read_text().strip() or None
        except OSError:
            return None

    def members(self) -> dict[int, int]:
        """The run's processes now: {pid: process group}."""
        return members(str(self.deadline_file))

    def end(self) -> list[int]:
        """Kill every process of the run, wherever it is; the groups it killed."""
        return end_run(str(self.deadline_file))

    def guard_group(self) -> int | None:
        """The process group the run's guard recorded (its own), if it started."""
        try:
            return int((self.path / "guard-pgid").read_text())
        except (OSError, ValueError):
            return None


# What a finished run keeps that holds secrets: ansible-runner's input files in env/ (our
# variables are in extravars, a password hash among them; the others are not written with
# suppress_env_files but are removed if anything wrote them), and a standby's batch.
_SECRET_INPUTS = ("env/extravars", "env/envvars", "env/passwords", "env/ssh_key", "env/settings", "env/cmdline",
                  "batch.yml")
# ansible-runner's artifacts that copy the process environment (the service's own, every
# BUNKHOUSE_* setting and DATABASE_URL with it) or facts (ansible_env).
_ENVIRONMENT_ARTIFACTS = ("env.list",)
_FACT_CACHE = "fact_cache"


def scrub(run_dir: Path) -> None:
    """Remove what a finished run kept of secrets: its variables files, and the environment
    ansible-runner wrote into artifacts/<ident>/command (the command and its folder stay).
    Safe to call twice and on a folder that is gone."""
    for name in _SECRET_INPUTS:
        (run_dir / name).unlink(missing_ok=True)
    artifacts = run_dir / "artifacts"
    if not artifacts.is_dir():
        return
    for ident_dir in artifacts.iterdir():
        if not ident_dir.is_dir():
            continue
        for name in _ENVIRONMENT_ARTIFACTS:
            (ident_dir / name).unlink(missing_ok=True)
        shutil.rmtree(ident_dir / _FACT_CACHE, ignore_errors=True)
        _scrub_command(ident_dir / "command")
        for path in ident_dir.iterdir():
            if path.is_file():
                tighten_file(path)  # ansible-runner makes stderr with the umask's mode


def _scrub_command(path: Path) -> None:
    """artifacts/<ident>/command is {"command": [...], "cwd": ..., "env": {every variable}}:
    the environment goes; a file that cannot be read as that is emptied."""
    try:
        recorded = json.loads(path.read_text())
    except FileNotFoundError:
        return
    except (OSError, ValueError):
        recorded = None
    kept = {key: recorded[key] for key in ("command", "cwd") if key in recorded} if isinstance(recorded, dict) else {}
    fresh = path.with_name("command.scrubbed")
    with os.fdopen(open_private(fresh, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), "w") as handle:
        json.dump(kept, handle)
    os.replace(fresh, path)


class RunFolders:
    def __init__(self, runs_dir: Path, keep: int):
        self.runs_dir = runs_dir
        self.keep = keep
        # Folders of runs still going in this process: rotation and orphan killing leave them be.
        self._live: set[str] = set()
        self._lock = threading.Lock()

    def prepare(self, playbook_path: Path, variables: dict[str, Any], deadline: float) -> RunFolder:
        ident = f"{time.strftime('%Y%m%dT%H%M%S')}-{playbook_path.stem}-{uuid.uuid4().hex[:8]}"
        folder = RunFolder(ident, playbook_path, self.runs_dir / ident)
        private_dir(self.runs_dir)
        # Every folder of the run 0700 (ansible-runner makes artifacts/ with the umask's mode).
        for path in (folder.path, folder.path / "env", folder.path / "artifacts"):
            path.mkdir(mode=DIR_MODE)
        with self._lock:
            self._live.add(ident)
        write_private(folder.extravars_file, render_extravars(variables))
        folder.set_deadline(deadline)
        return folder

    def live(self) -> list[RunFolder]:
        with self._lock:
            idents = sorted(self._live)
        return [RunFolder(ident, Path(), self.runs_dir / ident) for ident in idents]

    def finished(self, folder: RunFolder) -> None:
        """The run ended: its variables go (they may hold a password hash), and so does the
        environment ansible-runner kept (scrub), then old folders. The run's record (status,
        rc, stdout, events) stays."""
        scrub(folder.path)
        with self._lock:
            self._live.discard(folder.ident)
        try:
            self.rotate()
        except OSError:
            # Rotation is housekeeping: it never turns a finished run into a failed one.
            log.exception("could not rotate the run folders")

    def rotate(self) -> None:
        """Keep the newest `keep` run folders; delete the rest. Another thread may be deleting
        at the same time: a folder gone meanwhile is simply skipped."""
        dated = []
        for path in self.runs_dir.iterdir():
            try:
                if path.is_dir():
                    dated.append((path.stat().st_mtime, path))
            except FileNotFoundError:
                continue
        dated.sort(reverse=True)
        with self._lock:
            live = set(self._live)
        for _, old in dated[self.keep:]:
            if old.name not in live:
                shutil.rmtree(old, ignore_errors=True)

    def kill_orphans(self) -> list[int]:
        """SIGKILL the runs a previous life of the service left running: their guard ends them
        when the service dies; this is for a guard that was killed itself. Returns the groups."""
        if not self.runs_dir.is_dir():
            return []
        with self._lock:
            live = set(self._live)
        killed = []
        for path in self.runs_dir.iterdir():
            if path.name not in live and path.is_dir():
                killed += RunFolder(path.name, Path(), path).end()
                # A run cut short with the service never had its secrets scrubbed.
                scrub(path)
        if killed:
            log.warning("killed %d process groups of Ansible runs left by a previous life of the service", len(killed))
        return killed
