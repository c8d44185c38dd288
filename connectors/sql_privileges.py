"""Can the warehouse role write? Read from the server's catalogues for ``okrflow validate --online``.

okrflow only reads (see ``okrflow.connectors.sql``), but its two layers guard okrflow's own queries; a role that
cannot write is what keeps a leaked password or a future bug harmless. PostgreSQL: superuser and role
attributes, predefined roles that reach files or programs, CREATE on the database or a schema, and
INSERT/UPDATE/DELETE/TRUNCATE on any table. MariaDB/MySQL: ``SHOW GRANTS`` beyond SELECT, USAGE and
SHOW VIEW (roles granted to the user included). SQLite has no roles: it is opened read-only.
"""

from __future__ import annotations

import re
from typing import Any

from okrflow.connectors.base import OnlineFinding

__all__ = ["MARIADB_READ_PRIVILEGES", "mariadb_write_grants", "role_findings"]

MARIADB_READ_PRIVILEGES = frozenset({"SELECT", "USAGE", "SHOW VIEW"})
_ADVICE = "connect okrflow with a read-only role (README: Security, 'Warehouse queries are read-only')"
_PG_POWERFUL_ROLES = (
    "pg_write_all_data",
    "pg_write_server_files",
    "pg_execute_server_program",
    "pg_read_server_files",
    "pg_signal_backend",
)
_PG_ROLE = (
    "SELECT current_user, rolsuper, rolcreaterole, rolcreatedb, rolbypassrls FROM pg_roles WHERE rolname = current_user"
)
_PG_MEMBER_OF = (
    "SELECT rolname FROM pg_roles WHERE rolname IN :names AND pg_has_role(current_user, oid, 'MEMBER') ORDER BY 1"
)
_PG_CREATE = (
    "SELECT 'database ' || current_database() WHERE has_database_privilege(current_database(), 'CREATE') "
    "UNION ALL SELECT 'schema ' || nspname FROM pg_namespace WHERE has_schema_privilege(oid, 'CREATE') "
    "AND nspname NOT IN ('pg_catalog', 'information_schema') AND nspname NOT LIKE 'pg\\_%'"
)
_PG_WRITABLE_TABLES = (
    "SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE c.relkind IN ('r', 'p', 'v', 'f') AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
    "AND n.nspname NOT LIKE 'pg\\_%' AND has_table_privilege(c.oid, 'INSERT, UPDATE, DELETE, TRUNCATE') ORDER BY 1"
)
_GRANT = re.compile(r"^GRANT (?P<what>.+?)(?: ON (?P<on>.+?))? TO (?P<to>.+?)(?P<option> WITH GRANT OPTION)?$", re.S)


def role_findings(backend: str, conn: Any) -> list[OnlineFinding]:
    """Warnings for a role that is a superuser or holds write privileges; ``conn`` is a read-only connection."""
    if backend == "postgresql":
        return _postgres(conn)
    if backend in ("mysql", "mariadb"):
        return _mariadb(conn)
    return []


def _postgres(conn: Any) -> list[OnlineFinding]:
    from sqlalchemy import bindparam, text

    user, superuser, create_role, create_db, bypass_rls = conn.execute(text(_PG_ROLE)).one()
    if superuser:
        return [
            OnlineFinding(
                "warning",
                f"role {user} is a superuser: it can write every table, read and write server files and run "
                f"programs on the database host; {_ADVICE}",
            )
        ]
    found = [
        name for flag, name in ((create_role, "CREATEROLE"), (create_db, "CREATEDB"), (bypass_rls, "BYPASSRLS")) if flag
    ]
    member = text(_PG_MEMBER_OF).bindparams(bindparam("names", expanding=True))
    found += [f"member of {name}" for (name,) in conn.execute(member, {"names": list(_PG_POWERFUL_ROLES)})]
    found += [f"CREATE on {place}" for (place,) in conn.execute(text(_PG_CREATE))]
    tables = [name for (name,) in conn.execute(text(_PG_WRITABLE_TABLES))]
    if tables:
        shown = ", ".join(tables[:5]) + (f" and {len(tables) - 5} more" if len(tables) > 5 else "")
        found.append(f"INSERT/UPDATE/DELETE/TRUNCATE on {len(tables)} table(s) ({shown})")
    if not found:
        return []
    return [OnlineFinding("warning", f"role {user} can change the database: {'; '.join(found)}; {_ADVICE}")]


def _mariadb(conn: Any) -> list[OnlineFinding]:
    (user,) = conn.exec_driver_sql("SELECT CURRENT_USER()").one()
    lines = [row[0] for row in conn.exec_driver_sql("SHOW GRANTS FOR CURRENT_USER")]
    for role in _granted_roles(lines):
        lines += [row[0] for row in conn.exec_driver_sql(f"SHOW GRANTS FOR {role}")]
    grants = mariadb_write_grants(lines)
    if not grants:
        return []
    superuser = any(g.startswith(("ALL PRIVILEGES on *.*", "SUPER on")) for g in grants)
    what = "is a superuser" if superuser else "can change the database"
    return [OnlineFinding("warning", f"user {user} {what}: {'; '.join(grants)}; {_ADVICE}")]


def mariadb_write_grants(lines: list[str]) -> list[str]:
    """``SHOW GRANTS`` lines -> the privileges beyond reading, as ``PRIVILEGE on OBJECT`` (plus grant options)."""
    found: list[str] = []
    for line in lines:
        match = _GRANT.match(line.strip())
        if match is None or match.group("on") is None:
            continue  # a role granted to the user (its own grants are read separately) or an unknown line
        for privilege in _split_privileges(match.group("what")):
            if privilege not in MARIADB_READ_PRIVILEGES:
                found.append(f"{privilege} on {match.group('on')}")
        if match.group("option"):
            found.append(f"WITH GRANT OPTION on {match.group('on')}")
    return list(dict.fromkeys(found))


def _split_privileges(text: str) -> list[str]:
    """``SELECT (a, b), INSERT`` -> ``["SELECT", "INSERT"]`` (column lists dropped, commas inside them kept)."""
    depth, current, parts = 0, "", []
    for char in text:
        depth += (char == "(") - (char == ")")
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return [re.sub(r"\s*\(.*\)\s*$", "", part, flags=re.S).strip().upper() for part in parts if part.strip()]


def _granted_roles(lines: list[str]) -> list[str]:
    """Roles granted to the user: ``GRANT `reader` TO `okr`@`%``` (no ON)."""
    roles: list[str] = []
    for line in lines:
        match = _GRANT.match(line.strip())
        if match is not None and match.group("on") is None:
            roles += [role.strip() for role in match.group("what").split(",") if role.strip().startswith("`")]
    return roles
