"""claim index in claim order

The queue claims pending jobs in (created_at, id) order. Jobs enqueued by one lookup share
created_at, so an index ending at created_at left PostgreSQL sorting every pending job of
the profile on every claim (2 ms at 2,000 pending, 4.6 ms at 8,000:
benchmarks/agents_load.py with pg_stat_statements); ending at id, the index scan returns
them in claim order and stops after the first few.

Create Date: 2026-12-04 22:30:00.000000

"""
from collections.abc import Sequence

from alembic import op


# revision identifiers, used by Alembic (branch_labels, depends_on: none unless set below).
revision: str = '0005'
down_revision: str | Sequence[str] | None = '0004'


def upgrade() -> None:
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_index('ix_jobs_claim')
        batch_op.create_index('ix_jobs_claim', ['profile_id', 'status', 'created_at', 'id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_index('ix_jobs_claim')
        batch_op.create_index('ix_jobs_claim', ['profile_id', 'status', 'created_at'], unique=False)
