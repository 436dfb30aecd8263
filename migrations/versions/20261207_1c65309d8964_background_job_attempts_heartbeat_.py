"""Background jobs survive killed workers and Redis outages: attempts, heartbeat, dispatch.

Revision ID: 1c65309d8964
Revises: d04fe1cd3d51
Create Date: 2026-12-07 19:00:35.879775

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '1c65309d8964'
down_revision = 'd04fe1cd3d51'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('background_job', schema=None) as batch_op:
        batch_op.add_column(sa.Column('attempts', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('heartbeat_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('dispatched_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('queue_ref', sa.String(length=80), nullable=True))


def downgrade():
    with op.batch_alter_table('background_job', schema=None) as batch_op:
        batch_op.drop_column('queue_ref')
        batch_op.drop_column('dispatched_at')
        batch_op.drop_column('heartbeat_at')
        batch_op.drop_column('attempts')
