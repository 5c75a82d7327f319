"""Runs the project's playbooks: one folder, one deadline and one record per run.

Runner.run() runs a playbook and waits for it; Runner.start_standby() starts one that waits
for its work (standby.py). Every run is recorded through the recorder it was built with, and
Runner.stop() ends every run in flight at once (the service is stopping).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from bunkhouse.config import AnsibleSettings
from bunkhouse.runner import invoke
from bunkhouse.runner.folders import RunFolder, RunFolders
from bunkhouse.runner.results import RunResult
from bunkhouse.runner.standby import StandbyRun

log = logging.getLogger(__name__)

# Seconds ansible-runner's own timeout waits past a run's deadline: it only catches a guard
# that did not do its job.
BACKSTOP_SECONDS = 30


class Runner:
    def __init__(self, project_dir: Path, inventory: Path, runs_dir: Path, settings: AnsibleSettings,
                 recorder: Callable[[RunResult, str], None] | None = None):
        self.project_dir = project_dir
        self.inventory = inventory
        self.settings = settings
        self.folders = RunFolders(runs_dir, settings.runs_kept)
        self.recorder = recorder
        self._stopping = threading.Event()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def run(self, playbook: str | os.PathLike[str], variables: Mapping[str, Any] | None = None, *,
            purpose: str = "by hand", limit: Sequence[str] | None = None, timeout: int | None = None,
            inventory: str | os.PathLike[str] | None = None) -> RunResult:
        """Run a playbook (a name in playbooks/ or a path) and wait for it to end."""
        timeout = timeout or self.settings.timeout
        folder = self.folders.prepare(self._playbook_path(playbook), dict(variables or {}), time.time() + timeout)
        started = time.monotonic()
        try:
            invocation = self.launch(folder, backstop=timeout + BACKSTOP_SECONDS, limit=limit, inventory=inventory)
            invocation.wait()
            result = invocation.result(time.monotonic() - started)
        finally:
            self.folders.finished(folder)
        self.record(result, purpose)
        return result

    def start_standby(self, playbook: str | os.PathLike[str], *, wait: int,
                      inventory: str | os.PathLike[str] | None = None) -> StandbyRun:
        """Start a playbook that waits (up to `wait` seconds) for its variables: see StandbyRun."""
        return StandbyRun.start(self.folders, self._playbook_path(playbook), wait, self.settings.timeout,
                                lambda folder, backstop: self.launch(folder, backstop=backstop, inventory=inventory),
                                self.record)

    def launch(self, folder: RunFolder, *, backstop: int, limit: Sequence[str] | None = None,
               inventory: str | os.PathLike[str] | None = None) -> invoke.Invocation:
        if self.stopping:
            raise RuntimeError("the service is stopping: no new Ansible run starts")
        return invoke.start(folder, project_dir=self.project_dir, inventory=str(inventory or self.inventory),
                            limit=limit, forks=self.settings.forks, backstop_seconds=backstop,
                            cancelled=self._stopping.is_set)

    def record(self, result: RunResult, purpose: str) -> None:
        log.info("run %s (%s): %s rc=%s in %.2fs, failed hosts: %s", result.ident, purpose, result.status,
                 result.rc, result.duration, ", ".join(result.failed_hosts) or "none")
        if self.recorder is None:
            return
        try:
            self.recorder(result, purpose)
        except Exception:  # noqa: BLE001 - a lost record must not lose the run's outcome
            log.exception("could not record run %s", result.ident)

    def stop(self) -> None:
        """End every run in flight now: the service is stopping. Every process of each is
        killed at once (guard.end_run), and their cancel callbacks say so to ansible-runner."""
        self._stopping.set()
        for folder in self.folders.live():
            folder.end()

    def kill_orphans(self) -> list[int]:
        return self.folders.kill_orphans()

    def _playbook_path(self, playbook: str | os.PathLike[str]) -> Path:
        path = Path(playbook)
        return path if path.is_absolute() else self.project_dir / "playbooks" / path
