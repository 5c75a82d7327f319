"""Load the Docker connection plugin (and the Docker SDK of roles/challenge_instance's action
plugin) once, in the controller, before Ansible forks its workers.

Found with a profiler: each worker process otherwise imports community.docker's connection
(its vendored Docker API client and paramiko) on its own, about 0.2 s of CPU per node per
task; imported once in the parent, every fork inherits it.
"""

from __future__ import annotations

DOCUMENTATION = """
name: bunkhouse_preload
type: aggregate
short_description: load the Docker connection plugin before workers fork
description:
  - Loads community.docker.docker_api in the controller when a play starts, so the forked
    workers that run its tasks inherit it instead of importing it one by one.
"""

from ansible.plugins.callback import CallbackBase  # noqa: E402
from ansible.plugins.loader import connection_loader  # noqa: E402


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "bunkhouse_preload"
    CALLBACK_NEEDS_ENABLED = False

    def v2_playbook_on_play_start(self, play):
        connection_loader.get("community.docker.docker_api", class_only=True)
        # The Docker SDK of roles/challenge_instance's action plugin, once for every worker.
        import docker  # noqa: F401
