"""Connections to the library database: embedded or shared, sync (CLI) or async (GUI).

Every connection has the pgvector adapter registered. Failures become one-line
`DatabaseError`s within `connect_timeout_s` seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
import psycopg.conninfo
from pgvector.psycopg import register_vector, register_vector_async

from cadfinder.db import embedded
from cadfinder.errors import DatabaseError, DiskError
from cadfinder.settings import Settings

ROLE_NAMES = {"designer": "cadfinder_designer", "admin": "cadfinder_admin"}

# Which server of a multi-host URI (host=a,b,c) libpq picks, unless the URI says: reads prefer a
# hot standby (any, at random), anything that may write needs the primary. A one-host URI to a
# standby gives an admin a clear "read-only" refusal instead of a failed write later.
SERVER_CHOICE = {
    "designer": {"target_session_attrs": "prefer-standby", "load_balance_hosts": "random"},
    "admin": {"target_session_attrs": "read-write"},
    "maintenance": {"target_session_attrs": "read-write"},
}


@dataclass(frozen=True)
class Target:
    """Where and as whom to connect."""

    conninfo: str
    embedded: bool
    role: str  # 'designer' | 'admin' | 'maintenance'

    def describe(self) -> str:
        """A password-free description for status bars and messages."""
        if self.embedded:
            return f"embedded server ({embedded.pgdata_dir()})"
        try:
            p = psycopg.conninfo.conninfo_to_dict(self.conninfo)
        except psycopg.ProgrammingError:
            return "shared server (unparsable URI)"
        hosts = (p.get("host") or "localhost").split(",")
        ports = [x or "5432" for x in (p.get("port") or "5432").split(",")]
        ports = ports * len(hosts) if len(ports) == 1 else ports  # one port for every host
        servers = ",".join(f"{h}:{port}" for h, port in zip(hosts, ports))
        return f"{p.get('user') or '(default user)'}@{servers}/{p.get('dbname') or ''}"


def target(settings: Settings, uri: str | None = None, role: str | None = None) -> Target:
    """Resolve the server and login for `role` ('designer', 'admin' or 'maintenance').

    'maintenance' is the connection that may create extensions, roles and indexes: the
    superuser on the embedded server, the URI's own user on a shared server.
    """
    role = role or settings.database.role
    uri = uri if uri is not None else settings.database.uri
    timeout = settings.database.connect_timeout_s
    if uri:
        try:
            given = psycopg.conninfo.conninfo_to_dict(uri)
            info = psycopg.conninfo.make_conninfo(uri, connect_timeout=timeout, application_name="cadfinder",
                                                  **{k: v for k, v in SERVER_CHOICE[role].items() if k not in given})
        except psycopg.ProgrammingError as e:
            raise DatabaseError(f"bad database URI: {_first_line(e)}") from None
        return Target(info, embedded=False, role=role)
    embedded.start()
    if role == "maintenance":
        info = embedded.server_uri(embedded.DATABASE_NAME)
    else:
        info = embedded.server_uri(embedded.DATABASE_NAME, user=ROLE_NAMES[role])
    info = psycopg.conninfo.make_conninfo(info, connect_timeout=timeout, application_name="cadfinder")
    return Target(info, embedded=True, role=role)


def _first_line(e: BaseException) -> str:
    text = str(e).strip() or type(e).__name__
    return text.splitlines()[0]


def explain(e: BaseException, where: Target | None = None) -> DatabaseError:
    """Turn a psycopg exception into a one-line DatabaseError (a DiskError for a full or
    read-only disk, which PostgreSQL reports as an I/O or a permission error)."""
    msg = _first_line(e)
    place = f" ({where.describe()})" if where else ""
    disk = DiskError.from_message(msg)
    if disk is not None:
        return disk
    if isinstance(e, psycopg.errors.DiskFull):
        return DiskError(f"the database's disk is full{place}: {msg}")
    if isinstance(e, psycopg.errors.InsufficientPrivilege):
        return DatabaseError(f"permission denied{place}: {msg}")
    if isinstance(e, psycopg.OperationalError):
        return DatabaseError(f"cannot reach the database{place}: {msg}")
    if isinstance(e, psycopg.ProgrammingError) and "invalid" in msg:
        return DatabaseError(f"bad database URI: {msg}")
    return DatabaseError(f"database error{place}: {msg}")


def _prepare_embedded(t: Target) -> None:
    if t.embedded:
        embedded.ensure_database()


def connect(t: Target, autocommit: bool = False, vector: bool = True) -> psycopg.Connection:
    """A sync connection (CLI, workers) with the pgvector adapter when the extension exists."""
    try:
        _prepare_embedded(t)
        conn = psycopg.connect(t.conninfo, autocommit=autocommit)
    except psycopg.Error as e:
        raise explain(e, t) from None
    if vector:
        try:
            register_vector(conn)
        except psycopg.ProgrammingError:
            pass  # extension not created yet (before `db init`)
    return conn


async def connect_async(t: Target, autocommit: bool = False) -> psycopg.AsyncConnection:
    """An async connection for the GUI (psycopg async under qasync)."""
    try:
        _prepare_embedded(t)
        conn = await psycopg.AsyncConnection.connect(t.conninfo, autocommit=autocommit)
    except psycopg.Error as e:
        raise explain(e, t) from None
    try:
        await register_vector_async(conn)
    except psycopg.ProgrammingError:
        pass
    return conn
