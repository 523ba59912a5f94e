"""queue index on tasks (project, gold, n_assigned, id)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 09:12:00
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_tasks_queue", "tasks", ["project_id", "is_gold", "n_assigned", "id"])


def downgrade() -> None:
    op.drop_index("ix_tasks_queue", table_name="tasks")
