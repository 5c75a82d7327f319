"""Runs the project's playbooks through ansible-runner: the only module that imports it.

Each run gets its own private data folder under the instance's runs/ folder, a timeout, and
a record (RunResult). Variables reach Ansible through a file, never the command line: the
password hash must not show in `ps`, and every string is tagged !unsafe so that a value such
as "{{ lookup('pipe', 'id') }}" stays text and is never run as a template on the controller.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import signal
import sys
import threading
import time
import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ansible_runner
import yaml

from bunkhouse.config import Config

log = logging.getLogger(__name__)

# Variable names (dict keys) are never tagged !unsafe, so they must be plain names.
_VARIABLE_KEY = re.compile(r"^[A-Za-z0-9_.\-]+$")


class _Unsafe(str):
    """A string Ansible must treat as data, never as a template."""


class _ExtravarsDumper(yaml.SafeDumper):
    pass


_ExtravarsDumper.add_representer(
    _Unsafe, lambda dumper, value: dumper.represent_scalar("!unsafe", str(value))
)


def _mark_unsafe(value: Any) -> Any:
    if isinstance(value, str):
        return _Unsafe(value)
    if isinstance(value, Mapping):
        marked = {}
        for key, item in value.items():
            if not isinstance(key, str) or not _VARIABLE_KEY.match(key):
                raise ValueError(f"variable names must match {_VARIABLE_KEY.pattern}: {key!r}")
            marked[key] = _mark_unsafe(item)
        return marked
    if isinstance(value, (list, tuple)):
        return [_mark_unsafe(item) for item in value]
    if value is None or isinstance(value, (bool, int, float)):
        return value
    raise TypeError(f"cannot pass a {type(value).__name__} to Ansible")


def render_extravars(variables: Mapping[str, Any]) -> str:
    """YAML for ansible-playbook's `-e @file`, with every string value tagged !unsafe."""
    return yaml.dump(_mark_unsafe(dict(variables)), Dumper=_ExtravarsDumper, sort_keys=True)


@dataclass(frozen=True)
class RunResult:
    """What one ansible-runner invocation did."""

    ident: str
    playbook: str
    status: str  # successful, failed, timeout or canceled
    rc: int
    duration: float
    failed_hosts: tuple[str, ...]  # hosts with a failed task or that could not be reached
    ok_hosts: tuple[str, ...]  # hosts that ran with no failure
    changed_hosts: tuple[str, ...]  # hosts where something changed
    stdout_tail: str  # the last lines of Ansible's output, for error messages

    @property
    def ok(self) -> bool:
        return self.status == "successful" and self.rc == 0


