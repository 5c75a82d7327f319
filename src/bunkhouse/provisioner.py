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
import time
import uuid
from collections.abc import Mapping, Sequence
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
        config = self.config
        playbook_path = Path(playbook)
        if not playbook_path.is_absolute():
            playbook_path = config.project_dir / "playbooks" / playbook_path
        ident = f"{time.strftime('%Y%m%dT%H%M%S')}-{playbook_path.stem}-{uuid.uuid4().hex[:8]}"
        private_dir = config.runs_dir / ident
        env_dir = private_dir / "env"
        env_dir.mkdir(parents=True, mode=0o700)
        config.runs_dir.chmod(0o700)
        extravars_file = env_dir / "extravars"
        # Created 0600 before anything is written into it.
        fd = os.open(extravars_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(render_extravars(variables or {}))

        started = time.monotonic()
        try:
            runner = ansible_runner.run(
                private_data_dir=str(private_dir),
                ident=ident,
                project_dir=str(config.project_dir),
                # Runner looks the playbook up relative to project_dir.
                playbook=os.path.relpath(playbook_path, config.project_dir),
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
        finally:
            # The variables may hold a password hash: they do not outlive the run.
            extravars_file.unlink(missing_ok=True)
        duration = time.monotonic() - started

        stats = runner.stats or {}
        failed = set(stats.get("failures", {})) | set(stats.get("dark", {}))
        seen = set(stats.get("ok", {})) | set(stats.get("changed", {})) | set(stats.get("skipped", {}))
        result = RunResult(
            ident=ident,
            playbook=playbook_path.name,
            status=runner.status,
            rc=runner.rc if runner.rc is not None else -1,
            duration=duration,
            failed_hosts=tuple(sorted(failed)),
            ok_hosts=tuple(sorted(seen - failed)),
            changed_hosts=tuple(sorted(stats.get("changed", {}))),
            stdout_tail=_tail(private_dir / "artifacts" / ident / "stdout", 40),
        )
        log.info(
            "run %s: %s rc=%s in %.2fs, failed hosts: %s",
            ident, result.status, result.rc, duration, ", ".join(result.failed_hosts) or "none",
        )
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
        killed = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                command_line = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if marker in command_line and "ansible" in command_line:
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
        for old in runs[self.config.runs_kept:]:
            shutil.rmtree(old, ignore_errors=True)


def _path_with_this_python() -> str:
    """PATH with this Python's bin/ first, so its ansible-playbook runs even outside the venv."""
    return os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", os.defpath)])


def _tail(path: Path, lines: int) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
