"""Privacy: the record of data-subject requests (who asked, when, outcome, counts; no erased data)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 22:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'subject_requests',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('request_id', sa.String(length=32), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('requested_by', sa.String(length=80), nullable=False),
        sa.Column('requested_at', sa.DateTime(), nullable=False),
        sa.Column('completed_at', sa.DateTime(), nullable=True),
        sa.Column('outcome', sa.String(length=16), nullable=False),
        sa.Column('counts', sa.Text(), nullable=False),
        sa.Column('outstanding', sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('request_id'),
    )


def downgrade() -> None:
    op.drop_table('subject_requests')
