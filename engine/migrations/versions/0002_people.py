"""people: leavers, reference patterns, programme leads' organisations, task history

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 01:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import engine.store

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DEFAULT_PATTERN = r"^[A-Z]{2,6}-[0-9]{1,7}$"


def upgrade() -> None:
    with op.batch_alter_table("organisation", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "reference_pattern",
                sqlmodel.sql.sqltypes.AutoString(),
                nullable=False,
                server_default=DEFAULT_PATTERN,
            )
        )
    with op.batch_alter_table("staff", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("active", sa.Boolean(), nullable=False, server_default=sa.true())
        )
        batch_op.add_column(sa.Column("left_on", sa.Date(), nullable=True))
        batch_op.add_column(
            sa.Column("organisations", sa.JSON(), nullable=False, server_default="[]")
        )
    op.create_table(
        "task_history",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(), nullable=False),
        sa.Column("at", engine.store.UTCDateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", engine.store.UTCDateTime(timezone=True), nullable=False),
        sa.Column("by", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("note", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.ForeignKeyConstraint(["task_id"], ["task.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("task_history", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_task_history_task_id"), ["task_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("task_history", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_task_history_task_id"))
    op.drop_table("task_history")
    with op.batch_alter_table("staff", schema=None) as batch_op:
        batch_op.drop_column("organisations")
        batch_op.drop_column("left_on")
        batch_op.drop_column("active")
    with op.batch_alter_table("organisation", schema=None) as batch_op:
        batch_op.drop_column("reference_pattern")
