"""Security hardening: customer-token replay guard, rate-limit hits, agent token expiry

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 09:00:00
"""
from datetime import datetime, timedelta

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'customer_token_uses',
        sa.Column('jti_hash', sa.String(length=64), nullable=False),
        sa.Column('conversation_id', sa.String(length=128), nullable=False),
        sa.Column('expires_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('jti_hash'),
    )
    op.create_index(op.f('ix_customer_token_uses_expires_at'), 'customer_token_uses', ['expires_at'], unique=False)
    op.create_table(
        'rate_limit_hits',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('bucket', sa.String(length=40), nullable=False),
        sa.Column('key', sa.String(length=64), nullable=False),
        sa.Column('at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index(op.f('ix_rate_limit_hits_at'), 'rate_limit_hits', ['at'], unique=False)
    op.create_index('ix_rate_limit_hits_bucket_key_at', 'rate_limit_hits', ['bucket', 'key', 'at'], unique=False)
    with op.batch_alter_table('agent_api_tokens', schema=None) as batch_op:
        batch_op.add_column(sa.Column('expires_at', sa.DateTime(), nullable=True))
    # Tokens issued before expiry existed get the default lifetime from today, not from their
    # issue date: nobody is locked out by the upgrade itself.
    tokens = sa.table('agent_api_tokens', sa.column('expires_at', sa.DateTime()))
    op.execute(tokens.update().where(tokens.c.expires_at.is_(None))
               .values(expires_at=datetime.utcnow() + timedelta(days=90)))
    with op.batch_alter_table('agent_api_tokens', schema=None) as batch_op:
        batch_op.alter_column('expires_at', existing_type=sa.DateTime(), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table('agent_api_tokens', schema=None) as batch_op:
        batch_op.drop_column('expires_at')
    op.drop_index('ix_rate_limit_hits_bucket_key_at', table_name='rate_limit_hits')
    op.drop_index(op.f('ix_rate_limit_hits_at'), table_name='rate_limit_hits')
    op.drop_table('rate_limit_hits')
    op.drop_index(op.f('ix_customer_token_uses_expires_at'), table_name='customer_token_uses')
    op.drop_table('customer_token_uses')
