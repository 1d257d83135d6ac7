"""The designer (read-only) and admin (read-write) roles and their grants."""

from __future__ import annotations

import psycopg
from psycopg import sql

from cadfinder.db.connection import ROLE_NAMES
from cadfinder.db.migrations import MIGRATION_LOCK_ID


def ensure_roles(conn: psycopg.Connection) -> None:
    """Create both roles if missing and grant them their privileges on the current schema.

    Roles are LOGIN roles without a password: the embedded server trusts its private socket;
    on a shared server an admin sets passwords or grants membership to personal logins.
    """
    with conn.transaction():
        # Roles are cluster-wide: the same advisory lock keeps concurrent inits apart.
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_ID,))
        for role in ROLE_NAMES.values():
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
            if not exists:
                conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
        grant(conn)


def grant(conn: psycopg.Connection) -> None:
    """(Re)grant privileges on every table and sequence in the public schema, now and later."""
    designer = sql.Identifier(ROLE_NAMES["designer"])
    admin = sql.Identifier(ROLE_NAMES["admin"])
    db = conn.execute("SELECT current_database()").fetchone()[0]
    statements = [
        sql.SQL("GRANT CONNECT ON DATABASE {} TO {}, {}").format(sql.Identifier(db), designer, admin),
        sql.SQL("GRANT USAGE ON SCHEMA public TO {}, {}").format(designer, admin),
        sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA public TO {}").format(designer),
        sql.SQL("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {}").format(admin),
        sql.SQL("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {}").format(admin),
        sql.SQL("ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO {}").format(designer),
        sql.SQL(
            "ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {}"
        ).format(admin),
        sql.SQL("ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {}").format(admin),
    ]
    for st in statements:
        conn.execute(st)
