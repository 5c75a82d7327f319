"""Members recreated from the image when their lease ends (a pool with recreate_on_release):
whatever a tenant changed, even as root with sudo, goes with the old container.

A released member stays `releasing`, held by its lease, while Ansible recreates it; the members
released at one moment share one pool_provision.yml run (a batcher that runs its batches its
own way). Each one recreated and answering gets its new host keys recorded, and the product
that held it frees it, exactly as after an account removal; one that failed is quarantined by
that product, and the monitor recreates it later.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import replace
from typing import Any

from bunkhouse.fleet import transitions
from bunkhouse.fleet.fleet import Fleet
from bunkhouse.runner.batcher import Batcher, Job, JobGroup
from bunkhouse.runner.results import RunResult

PLAYBOOK = "pool_provision.yml"


class Renewals:
    def __init__(self, fleet: Fleet, *, batching: bool = True, window: float = 0.05, max_window: float = 0.5):
        self.fleet = fleet
        self.batcher = Batcher(fleet.runner, PLAYBOOK, "pool_node_indexes", batching=batching, window=window,
                               max_window=max_window, run_batch=self._recreate)

    @staticmethod
    def group(members: Collection[str], holder: str, *, purpose: str,
              on_done: Callable[[JobGroup], None]) -> JobGroup:
        """The recreation of `members`, which `holder` is releasing, to submit()."""
        return JobGroup([Job(member, {"holder": holder}) for member in members], purpose=purpose, on_done=on_done)

    def submit(self, group: JobGroup) -> JobGroup:
        return self.batcher.submit(group)

    def in_flight(self) -> set[str]:
        return self.batcher.in_flight()

    def _recreate(self, changes: dict[str, dict[str, Any]], purpose: str) -> RunResult:
        fleet = self.fleet
        result, keys = fleet.remake(sorted(changes), purpose=purpose)
        why = "; ".join(result.host_errors.values()) or f"{PLAYBOOK} {result.status} (rc {result.rc})"
        done: list[str] = []
        errors: dict[str, str] = {}
        for member, member_keys in keys.items():
            if not fleet.remade(result, member):
                errors[member] = result.host_errors.get(fleet.node_host(member)) or why
            elif not member_keys:
                errors[member] = "recreated, but its SSH host keys could not be read"
            else:
                with fleet.database.write() as session:
                    if transitions.renewed(session, member, changes[member]["holder"], member_keys):
                        done.append(member)
                    else:
                        errors[member] = "recreated, but no longer releasing for its lease"
        # The run's hosts are the engines and the nodes; the outcome that counts is each member's.
        return replace(result, ok_hosts=tuple(done), failed_hosts=tuple(errors), host_errors=errors)
