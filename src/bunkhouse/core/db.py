"""The database: an engine and two kinds of sessions.

- Database.read(): for queries. On SQLite (the default, in WAL mode) a read opens a deferred
  transaction, so it never waits for the write lock: token lookups, /healthz and lists go on
  while a write is in progress. A read session refuses to write.
- Database.write(): one transaction that commits at the end of the block. On SQLite it starts
  with BEGIN IMMEDIATE, so concurrent writers queue for the lock up front instead of failing
  half-way when a deferred transaction tries to upgrade.

Any other SQLAlchemy URL (PostgreSQL) is used as it is, with its own row locks.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.orm import Session, sessionmaker

from bunkhouse.core.files import DIR_MODE, private_file, tighten_file

# Seconds a write waits for SQLite's lock before it fails.
SQLITE_BUSY_TIMEOUT = 30


class ReadSession(Session):
    """A session that only reads: writing through it is a bug, refused before it reaches SQL."""

    def flush(self, objects=None) -> None:
        if self.new or self.dirty or self.deleted:
            raise RuntimeError("a read session does not write: use Database.write()")
        super().flush(objects)

    def execute(self, statement, *args, **kwargs):
        if getattr(statement, "is_dml", False):
            raise RuntimeError("a read session does not write: use Database.write()")
        return super().execute(statement, *args, **kwargs)


class Database:
    def __init__(self, url: str):
        self.url = url
        self.engine = _make_engine(url)
        writer = self.engine.execution_options(bunkhouse_begin="IMMEDIATE") if self.is_sqlite else self.engine
        self._reads = sessionmaker(self.engine, class_=ReadSession, expire_on_commit=False)
        self._writes = sessionmaker(writer, expire_on_commit=False)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @property
    def sqlite_file(self) -> Path | None:
        database = self.engine.url.database
        return Path(database).resolve() if self.is_sqlite and database and database != ":memory:" else None

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session for queries; its rows stay readable after the block."""
        with self._reads() as session:
            yield session

    def write(self):
        """A transaction: `with database.write() as session:` commits at the end, or rolls back."""
        return self._writes.begin()

    def answers(self) -> str | None:
        """None when a query goes through, else why not, in words safe to show anyone
        (describe_error: no host, user or password of the database)."""
        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except Exception as error:  # noqa: BLE001 - any failure means the database is not usable
            return describe_error(error)
        return None

    def dispose(self) -> None:
        self.engine.dispose()


# The modules whose errors come from the database driver (their text may name the server, the
# user, even a password in a URL).
_DATABASE_ERRORS = ("sqlalchemy", "psycopg", "psycopg2", "sqlite3", "pg8000", "asyncpg")


def describe_error(error: BaseException) -> str:
    """An error in words safe for /healthz and other public answers. A database error's own
    text echoes its connection (host, port, user; a URL may carry the password): only its
    class is said. Any other error: its class and the first line of its text."""
    name = type(error).__name__
    if type(error).__module__.split(".")[0] in _DATABASE_ERRORS:
        return f"the database does not answer ({name})"
    lines = str(error).splitlines()
    return f"{name}: {lines[0]}" if lines and lines[0].strip() else name


def _private_sqlite_file(path: Path) -> None:
    """The database file 0600 (made so before SQLite opens it), in a folder made 0700 when it
    is missing; the WAL and shared-memory files SQLite makes beside it take its mode, and
    are tightened here when an older version left them looser."""
    path.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    private_file(path)
    for suffix in ("-wal", "-shm", "-journal"):
        tighten_file(path.with_name(path.name + suffix))


def _make_engine(url: str) -> Engine:
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)

    database = url.split(":///", 1)[1] if ":///" in url else ""
    if database and database != ":memory:" and not database.startswith("file:"):
        _private_sqlite_file(Path(database))
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        # Let the "begin" event below own the transactions (pysqlite would otherwise start them
        # lazily, as deferred transactions that can deadlock when they upgrade to writes).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT * 1000}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection):
        # Writes (Database.write) ask for the lock at once; reads take a snapshot and no lock.
        connection.exec_driver_sql(f"BEGIN {connection.get_execution_options().get('bunkhouse_begin', 'DEFERRED')}")

    return engine
