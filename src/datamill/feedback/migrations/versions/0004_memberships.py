"""project memberships: a non-admin user sees and works on only the projects they are a member of

Existing deployments keep working as before: every existing non-admin user becomes a member of every
existing project. Users and projects created after the upgrade start without memberships (an admin adds them).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "memberships",
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("project_id", "user_id"),
    )
    op.create_index("ix_memberships_user_id", "memberships", ["user_id"])
    op.execute(
        "INSERT INTO memberships (project_id, user_id, created_at) "
        "SELECT p.id, u.id, CURRENT_TIMESTAMP FROM projects p CROSS JOIN users u WHERE u.role <> 'admin'"
    )


def downgrade() -> None:
    op.drop_index("ix_memberships_user_id", table_name="memberships")
    op.drop_table("memberships")
