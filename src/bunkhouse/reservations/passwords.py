"""Password hashing, done once on the controller: nodes and Ansible only ever see the hash.
The hash comes from libpass (the maintained fork of passlib, same API)."""

from __future__ import annotations

from passlib.hash import sha512_crypt

# Rounds of SHA-512 crypt. The glibc default is 5000; more makes a leaked hash slower to
# crack at the cost of hashing time on the controller (about 4 ms per 5000 rounds here).
HASH_ROUNDS = 20000


def hash_password(plaintext: str) -> str:
    """Return a crypt(3) SHA-512 hash ($6$...) of the password, with a random salt."""
    return sha512_crypt.using(rounds=HASH_ROUNDS).hash(plaintext)


def verify_password(plaintext: str, hashed: str) -> bool:
    return sha512_crypt.verify(plaintext, hashed)
