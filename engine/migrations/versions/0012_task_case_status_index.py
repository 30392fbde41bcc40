"""an index on task (case_id, status, category) in place of the one on case_id alone: the
web pages find a case's open tasks without visiting every task it ever had (the unique
(case_id, obligation, occurrence) index still serves case_id alone)

Revision ID: 0012_task_case_status_index
Revises: 0011_web_drafts
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012_task_case_status_index"
down_revision: str | None = "0011_web_drafts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("task", schema=None) as batch_op:
        batch_op.create_index(
            "ix_task_case_status_category", ["case_id", "status", "category"], unique=False
        )
        batch_op.drop_index("ix_task_case_id")


def downgrade() -> None:
    with op.batch_alter_table("task", schema=None) as batch_op:
        batch_op.create_index("ix_task_case_id", ["case_id"], unique=False)
        batch_op.drop_index("ix_task_case_status_category")
