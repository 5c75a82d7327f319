"""The provisioner with a real ansible-runner run on localhost (no Docker needed)."""

import json
import os

import pytest
import yaml

from bunkhouse.provisioner import render_extravars

HOSTILE = [
    "bob account_state=absent",
    "x; touch /tmp/pwned",
    "$(id)",
    "a\nb: c",
    "{{ lookup('pipe', 'touch /tmp/bunkhouse-template-pwned') }}",
    "{% raw %}é ünïcode{% endraw %}",
]


def test_every_string_value_is_tagged_unsafe():
    rendered = render_extravars({"name": "{{ 7 * 7 }}", "items": ["{{ x }}", 3], "flag": True})
    assert "!unsafe '{{ 7 * 7 }}'" in rendered
    assert "!unsafe '{{ x }}'" in rendered
    assert "flag: true" in rendered


@pytest.mark.parametrize("key", ["a b", "x=1", "{{ k }}", ""])
def test_variable_names_must_be_plain(key):
    with pytest.raises(ValueError):
        render_extravars({key: "v"})


def test_objects_that_are_not_data_are_refused():
    with pytest.raises(TypeError):
        render_extravars({"v": object()})


def test_hostile_values_reach_ansible_as_plain_text(provisioner, project_dir, tmp_path):
    output = tmp_path / "vars.json"
    template = HOSTILE[4]
    result = provisioner.run_playbook(
        project_dir / "tests" / "fixtures" / "echo_vars.yml",
        {"echo_output": str(output), "echo_name": template, "echo_count": 3, "echo_items": HOSTILE},
        inventory="localhost,",
    )
    assert result.ok, result.stdout_tail
    seen = json.loads(output.read_text())
    # Every value arrives as it was sent; none set another variable (state stays untouched).
    assert seen == {"name": template, "count": 3, "items": HOSTILE, "state": "untouched"}
    assert not os.path.exists("/tmp/bunkhouse-template-pwned")


def test_a_run_is_recorded_and_leaves_no_variables_file(provisioner, project_dir, tmp_path, config):
    output = tmp_path / "vars.json"
    result = provisioner.run_playbook(
        project_dir / "tests" / "fixtures" / "echo_vars.yml",
        {"echo_output": str(output), "echo_name": "n", "echo_count": 1, "echo_items": []},
        inventory="localhost,",
    )
    assert result.ok and result.rc == 0 and result.status == "successful"
    assert result.ok_hosts == ("localhost",) and result.failed_hosts == ()
    assert result.duration > 0
    run_dir = config.runs_dir / result.ident
    assert (run_dir / "artifacts" / result.ident / "stdout").is_file()
    assert not (run_dir / "env" / "extravars").exists()
    command = json.loads((run_dir / "artifacts" / result.ident / "command").read_text())["command"]
    # Variables travel in a file: nothing of their values is on the command line.
    assert not any("echo_name" in arg or str(output) in arg for arg in command)


def test_a_failing_run_names_the_failed_host(provisioner, project_dir):
    result = provisioner.run_playbook(
        project_dir / "tests" / "fixtures" / "echo_vars.yml",
        {"echo_output": "/nonexistent-dir/x.json", "echo_name": "n", "echo_count": 1, "echo_items": []},
        inventory="localhost,",
    )
    assert not result.ok
    assert result.failed_hosts == ("localhost",)
    assert "nonexistent-dir" in result.stdout_tail


def test_old_runs_are_rotated(project_dir, tmp_path):
    from bunkhouse.config import Config
    from bunkhouse.provisioner import Provisioner

    config = Config.from_environ({"BUNKHOUSE_INSTANCE_DIR": str(tmp_path / "i"), "BUNKHOUSE_RUNS_KEPT": "2"})
    provisioner = Provisioner(config)
    for index in range(4):
        provisioner.run_playbook(
            project_dir / "tests" / "fixtures" / "echo_vars.yml",
            {"echo_output": str(tmp_path / f"{index}.json"), "echo_name": "n", "echo_count": 1, "echo_items": []},
            inventory="localhost,",
        )
    assert len(list(config.runs_dir.iterdir())) == 2
    assert oct(config.runs_dir.stat().st_mode & 0o777) == "0o700"


def test_rendered_yaml_round_trips_for_plain_loaders():
    data = yaml.safe_load(render_extravars({"n": 5, "l": [1, 2]}))
    assert data == {"n": 5, "l": [1, 2]}
