"""The instance is its owner's alone: the folder 0700, the SQLite database and its lock files
0600, made so on a first start and tightened on a start over an instance left looser."""

from __future__ import annotations

import os
import stat

from bunkhouse.config import Config
from bunkhouse.core.files import private_dir, private_file
from helpers.fakes import FakeEngine, FakeRunner
from helpers.unit_app import close, make_app, unit_environment


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def instance_files(instance):
    database = instance / "bunkhouse.db"
    return database, [database, *(instance / f"bunkhouse.db.{name}-lock" for name in ("primary", "migration"))]


def start(instance, nodes: int = 1):
    config = Config.from_environ(unit_environment(instance))
    return make_app(config, FakeRunner(), FakeEngine(["node-1"]), nodes=nodes)


def test_a_first_start_makes_the_instance_private(tmp_path):
    instance = tmp_path / "fresh" / "instance"
    old_umask = os.umask(0o022)
    try:
        app = start(instance)
    finally:
        os.umask(old_umask)
    try:
        assert mode(instance) == 0o700
        database, files = instance_files(instance)
        for path in files:
            assert mode(path) == 0o600, path
        # SQLite makes its WAL files with the database file's mode.
        assert mode(database.with_name("bunkhouse.db-wal")) == 0o600
    finally:
        close(app)


def test_a_start_over_a_looser_instance_tightens_it(tmp_path):
    instance = tmp_path / "instance"
    close(start(instance))
    instance.chmod(0o755)
    database, files = instance_files(instance)
    for path in files:
        path.chmod(0o644)
    app = start(instance, nodes=0)
    try:
        assert mode(instance) == 0o700
        for path in files:
            assert mode(path) == 0o600, path
    finally:
        close(app)


def test_private_paths_keep_what_is_in_them(tmp_path):
    folder = tmp_path / "a" / "b"
    assert mode(private_dir(folder)) == 0o700
    kept = folder / "kept"
    kept.write_text("content")
    kept.chmod(0o666)
    assert mode(private_file(kept)) == 0o600 and kept.read_text() == "content"
    assert mode(private_file(folder / "new")) == 0o600
