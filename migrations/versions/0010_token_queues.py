"""Roles that mean something: the queues an agent's token may work (docs/roles.md)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 22:10:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Unset: the unrestricted queues, as before; a comma-separated list: only those queues.
    with op.batch_alter_table('agent_api_tokens') as batch:
        batch.add_column(sa.Column('queues', sa.String(length=400), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('agent_api_tokens') as batch:
        batch.drop_column('queues')
