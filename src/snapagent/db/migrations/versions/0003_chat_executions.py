"""chat sessions and messages, workflow execution records

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from snapagent.db.base import JSONType, UTCDateTime

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "chat_sessions",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("bot_id", sa.String(32), nullable=False),
        sa.Column("session_key", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(32), nullable=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["bot_id"], ["bots.id"], name=op.f("fk_chat_sessions_bot_id_bots"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chat_sessions")),
        sa.UniqueConstraint(
            "bot_id", "session_key", name=op.f("uq_chat_sessions_bot_id_session_key")
        ),
    )

    op.create_table(
        "chat_messages",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("session_id", sa.String(32), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("run_id", sa.String(32), nullable=True),
        sa.Column("sources", JSONType, nullable=False),
        sa.Column("usage", JSONType, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["chat_sessions.id"],
            name=op.f("fk_chat_messages_session_id_chat_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chat_messages")),
        sa.UniqueConstraint("session_id", "seq", name=op.f("uq_chat_messages_session_id_seq")),
    )

    op.create_table(
        "workflow_execution_runs",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("bot_id", sa.String(32), nullable=False),
        sa.Column("version_id", sa.String(32), nullable=True),
        sa.Column("version_number", sa.Integer(), nullable=True),
        sa.Column("session_id", sa.String(64), nullable=True),
        sa.Column("user_id", sa.String(32), nullable=True),
        sa.Column("engine", sa.String(8), nullable=False),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("inputs", JSONType, nullable=False),
        sa.Column("outputs", JSONType, nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("error_type", sa.String(100), nullable=True),
        sa.Column("elapsed_ms", sa.Float(), nullable=False),
        sa.Column("input_tokens", sa.Integer(), nullable=False),
        sa.Column("output_tokens", sa.Integer(), nullable=False),
        sa.Column("total_tokens", sa.Integer(), nullable=False),
        sa.Column("node_count", sa.Integer(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["bot_id"],
            ["bots.id"],
            name=op.f("fk_workflow_execution_runs_bot_id_bots"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workflow_execution_runs")),
    )
    op.create_index(
        "ix_workflow_execution_runs_bot_started",
        "workflow_execution_runs",
        ["bot_id", "started_at", "id"],
    )
    op.create_index(
        "ix_workflow_execution_runs_started_at", "workflow_execution_runs", ["started_at"]
    )

    op.create_table(
        "workflow_node_executions",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("node_id", sa.String(100), nullable=False),
        sa.Column("node_type", sa.String(50), nullable=False),
        sa.Column("title", sa.String(200), nullable=True),
        sa.Column("index", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("inputs", JSONType, nullable=False),
        sa.Column("outputs", JSONType, nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("elapsed_ms", sa.Float(), nullable=False),
        sa.Column("input_tokens", sa.Integer(), nullable=False),
        sa.Column("output_tokens", sa.Integer(), nullable=False),
        sa.Column("retries", sa.Integer(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=True),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["workflow_execution_runs.id"],
            name=op.f("fk_workflow_node_executions_run_id_workflow_execution_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workflow_node_executions")),
    )
    op.create_index(
        "ix_workflow_node_executions_run_index", "workflow_node_executions", ["run_id", "index"]
    )


def downgrade() -> None:
    op.drop_table("workflow_node_executions")
    op.drop_table("workflow_execution_runs")
    op.drop_table("chat_messages")
    op.drop_table("chat_sessions")
