"""assignment index on (user, project, status): an annotator's open task is one seek at any history length

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 11:10:00
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_assignments_queue", "assignments", ["user_id", "project_id", "status"])


def downgrade() -> None:
    op.drop_index("ix_assignments_queue", table_name="assignments")
