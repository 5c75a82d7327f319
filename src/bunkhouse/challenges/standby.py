"""One standby run of challenge_instance.yml kept ready for the changes someone waits for (a
/remove, a stop, a delete, the janitor's removals): the run is already started when the change
comes, so it does not wait for Ansible to start (about half a second of a one-instance run;
runner/standby.py says how a standby works). Deploys go through the queue and start runs of
their own: a standby takes the runner's ordinary timeout, made for a few instances."""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from bunkhouse.runner.batcher import STANDBY_MARGIN, STANDBY_WAIT
from bunkhouse.runner.playbooks import Runner
from bunkhouse.runner.results import RunResult
from bunkhouse.runner.standby import StandbyRun, is_fresh

log = logging.getLogger(__name__)


class StandbyRuns:
    def __init__(self, runner: Runner, playbook: str, inventory: Path):
        self.runner = runner
        self.playbook = playbook
        self.inventory = inventory
        self._standby: StandbyRun | None = None

    def dispatch(self, variables: Mapping[str, Any], hosts: Collection[str]) -> RunResult | None:
        """The run of these changes by the standby; None when there was none fresh or it did
        nothing (the caller runs them the ordinary way). The caller holds the deployer's run lock."""
        standby, self._standby = self._standby, None
        if standby is None:
            return None
        if not self._fresh(standby):
            self._end(standby)
            return None
        return standby.dispatch(variables, hosts, purpose="challenge")

    def keep_one(self) -> None:
        """A fresh standby, started if there is none (called while the deployer is idle)."""
        if self._standby is not None and self._fresh(self._standby):
            return
        if self._standby is not None:
            self._end(self._standby)
            self._standby = None
        try:
            self._standby = self.runner.start_standby(self.playbook, wait=STANDBY_WAIT, inventory=self.inventory)
        except Exception:  # noqa: BLE001 - without a standby, changes run the ordinary way
            log.exception("could not start a standby run of %s", self.playbook)

    def end(self) -> None:
        standby, self._standby = self._standby, None
        if standby is not None:
            self._end(standby)

    @staticmethod
    def _fresh(standby: StandbyRun) -> bool:
        return is_fresh(standby, STANDBY_MARGIN)

    @staticmethod
    def _end(standby: StandbyRun) -> None:
        try:
            standby.cancel()
        except Exception:  # noqa: BLE001
            log.exception("could not end standby run %s", standby.ident)
