"""run tflite test accuracy

Create Date: 2026-12-05 07:30:00.000000

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic (branch_labels, depends_on: none unless set below).
revision: str = '0004'
down_revision: str | Sequence[str] | None = '0003'


def upgrade() -> None:
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('tflite_test_accuracy', sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.drop_column('tflite_test_accuracy')
