"""Set-based writes that tolerate a concurrent writer doing the same thing.

`INSERT ... ON CONFLICT DO NOTHING` on the table's unique key is what makes a sweep
idempotent: a second sweep at the same `now`, or a second worker at the same moment,
inserts nothing twice, whatever the interleaving.
"""

from __future__ import annotations

import operator
from collections import defaultdict
from collections.abc import Iterator, Sequence
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
    """Execute an INSERT for many rows through the driver's `executemany`; returns the rows
    inserted (both sqlite3 and psycopg sum an executemany's rowcount).

    The statement is compiled once and each value converted once by its column's type, so
    the stored values are exactly what SQLAlchemy would write: at thousands of rows (a sweep
    planning many cases) SQLAlchemy's own per-row parameter handling costs about as much
    again as the insert, and on PostgreSQL counting through RETURNING triples the cost.
    Columns the rows leave out that have a constant default are written as that constant
    in the statement, and the rows become tuples column by column (`itemgetter`, `map`,
    one `zip`: no tuple is built twice), so the Python work per row stays a small fraction
    of the driver's.
    """
    connection = session.connection()
    dialect = connection.dialect
    given = list(rows[0])
    values: dict[str, Any] = {name: sa.bindparam(name) for name in given}
    for column in table.columns:  # what SQLAlchemy fills in for columns the rows leave out
        if column.name not in values and column.default is not None and column.default.is_scalar:
            values[column.name] = _constant(column, column.default.arg, dialect)
    compiled = statement.values(values).compile(dialect=dialect)
    positional = compiled.positiontup is not None  # SQLite's `?`; psycopg's `%(name)s` is not
    names = list(compiled.positiontup) if positional else given
    columns: list[Iterator[Any]] = [map(operator.itemgetter(name), rows) for name in names]
    for i, name in enumerate(names):
        convert = table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
        if convert is not None:
            columns[i] = map(convert, columns[i])
    # One pass: each row's tuple is zipped straight from the (lazily converted) columns
    params: list[Any] = list(zip(*columns, strict=True))
    if not positional:
        params = [dict(zip(names, value, strict=True)) for value in params]
    return connection.exec_driver_sql(compiled.string, params).rowcount


def _constant(column: sa.Column, value: Any, dialect: Any) -> sa.ColumnElement[Any]:
    """A column's default as SQL text, rendered by the column's own type."""
    literal = sa.literal(value, type_=column.type)
    return sa.literal_column(
        str(literal.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
    )


def is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


# Keys of the sections that only one worker may run at a time (PostgreSQL advisory locks).
ALERT_SECTION = 0x416C657274  # "Alert"


def one_worker_at_a_time(session: Session, section: int) -> None:
    """Wait until no other worker's transaction is inside `section`, then hold it until this
    transaction ends. SQLite needs nothing: it already lets one writer in at a time."""
    if is_postgres(session):
        session.execute(sa.select(sa.func.pg_advisory_xact_lock(section)))


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
