"""initial schema: lookup tables (device profiles, entries, model measurements), agents, jobs

The schema as `create_all` made it before migrations existed; such a database is stamped
with this revision (service.db.migrations.BASELINE_TABLES) and upgraded from here.

Create Date: 2026-11-22 00:20:22.146481

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic (branch_labels, depends_on: none unless set below).
revision: str = '0001'
down_revision: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('device_profiles',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('key', sa.String(length=512), nullable=False),
    sa.Column('backend', sa.String(length=64), nullable=False),
    sa.Column('cpu_model', sa.String(length=256), nullable=False),
    sa.Column('runtime_version', sa.String(length=128), nullable=False),
    sa.Column('threads', sa.Integer(), nullable=False),
    sa.Column('delegate', sa.String(length=64), nullable=False),
    sa.Column('metric', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('key')
    )
    op.create_table('agents',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('profile_id', sa.String(length=32), nullable=False),
    sa.Column('secret_hash', sa.String(length=64), nullable=False),
    sa.Column('registered_at', sa.DateTime(), nullable=False),
    sa.Column('last_heartbeat_at', sa.DateTime(), nullable=True),
    sa.Column('jobs_done', sa.Integer(), nullable=False),
    sa.Column('jobs_failed', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['profile_id'], ['device_profiles.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('profile_id', 'name', name='uq_agent_name')
    )
    with op.batch_alter_table('agents', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_agents_profile_id'), ['profile_id'], unique=False)

    op.create_table('model_measurements',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('profile_id', sa.String(length=32), nullable=False),
    sa.Column('metric', sa.String(length=32), nullable=False),
    sa.Column('model_sha256', sa.String(length=64), nullable=False),
    sa.Column('measured', sa.Float(), nullable=False),
    sa.Column('spread', sa.Float(), nullable=False),
    sa.Column('n', sa.Integer(), nullable=False),
    sa.Column('estimated', sa.Float(), nullable=True),
    sa.Column('raw_sum', sa.Float(), nullable=True),
    sa.Column('agent_id', sa.String(length=32), nullable=True),
    sa.Column('measured_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['profile_id'], ['device_profiles.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('model_measurements', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_model_measurements_model_sha256'), ['model_sha256'], unique=False)
        batch_op.create_index(batch_op.f('ix_model_measurements_profile_id'), ['profile_id'], unique=False)

    op.create_table('table_entries',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('profile_id', sa.String(length=32), nullable=False),
    sa.Column('metric', sa.String(length=32), nullable=False),
    sa.Column('signature_digest', sa.String(length=64), nullable=False),
    sa.Column('signature_json', sa.Text(), nullable=False),
    sa.Column('median', sa.Float(), nullable=False),
    sa.Column('spread', sa.Float(), nullable=False),
    sa.Column('n', sa.Integer(), nullable=False),
    sa.Column('agent_id', sa.String(length=32), nullable=True),
    sa.Column('measured_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['profile_id'], ['device_profiles.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('profile_id', 'metric', 'signature_digest', name='uq_entry_signature')
    )
    with op.batch_alter_table('table_entries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_table_entries_profile_id'), ['profile_id'], unique=False)

    op.create_table('jobs',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('profile_id', sa.String(length=32), nullable=False),
    sa.Column('metric', sa.String(length=32), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('signature_digest', sa.String(length=64), nullable=True),
    sa.Column('signature_json', sa.Text(), nullable=True),
    sa.Column('model_sha256', sa.String(length=64), nullable=True),
    sa.Column('dtype', sa.String(length=16), nullable=False),
    sa.Column('raw_sum', sa.Float(), nullable=True),
    sa.Column('estimated', sa.Float(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('max_attempts', sa.Integer(), nullable=False),
    sa.Column('leased_by', sa.String(length=32), nullable=True),
    sa.Column('lease_expires_at', sa.DateTime(), nullable=True),
    sa.Column('lessees_json', sa.Text(), nullable=False),
    sa.Column('failure_reason', sa.Text(), nullable=True),
    sa.Column('result_median', sa.Float(), nullable=True),
    sa.Column('result_spread', sa.Float(), nullable=True),
    sa.Column('result_n', sa.Integer(), nullable=True),
    sa.Column('result_error', sa.Text(), nullable=True),
    sa.Column('result_details_json', sa.Text(), nullable=True),
    sa.Column('result_agent_id', sa.String(length=32), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('finished_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['leased_by'], ['agents.id'], ),
    sa.ForeignKeyConstraint(['profile_id'], ['device_profiles.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.create_index('ix_jobs_claim', ['profile_id', 'status', 'created_at'], unique=False)
        batch_op.create_index('ix_jobs_lease_expiry', ['status', 'lease_expires_at'], unique=False)
        batch_op.create_index('uq_open_layer_job', ['profile_id', 'metric', 'signature_digest'], unique=True, sqlite_where=sa.text("status IN ('pending', 'leased') AND kind = 'layer'"), postgresql_where=sa.text("status IN ('pending', 'leased') AND kind = 'layer'"))
        batch_op.create_index('uq_open_model_job', ['profile_id', 'metric', 'model_sha256'], unique=True, sqlite_where=sa.text("status IN ('pending', 'leased') AND kind = 'model'"), postgresql_where=sa.text("status IN ('pending', 'leased') AND kind = 'model'"))



def downgrade() -> None:
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_index('uq_open_model_job', sqlite_where=sa.text("status IN ('pending', 'leased') AND kind = 'model'"), postgresql_where=sa.text("status IN ('pending', 'leased') AND kind = 'model'"))
        batch_op.drop_index('uq_open_layer_job', sqlite_where=sa.text("status IN ('pending', 'leased') AND kind = 'layer'"), postgresql_where=sa.text("status IN ('pending', 'leased') AND kind = 'layer'"))
        batch_op.drop_index('ix_jobs_lease_expiry')
        batch_op.drop_index('ix_jobs_claim')

    op.drop_table('jobs')
    with op.batch_alter_table('table_entries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_table_entries_profile_id'))

    op.drop_table('table_entries')
    with op.batch_alter_table('model_measurements', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_model_measurements_profile_id'))
        batch_op.drop_index(batch_op.f('ix_model_measurements_model_sha256'))

    op.drop_table('model_measurements')
    with op.batch_alter_table('agents', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_agents_profile_id'))

    op.drop_table('agents')
    op.drop_table('device_profiles')
