"""INSERT .. ON CONFLICT DO UPDATE, on SQLite and PostgreSQL alike (both read the same clause)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection


def dialect_insert(conn: Connection, table: Table) -> Any:
    """The connection's dialect's INSERT, which has `on_conflict_do_update` / `on_conflict_do_nothing` on both."""
    return (pg_insert if conn.dialect.name == "postgresql" else sqlite_insert)(table)


def upsert(conn: Connection, table: Table, keys: tuple[str, ...], values: dict[str, Any],
           on_update: dict[str, Any] | None = None) -> None:
    """Insert `values`, or update the row with the same `keys`: with `on_update` when given, else with
    `values` less the keys."""
    ins = dialect_insert(conn, table).values(**values)
    changes = on_update if on_update is not None else {k: v for k, v in values.items() if k not in keys}
    conn.execute(ins.on_conflict_do_update(index_elements=list(keys), set_=changes))


def upsert_rows(conn: Connection, table: Table, keys: tuple[str, ...], rows: list[dict[str, Any]]) -> None:
    """`upsert` of many rows (all with the same columns) in few statements: each row inserted, or the row with its
    `keys` updated with the row's other values. Of rows with the same keys the last counts."""
    unique = list({tuple(row[k] for k in keys): row for row in rows}.values())
    if not unique:
        return
    # one statement for any number of rows, so it is compiled once and cached (a statement of the rows' values
    # was compiled anew for every count of rows), run by the driver's executemany
    ins = dialect_insert(conn, table)
    conn.execute(ins.on_conflict_do_update(
        index_elements=list(keys), set_={c: ins.excluded[c] for c in unique[0] if c not in keys}), unique)
