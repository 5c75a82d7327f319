"""Every role keeps the conventions: prefixed inputs in defaults, each typed in argument_specs,
a Molecule scenario, task names that are sentences, fully qualified module names."""

from pathlib import Path

import pytest
import yaml

PROJECT_DIR = Path(__file__).resolve().parents[2]
ROLES = sorted(path for path in (PROJECT_DIR / "roles").iterdir() if path.is_dir())


def _load(path: Path):
    return yaml.safe_load(path.read_text())


def _tasks(role: Path):
    for task_file in sorted((role / "tasks").glob("*.yml")):
        for task in _load(task_file) or []:
            yield task_file, task
            for inner in task.get("block", []):
                yield task_file, inner


def test_there_are_roles():
    assert {role.name for role in ROLES} >= {"node_image", "pool_node", "node_account"}


@pytest.mark.parametrize("role", ROLES, ids=lambda role: role.name)
def test_defaults_are_prefixed_and_described_in_the_argument_specs(role):
    defaults = _load(role / "defaults" / "main.yml")
    options = _load(role / "meta" / "argument_specs.yml")["argument_specs"]["main"]["options"]
    assert defaults, "a role takes its inputs from defaults/main.yml"
    for name in defaults:
        assert name.startswith(role.name + "_"), f"{name} is not prefixed with {role.name}_"
        assert name in options, f"{name} has no entry in meta/argument_specs.yml"
        assert options[name].get("type"), f"{name} has no type"
        assert options[name].get("description"), f"{name} has no description"
    assert set(options) <= set(defaults), "an argument spec without a default"


@pytest.mark.parametrize("role", ROLES, ids=lambda role: role.name)
def test_role_has_a_molecule_scenario(role):
    scenario = role / "molecule" / "default"
    assert (scenario / "molecule.yml").is_file()
    assert (scenario / "converge.yml").is_file()
    assert (scenario / "verify.yml").is_file()


@pytest.mark.parametrize("role", ROLES, ids=lambda role: role.name)
def test_tasks_are_named_sentences_using_fully_qualified_modules(role):
    control = {"name", "when", "loop", "loop_control", "register", "block", "no_log", "changed_when",
               "failed_when", "environment", "delegate_to", "run_once", "until", "retries", "delay",
               "vars", "tags", "become", "ignore_errors", "notify", "async", "poll", "rescue", "always",
               "timeout"}
    for task_file, task in _tasks(role):
        name = task.get("name", "")
        assert name and name[0].isupper(), f"{task_file.name}: task without a sentence name: {task}"
        modules = [key for key in task if key not in control]
        if "block" in task:
            continue
        assert len(modules) == 1, f"{task_file.name}: {name}: cannot tell the module from {modules}"
        # A plugin the role ships itself (action_plugins/) has no collection to qualify it.
        own = (role / "action_plugins" / f"{modules[0]}.py").is_file()
        assert own or modules[0].count(".") >= 2, f"{task_file.name}: {name}: {modules[0]} is not fully qualified"
