from pathlib import Path

import pytest

from bunkhouse.config import Config, ConfigError


def test_defaults_need_no_environment():
    config = Config.from_environ({})
    assert config.ansible_timeout == 300
    assert config.ansible_forks == 20
    assert config.port == 8080
    assert (config.project_dir / "playbooks" / "accounts.yml").is_file()
    assert config.instance_dir == config.project_dir / "instance"
    assert config.runs_dir == config.instance_dir / "runs"


def test_environment_overrides_defaults(tmp_path):
    config = Config.from_environ(
        {"BUNKHOUSE_INSTANCE_DIR": str(tmp_path), "BUNKHOUSE_ANSIBLE_TIMEOUT": "42", "BUNKHOUSE_PORT": "9000"}
    )
    assert config.instance_dir == Path(tmp_path).resolve()
    assert config.ansible_timeout == 42
    assert config.port == 9000


@pytest.mark.parametrize("value", ["abc", "0", "-5", "1.5"])
def test_bad_numbers_are_refused_with_the_variable_named(value):
    with pytest.raises(ConfigError, match="BUNKHOUSE_ANSIBLE_TIMEOUT"):
        Config.from_environ({"BUNKHOUSE_ANSIBLE_TIMEOUT": value})
