"""server core: api keys, bots, bot workflow versions

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from snapagent.db.base import JSONType, UTCDateTime

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("prefix", sa.String(32), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("last_used_at", UTCDateTime(), nullable=True),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_api_keys_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("prefix", name=op.f("uq_api_keys_prefix")),
    )
    op.create_index(op.f("ix_api_keys_user_id"), "api_keys", ["user_id"])

    op.create_table(
        "bots",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("owner_id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("default_model", sa.String(200), nullable=True),
        sa.Column("knowledge_base_ids", JSONType, nullable=False),
        sa.Column("workflow", JSONType, nullable=True),
        sa.Column("legacy_workflow", JSONType, nullable=True),
        sa.Column("use_workflow_v2", sa.Boolean(), nullable=False),
        sa.Column("v2_rollout_percent", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "v2_rollout_percent >= 0 AND v2_rollout_percent <= 100",
            name=op.f("ck_bots_v2_rollout_percent"),
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_bots_owner_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bots")),
    )
    op.create_index(op.f("ix_bots_owner_id"), "bots", ["owner_id"])

    op.create_table(
        "bot_workflow_versions",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("bot_id", sa.String(32), nullable=False),
        sa.Column("version_number", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("graph", JSONType, nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(32), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("published_by", sa.String(32), nullable=True),
        sa.Column("published_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["bot_id"],
            ["bots.id"],
            name=op.f("fk_bot_workflow_versions_bot_id_bots"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            name=op.f("fk_bot_workflow_versions_created_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["published_by"],
            ["users.id"],
            name=op.f("fk_bot_workflow_versions_published_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bot_workflow_versions")),
        sa.UniqueConstraint(
            "bot_id",
            "version_number",
            name=op.f("uq_bot_workflow_versions_bot_id_version_number"),
        ),
    )
    op.create_index(op.f("ix_bot_workflow_versions_bot_id"), "bot_workflow_versions", ["bot_id"])
    # At most one draft per bot; partial indexes work the same on SQLite and PostgreSQL.
    op.create_index(
        "uq_bot_workflow_versions_one_draft",
        "bot_workflow_versions",
        ["bot_id"],
        unique=True,
        sqlite_where=sa.text("status = 'draft'"),
        postgresql_where=sa.text("status = 'draft'"),
    )


def downgrade() -> None:
    op.drop_table("bot_workflow_versions")
    op.drop_table("bots")
    op.drop_table("api_keys")
