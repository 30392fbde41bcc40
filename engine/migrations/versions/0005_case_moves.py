"""case moves: which journey a case was on, and when it moved

Revision ID: 0005_case_moves
Revises: 0004_investigations
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import engine.store

revision: str = "0005_case_moves"
down_revision: str | None = "0004_investigations"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "case_move",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("from_journey", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("to_journey", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("at", engine.store.UTCDateTime(timezone=True), nullable=False),
        sa.Column("by", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["case.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_case_move_case_id", "case_move", ["case_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_case_move_case_id", table_name="case_move")
    op.drop_table("case_move")
