"""an index on case (journey_id, status, journey_version): the sweep finds cases planned on
an older journey version by two index seeks instead of a scan of every case

Revision ID: 0009_case_journey_index
Revises: 0008_web_sessions
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009_case_journey_index"
down_revision: str | None = "0008_web_sessions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("case", schema=None) as batch_op:
        batch_op.create_index(
            "ix_case_journey_status_version",
            ["journey_id", "status", "journey_version"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("case", schema=None) as batch_op:
        batch_op.drop_index("ix_case_journey_status_version")
