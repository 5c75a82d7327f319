"""What one Ansible run did."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class RunResult:
    ident: str
    playbook: str
    status: str  # successful, failed, timeout (its deadline passed) or canceled
    rc: int
    duration: float
    failed_hosts: tuple[str, ...]  # hosts with a failed task or that could not be reached
    ok_hosts: tuple[str, ...]  # hosts that ran with no failure
    changed_hosts: tuple[str, ...]  # hosts where something changed
    stdout_tail: str  # the last lines of Ansible's output, for error messages
    # Why each failed host failed: its failed task and Ansible's message, as the run's events
    # said it (hidden for no_log tasks, as Ansible hides it).
    host_errors: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "successful" and self.rc == 0

    def error_of(self, host: str) -> str:
        """A sentence on why this host did not succeed in this run."""
        reason = self.host_errors.get(host)
        if reason:
            return f"run {self.ident} on {host}: {reason}"
        return f"run {self.ident} {self.status} (rc {self.rc}) on {host}"
