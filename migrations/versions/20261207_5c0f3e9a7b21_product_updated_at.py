"""product updated_at, for the storefront's catalog feed

Revision ID: 5c0f3e9a7b21
Revises: a558ec27dff5
Create Date: 2026-12-07 03:40:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '5c0f3e9a7b21'
down_revision = 'a558ec27dff5'
branch_labels = None
depends_on = None


def upgrade():
    # existing products: last changed at their latest SKU change, else when created
    with op.batch_alter_table('product', schema=None) as batch_op:
        batch_op.add_column(sa.Column('updated_at', sa.DateTime(), nullable=True))
    op.execute("UPDATE product SET updated_at = COALESCE("
               "(SELECT MAX(sku.updated_at) FROM sku WHERE sku.product_id = product.id), "
               "created_at)")
    op.execute("UPDATE product SET updated_at = created_at WHERE updated_at < created_at")
    with op.batch_alter_table('product', schema=None) as batch_op:
        # left nullable: on SQLite a NOT NULL change rebuilds product, which its SKUs'
        # foreign keys forbid (every row has its time, and the model always sets one)
        batch_op.create_index(batch_op.f('ix_product_updated_at'), ['updated_at'],
                              unique=False)


def downgrade():
    with op.batch_alter_table('product', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_product_updated_at'))
        batch_op.drop_column('updated_at')
