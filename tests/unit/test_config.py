from pathlib import Path

import pytest

from bunkhouse.config import Config, ConfigError


def test_defaults_need_no_environment():
    config = Config.from_environ({})
    assert config.ansible.timeout == 300
    assert config.ansible.host_timeout == 60
    assert config.ansible.forks == 20
    assert config.http.port == 8080
    assert config.auth.rate_limit_storage == "memory://"
    assert (config.project_dir / "playbooks" / "account_manage.yml").is_file()
    assert config.instance_dir == config.project_dir / "instance"
    assert config.runs_dir == config.instance_dir / "runs"
    assert config.inventory_dir == config.project_dir / "inventory"


def test_environment_overrides_defaults(tmp_path):
    config = Config.from_environ(
        {"BUNKHOUSE_INSTANCE_DIR": str(tmp_path), "BUNKHOUSE_ANSIBLE_TIMEOUT": "42", "BUNKHOUSE_PORT": "9000"}
    )
    assert config.instance_dir == Path(tmp_path).resolve()
    assert config.ansible.timeout == 42
    assert config.http.port == 9000


def test_the_monitor_interval_keeps_its_old_name_as_a_fallback():
    assert Config.from_environ({"BUNKHOUSE_HEALTH_INTERVAL": "7"}).jobs.monitor_interval_seconds == 7
    assert Config.from_environ({"BUNKHOUSE_HEALTH_INTERVAL": "7", "BUNKHOUSE_MONITOR_INTERVAL": "9"}
                               ).jobs.monitor_interval_seconds == 9


@pytest.mark.parametrize("value", ["abc", "0", "-5", "1.5"])
def test_bad_numbers_are_refused_with_the_variable_named(value):
    with pytest.raises(ConfigError, match="BUNKHOUSE_ANSIBLE_TIMEOUT"):
        Config.from_environ({"BUNKHOUSE_ANSIBLE_TIMEOUT": value})


@pytest.mark.parametrize("environment, named", [
    ({"BUNKHOUSE_POOL_SIZE": "20", "BUNKHOUSE_SSH_PORT_LAST": "22010"}, "BUNKHOUSE_SSH_PORT_LAST"),
    ({"BUNKHOUSE_PASSWORD_MIN_LENGTH": "50", "BUNKHOUSE_PASSWORD_MAX_LENGTH": "10"}, "BUNKHOUSE_PASSWORD_MIN_LENGTH"),
    ({"BUNKHOUSE_BATCHING": "maybe"}, "BUNKHOUSE_BATCHING"),
])
def test_settings_that_do_not_fit_together_are_refused(environment, named):
    with pytest.raises(ConfigError, match=named):
        Config.from_environ(environment)


def test_new_settings_have_safe_defaults_and_are_read():
    config = Config.from_environ({})
    assert config.http.max_body_bytes == 65536 and config.http.health_cache_seconds == 2
    assert config.retention.days == 30 and config.retention.audit_days == 365
    assert config.auth.allow_open_without_auth is False
    changed = Config.from_environ({"BUNKHOUSE_MAX_BODY_BYTES": "4096", "BUNKHOUSE_HEALTH_CACHE_SECONDS": "0",
                                   "BUNKHOUSE_RETENTION_DAYS": "7", "BUNKHOUSE_AUDIT_RETENTION_DAYS": "0"})
    assert changed.http.max_body_bytes == 4096 and changed.http.health_cache_seconds == 0
    assert changed.retention.days == 7 and changed.retention.audit_days == 0


@pytest.mark.parametrize("name, value", [("BUNKHOUSE_MAX_BODY_BYTES", "10"), ("BUNKHOUSE_HEALTH_CACHE_SECONDS", "-1"),
                                         ("BUNKHOUSE_RETENTION_DAYS", "-1"), ("BUNKHOUSE_AUDIT_RETENTION_DAYS", "x")])
def test_new_settings_refuse_values_that_cannot_be_used(name, value):
    with pytest.raises(ConfigError, match=name):
        Config.from_environ({name: value})


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10", "lab.example.org"])
def test_auth_off_on_an_open_address_is_refused_unless_allowed(host):
    with pytest.raises(ConfigError, match="BUNKHOUSE_ALLOW_OPEN_WITHOUT_AUTH"):
        Config.from_environ({"BUNKHOUSE_AUTH": "off", "BUNKHOUSE_HOST": host})
    allowed = Config.from_environ({"BUNKHOUSE_AUTH": "off", "BUNKHOUSE_HOST": host,
                                   "BUNKHOUSE_ALLOW_OPEN_WITHOUT_AUTH": "on"})
    assert allowed.http.host == host and allowed.auth.allow_open_without_auth
    assert Config.from_environ({"BUNKHOUSE_HOST": host}).auth.enabled  # auth on: any address


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "[::1]", "localhost", "LOCALHOST"])
def test_auth_off_on_loopback_is_accepted(host):
    assert not Config.from_environ({"BUNKHOUSE_AUTH": "off", "BUNKHOUSE_HOST": host}).auth.enabled


def test_ssh_is_published_on_loopback_and_told_as_such_by_default():
    pool = Config.from_environ({}).pool
    assert (pool.ssh_bind_address, pool.ssh_host) == ("127.0.0.1", "127.0.0.1")
    # Published on one address: that is the address people are told.
    told = Config.from_environ({"BUNKHOUSE_SSH_BIND_ADDRESS": "10.0.0.5", "BUNKHOUSE_PASSWORD_MIN_LENGTH": "12"})
    assert told.pool.ssh_host == "10.0.0.5"


@pytest.mark.parametrize("bind", ["0.0.0.0", "10.0.0.5"])
def test_short_passwords_beyond_loopback_are_refused_unless_allowed(bind):
    with pytest.raises(ConfigError, match="BUNKHOUSE_ALLOW_SHORT_PASSWORDS"):
        Config.from_environ({"BUNKHOUSE_SSH_BIND_ADDRESS": bind})
    assert Config.from_environ({"BUNKHOUSE_SSH_BIND_ADDRESS": bind, "BUNKHOUSE_ALLOW_SHORT_PASSWORDS": "on"})
    assert Config.from_environ({"BUNKHOUSE_SSH_BIND_ADDRESS": bind, "BUNKHOUSE_PASSWORD_MIN_LENGTH": "10"})


def test_node_limits_have_safe_defaults_and_tmpfs_must_fit_in_memory():
    limits = Config.from_environ({}).pool.limits
    assert (limits.cpus, limits.memory, limits.pids, limits.outbound, limits.firewall) == (1.0, "1g", 256, True, True)
    with pytest.raises(ConfigError, match="BUNKHOUSE_NODE_MEMORY"):
        Config.from_environ({"BUNKHOUSE_NODE_MEMORY": "600m"})  # 256m + 256m + 129m do not fit
    with pytest.raises(ConfigError, match="BUNKHOUSE_NODE_TMP_SIZE must be a size"):
        Config.from_environ({"BUNKHOUSE_NODE_TMP_SIZE": "lots"})
    with pytest.raises(ConfigError, match="BUNKHOUSE_NODE_PIDS"):
        Config.from_environ({"BUNKHOUSE_NODE_PIDS": "3"})
