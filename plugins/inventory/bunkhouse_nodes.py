"""Inventory plugin: the bunkhouse containers on every engine that inventory/engines.yml lists.

It is community.docker's docker_containers plugin, run once per engine of the group
bunkhouse_engines with that engine's bunkhouse_docker_host: engines.yml stays the one list
of engines, for Ansible and for the service alike. Each container gets the host variable
bunkhouse_engine (the engine's name) and is reached with docker exec on its own engine.
"""

from __future__ import annotations

DOCUMENTATION = r"""
name: bunkhouse_nodes
short_description: bunkhouse's containers on every engine of engines.yml
description:
  - Lists the containers of every Docker engine in the group bunkhouse_engines of
    engines.yml (beside this plugin's configuration file), as docker_containers does for one.
  - Uses a YAML configuration file whose name ends with V(bunkhouse.nodes.yml).
extends_documentation_fragment:
  - ansible.builtin.constructed
  - community.docker.docker.api_documentation
  - community.library_inventory_filtering_v1.inventory_filter
options:
  plugin:
    description: The name of this plugin.
    type: str
    required: true
    choices: [bunkhouse_nodes]
  engines_file:
    description: The file that lists the engines, relative to the configuration file's folder.
    type: str
    default: engines.yml
  connection_type:
    description: How Ansible reaches the containers (docker_containers' option of that name).
    type: str
    default: docker-api
    choices: [ssh, docker-cli, docker-api]
  configure_docker_daemon:
    description: Pass the engine's address to the connection plugin.
    type: bool
    default: true
  verbose_output:
    description: Keep every inspection fact as a host variable.
    type: bool
    default: false
  default_ip:
    description: Only for connection_type ssh.
    type: str
    default: 127.0.0.1
  private_ssh_port:
    description: Only for connection_type ssh.
    type: int
    default: 22
  add_legacy_groups:
    description: Add the groups of the old docker inventory script.
    type: bool
    default: false
"""

import os  # noqa: E402

import yaml  # noqa: E402
from ansible.errors import AnsibleError  # noqa: E402
from ansible.plugins.inventory import BaseInventoryPlugin  # noqa: E402
from ansible_collections.community.docker.plugins.inventory.docker_containers import (  # noqa: E402
    InventoryModule as DockerContainers,
)


class InventoryModule(DockerContainers):
    NAME = "bunkhouse_nodes"

    def verify_file(self, path):
        return BaseInventoryPlugin.verify_file(self, path) and path.endswith("bunkhouse.nodes.yml")

    def parse(self, inventory, loader, path, cache=True):
        BaseInventoryPlugin.parse(self, inventory, loader, path, cache)
        self._read_config_data(path)
        for engine, docker_host in self._engines(os.path.join(os.path.dirname(path), self.get_option("engines_file"))):
            self.set_option("docker_host", docker_host)
            before = set(self.inventory.hosts)
            try:
                self._populate(self._create_client())
            except Exception as error:  # noqa: BLE001 - name the engine that failed
                raise AnsibleError(f"engine {engine} ({docker_host}): {error}") from error
            for host in set(self.inventory.hosts) - before:
                self.inventory.set_variable(host, "bunkhouse_engine", engine)

    @staticmethod
    def _engines(path):
        with open(path) as handle:
            hosts = (yaml.safe_load(handle) or {}).get("bunkhouse_engines", {}).get("hosts") or {}
        for name, variables in hosts.items():
            docker_host = (variables or {}).get("bunkhouse_docker_host")
            if not docker_host or "{{" in str(docker_host):
                raise AnsibleError(f"{path}: engine {name}: bunkhouse_docker_host must be a plain URL")
            yield name, docker_host
