"""Orders carry the buyer's payment method (the margin report charges its fee).

Chained after the carrier bills' migration (CONTRACTS D: margin after bill).

Revision ID: ef8fb48faeac
Revises: 0fc566218f80
Create Date: 2026-12-07 15:14:49.420949

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'ef8fb48faeac'
down_revision = '0fc566218f80'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('customer_order', schema=None) as batch_op:
        batch_op.add_column(sa.Column('payment_method', sa.String(length=20), nullable=True))


def downgrade():
    with op.batch_alter_table('customer_order', schema=None) as batch_op:
        batch_op.drop_column('payment_method')
