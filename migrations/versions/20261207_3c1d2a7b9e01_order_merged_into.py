"""order merged_into

Revision ID: 3c1d2a7b9e01
Revises: e597fa3f962e
Create Date: 2026-12-07 09:10:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '3c1d2a7b9e01'
down_revision = 'e597fa3f962e'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('customer_order', schema=None) as batch_op:
        batch_op.add_column(sa.Column('merged_into_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_customer_order_merged_into_id'), ['merged_into_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_customer_order_merged_into_id_customer_order'), 'customer_order', ['merged_into_id'], ['id'])


def downgrade():
    with op.batch_alter_table('customer_order', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_customer_order_merged_into_id_customer_order'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_customer_order_merged_into_id'))
        batch_op.drop_column('merged_into_id')
