"""Standby runs: a batch playbook started before its work is known, so the work does not wait
for Ansible to start (about half a second of a 10-node account run, measured with cProfile:
imports, inventory, playbook parsing).

The run blocks reading a FIFO in its private folder. dispatch() moves its deadline to now +
the run timeout (so the time it waited does not count), writes the variables to a 0600 file
there, writes one byte into the FIFO and waits for the run to end. A standby that gets nothing
within `wait` seconds ends by itself, changing nothing; so does one whose FIFO is closed
without a byte (cancel(), or this process ending: it holds the FIFO's write end).

The playbook must wait on the FIFO named by bunkhouse_ops_signal, then read its variables
from bunkhouse_ops_file (account_batch.yml does).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bunkhouse.runner.extravars import render_extravars, write_private
from bunkhouse.runner.folders import RunFolder, RunFolders
from bunkhouse.runner.results import RunResult

if TYPE_CHECKING:
    from bunkhouse.runner.invoke import Invocation

log = logging.getLogger(__name__)

# Seconds past its wait that a standby that got no work may live before its guard ends it.
_WAIT_MARGIN = 30


def is_fresh(standby: StandbyRun, margin: float) -> bool:
    """Alive, and not within `margin` seconds of the end of its wait: safe to hand work to."""
    return standby.alive() and standby.age < standby.wait - margin


class StandbyRun:
    def __init__(self, folders: RunFolders, folder: RunFolder, invocation: Invocation, signal_fd: int, wait: int,
                 timeout: int, record: Callable[[RunResult, str], None]):
        self._folders = folders
        self.folder = folder
        self._invocation = invocation
        self._signal_fd = signal_fd
        self.wait = wait
        # Seconds the run may take once it has its work (the run timeout).
        self._timeout = timeout
        self._record = record
        self.started = time.monotonic()
        self._used = False

    @classmethod
    def start(cls, folders: RunFolders, playbook_path: Path, wait: int, timeout: int,
              launch: Callable[[RunFolder, int], Invocation], record: Callable[[RunResult, str], None]) -> StandbyRun:
        """Start `playbook_path` waiting up to `wait` seconds; launch(folder, backstop) starts the run."""
        folder = folders.prepare(playbook_path, {}, time.time() + wait + _WAIT_MARGIN)
        signal_path = folder.path / "signal"
        os.mkfifo(signal_path, 0o600)
        # This process holds the FIFO's write end for the standby's whole life: O_RDWR never
        # blocks on a FIFO, and when this process ends, even killed, the kernel closes it, the
        # standby reads end-of-file and ends too. (Python opens it close-on-exec, so no
        # program this process starts inherits it.)
        signal_fd = os.open(signal_path, os.O_RDWR | os.O_NONBLOCK)
        folder.extravars_file.write_text(render_extravars({
            "bunkhouse_ops_signal": str(signal_path),
            "bunkhouse_ops_file": str(cls._ops_path(folder)),
            "bunkhouse_ops_wait": wait,
        }))
        try:
            invocation = launch(folder, wait + timeout + 2 * _WAIT_MARGIN)
        except BaseException:
            os.close(signal_fd)
            folders.finished(folder)
            raise
        return cls(folders, folder, invocation, signal_fd, wait, timeout, record)

    @property
    def ident(self) -> str:
        return self.folder.ident

    @property
    def age(self) -> float:
        return time.monotonic() - self.started

    def alive(self) -> bool:
        return self._invocation.alive()

    def dispatch(self, variables: Mapping[str, Any], hosts: Collection[str], *, purpose: str) -> RunResult | None:
        """Hand the run its variables and wait for it to end. None when the run did nothing:
        it ended without reading them (it had died or its wait was over), or it failed before
        it reached any of `hosts` (killed after it read them). Run the work another way then."""
        if self._used:
            raise RuntimeError(f"standby run {self.ident} was already used")
        self._used = True
        timeout = self._timeout
        started = time.monotonic()
        ops_path = self._ops_path(self.folder)
        try:
            self.folder.set_deadline(time.time() + timeout)
            write_private(ops_path, render_extravars(variables))
            os.write(self._signal_fd, b"1")
            self._invocation.wait(timeout + 2 * _WAIT_MARGIN)
            try:
                # The byte is still in the pipe if the run ended without reading it.
                unread = os.read(self._signal_fd, 1) == b"1"
            except BlockingIOError:
                unread = False
        finally:
            os.close(self._signal_fd)
            ops_path.unlink(missing_ok=True)
        result = self._invocation.result(time.monotonic() - started)
        self._folders.finished(self.folder)
        reached = set(result.ok_hosts) | set(result.failed_hosts)
        # A run that read its batch and then passed its deadline did (or hung on) the work: that
        # is its outcome. One that died before it reached any host did nothing.
        if unread or (result.status != "timeout" and not result.ok and not reached & set(hosts)):
            log.warning("standby run %s ended (%s) before it did any of its batch", self.ident, result.status)
            return None
        self._record(result, purpose)
        return result

    def cancel(self) -> None:
        """End the run without work: closing the FIFO makes it read end-of-file and stop."""
        if self._used:
            return
        self._used = True
        os.close(self._signal_fd)
        self._invocation.wait(30)
        self._folders.finished(self.folder)

    @staticmethod
    def _ops_path(folder: RunFolder) -> Path:
        return folder.path / "batch.yml"
