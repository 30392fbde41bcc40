"""repeating events: each recording's occurrence number; removals kept, not deleted

Revision ID: 0006_repeating_events
Revises: 0005_case_moves
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import engine.store

revision: str = "0006_repeating_events"
down_revision: str | None = "0005_case_moves"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("case_event", schema=None) as batch_op:
        batch_op.add_column(sa.Column("occurrence", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("removed_at", engine.store.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    op.execute(sa.text("DELETE FROM case_event WHERE removed_at IS NOT NULL"))
    with op.batch_alter_table("case_event", schema=None) as batch_op:
        batch_op.drop_column("removed_at")
        batch_op.drop_column("occurrence")
