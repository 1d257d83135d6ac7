"""Who may see which parts: access groups, their grants to logins, and designer logins.

The database enforces it (row-level security, migration 0009): a part whose `access_group` is
'all' is visible to every login; any other group only to the logins it is granted to (directly or
through a role they are members of) and to admins. Search, "more like this", duplicates, the map,
thumbnails and previews all read through the same policies, so none of them can reveal a part
outside the caller's groups. Admins manage grants here (`cadfinder access ...`, the settings
panel's Access tab): each action is a pipeline (cadfinder.pipeline), run by the CLI and the app
alike; creating a login needs the server's maintenance user and is the CLI's alone.
"""

from __future__ import annotations

import re

import psycopg
from psycopg import sql

from cadfinder.db.connection import ROLE_NAMES
from cadfinder.errors import CadfinderError, InputError
from cadfinder.pipeline import Fetch, Pipeline

ALL = "all"
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,62}$")


def check_name(name: str, what: str) -> str:
    """A login or group name: letters, digits, _ . - (a letter or _ first), at most 63."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise InputError(f"{what} {name!r}: use letters, digits, '_', '.' or '-' (a letter or '_' first, at most "
                         "63 characters)")
    return name


def grant(group: str, grantee: str) -> Pipeline:
    """Let `grantee` (a login or role) see the parts of `group`: True, or False when it already
    could."""
    check_name(group, "access group")
    check_name(grantee, "login")
    if group == ALL:
        raise InputError("every login sees the 'all' group; grant another group")
    if not (yield Fetch("SELECT 1 FROM pg_roles WHERE rolname = %s", (grantee,))):
        raise InputError(f"no login or role {grantee!r} on this server (cadfinder access add-login {grantee})")
    rows = yield Fetch("INSERT INTO access_grants (grantee, access_group) VALUES (%s, %s) ON CONFLICT DO NOTHING "
                       "RETURNING 1", (grantee, group))
    return bool(rows)


def revoke(group: str, grantee: str) -> Pipeline:
    """Take `group` away from `grantee`: True, or False when it had no such grant."""
    rows = yield Fetch("DELETE FROM access_grants WHERE grantee = %s AND access_group = %s RETURNING 1",
                       (grantee, group))
    return bool(rows)


def overview() -> Pipeline:
    """{"grants": every grant the caller may see (admins: all) with its group's part count,
    "groups": part counts per group of the parts the caller sees}."""
    rows = yield Fetch("SELECT g.access_group, g.grantee, g.granted_at, (SELECT count(*) FROM cad_models m "
                       "WHERE m.access_group = g.access_group) FROM access_grants g ORDER BY 1, 2")
    counts = yield Fetch("SELECT access_group, count(*) FROM cad_models GROUP BY 1 ORDER BY 1")
    return {"grants": [{"group": r[0], "grantee": r[1], "granted_at": r[2].isoformat(timespec="seconds"),
                        "parts": r[3]} for r in rows],
            "groups": {r[0]: r[1] for r in counts}}


def assign(group: str, part_numbers: list[str] | None = None, filters: list | None = None) -> Pipeline:
    """Put parts into `group` (named parts, and/or those whitelisted filters keep): how many."""
    from cadfinder.filters import to_sql

    check_name(group, "access group")
    if not part_numbers and not filters:
        raise InputError("name the parts (part numbers) or give a --where filter")
    cond, params = to_sql(filters or [])
    if part_numbers:
        cond = sql.SQL("{} AND part_number = ANY(%(parts)s)").format(cond)
        params = {**params, "parts": list(part_numbers)}
    rows = yield Fetch(sql.SQL("UPDATE cad_models SET access_group = %(group)s, modified_at = now() WHERE {} "
                               "RETURNING 1").format(cond), {**params, "group": group})
    return len(rows)


def add_login(maintenance: psycopg.Connection, name: str, admin: bool = False) -> bool:
    """Create a designer (or admin) login without a password (the embedded server trusts its own
    socket; on a shared server, set one with ALTER ROLE ... PASSWORD). False when it exists."""
    check_name(name, "login")
    member_of = ROLE_NAMES["admin" if admin else "designer"]
    try:
        with maintenance.transaction():
            exists = maintenance.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,)).fetchone()
            if not exists:
                maintenance.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(name)))
            maintenance.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(member_of), sql.Identifier(name)))
    except psycopg.errors.InsufficientPrivilege:
        raise CadfinderError("creating logins needs a server user with CREATEROLE: ask the database administrator, "
                             f"or run CREATE ROLE {name} LOGIN; GRANT {member_of} TO {name}") from None
    return not exists