class Provisioner:
    def __init__(self, config: Config):
        self.config = config
        # Run folders of runs still going: rotation must not delete them.
        self._live_runs: set[str] = set()
        self._live_lock = threading.Lock()

    def run_playbook(
        self,
        playbook: str | os.PathLike[str],
        variables: Mapping[str, Any] | None = None,
        *,
        limit: Sequence[str] | None = None,
        timeout: int | None = None,
        inventory: str | os.PathLike[str] | None = None,
    ) -> RunResult:
        """Run a playbook (a name in playbooks/ or a path) and wait for it to end."""
        run = self._prepare(playbook, variables)
        started = time.monotonic()
        try:
            runner = ansible_runner.run(**self._runner_arguments(run, limit, timeout, inventory))
        finally:
            # The variables may hold a password hash: they do not outlive the run.
            run.extravars_file.unlink(missing_ok=True)
        return self._finish(run, runner, time.monotonic() - started)

    def start_standby(self, playbook: str | os.PathLike[str], *, wait: int) -> StandbyRun:
        """Start a playbook that waits (up to `wait` seconds) for its variables: see StandbyRun.

        The playbook must wait on the FIFO named by bunkhouse_ops_signal, then read its
        variables from bunkhouse_ops_file (account_batch.yml does).
        """
        run = self._prepare(playbook, {})
        signal_path = run.private_dir / "signal"
        os.mkfifo(signal_path, 0o600)
        # This process holds the FIFO's write end for the standby's whole life: O_RDWR never
        # blocks on a FIFO, and when this process ends, even killed, the kernel closes it, the
        # standby reads end-of-file and ends too instead of outliving the service. (Python opens
        # it close-on-exec, so no program this process starts inherits it.)
        signal_fd = os.open(signal_path, os.O_RDWR | os.O_NONBLOCK)
        ops_path = run.private_dir / "batch.yml"
        run.extravars_file.write_text(render_extravars({
            "bunkhouse_ops_signal": str(signal_path),
            "bunkhouse_ops_file": str(ops_path),
            "bunkhouse_ops_wait": wait,
        }))
        try:
            thread, runner = ansible_runner.run_async(
                **self._runner_arguments(run, None, wait + self.config.ansible_timeout, None)
            )
        except BaseException:
            os.close(signal_fd)
            raise
        return StandbyRun(self, run, thread, runner, signal_fd, ops_path, wait)

    def _prepare(self, playbook: str | os.PathLike[str], variables: Mapping[str, Any] | None) -> _PreparedRun:
        config = self.config
        playbook_path = Path(playbook)
        if not playbook_path.is_absolute():
            playbook_path = config.project_dir / "playbooks" / playbook_path
        ident = f"{time.strftime('%Y%m%dT%H%M%S')}-{playbook_path.stem}-{uuid.uuid4().hex[:8]}"
        private_dir = config.runs_dir / ident
        env_dir = private_dir / "env"
        env_dir.mkdir(parents=True, mode=0o700)
        config.runs_dir.chmod(0o700)
        with self._live_lock:
            self._live_runs.add(ident)
        extravars_file = env_dir / "extravars"
        # Created 0600 before anything is written into it.
        _write_private(extravars_file, render_extravars(variables or {}))
        return _PreparedRun(ident, playbook_path, private_dir, extravars_file)

    def _runner_arguments(self, run: _PreparedRun, limit: Sequence[str] | None, timeout: int | None,
                          inventory: str | os.PathLike[str] | None) -> dict[str, Any]:
        config = self.config
        return dict(
            private_data_dir=str(run.private_dir),
            ident=run.ident,
            project_dir=str(config.project_dir),
            # Runner looks the playbook up relative to project_dir.
            playbook=os.path.relpath(run.playbook_path, config.project_dir),
            inventory=str(inventory or config.project_dir / "inventory"),
            limit=",".join(limit) if limit else None,
            forks=config.ansible_forks,
            timeout=timeout or config.ansible_timeout,
            envvars={
                "ANSIBLE_CONFIG": str(config.project_dir / "ansible.cfg"),
                "ANSIBLE_ROLES_PATH": str(config.project_dir / "roles"),
                "ANSIBLE_NOCOLOR": "1",
                "PATH": _path_with_this_python(),
            },
            # Keep runner from writing its own copies of settings into env/.
            suppress_env_files=True,
            quiet=True,
        )

    def _finish(self, run: _PreparedRun, runner: Any, duration: float) -> RunResult:
        stats = runner.stats or {}
        failed = set(stats.get("failures", {})) | set(stats.get("dark", {}))
        seen = set(stats.get("ok", {})) | set(stats.get("changed", {})) | set(stats.get("skipped", {}))
        result = RunResult(
            ident=run.ident,
            playbook=run.playbook_path.name,
            status=runner.status,
            rc=runner.rc if runner.rc is not None else -1,
            duration=duration,
            failed_hosts=tuple(sorted(failed)),
            ok_hosts=tuple(sorted(seen - failed)),
            changed_hosts=tuple(sorted(stats.get("changed", {}))),
            stdout_tail=_tail(run.private_dir / "artifacts" / run.ident / "stdout", 40),
        )
        log.info(
            "run %s: %s rc=%s in %.2fs, failed hosts: %s",
            run.ident, result.status, result.rc, duration, ", ".join(result.failed_hosts) or "none",
        )
        with self._live_lock:
            self._live_runs.discard(run.ident)
        self._rotate_runs()
        return result

    def kill_orphaned_runs(self) -> list[int]:
        """SIGKILL Ansible processes left running by a previous life of this service.

        ansible-runner starts ansible-playbook in a session of its own, so when the service is
        killed its runs go on; one finishing after the restart could undo the clean-up that
        reconcile starts. They are recognised by their command line, which names a run folder
        of this instance.
        """
        marker = str(self.config.runs_dir) + os.sep
        with self._live_lock:
            # This process's own runs (a standby started early) are not orphans.
            own = [marker + ident for ident in self._live_runs]
        killed = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                command_line = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            # ansible-playbook and what it started (the standby's reader of its FIFO) alike.
            if marker in command_line and not any(
                run in command_line for run in own
            ):
                try:
                    os.kill(int(entry.name), signal.SIGKILL)
                    killed.append(int(entry.name))
                except OSError:
                    pass
        if killed:
            log.warning("killed %d Ansible processes left by a previous run of the service", len(killed))
        return killed

    def _rotate_runs(self) -> None:
        """Keep the newest runs_kept run folders; delete the rest."""
        runs = sorted(
            (path for path in self.config.runs_dir.iterdir() if path.is_dir()),
            key=lambda path: path.stat().st_mtime,
            reverse=True,
        )
        with self._live_lock:
            live = set(self._live_runs)
        for old in runs[self.config.runs_kept:]:
            if old.name not in live:
                shutil.rmtree(old, ignore_errors=True)


