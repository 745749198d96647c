"""CSAT after a flow the bot resolved: the flow rated (None for a rating after a handoff)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 18:40:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('csat_responses', schema=None) as batch_op:
        batch_op.add_column(sa.Column('flow', sa.String(length=32), nullable=True))
        batch_op.create_index(batch_op.f('ix_csat_responses_flow'), ['flow'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('csat_responses', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_csat_responses_flow'))
        batch_op.drop_column('flow')
