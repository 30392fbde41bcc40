"""the web app: emailed sign-in links and server-side sessions

Revision ID: 0008_web_sessions
Revises: 0007_contact_outcomes
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import engine.store

revision: str = "0008_web_sessions"
down_revision: str | None = "0007_contact_outcomes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _instant(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, engine.store.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "signin_link",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(), nullable=True),
        sa.Column("staff_id", sa.Integer(), nullable=True),
        sa.Column("address_key", sa.String(), nullable=False),
        sa.Column("client_key", sa.String(), nullable=False),
        _instant("created_at"),
        _instant("expires_at"),
        _instant("used_at", nullable=True),
        sa.ForeignKeyConstraint(["staff_id"], ["staff.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index("ix_signin_link_address_key", "signin_link", ["address_key"])
    op.create_index("ix_signin_link_client_key", "signin_link", ["client_key"])
    op.create_index("ix_signin_link_created_at", "signin_link", ["created_at"])
    op.create_table(
        "web_session",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        _instant("created_at"),
        _instant("last_seen_at"),
        _instant("expires_at"),
        _instant("ended_at", nullable=True),
        sa.ForeignKeyConstraint(["staff_id"], ["staff.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index("ix_web_session_staff_id", "web_session", ["staff_id"])


def downgrade() -> None:
    op.drop_index("ix_web_session_staff_id", table_name="web_session")
    op.drop_table("web_session")
    op.drop_index("ix_signin_link_created_at", table_name="signin_link")
    op.drop_index("ix_signin_link_client_key", table_name="signin_link")
    op.drop_index("ix_signin_link_address_key", table_name="signin_link")
    op.drop_table("signin_link")
