"""The first admin: on a first start with authentication on and no admin, one is made, with a
token written to a 0600 file (and returned, so the caller can show it once)."""

from __future__ import annotations

import os
from pathlib import Path

from bunkhouse.core.errors import Conflict
from bunkhouse.identity.models import Role
from bunkhouse.identity.tokens import Tokens
from bunkhouse.identity.users import ApiUsers

BOOTSTRAP_ADMIN = "admin"


def bootstrap_admin(users: ApiUsers, tokens: Tokens, token_file: Path) -> str | None:
    """The new admin's token, or None when an admin exists already."""
    if users.any_admin():
        return None
    try:
        users.create(BOOTSTRAP_ADMIN, Role.ADMIN, actor="bootstrap")
    except Conflict:
        # Another process of the deployment made it first, or "admin" exists as a user.
        return None
    _, token = tokens.create(BOOTSTRAP_ADMIN, actor="bootstrap", label="first start")
    token_file.parent.mkdir(parents=True, exist_ok=True)
    token_file.unlink(missing_ok=True)
    fd = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(token + "\n")
    return token
