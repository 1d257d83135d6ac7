"""Versioned schema migrations: ordered SQL files, a schema_version table, an advisory lock.

Safe to run twice (applied versions are skipped) and safe when two processes migrate at
once (a transaction-scoped advisory lock serialises them; the second sees the first's work).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources

import psycopg

# An arbitrary constant shared by every cadfinder process: 'cadf' in ASCII.
MIGRATION_LOCK_ID = 0x63616466
_FILE_RE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()[:16]


def available() -> list[Migration]:
    """Every migration shipped with the package, in version order."""
    out = []
    for entry in resources.files("cadfinder.db").joinpath("migrations").iterdir():
        m = _FILE_RE.match(entry.name)
        if m:
            out.append(Migration(int(m.group(1)), m.group(2), entry.read_text()))
    out.sort(key=lambda m: m.version)
    versions = [m.version for m in out]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"duplicate migration versions: {versions}")
    return out


def _create_version_table(conn: psycopg.Connection) -> None:
    conn.execute(
        """CREATE TABLE IF NOT EXISTS schema_version (
               version    integer PRIMARY KEY,
               name       text NOT NULL,
               checksum   text NOT NULL,
               applied_at timestamptz NOT NULL DEFAULT now())"""
    )


def applied(conn: psycopg.Connection) -> dict[int, str]:
    """{version: checksum} of the migrations this database has, empty before any."""
    exists = conn.execute("SELECT to_regclass('schema_version') IS NOT NULL").fetchone()[0]
    if not exists:
        return {}
    return dict(conn.execute("SELECT version, checksum FROM schema_version").fetchall())


def migrate(conn: psycopg.Connection, upto: int | None = None) -> list[Migration]:
    """Apply every pending migration (up to version `upto`, for tests of an upgrade) in one
    transaction; return those applied now."""
    done: list[Migration] = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_ID,))
        _create_version_table(conn)
        have = applied(conn)
        for m in available():
            if upto is not None and m.version > upto:
                break
            if m.version in have:
                if have[m.version] != m.checksum:
                    raise RuntimeError(
                        f"migration {m.version:04d}_{m.name} was changed after it was applied; "
                        "add a new migration instead of editing an applied one"
                    )
                continue
            conn.execute(m.sql)
            conn.execute(
                "INSERT INTO schema_version (version, name, checksum) VALUES (%s, %s, %s)",
                (m.version, m.name, m.checksum),
            )
            done.append(m)
    return done


def current_version(conn: psycopg.Connection) -> int:
    have = applied(conn)
    return max(have) if have else 0
