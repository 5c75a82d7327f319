"""Login passwords of API users: Argon2id through argon2-cffi's PasswordHasher (its default
parameters, RFC 9106's low-memory profile). Not the Linux accounts' hashes (reservations/passwords.py).

A login for a user that does not exist, or has no password, still verifies against a dummy
hash: the answer takes as long as for a wrong password, so timing does not say who exists."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from bunkhouse.core.errors import BadRequest

PASSWORD_MIN = 8  # seed 003's minimum
PASSWORD_MAX = 1024  # Argon2 takes any length; this bounds the work a request can ask for


class LoginPasswords:
    def __init__(self, hasher: PasswordHasher | None = None):
        self.hasher = hasher or PasswordHasher()
        self._dummy = self.hasher.hash("no such user: a hash to spend the same time on")

    def hash(self, password: str) -> str:
        check_password(password)
        return self.hasher.hash(password)

    def verify(self, hashed: str | None, password: str) -> bool:
        try:
            return self.hasher.verify(hashed or self._dummy, password) and hashed is not None
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, hashed: str) -> bool:
        return self.hasher.check_needs_rehash(hashed)


def check_password(password: object) -> None:
    if not isinstance(password, str) or not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        raise BadRequest(f"password must be {PASSWORD_MIN} to {PASSWORD_MAX} characters", code="invalid_password",
                         field="password")
