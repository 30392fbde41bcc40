"""indexes on task for the reports: `due` (the duties due in a period, without a scan of
every task) and (category, status, case_id, closed_at) (each case's done contacts in
order, for the contact report's window, without a sort)

Revision ID: 0010_task_report_indexes
Revises: 0009_case_journey_index
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010_task_report_indexes"
down_revision: str | None = "0009_case_journey_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("task", schema=None) as batch_op:
        batch_op.create_index("ix_task_due", ["due"], unique=False)
        batch_op.create_index(
            "ix_task_contact", ["category", "status", "case_id", "closed_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("task", schema=None) as batch_op:
        batch_op.drop_index("ix_task_contact")
        batch_op.drop_index("ix_task_due")
