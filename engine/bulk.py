"""Set-based writes that tolerate a concurrent writer doing the same thing.

`INSERT ... ON CONFLICT DO NOTHING` on the table's unique key is what makes a sweep
idempotent: a second sweep at the same `now`, or a second worker at the same moment,
inserts nothing twice, whatever the interleaving.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
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
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = dialect.insert(table).on_conflict_do_nothing(index_elements=list(unique))
    return session.execute(statement, list(rows)).rowcount


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
