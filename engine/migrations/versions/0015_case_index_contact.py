"""the Team page's cases without contact from the case index alone: the index on case
(navigator_id, status) widened with last_contact_at and opened_at, so counting a lead's
quiet cases reads no case row (it read all 1,300 of them)

Revision ID: 0015_case_index_contact
Revises: 0014_team_page_indexes
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0015_case_index_contact"
down_revision: str | None = "0014_team_page_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME = "ix_case_navigator_status"


def _index(columns: list[str]) -> None:
    with op.batch_alter_table("case", schema=None) as batch_op:
        batch_op.drop_index(NAME)
        batch_op.create_index(NAME, columns, unique=False, postgresql_include=["id"])


def upgrade() -> None:
    _index(["navigator_id", "status", "last_contact_at", "opened_at"])


def downgrade() -> None:
    _index(["navigator_id", "status"])
