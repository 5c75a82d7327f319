"""The account work of reservations: create or remove the Linux account of a reservation on
its nodes, through the batcher of account_batch.yml, and give nodes back afterwards.

Each change names its reservation as the account's owner (written into the account's
comment): a removal takes only the account its own reservation made.

In a pool that recreates its members on release (fleet/renewal.py), taking an account back
recreates the node from the image instead: a tenant with sudo could have changed anything.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

from bunkhouse.core import events
from bunkhouse.core.db import Database
from bunkhouse.core.model import utcnow
from bunkhouse.fleet import transitions
from bunkhouse.fleet.models import ContainerState
from bunkhouse.fleet.renewal import Renewals
from bunkhouse.runner.batcher import Batcher, Job, JobGroup

PLAYBOOK = "account_batch.yml"
VARIABLE = "bunkhouse_account_ops"
# How roles/node_account's plugin begins the message of a change the node refused as bad input
# (it changed nothing); a reservation that failed only so ends with this end_state.
_BAD_INPUT = "bad input: "
BAD_INPUT = "bad_input"


def is_bad_input(error: str) -> bool:
    return _BAD_INPUT in error


def bad_input_reason(error: str) -> str:
    """The node script's own words: "node-account: disk is a group of the node image ..."."""
    return error.split(_BAD_INPUT, 1)[-1].removeprefix("node-account: ")


def create(node: str, username: str, password_hash: str, owner: str, *, sudo: bool = False) -> Job:
    change = {"name": username, "state": "present", "password_hash": password_hash, "owner": owner}
    # sudo with the tenant's own password, in a pool that grants it.
    return Job(node, {**change, "sudo": True} if sudo else change)


def remove(node: str, username: str, owner: str) -> Job:
    return Job(node, {"name": username, "state": "absent", "owner": owner})


class AccountWork:
    def __init__(self, database: Database, batcher: Batcher, clock: Callable = utcnow, *, sudo: bool = False,
                 renewals: Renewals | None = None):
        self.database = database
        self.batcher = batcher
        self.clock = clock
        self.sudo = sudo
        self.renewals = renewals

    def make(self, nodes: Collection[str], username: str, password_hash: str, reservation_id: str, *, purpose: str,
             on_done: Callable[[JobGroup], None]) -> JobGroup:
        """Queue the account's creation on `nodes`."""
        return self.batcher.submit(JobGroup([create(node, username, password_hash, reservation_id, sudo=self.sudo)
                                             for node in nodes], purpose=purpose, on_done=on_done))

    def removal(self, nodes: Collection[str], username: str, reservation_id: str, *, purpose: str,
                on_done: Callable[[JobGroup], None]) -> JobGroup:
        """The account's removal from `nodes` (or their recreation), to submit()."""
        if self.renewals is not None:
            return self.renewals.group(nodes, reservation_id, purpose=purpose, on_done=on_done)
        return JobGroup([remove(node, username, reservation_id) for node in nodes], purpose=purpose, on_done=on_done)

    def submit(self, group: JobGroup) -> JobGroup:
        """Queue a removal() group."""
        return (self.renewals or self.batcher).submit(group)

    def in_flight(self) -> set[str]:
        """Nodes with account work or a recreation queued or running in this process."""
        return self.batcher.in_flight() | (self.renewals.in_flight() if self.renewals else set())

    def take_back(self, nodes: Collection[str], username: str, reservation_id: str, *, purpose: str,
                  on_done: Callable[[JobGroup], None]) -> JobGroup:
        """Queue the account's removal from `nodes`."""
        return self.submit(self.removal(nodes, username, reservation_id, purpose=purpose, on_done=on_done))

    def clean(self, nodes: Collection[str], username: str, reservation_id: str, *, actor: str,
              purpose: str = "rollback") -> JobGroup:
        """Remove a rolled-back reservation's account from nodes that are releasing, then free
        them (or quarantine the ones where that failed)."""
        def done(group: JobGroup) -> None:
            with self.database.write() as session:
                self.give_back(session, group, reservation_id, actor, event="rolled_back")

        return self.take_back(nodes, username, reservation_id, purpose=purpose, on_done=done)

    def give_back(self, session, group: JobGroup, reservation_id: str, actor: str, *, event: str) -> None:
        """After an account removal: nodes it succeeded on are free again, the others quarantined."""
        failed = group.errors()
        undoing = "recreating the node" if self.renewals is not None else "removing the account"
        for node, error in failed.items():
            transitions.quarantine(session, [node], f"{undoing} failed: {error}", holder=reservation_id,
                                   states=[ContainerState.RELEASING], actor=actor)
        freed = transitions.free(session, reservation_id, group.ok_hosts)
        events.record(session, event, actor, lease_id=reservation_id, at=self.clock(),
                      detail={"freed": freed, "quarantined": sorted(failed),
                              "recreated": self.renewals is not None})
