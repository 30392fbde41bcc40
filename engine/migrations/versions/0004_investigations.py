"""investigations: linked cases and investigation events; case events by name and instant

Revision ID: 0004_investigations
Revises: 0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import engine.store

revision: str = "0004_investigations"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Instant = engine.store.UTCDateTime
Text = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    op.create_table(
        "investigation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ref", Text(), nullable=False),
        sa.Column("organisation_id", Text(), nullable=False),
        sa.Column("opened_at", Instant(timezone=True), nullable=False),
        sa.Column("opened_by", Text(), nullable=False),
        sa.ForeignKeyConstraint(["organisation_id"], ["organisation.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("ref"),
    )
    op.create_index(
        "ix_investigation_organisation_id", "investigation", ["organisation_id"], unique=False
    )
    op.create_table(
        "investigation_case",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("investigation_id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("linked_at", Instant(timezone=True), nullable=False),
        sa.Column("linked_by", Text(), nullable=False),
        sa.Column("unlinked_at", Instant(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["case.id"]),
        sa.ForeignKeyConstraint(["investigation_id"], ["investigation.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("investigation_id", "case_id"),
    )
    op.create_index(
        "ix_investigation_case_investigation_id",
        "investigation_case",
        ["investigation_id"],
        unique=False,
    )
    op.create_index(
        "ix_investigation_case_case_id", "investigation_case", ["case_id"], unique=False
    )
    op.create_table(
        "investigation_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("investigation_id", sa.Integer(), nullable=False),
        sa.Column("name", Text(), nullable=False),
        sa.Column("instant", Instant(timezone=True), nullable=False),
        sa.Column("date_only", sa.Boolean(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=True),
        sa.Column("recorded_at", Instant(timezone=True), nullable=False),
        sa.Column("recorded_by", Text(), nullable=False),
        sa.ForeignKeyConstraint(["investigation_id"], ["investigation.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("investigation_id", "name", "instant"),
    )
    op.create_index(
        "ix_investigation_event_investigation_id",
        "investigation_event",
        ["investigation_id"],
        unique=False,
    )
    op.create_index(
        "ix_investigation_event_name_instant",
        "investigation_event",
        ["name", "instant"],
        unique=False,
    )
    op.create_index("ix_case_event_name_instant", "case_event", ["name", "instant"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_case_event_name_instant", table_name="case_event")
    op.drop_table("investigation_event")
    op.drop_table("investigation_case")
    op.drop_table("investigation")
