"""Variables for Ansible: every string tagged !unsafe, names plain, nothing that is not data."""

import pytest
import yaml

from bunkhouse.runner.extravars import render_extravars


def test_every_string_value_is_tagged_unsafe():
    rendered = render_extravars({"name": "{{ 7 * 7 }}", "items": ["{{ x }}", 3], "flag": True})
    assert "!unsafe '{{ 7 * 7 }}'" in rendered
    assert "!unsafe '{{ x }}'" in rendered
    assert "flag: true" in rendered


@pytest.mark.parametrize("key", ["a b", "x=1", "{{ k }}", "", "node-1\n", "name\n"])
def test_variable_names_must_be_plain(key):
    with pytest.raises(ValueError):
        render_extravars({key: "v"})


def test_objects_that_are_not_data_are_refused():
    with pytest.raises(TypeError):
        render_extravars({"v": object()})


def test_rendered_yaml_round_trips_for_plain_loaders():
    data = yaml.safe_load(render_extravars({"n": 5, "l": [1, 2]}))
    assert data == {"n": 5, "l": [1, 2]}
