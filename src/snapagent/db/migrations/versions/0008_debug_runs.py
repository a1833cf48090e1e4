"""debug runs, replays, one-step rollback: run triggers, replay links, debug sessions

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from snapagent.db.base import JSONType, UTCDateTime

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Every run recorded so far came from a chat.
    op.add_column(
        "workflow_execution_runs",
        sa.Column("trigger", sa.String(16), nullable=False, server_default="chat"),
    )
    op.add_column("workflow_execution_runs", sa.Column("rerun_of", sa.String(32), nullable=True))
    op.add_column(
        "workflow_execution_runs", sa.Column("rerun_from_node", sa.String(100), nullable=True)
    )
    op.add_column("workflow_execution_runs", sa.Column("truncated", JSONType, nullable=True))
    op.add_column("workflow_node_executions", sa.Column("branch", sa.String(100), nullable=True))
    op.add_column(
        "workflow_node_executions",
        sa.Column("reused", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column("workflow_node_executions", sa.Column("truncated", JSONType, nullable=True))
    # At most one published version per bot, whatever races (publish, rollback).
    op.create_index(
        "uq_bot_workflow_versions_one_published",
        "bot_workflow_versions",
        ["bot_id"],
        unique=True,
        sqlite_where=sa.text("status = 'published'"),
        postgresql_where=sa.text("status = 'published'"),
    )
    op.create_table(
        "debug_sessions",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("bot_id", sa.String(32), nullable=False),
        sa.Column("session_key", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(32), nullable=True),
        sa.Column("messages", JSONType, nullable=False),
        sa.Column("variables", JSONType, nullable=True),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["bot_id"],
            ["bots.id"],
            name=op.f("fk_debug_sessions_bot_id_bots"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_debug_sessions")),
        sa.UniqueConstraint(
            "bot_id", "session_key", name=op.f("uq_debug_sessions_bot_id_session_key")
        ),
    )


def downgrade() -> None:
    op.drop_table("debug_sessions")
    op.drop_index("uq_bot_workflow_versions_one_published", table_name="bot_workflow_versions")
    with op.batch_alter_table("workflow_node_executions") as batch:
        batch.drop_column("truncated")
        batch.drop_column("reused")
        batch.drop_column("branch")
    with op.batch_alter_table("workflow_execution_runs") as batch:
        batch.drop_column("truncated")
        batch.drop_column("rerun_from_node")
        batch.drop_column("rerun_of")
        batch.drop_column("trigger")
