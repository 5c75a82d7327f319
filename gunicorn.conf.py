"""gunicorn reads this file from the folder it is started in (the repository root: `just run`
and the tests start it there). It holds only the bookkeeping of prometheus_client's
multiprocess mode, so that /metrics adds up every worker: the master gives this run a folder of
its own for the workers' metric files before the first fork (and removes the folders of
masters that are gone), hands back a dead worker's live files, and removes its folder at exit.
It also keeps idle connections open for 5 seconds (gunicorn's default is 2): clients that
poll every 2 seconds, as seed 004's does, would otherwise send a request on a connection the
server is closing at that moment, and fail. Every other setting comes from the command line.
"""

import os as _os
import shutil as _shutil
from pathlib import Path as _Path

keepalive = 5


def _metrics_root() -> _Path:
    instance = _os.environ.get("BUNKHOUSE_INSTANCE_DIR") or str(_Path(__file__).resolve().parent / "instance")
    return _Path(instance) / "metrics"


def _alive(pid: str) -> bool:
    try:
        _os.kill(int(pid), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True


def on_starting(server):
    if _os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return  # the operator chose a folder (and wipes it between runs)
    root = _metrics_root()
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    for folder in root.iterdir():
        if not _alive(folder.name):
            _shutil.rmtree(folder, ignore_errors=True)
    own = root / str(_os.getpid())
    _shutil.rmtree(own, ignore_errors=True)
    own.mkdir(mode=0o700)
    # Set before the workers fork and import prometheus_client, so every worker writes there.
    _os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(own)


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    own = _metrics_root() / str(_os.getpid())
    if _os.environ.get("PROMETHEUS_MULTIPROC_DIR") == str(own):
        _shutil.rmtree(own, ignore_errors=True)
