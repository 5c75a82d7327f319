#!/usr/bin/env python3
"""The process every Ansible run starts in: ansible-runner's `binary`, in front of
ansible-playbook. It holds two promises the service alone cannot keep once it is gone:

- the run ends at its deadline: the deadline is a number (a Unix time) in a file of the run
  folder, which the service may move (a standby run's deadline counts from when it is handed
  its work); at the deadline the run's whole process group is killed;
- no run outlives the service: when the process that started the run is gone (its parent
  changes, or its terminal hangs up, as after a SIGKILL of the service), the run ends at once.

Ending a run means ending every process of it, and a process group is not enough: Ansible's
workers each call setsid(), so a task's processes (a hung docker_container, a sleep) live in
groups of their own and survive a kill of the playbook's group. What every process of a run
shares is its environment: the variable BUNKHOUSE_RUN_DEADLINE_FILE naming this run's
deadline file, which ansible-runner gives the guard and every fork and program inherits. So
end_run() kills the process group of every process that carries it, round after round until
none is left (a fork may happen meanwhile), and the guard's own group last.

Before it ends a run, the guard writes why into `guard-outcome` beside the deadline file. It
also writes `guard-pgid`, its own group's id, for the runner's records. A later start of the
service ends a run whose guard was itself killed the same way (folders.RunFolders.kill_orphans).

Standard library only: this file runs as a program, and starts quickly.
"""

from __future__ import annotations

import os
import select
import shutil
import signal
import subprocess
import sys
import time

POLL_SECONDS = 0.2


MARKER = "BUNKHOUSE_RUN_DEADLINE_FILE"


def members(deadline_file: str) -> dict[int, int]:
    """Every process of the run whose deadline file this is: {pid: process group}."""
    marker = f"{MARKER}={deadline_file}".encode()
    found = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/environ", "rb") as handle:
                if marker not in handle.read().split(b"\0"):
                    continue
            with open(f"/proc/{entry.name}/stat") as handle:
                # The command name (field 2) may hold spaces and parentheses: split after it.
                found[int(entry.name)] = int(handle.read().rsplit(")", 1)[1].split()[2])
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile, or not ours to read
    return found


def end_run(deadline_file: str, sparing: int | None = None) -> list[int]:
    """SIGKILL every process of the run, and its process group, but the group of `sparing`
    (the guard's own, which it ends itself, last). Returns the groups it killed."""
    spared = os.getpgid(sparing) if sparing else None
    killed: set[int] = set()
    for _ in range(20):
        found = {pid: group for pid, group in members(deadline_file).items() if group != spared}
        if not found:
            break
        for pid, group in found.items():
            for kill, target in ((os.killpg, group), (os.kill, pid)):
                try:
                    kill(target, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            killed.add(group)
        time.sleep(0.05)
    return sorted(killed)


def read_deadline(path: str) -> float:
    try:
        with open(path) as handle:
            return float(handle.read().strip())
    except (OSError, ValueError):
        return 0.0  # unreadable: the service wrote none, or it was removed; end the run


def _private(path: str):
    """A file of the run folder to write, 0600 like every file there."""
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w")


def main(argv: list[str]) -> int:
    deadline_file = os.environ["BUNKHOUSE_RUN_DEADLINE_FILE"]
    folder = os.path.dirname(deadline_file)
    parent = os.getppid()
    group = os.getpgid(0)
    with _private(os.path.join(folder, "guard-pgid")) as handle:
        handle.write(f"{group}\n")

    def kill_group(why: str) -> None:
        try:
            with _private(os.path.join(folder, "guard-outcome")) as handle:
                handle.write(why + "\n")
            # The run's terminal is gone when the service is: saying so may fail, ending may not.
            print(f"bunkhouse: {why}: ending the run", flush=True)
        except OSError:
            pass
        finally:
            end_run(deadline_file, sparing=os.getpid())
            os.killpg(group, signal.SIGKILL)  # ansible-playbook and this process

    # A signal ends the run too (a hang-up: the service that holds this run's terminal is gone).
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, lambda number, _frame: kill_group(f"stopped by signal {number}"))

    playbook = shutil.which("ansible-playbook") or "ansible-playbook"
    child = subprocess.Popen([playbook, *argv])
    # A pidfd becomes readable when the child ends: the guard wakes at once, and polls nothing.
    ended = os.pidfd_open(child.pid)
    while True:
        if select.select([ended], [], [], POLL_SECONDS)[0]:
            return child.wait()
        if os.getppid() != parent:
            kill_group("the service that started this run is gone")
        if time.time() >= read_deadline(deadline_file):
            kill_group("the run passed its deadline")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
