"""contact outcomes: a done contact task was reached or not_reached

Revision ID: 0007_contact_outcomes
Revises: 0006_repeating_events
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0007_contact_outcomes"
down_revision: str | None = "0006_repeating_events"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for table in ("task", "task_history"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(
                sa.Column("outcome", sqlmodel.sql.sqltypes.AutoString(), nullable=True)
            )
    # Contact tasks done before outcomes existed reached the survivor: the default.
    op.execute(
        sa.text(
            "UPDATE task SET outcome = 'reached' WHERE category = 'contact' AND status = 'done'"
        )
    )


def downgrade() -> None:
    for table in ("task_history", "task"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("outcome")
