"""audit chain: seal columns on audit_event, the chain head, and the PostgreSQL guard

Existing audit rows are sealed here, in id order, in batches (so `erp check-audit` passes
right after the upgrade); the guard trigger is installed after that, on PostgreSQL only.

Revision ID: 4f410db16a52
Revises: e0b0cd20f438
Create Date: 2026-12-07 19:36:52.743132

"""
from alembic import op
import sqlalchemy as sa

from erp.core import auditchain
from erp.core.types import UtcDateTime


# revision identifiers, used by Alembic.
revision = '4f410db16a52'
down_revision = "e0b0cd20f438"
branch_labels = None
depends_on = None

#: rows read and sealed at a time
BATCH = 10_000


def upgrade():
    op.create_table('audit_chain',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('last_seq', sa.BigInteger(), nullable=False),
    sa.Column('last_hash', sa.String(length=64), nullable=True),
    sa.CheckConstraint('id = 1', name=op.f('ck_audit_chain_one_row')),
    sa.CheckConstraint('last_seq >= 0', name=op.f('ck_audit_chain_last_seq_not_negative')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_chain'))
    )
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.add_column(sa.Column('seq', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('prev_hash', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('row_hash', sa.String(length=64), nullable=True))
        batch_op.create_index('ix_audit_event_seq', ['seq'], unique=True)
        batch_op.create_index('ix_audit_event_unsealed', ['id'], unique=False, postgresql_where=sa.text('row_hash IS NULL'), sqlite_where=sa.text('row_hash IS NULL'))
    _seal_existing()
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(auditchain.GUARD_FUNCTION)
        for statements in auditchain.GUARD_TRIGGERS.values():
            for statement in statements:
                op.execute(statement)


def _seal_existing():
    """Chain the rows already there, as sealing at commit would have (same hashes)."""
    conn = op.get_bind()
    events = sa.table('audit_event', sa.column('id', sa.Integer), sa.column('at', UtcDateTime),
                      sa.column('actor_id', sa.Integer), sa.column('entity_type', sa.String),
                      sa.column('entity_id', sa.String), sa.column('entity_ref', sa.String),
                      sa.column('action', sa.String), sa.column('changes', sa.JSON),
                      sa.column('seq', sa.BigInteger), sa.column('prev_hash', sa.String),
                      sa.column('row_hash', sa.String))
    seq, prev, after = 0, auditchain.GENESIS, 0
    while True:
        rows = conn.execute(sa.select(events.c.id, events.c.at, events.c.actor_id,
                                      events.c.entity_type, events.c.entity_id,
                                      events.c.entity_ref, events.c.action, events.c.changes)
                            .where(events.c.id > after).order_by(events.c.id)
                            .limit(BATCH)).all()
        if not rows:
            break
        seals = []
        for row in rows:
            seq += 1
            prev_hash, prev = prev, auditchain.row_hash(prev, seq, row)
            seals.append({'b_id': row.id, 'b_seq': seq, 'b_prev': prev_hash, 'b_hash': prev})
        conn.execute(sa.update(events).where(events.c.id == sa.bindparam('b_id'))
                     .values(seq=sa.bindparam('b_seq'), prev_hash=sa.bindparam('b_prev'),
                             row_hash=sa.bindparam('b_hash')), seals)
        after = rows[-1].id
    conn.execute(sa.text('INSERT INTO audit_chain (id, last_seq, last_hash) '
                         'VALUES (1, :seq, :hash)'),
                 {'seq': seq, 'hash': prev if seq else None})


def downgrade():
    if op.get_bind().dialect.name == 'postgresql':
        for table in ('audit_event', 'audit_chain'):
            op.execute(f'DROP TRIGGER IF EXISTS {table}_guard ON {table}')
            op.execute(f'DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}')
        op.execute('DROP FUNCTION IF EXISTS erp_audit_guard()')
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_event_unsealed', postgresql_where=sa.text('row_hash IS NULL'), sqlite_where=sa.text('row_hash IS NULL'))
        batch_op.drop_index('ix_audit_event_seq')
        batch_op.drop_column('row_hash')
        batch_op.drop_column('prev_hash')
        batch_op.drop_column('seq')

    op.drop_table('audit_chain')
