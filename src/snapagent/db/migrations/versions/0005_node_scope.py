"""node executions inside iteration/loop bodies carry their scope

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from snapagent.db.base import JSONType

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # [[container id, item/round index], ...], outermost first; NULL for top-level nodes.
    op.add_column("workflow_node_executions", sa.Column("scope", JSONType, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("workflow_node_executions") as batch:
        batch.drop_column("scope")
