"""Instants in the store (`engine.store.UTCDateTime`): what goes in comes back as the same
aware UTC instant, to the microsecond, on SQLite and PostgreSQL; and on SQLite, text written
by older code or by SQL itself reads as it always did (SQLAlchemy's own parse, then
`process_result_value`), now that reading is one cached step."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import sqlite

from engine.store import AuditEntry, UTCDateTime, engine_for, session_scope

audit_t = AuditEntry.__table__

WRITTEN = [
    datetime(2027, 3, 1, 10, 0, tzinfo=UTC),
    datetime(2027, 3, 1, 10, 0, 0, 123456, tzinfo=UTC),
    datetime(2027, 3, 1, 10, 0, 0, 1, tzinfo=UTC),
    datetime(2027, 3, 28, 2, 0, 0, 999999, tzinfo=ZoneInfo("Europe/London")),  # BST, 01:00 UTC
    datetime(2027, 10, 31, 1, 30, fold=1, tzinfo=ZoneInfo("Europe/London")),  # the second 01:30
    datetime(2027, 6, 1, 23, 59, 59, 999999, tzinfo=timezone(timedelta(hours=-5))),
    datetime(1970, 1, 1, tzinfo=UTC),
    datetime(2199, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
]


def _write_and_read(url: str, instants: list[datetime]) -> list[datetime]:
    with session_scope(url) as session:
        session.execute(
            sa.insert(audit_t),
            [{"at": moment, "actor": "t", "action": f"a{i}", "detail": {}}
             for i, moment in enumerate(instants)],
        )  # fmt: skip
    with session_scope(url) as session:
        return list(session.execute(sa.select(audit_t.c.at).order_by(audit_t.c.id)).scalars())


def test_an_instant_comes_back_equal_aware_and_in_utc_to_the_microsecond(db_url: str) -> None:
    read = _write_and_read(db_url, WRITTEN)
    # (compared in UTC: Python never calls an ambiguous local time equal to another zone's)
    assert read == [moment.astimezone(UTC) for moment in WRITTEN]
    assert read[4] == datetime(2027, 10, 31, 1, 30, tzinfo=UTC)  # the GMT 01:30
    assert [moment.microsecond for moment in read] == [0, 123456, 1, 999999, 0, 999999, 0, 999999]
    assert all(moment.tzinfo is UTC for moment in read)


def test_a_repeated_instant_reads_equal_on_every_row_and_null_is_none(db_url: str) -> None:
    moment = datetime(2027, 3, 1, 10, 0, 0, 5, tzinfo=UTC)
    assert _write_and_read(db_url, [moment] * 3) == [moment] * 3
    with session_scope(db_url) as session:
        assert session.execute(sa.select(sa.literal(None, UTCDateTime))).scalar() is None


# What SQLite may hold in an instant column: SQLAlchemy's own storage format (every version
# the engine has used), SQL's CURRENT_TIMESTAMP (no fraction), and ISO text with a `T`, a
# shorter fraction or an offset, as a hand-written statement could leave.
STORED = {
    "2027-03-01 10:00:00.000000": datetime(2027, 3, 1, 10, tzinfo=UTC),
    "2027-03-01 10:00:00.123456": datetime(2027, 3, 1, 10, 0, 0, 123456, tzinfo=UTC),
    "2027-03-01 10:00:00": datetime(2027, 3, 1, 10, tzinfo=UTC),
    "2027-03-01T10:00:00.5": datetime(2027, 3, 1, 10, 0, 0, 500000, tzinfo=UTC),
    "2027-03-01 11:00:00+01:00": datetime(2027, 3, 1, 10, tzinfo=UTC),
    "2027-03-01": datetime(2027, 3, 1, tzinfo=UTC),
}


def _old_reading(text: str) -> datetime:
    """How the store read SQLite text before: SQLAlchemy's DATETIME, then the decorator."""
    dialect = sqlite.dialect()
    parse = sa.DateTime(timezone=True).dialect_impl(dialect).result_processor(dialect, None)
    return UTCDateTime().process_result_value(parse(text), dialect)


def test_sqlite_text_from_older_code_or_sql_reads_as_it_always_did(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    with engine_for(url).begin() as connection:
        for i, text in enumerate(STORED):
            connection.exec_driver_sql(
                "INSERT INTO audit (at, actor, action, detail) VALUES (?, 't', ?, '{}')",
                (text, f"a{i}"),
            )
        connection.exec_driver_sql(
            "INSERT INTO audit (at, actor, action, detail)"
            " VALUES (CURRENT_TIMESTAMP, 't', 'now', '{}')"
        )
        rows = connection.execute(
            sa.select(audit_t.c.at, sa.cast(audit_t.c.at, sa.String)).order_by(audit_t.c.id)
        ).all()
    assert [at for at, _ in rows[:-1]] == list(STORED.values())
    assert [at for at, _ in rows] == [_old_reading(text) for _, text in rows]
    assert rows[-1][0].tzinfo is UTC


def test_text_that_is_no_instant_is_still_an_error_on_sqlite(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'bad.db'}"
    with engine_for(url).begin() as connection:
        connection.exec_driver_sql(
            "INSERT INTO audit (at, actor, action, detail) VALUES ('1 March', 't', 'a', '{}')"
        )
        with pytest.raises(ValueError):
            connection.execute(sa.select(audit_t.c.at)).all()
