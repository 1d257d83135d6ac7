"""Small helpers to reach the library: ready connections for the CLI, and part lookups."""

from __future__ import annotations

import psycopg

from cadfinder.db import connection, lifecycle, revisions
from cadfinder.errors import CadfinderError
from cadfinder.settings import Settings


def connect(settings: Settings, uri: str | None, role: str | None = None) -> psycopg.Connection:
    """A connection to an initialised library as `role` (default: the settings' role)."""
    lifecycle.ensure_ready(settings, uri)
    t = connection.target(settings, uri=uri, role=role)
    conn = connection.connect(t)
    try:
        lifecycle.require_schema(conn)
        conn.commit()
    except Exception:
        conn.close()
        raise
    return conn


def writer(settings: Settings, uri: str | None) -> psycopg.Connection:
    """A connection that may write (the admin role); a clear error for a read-only designer."""
    if settings.database.role == "designer" and not (uri or settings.database.uri):
        raise CadfinderError("this cadfinder is set up as a designer (read-only): ingestion needs the admin role "
                             "(cadfinder settings set database.role=admin)")
    # On a shared server the URI's login decides what may be written; the role picks the primary.
    return connect(settings, uri, role="admin")


def lookup_implicit(settings: Settings, uri: str | None, part_number: str):
    """(stored implicit codes, frame dict) of a library part, or None when it is not in the library
    or has no implicit form yet."""
    with connect(settings, uri) as conn:
        row = conn.execute("SELECT implicit_codes, norm_offset, norm_scale FROM cad_models WHERE part_number = %s "
                           "AND implicit_codes IS NOT NULL " + revisions.LATEST, (part_number,)).fetchone()
    if row is None:
        return None
    return bytes(row[0]), {"offset": row[1], "scale": row[2]}
