"""notifications people can act on: late ladders, acknowledgements, calendar state,
email preferences, the installation id

Revision ID: 0003
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import engine.store

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("task", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("ladder_from", engine.store.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("calendar_due", engine.store.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("calendar_seq", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("calendar_pending", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.create_index(
            batch_op.f("ix_task_calendar_pending"), ["calendar_pending"], unique=False
        )
    with op.batch_alter_table("staff", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("email_prefs", sa.JSON(), nullable=False, server_default="{}")
        )
    op.create_table(
        "acknowledgement",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("staff_email", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("at", engine.store.UTCDateTime(timezone=True), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["task_id"], ["task.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("task_id", "staff_email"),
    )
    with op.batch_alter_table("acknowledgement", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_acknowledgement_task_id"), ["task_id"], unique=False)
    op.create_table(
        "installation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uid", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("installation")
    with op.batch_alter_table("acknowledgement", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_acknowledgement_task_id"))
    op.drop_table("acknowledgement")
    with op.batch_alter_table("staff", schema=None) as batch_op:
        batch_op.drop_column("email_prefs")
    with op.batch_alter_table("task", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_task_calendar_pending"))
        batch_op.drop_column("calendar_pending")
        batch_op.drop_column("calendar_seq")
        batch_op.drop_column("calendar_due")
        batch_op.drop_column("ladder_from")