@dataclass(frozen=True)
class _PreparedRun:
    ident: str
    playbook_path: Path
    private_dir: Path
    extravars_file: Path


class StandbyRun:
    """A playbook run started before its work is known, so that work does not wait for Ansible
    to start (about half a second of a 10-node account run, measured with cProfile: imports,
    inventory, playbook parsing).

    The run blocks reading a FIFO in its private folder. dispatch() writes the variables to a
    0600 file there, writes one byte into the FIFO and waits for the run to end. A standby
    that gets nothing within `wait` seconds ends by itself, changing nothing; so does one
    whose FIFO is closed without a byte (cancel(), or this process ending).
    """

    def __init__(self, provisioner: Provisioner, run: _PreparedRun, thread: threading.Thread, runner: Any,
                 signal_fd: int, ops_path: Path, wait: int):
        self._provisioner = provisioner
        self._run = run
        self._thread = thread
        self._runner = runner
        self._signal_fd = signal_fd
        self._ops_path = ops_path
        self.wait = wait
        self.started = time.monotonic()
        self._used = False

    @property
    def ident(self) -> str:
        return self._run.ident

    @property
    def age(self) -> float:
        return time.monotonic() - self.started

    def alive(self) -> bool:
        return self._thread.is_alive()

    def dispatch(self, variables: Mapping[str, Any], hosts: Collection[str]) -> RunResult | None:
        """Hand the run its variables and wait for it to end. None when the run did nothing:
        it ended without reading them (it had died or timed out), or it failed before it
        reached any of `hosts` (killed after it read them). Run the work another way then."""
        if self._used:
            raise RuntimeError(f"standby run {self.ident} was already used")
        self._used = True
        started = time.monotonic()
        try:
            _write_private(self._ops_path, render_extravars(variables))
            os.write(self._signal_fd, b"1")
            self._thread.join(self.wait + self._provisioner.config.ansible_timeout + 30)
            try:
                # The byte is still in the pipe if the run ended without reading it.
                unread = os.read(self._signal_fd, 1) == b"1"
            except BlockingIOError:
                unread = False
        finally:
            os.close(self._signal_fd)
            self._ops_path.unlink(missing_ok=True)
            self._run.extravars_file.unlink(missing_ok=True)
        result = self._provisioner._finish(self._run, self._runner, time.monotonic() - started)
        reached = set(result.ok_hosts) | set(result.failed_hosts)
        if unread or (not result.ok and not reached & set(hosts)):
            log.warning("standby run %s ended (%s) before it did any of its batch", self.ident, result.status)
            return None
        return result

    def cancel(self) -> None:
        """End the run without work: closing the FIFO makes it read end-of-file and stop."""
        if self._used:
            return
        self._used = True
        os.close(self._signal_fd)
        self._thread.join(30)
        self._run.extravars_file.unlink(missing_ok=True)
        self._provisioner._finish(self._run, self._runner, 0.0)


def _write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read, created 0600 before anything is in it."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


def _path_with_this_python() -> str:
    """PATH with this Python's bin/ first, so its ansible-playbook runs even outside the venv."""
    return os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", os.defpath)])


def _tail(path: Path, lines: int) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
