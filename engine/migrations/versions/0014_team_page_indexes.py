"""the Team page's counts from indexes alone: the index on task (case_id, status, category)
widened with due and escalation_level, and the one on case (navigator_id) with status
(and, on PostgreSQL, the id), so a lead's 1,300 open cases and their 5,000 open tasks are
counted without reading a case or task row

Revision ID: 0014_team_page_indexes
Revises: 0013_case_last_contact
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0014_team_page_indexes"
down_revision: str | None = "0013_case_last_contact"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TASK_COLUMNS = ["case_id", "status", "category", "due", "escalation_level"]


def upgrade() -> None:
    with op.batch_alter_table("task", schema=None) as batch_op:
        batch_op.create_index("ix_task_case_status_due", TASK_COLUMNS, unique=False)
        batch_op.drop_index("ix_task_case_status_category")
    with op.batch_alter_table("case", schema=None) as batch_op:
        batch_op.create_index(
            "ix_case_navigator_status",
            ["navigator_id", "status"],
            unique=False,
            postgresql_include=["id"],
        )
        batch_op.drop_index("ix_case_navigator_id")


def downgrade() -> None:
    with op.batch_alter_table("case", schema=None) as batch_op:
        batch_op.create_index("ix_case_navigator_id", ["navigator_id"], unique=False)
        batch_op.drop_index("ix_case_navigator_status")
    with op.batch_alter_table("task", schema=None) as batch_op:
        batch_op.create_index(
            "ix_task_case_status_category", ["case_id", "status", "category"], unique=False
        )
        batch_op.drop_index("ix_task_case_status_due")
