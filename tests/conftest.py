"""Shared test set-up: the project's paths and a Provisioner writing runs into a temp folder."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

PROJECT_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_DIR / "src"))

from bunkhouse.config import Config  # noqa: E402
from bunkhouse.provisioner import Provisioner  # noqa: E402


@pytest.fixture(scope="session")
def project_dir() -> Path:
    return PROJECT_DIR


@pytest.fixture(scope="session")
def config(tmp_path_factory) -> Config:
    instance = tmp_path_factory.mktemp("instance")
    return Config.from_environ({"BUNKHOUSE_INSTANCE_DIR": str(instance), "BUNKHOUSE_ANSIBLE_TIMEOUT": "300"})


@pytest.fixture(scope="session")
def provisioner(config) -> Provisioner:
    return Provisioner(config)
