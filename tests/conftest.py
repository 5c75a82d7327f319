"""Shared test set-up: the project's paths, a configuration and a real Runner writing its runs
into a temporary folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from bunkhouse.config import Config
from bunkhouse.runner.playbooks import Runner

PROJECT_DIR = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def project_dir() -> Path:
    return PROJECT_DIR


@pytest.fixture(scope="session")
def config(tmp_path_factory) -> Config:
    instance = tmp_path_factory.mktemp("instance")
    return Config.from_environ({"BUNKHOUSE_INSTANCE_DIR": str(instance), "BUNKHOUSE_ANSIBLE_TIMEOUT": "300"})


@pytest.fixture(scope="session")
def runner(config) -> Runner:
    return Runner(config.project_dir, config.inventory_dir, config.runs_dir, config.ansible)
