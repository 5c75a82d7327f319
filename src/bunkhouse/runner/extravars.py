"""Variables for Ansible, written so that nothing in them can act.

They reach ansible-playbook through a 0600 file (`-e @file`), never the command line: a
password hash must not show in `ps`. Every string is tagged !unsafe, so that a value such as
"{{ lookup('pipe', 'id') }}" stays text and is never run as a template on the controller.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

# Variable names (dict keys) are never tagged !unsafe, so they must be plain names (or paths,
# as the keys of pool_node_tmpfs): nothing Jinja could read as a template.
_VARIABLE_KEY = re.compile(r"^[A-Za-z0-9_.\-/]+$")


class _Unsafe(str):
    """A string Ansible must treat as data, never as a template."""


class _ExtravarsDumper(yaml.SafeDumper):
    pass


_ExtravarsDumper.add_representer(
    _Unsafe, lambda dumper, value: dumper.represent_scalar("!unsafe", str(value))
)


def _mark_unsafe(value: Any) -> Any:
    if isinstance(value, str):
        return _Unsafe(value)
    if isinstance(value, Mapping):
        marked = {}
        for key, item in value.items():
            if not isinstance(key, str) or not _VARIABLE_KEY.fullmatch(key):
                raise ValueError(f"variable names must match {_VARIABLE_KEY.pattern}: {key!r}")
            marked[key] = _mark_unsafe(item)
        return marked
    if isinstance(value, (list, tuple)):
        return [_mark_unsafe(item) for item in value]
    if value is None or isinstance(value, (bool, int, float)):
        return value
    raise TypeError(f"cannot pass a {type(value).__name__} to Ansible")


def render_extravars(variables: Mapping[str, Any]) -> str:
    """YAML for ansible-playbook's `-e @file`, with every string value tagged !unsafe."""
    return yaml.dump(_mark_unsafe(dict(variables)), Dumper=_ExtravarsDumper, sort_keys=True)


def write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read, created 0600 before anything is in it."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
