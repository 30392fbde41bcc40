"""Set-based writes that tolerate a concurrent writer doing the same thing.

`INSERT ... ON CONFLICT DO NOTHING` on the table's unique key is what makes a sweep
idempotent: a second sweep at the same `now`, or a second worker at the same moment,
inserts nothing twice, whatever the interleaving.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from operator import itemgetter
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session


def insert_ignoring_conflicts(
    session: Session, table: sa.Table, rows: Sequence[dict[str, Any]], unique: Sequence[str]
) -> int:
    """Insert rows, skipping any whose unique key already exists; returns rows inserted."""
    if not rows:
        return 0
    dialect = postgresql if is_postgres(session) else sqlite
    statement = dialect.insert(table).on_conflict_do_nothing(index_elements=list(unique))
    return _insert_many(session, statement, table, rows)


def insert_rows(session: Session, table: sa.Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert rows (all with the same keys) in one `executemany`."""
    if rows:
        _insert_many(session, sa.insert(table), table, rows)


def _insert_many(
    session: Session, statement: sa.Insert, table: sa.Table, rows: Sequence[dict[str, Any]]
) -> int:
    """Execute an INSERT for many rows; returns the rows inserted.

    On SQLite the rows go to sqlite3's `executemany` as tuples, each value converted once by
    its column's type: at thousands of rows (a sweep planning many cases) SQLAlchemy's
    per-row parameter handling costs about as much again as the insert itself.
    PostgreSQL keeps SQLAlchemy's own batched path (multi-row VALUES), which is fast there.
    """
    if is_postgres(session):  # an executemany's rowcount is -1 there: count what RETURNING gives
        returning = statement.returning(*table.primary_key.columns)
        return len(session.execute(returning, list(rows)).all())
    connection = session.connection()
    dialect = connection.dialect
    defaults = {  # what SQLAlchemy fills in for columns the rows leave out
        c.name: c.default.arg
        for c in table.columns
        if c.name not in rows[0] and c.default is not None and c.default.is_scalar
    }
    if defaults:
        rows = [{**defaults, **row} for row in rows]
    compiled = statement.values({name: sa.bindparam(name) for name in rows[0]}).compile(
        dialect=dialect
    )
    order = compiled.positiontup
    converters = [
        (i, convert)
        for i, name in enumerate(order)
        if (convert := table.c[name].type.dialect_impl(dialect).bind_processor(dialect))
    ]
    get = itemgetter(*order)
    values = []
    for row in rows:
        value = list(get(row))
        for i, convert in converters:
            value[i] = convert(value[i])
        values.append(tuple(value))
    return connection.exec_driver_sql(compiled.string, values).rowcount


def is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def update_by_id(session: Session, table: sa.Table, rows: list[dict]) -> None:
    """Executemany UPDATE ... WHERE id = :_id, grouped by the set of columns changed."""
    groups: dict[tuple[str, ...], list[dict]] = defaultdict(list)
    for row in rows:
        groups[tuple(sorted(k for k in row if k != "_id"))].append(row)
    for columns, group in groups.items():
        statement = (
            sa.update(table)
            .where(table.c.id == sa.bindparam("_id"))
            .values({c: sa.bindparam(c) for c in columns})
        )
        session.execute(statement, group, execution_options={"synchronize_session": False})
