"""What `cadfinder db init|migrate|status` do: set up, upgrade and report on a library database."""

from __future__ import annotations

import psycopg

from cadfinder import pipeline
from cadfinder.db import indexes, migrations, roles
from cadfinder.db.connection import ROLE_NAMES, Target, connect, explain, target
from cadfinder.errors import DatabaseError
from cadfinder.settings import Settings

TABLES = ("cad_models", "assembly_hierarchy", "scan_view_descriptors", "part_views")


def _roles_present(conn: psycopg.Connection) -> bool:
    """Whether both cadfinder roles exist on the server."""
    n = conn.execute("SELECT count(*) FROM pg_roles WHERE rolname = ANY(%s)", (list(ROLE_NAMES.values()),)).fetchone()[0]
    return n == len(ROLE_NAMES)


def _maintenance(settings: Settings, uri: str | None) -> Target:
    return target(settings, uri=uri, role="maintenance")


def init(settings: Settings, uri: str | None = None) -> dict:
    """Create roles, apply migrations, grant, and build missing vector indexes."""
    t = _maintenance(settings, uri)
    with connect(t, vector=False) as conn:
        try:
            applied = migrations.migrate(conn)
            roles.ensure_roles(conn)
            made = indexes.ensure(conn, settings.index)
        except psycopg.Error as e:
            raise explain(e, t) from None
    return {"applied": [f"{m.version:04d}_{m.name}" for m in applied], "indexes_created": made}


def migrate(settings: Settings, uri: str | None = None) -> dict:
    """Apply pending migrations (and re-grant, since new tables may have come)."""
    t = _maintenance(settings, uri)
    with connect(t, vector=False) as conn:
        try:
            applied = migrations.migrate(conn)
            if _roles_present(conn):
                with conn.transaction():
                    roles.grant(conn)
            made = indexes.ensure(conn, settings.index)
        except psycopg.Error as e:
            raise explain(e, t) from None
    return {"applied": [f"{m.version:04d}_{m.name}" for m in applied], "indexes_created": made}


def reindex(settings: Settings, uri: str | None = None, progress=None) -> list[str]:
    """Rebuild the vector indexes with settings.index's parameters, as the maintenance role (the
    only one that may drop and create them; `cadfinder db reindex` and the settings panel)."""
    ensure_ready(settings, uri)
    t = _maintenance(settings, uri)
    with connect(t) as conn:
        try:
            return indexes.rebuild(conn, settings.index, progress=progress)
        except psycopg.Error as e:
            raise explain(e, t) from None


def ensure_ready(settings: Settings, uri: str | None = None) -> None:
    """On the embedded server (cadfinder's own), initialise or upgrade the schema as needed.

    A shared server is left alone: its admin runs `cadfinder db init/migrate` deliberately.
    """
    if uri or settings.database.uri:
        return
    t = _maintenance(settings, None)
    with connect(t, vector=False) as conn:
        try:
            have = migrations.current_version(conn)
            roles_ok = _roles_present(conn)
        except psycopg.Error as e:
            raise explain(e, t) from None
    if have < migrations.available()[-1].version or not roles_ok:
        init(settings, None)


def status(settings: Settings, uri: str | None = None) -> dict:
    """Server and pgvector versions, schema version, row counts and index sizes."""
    ensure_ready(settings, uri)
    t = target(settings, uri=uri)
    with connect(t, vector=False) as conn:
        try:
            server = conn.execute("SHOW server_version").fetchone()[0]
            row = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()
            available = conn.execute(
                "SELECT default_version FROM pg_available_extensions WHERE name = 'vector'"
            ).fetchone()
            user = conn.execute("SELECT current_user").fetchone()[0]
            version = migrations.current_version(conn)
            counts = {}
            for table in TABLES:
                if conn.execute("SELECT to_regclass(%s)", (table,)).fetchone()[0] is not None:
                    # table names come from the fixed TABLES tuple
                    counts[table] = conn.execute(
                        psycopg.sql.SQL("SELECT count(*) FROM {}").format(psycopg.sql.Identifier(table))
                    ).fetchone()[0]
            idx = indexes.describe(conn)
            replication_state = pipeline.run(replication(), conn)
        except psycopg.Error as e:
            raise explain(e, t) from None
    return {
        "server": replication_state,
        "database": t.describe(),
        "embedded": t.embedded,
        "user": user,
        "postgresql": server,
        "pgvector": row[0] if row else None,
        "pgvector_available": available[0] if available else None,
        "schema_version": version,
        "latest_schema_version": migrations.available()[-1].version,
        "rows": counts,
        "indexes": idx,
    }


def replication():
    """Pipeline: which server answered and its part in replication.

    A primary lists its standbys (name, address, state, replay lag in seconds and bytes; a
    login without pg_monitor sees the names only); a standby gives its lag behind the primary:
    seconds since the last replayed transaction's commit (null before the first) and bytes
    received but not yet replayed."""
    Fetch = pipeline.Fetch
    (host, port, standby), = yield Fetch(
        "SELECT coalesce(host(inet_server_addr()), 'local socket'), coalesce(inet_server_port(), "
        "current_setting('port')::int), pg_is_in_recovery()")
    out = {"answered_by": f"{host}:{port}", "role": "standby" if standby else "primary"}
    if standby:
        (lag_s, lag_bytes, sender), = yield Fetch(
            "SELECT extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8, "
            "pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())::float8, "
            "(SELECT sender_host || ':' || sender_port FROM pg_stat_wal_receiver)")
        out.update(lag_s=lag_s, lag_bytes=lag_bytes, primary=sender)
    else:
        rows = yield Fetch(
            "SELECT application_name, client_addr::text, state, extract(epoch FROM replay_lag)::float8, "
            "pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::float8 FROM pg_stat_replication "
            "ORDER BY application_name")
        out["standbys"] = [{"name": r[0], "address": r[1], "state": r[2], "lag_s": r[3], "lag_bytes": r[4]}
                           for r in rows]
    return out


def require_schema(conn: psycopg.Connection) -> None:
    """Raise a clear error when the library has not been initialised or is behind the app."""
    have = migrations.current_version(conn)
    want = migrations.available()[-1].version
    if have == 0:
        raise DatabaseError("the library database is not initialised: run `cadfinder db init`")
    if have < want:
        raise DatabaseError(f"the library schema is at v{have}, this cadfinder needs v{want}: run `cadfinder db migrate`")
