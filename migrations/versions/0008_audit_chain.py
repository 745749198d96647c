"""The audit trail's hash chain: sequence, previous_hash, content_digest, record_hash, erased_by;
the records already there chained in id order, so `frontdesk audit verify` passes after the upgrade

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 22:00:00
"""
import sqlalchemy as sa
from alembic import op

from frontdesk.core.audit import GENESIS_HASH, content_digest, link_hash

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

# The table as this revision knows it (not the model, which later revisions may change).
audit_records = sa.table(
    'audit_records',
    sa.column('id', sa.Integer()),
    sa.column('recorded_at', sa.DateTime()),
    sa.column('conversation_id', sa.String()),
    sa.column('decision', sa.String()),
    sa.column('intent', sa.String()),
    sa.column('confidence', sa.Float()),
    sa.column('action', sa.String()),
    sa.column('model_id', sa.String()),
    sa.column('reason', sa.String()),
    sa.column('details', sa.Text()),
    sa.column('sequence', sa.Integer()),
    sa.column('previous_hash', sa.String()),
    sa.column('content_digest', sa.String()),
    sa.column('record_hash', sa.String()),
)


def upgrade() -> None:
    with op.batch_alter_table('audit_records', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sequence', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('previous_hash', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('content_digest', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('record_hash', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('erased_by', sa.String(length=128), nullable=True))

    connection = op.get_bind()
    previous_hash = GENESIS_HASH
    rows = connection.execute(sa.select(audit_records).order_by(audit_records.c.id)).all()
    for sequence, row in enumerate(rows, 1):
        digest = content_digest(row)
        record_hash = link_hash(sequence, previous_hash, digest)
        connection.execute(audit_records.update().where(audit_records.c.id == row.id).values(
            sequence=sequence, previous_hash=previous_hash, content_digest=digest, record_hash=record_hash))
        previous_hash = record_hash

    with op.batch_alter_table('audit_records', schema=None) as batch_op:
        batch_op.create_unique_constraint('uq_audit_records_sequence', ['sequence'])


def downgrade() -> None:
    with op.batch_alter_table('audit_records', schema=None) as batch_op:
        batch_op.drop_constraint('uq_audit_records_sequence', type_='unique')
        batch_op.drop_column('erased_by')
        batch_op.drop_column('record_hash')
        batch_op.drop_column('content_digest')
        batch_op.drop_column('previous_hash')
        batch_op.drop_column('sequence')
