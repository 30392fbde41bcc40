"""case.last_contact_at: when contact was last done, kept on the case row, so the web pages
flag cases without contact without reading each case's tasks; filled in from the done
contact tasks (an attempt marked not_reached is no contact)

Revision ID: 0013_case_last_contact
Revises: 0012_task_case_status_index
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import engine.store

revision: str = "0013_case_last_contact"
down_revision: str | None = "0012_task_case_status_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("case", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("last_contact_at", engine.store.UTCDateTime(timezone=True), nullable=True)
        )
    op.execute(
        'UPDATE "case" SET last_contact_at = ('
        "SELECT max(task.closed_at) FROM task WHERE task.category = 'contact'"
        " AND task.status = 'done' AND task.case_id = \"case\".id"
        " AND (task.outcome IS NULL OR task.outcome != 'not_reached'))"
    )


def downgrade() -> None:
    with op.batch_alter_table("case", schema=None) as batch_op:
        batch_op.drop_column("last_contact_at")
