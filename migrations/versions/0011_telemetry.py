"""Telemetry from Rasa's event broker: the redacted event log and the facts folded from it (issue 20)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 01:26:32
"""
import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('conversation_facts',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('conversation_id', sa.String(length=128), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=False),
    sa.Column('last_event_at', sa.DateTime(), nullable=False),
    sa.Column('channel', sa.String(length=32), nullable=True),
    sa.Column('customer_key', sa.String(length=32), nullable=True),
    sa.Column('flow', sa.String(length=40), nullable=True),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('resolved_flow', sa.String(length=40), nullable=True),
    sa.Column('handoff_reason', sa.String(length=40), nullable=True),
    sa.Column('queue', sa.String(length=40), nullable=True),
    sa.Column('turns', sa.Integer(), nullable=False),
    sa.Column('bot_seconds', sa.Float(), nullable=False),
    sa.Column('human_seconds', sa.Float(), nullable=True),
    sa.Column('first_human_response_seconds', sa.Float(), nullable=True),
    sa.Column('sla_seconds', sa.Float(), nullable=True),
    sa.Column('csat', sa.Integer(), nullable=True),
    sa.Column('csat_after', sa.String(length=8), nullable=True),
    sa.Column('model_id', sa.String(length=64), nullable=True),
    sa.Column('mandatory_human_automated', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('conversation_id')
    )
    with op.batch_alter_table('conversation_facts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_conversation_facts_customer_key'), ['customer_key'], unique=False)
        batch_op.create_index(batch_op.f('ix_conversation_facts_started_at'), ['started_at'], unique=False)

    op.create_table('telemetry_events',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('event_key', sa.String(length=64), nullable=False),
    sa.Column('conversation_id', sa.String(length=128), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('name', sa.String(length=80), nullable=True),
    sa.Column('confidence', sa.Float(), nullable=True),
    sa.Column('entity_types', sa.String(length=200), nullable=True),
    sa.Column('channel', sa.String(length=32), nullable=True),
    sa.Column('model_id', sa.String(length=64), nullable=True),
    sa.Column('tokens', sa.Integer(), nullable=True),
    sa.Column('oov_tokens', sa.Integer(), nullable=True),
    sa.Column('text_redacted', sa.Text(), nullable=True),
    sa.Column('value', sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('event_key')
    )
    with op.batch_alter_table('telemetry_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_telemetry_events_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_telemetry_events_conversation_id'), ['conversation_id'], unique=False)

    op.create_table('turn_facts',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('conversation_id', sa.String(length=128), nullable=False),
    sa.Column('turn', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('channel', sa.String(length=32), nullable=True),
    sa.Column('intent', sa.String(length=64), nullable=True),
    sa.Column('confidence', sa.Float(), nullable=True),
    sa.Column('entity_types', sa.String(length=200), nullable=False),
    sa.Column('actions', sa.String(length=500), nullable=False),
    sa.Column('fallback', sa.Boolean(), nullable=False),
    sa.Column('handoff', sa.Boolean(), nullable=False),
    sa.Column('error', sa.Boolean(), nullable=False),
    sa.Column('latency_ms', sa.Float(), nullable=True),
    sa.Column('model_id', sa.String(length=64), nullable=True),
    sa.Column('tokens', sa.Integer(), nullable=False),
    sa.Column('oov_tokens', sa.Integer(), nullable=False),
    sa.Column('fallback_text', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('conversation_id', 'turn', name='uq_turn_facts_turn')
    )
    with op.batch_alter_table('turn_facts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_turn_facts_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_turn_facts_conversation_id'), ['conversation_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('turn_facts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_turn_facts_conversation_id'))
        batch_op.drop_index(batch_op.f('ix_turn_facts_at'))

    op.drop_table('turn_facts')
    with op.batch_alter_table('telemetry_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_telemetry_events_conversation_id'))
        batch_op.drop_index(batch_op.f('ix_telemetry_events_at'))

    op.drop_table('telemetry_events')
    with op.batch_alter_table('conversation_facts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_conversation_facts_started_at'))
        batch_op.drop_index(batch_op.f('ix_conversation_facts_customer_key'))

    op.drop_table('conversation_facts')
