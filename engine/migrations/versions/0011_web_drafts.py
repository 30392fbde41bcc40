"""the web app: unsaved text kept across a session time-out until its person signs in again

Revision ID: 0011_web_drafts
Revises: 0010_task_report_indexes
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import engine.store

revision: str = "0011_web_drafts"
down_revision: str | None = "0010_task_report_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "web_draft",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("text", sa.String(), nullable=False),
        sa.Column("saved_at", engine.store.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["staff_id"], ["staff.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("staff_id", "key"),
    )
    op.create_index("ix_web_draft_staff_id", "web_draft", ["staff_id"])


def downgrade() -> None:
    op.drop_index("ix_web_draft_staff_id", table_name="web_draft")
    op.drop_table("web_draft")
