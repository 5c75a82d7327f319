"""Per-team flags and other challenge secrets, encrypted at rest: Fernet (AES and HMAC) with a
key kept in a 0600 file of the instance folder, made at first use. The database only ever holds
the ciphertext; a copy of the database without the key file reveals no flag."""

from __future__ import annotations

import hmac
import os
import re
import secrets
import threading
import time
from pathlib import Path

from cryptography.fernet import Fernet

from bunkhouse.core.files import tighten_file

# A flag format holds {} once, where the team's random part goes ("CTF{}" -> "CTF{9f1c...}").
FORMAT = re.compile(r"^[A-Za-z0-9_\-]{0,32}\{\}$")
DEFAULT_FORMAT = "CTF{}"


def make_flag(flag_format: str) -> str:
    """A new flag of this format: 128 random bits, in hex, between its braces."""
    return flag_format.replace("{}", "{" + secrets.token_hex(16) + "}")


def same_flag(given: str, flag: str) -> bool:
    return hmac.compare_digest(given.strip().encode(), flag.encode())


class SecretBox:
    def __init__(self, key_file: Path):
        self.key_file = key_file
        self._fernet: Fernet | None = None
        self._lock = threading.Lock()

    def _box(self) -> Fernet:
        with self._lock:
            if self._fernet is None:
                self._fernet = Fernet(self._key())
            return self._fernet

    def _key(self) -> bytes:
        """The key file's key; the first process to need one writes it (0600 from its creation:
        never readable by others), and another that finds the file still empty waits for it."""
        try:
            descriptor = os.open(self.key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            tighten_file(self.key_file)
            for _ in range(50):
                key = self.key_file.read_bytes().strip()
                if key:
                    return key
                time.sleep(0.1)
            raise RuntimeError(f"{self.key_file} holds no key") from None
        key = Fernet.generate_key()
        with os.fdopen(descriptor, "wb") as file:
            file.write(key)
        return key

    def seal(self, secret: str) -> str:
        return self._box().encrypt(secret.encode()).decode()

    def open(self, sealed: str) -> str:
        return self._box().decrypt(sealed.encode()).decode()
