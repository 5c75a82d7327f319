"""One primary process per deployment.

The primary runs the background jobs and every Ansible run; any other process on the same
database (a second gunicorn worker, `python src/api.py` beside `just run`) is a secondary: it
serves HTTP and changes nothing that needs Ansible. A lock decides, and nothing else:

- SQLite: an exclusive flock on a file beside the database file (the instance folder by
  default), held by an open file for the life of the process;
- PostgreSQL: a session advisory lock, held by a connection kept open for it.

The kernel (or PostgreSQL) releases the lock when the process dies, even when it is killed,
so the next process to start becomes the primary.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import text

from bunkhouse.core.db import Database
from bunkhouse.core.errors import Unavailable
from bunkhouse.core.files import DIR_MODE, open_private

log = logging.getLogger(__name__)

# Advisory lock keys on PostgreSQL ("bunk" and "bunm" in ASCII): one database per deployment.
_PRIMARY_KEY = 0x62756E6B
_MIGRATION_KEY = 0x62756E6D


class PrimaryLock:
    def __init__(self, database: Database, instance_dir: Path):
        self.database = database
        self.path = _lock_file(database, instance_dir, "primary")
        self._file = None
        self._connection = None

    @property
    def held(self) -> bool:
        return self._file is not None or self._connection is not None

    def acquire(self) -> bool:
        """Take the lock if no other process holds it (never waits). True: this is the primary."""
        if self.held:
            return True
        if self.database.is_sqlite:
            self.path.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
            # Held open for the life of the process; 0600 like every file of the instance.
            handle = os.fdopen(open_private(self.path), "r+")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                return False
            handle.seek(0)
            handle.truncate()
            handle.write(f"{os.getpid()}\n")
            handle.flush()
            self._file = handle
            return True
        connection = self.database.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        if connection.scalar(text("SELECT pg_try_advisory_lock(:key)"), {"key": _PRIMARY_KEY}):
            self._connection = connection
            return True
        connection.close()
        return False

    def still_held(self) -> bool:
        """Whether the lock is still ours: a PostgreSQL lock goes with its connection."""
        if self._file is not None:
            return True
        if self._connection is None:
            return False
        try:
            return bool(self._connection.scalar(text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = :key"
                " AND pid = pg_backend_pid() AND granted"), {"key": _PRIMARY_KEY}))
        except Exception:  # noqa: BLE001 - a broken connection means the lock is gone
            log.exception("the primary lock's connection broke")
            return False

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None
        if self._connection is not None:
            try:
                self._connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _PRIMARY_KEY})
            except Exception:  # noqa: BLE001 - closing the connection releases it anyway
                pass
            self._connection.close()
            self._connection = None


@contextmanager
def migration_lock(database: Database, instance_dir: Path) -> Iterator[None]:
    """Held while the schema is upgraded, so two processes starting at once upgrade one after
    the other (the second finds nothing to do)."""
    if database.is_sqlite:
        path = _lock_file(database, instance_dir, "migration")
        path.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        with os.fdopen(open_private(path), "r+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
        return
    with database.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _MIGRATION_KEY})
        try:
            yield
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _MIGRATION_KEY})


def _lock_file(database: Database, instance_dir: Path, name: str) -> Path:
    sqlite_file = database.sqlite_file
    if sqlite_file is not None:
        return sqlite_file.with_name(f"{sqlite_file.name}.{name}-lock")
    return instance_dir / f"{name}.lock"


# Seconds a client is asked to wait before it tries again when this process cannot act.
RETRY_AFTER = "5"


class Role:
    """What this process may do: act (the primary, once it has started) or only serve reads.
    Every change that needs Ansible or the jobs asks require_acting() first."""

    def __init__(self, primary: bool):
        self.primary = primary
        self.waiting_for: str | None = "start-up"
        self._ready = threading.Event()

    @property
    def name(self) -> str:
        return "primary" if self.primary else "secondary"

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    def waiting(self, what: str) -> None:
        self.waiting_for = what

    def started(self) -> None:
        self.waiting_for = None
        self._ready.set()

    def require_acting(self) -> None:
        if not self.primary:
            raise Unavailable("this bunkhouse process only serves reads: changes are made by the primary process"
                              " of this deployment", code="not_primary", headers={"Retry-After": RETRY_AFTER})
        if not self.ready:
            raise Unavailable(f"bunkhouse is starting ({self.waiting_for}); nothing was changed: try again shortly",
                              code="starting", waiting_for=self.waiting_for, headers={"Retry-After": RETRY_AFTER})
