"""customs ledger guard: PostgreSQL refuses UPDATE/DELETE of declarations as issued

Revision ID: 7c3e9a1d2b40
Revises: 1c83337d6f07
Create Date: 2026-12-07 22:50:00.000000

"""
from alembic import op

from erp.customs.models import LEDGER_GUARD_FUNCTION, LEDGER_GUARD_TRIGGERS

# revision identifiers, used by Alembic.
revision = '7c3e9a1d2b40'
down_revision = '1c83337d6f07'
branch_labels = None
depends_on = None


def upgrade():
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(LEDGER_GUARD_FUNCTION)
        for statements in LEDGER_GUARD_TRIGGERS.values():
            for statement in statements:
                op.execute(statement)


def downgrade():
    if op.get_bind().dialect.name == 'postgresql':
        for table in LEDGER_GUARD_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_guard ON {table}")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
        op.execute("DROP FUNCTION IF EXISTS erp_customs_ledger_guard()")
