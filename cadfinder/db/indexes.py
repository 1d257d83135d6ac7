"""HNSW (cosine) indexes on the vector columns, built with the m / ef_construction from settings."""

from __future__ import annotations

import psycopg
from psycopg import sql

from cadfinder.settings import IndexSettings

# (table, column) pairs that get an HNSW cosine index; the column list is fixed, never user input.
VECTOR_COLUMNS = (
    ("cad_models", "sdf_latent"),
    ("cad_models", "image_embedding"),
    ("cad_models", "description_embedding"),
    ("scan_view_descriptors", "descriptor"),
    ("part_views", "embedding"),
)
HALF_PRECISION = {("scan_view_descriptors", "descriptor")}  # halfvec columns


def index_name(table: str, column: str) -> str:
    return f"{table}_{column}_hnsw"


def _create(conn: psycopg.Connection, table: str, column: str, idx: IndexSettings) -> None:
    conn.execute(
        sql.SQL(
            "CREATE INDEX IF NOT EXISTS {} ON {} USING hnsw ({} {}) "
            "WITH (m = {}, ef_construction = {})"
        ).format(
            sql.Identifier(index_name(table, column)),
            sql.Identifier(table),
            sql.Identifier(column),
            sql.SQL("halfvec_cosine_ops" if (table, column) in HALF_PRECISION else "vector_cosine_ops"),
            sql.Literal(int(idx.hnsw_m)),
            sql.Literal(int(idx.hnsw_ef_construction)),
        )
    )


def ensure(conn: psycopg.Connection, idx: IndexSettings) -> list[str]:
    """Create any missing HNSW index; return the names created. Serialised with migrations by
    the same advisory lock, since two concurrent CREATE INDEX IF NOT EXISTS can still collide."""
    from cadfinder.db.migrations import MIGRATION_LOCK_ID

    made = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_ID,))
        for table, column in VECTOR_COLUMNS:
            name = index_name(table, column)
            if conn.execute("SELECT to_regclass(%s)", (name,)).fetchone()[0] is None:
                _create(conn, table, column, idx)
                made.append(name)
    return made


def rebuild(conn: psycopg.Connection, idx: IndexSettings, progress=None) -> list[str]:
    """Drop and rebuild every HNSW index with the given parameters."""
    names = []
    for table, column in VECTOR_COLUMNS:
        name = index_name(table, column)
        if progress:
            progress(f"rebuilding {name} (m={idx.hnsw_m}, ef_construction={idx.hnsw_ef_construction})")
        with conn.transaction():
            conn.execute(sql.SQL("DROP INDEX IF EXISTS {}").format(sql.Identifier(name)))
            _create(conn, table, column, idx)
        names.append(name)
    return names


def describe(conn: psycopg.Connection) -> list[dict]:
    """Name, column, size and build options of every HNSW index."""
    rows = conn.execute(
        """SELECT c.relname, pg_relation_size(c.oid), coalesce(c.reloptions, '{}')
             FROM pg_class c JOIN pg_am a ON a.oid = c.relam
            WHERE a.amname = 'hnsw' ORDER BY c.relname"""
    ).fetchall()
    return [{"name": r[0], "size_bytes": r[1], "options": list(r[2])} for r in rows]
