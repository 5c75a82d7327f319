"""The probe of one SSH node, from the inside: `docker exec` into the container asks its own
sshd for its host key on 127.0.0.1 and compares it with the key recorded for the node.
Read-only (every change on a node is Ansible's): the monitor (monitor.py) acts on the answers.

From the inside, because a probe through the published port can be fooled by anyone who can
reach that port: holding the node's unauthenticated slots (sshd's MaxStartups) made the old
probe fail, and the monitor recreated a tenant's node. Inside, the probe's connection comes from
127.0.0.1, which only the node's own tenant shares (a tenant who fills its own sshd's slots
gets its sshd restarted), and docker exec works on any engine, local or remote.

A running container that cannot be exec'd into (its pids cgroup full: the tenant's fork bomb
or a program with many threads) is reported like an sshd failure: the tenant's work is in it,
so it is not recreated on the first rounds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

# Prints the fingerprint of the ED25519 host key that sshd itself offers (every node has one),
# as `ssh-keygen -l` prints it: "256 SHA256:... 127.0.0.1 (ED25519)". Nothing printed: sshd did
# not answer within 3 s.
PROBE_SCRIPT = "ssh-keyscan -T 3 -t ed25519 127.0.0.1 2>/dev/null | ssh-keygen -lf - 2>/dev/null"


@dataclass(frozen=True)
class Problem:
    reason: str
    # The container runs and is the node we know, but its sshd does not answer: a restart of
    # sshd in place mends that, with no loss of the tenant's files.
    sshd_only: bool = False


class ProbedEngine(Protocol):
    def exec_read(self, name: str, script: str, timeout: float) -> tuple[int, str]: ...


def probe_inside(engine: ProbedEngine, name: str, expected: dict[str, str], timeout: float = 10.0) -> Problem | None:
    """None when the node's sshd answers inside its container with one of its recorded host
    keys, else what is wrong."""
    if not expected:
        return Problem("no recorded host key to check")
    try:
        rc, output = engine.exec_read(name, PROBE_SCRIPT, timeout)
    except (OSError, TimeoutError) as error:
        return Problem(f"docker exec into the node failed: {error}", sshd_only=True)
    if rc not in (0, 1) and not output.strip():
        return Problem(f"docker exec into the node failed (rc {rc})", sshd_only=True)
    offered = {}
    for line in output.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[1].startswith("SHA256:"):
            offered[parts[-1].strip("()")] = parts[1]
    if not offered:
        return Problem("sshd does not answer inside the node", sshd_only=True)
    if any(expected.get(kind) == fingerprint for kind, fingerprint in offered.items()):
        return None
    return Problem("sshd answered with host keys that are not the node's (recreated or replaced)")
