"""orders allocated before warehouses get theirs

An order allocated before orders had a ship-from warehouse holds reservations but no
``warehouse_id``: waves, routing and merging read it. It takes the warehouse of the bins its
lines are reserved in (a database with one warehouse had no other; where reservations were
spread over several, the lowest id). Orders without reservations are left for allocation.

Revision ID: 110451f08ff6
Revises: 5e4cd7134e03
Create Date: 2026-12-07 14:34:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '110451f08ff6'
down_revision = '5e4cd7134e03'
branch_labels = None
depends_on = None

#: each order without a warehouse takes the warehouse of the bins its lines are reserved in
FILL = sa.text("""
    UPDATE customer_order SET warehouse_id = (
        SELECT MIN(location.warehouse_id)
        FROM reservation
        JOIN location ON location.id = reservation.location_id
        JOIN customer_order_line ON customer_order_line.id = reservation.ref_id
        WHERE reservation.ref_type = 'customer_order_line'
          AND customer_order_line.order_id = customer_order.id)
    WHERE warehouse_id IS NULL AND EXISTS (
        SELECT 1
        FROM reservation
        JOIN customer_order_line ON customer_order_line.id = reservation.ref_id
        WHERE reservation.ref_type = 'customer_order_line'
          AND customer_order_line.order_id = customer_order.id)
""")


def upgrade():
    op.execute(FILL)


def downgrade():
    pass  # the warehouses found stay: they are what allocation would have set
