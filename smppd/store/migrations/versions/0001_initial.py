"""Initial schema: accounts, messages and their parts, transitions and receipts,
inbound messages and inbound de-duplication fingerprints.

Revision ID: 0001
Revises:
Create Date: 2026-11-23 13:23:14.525734
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('accounts',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('system_id', sa.String(length=15), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('allowed_sources', sa.JSON(), nullable=False),
    sa.Column('ip_allow', sa.JSON(), nullable=False),
    sa.Column('max_binds', sa.Integer(), nullable=False),
    sa.Column('max_mps', sa.Integer(), nullable=False),
    sa.Column('default_route', sa.String(length=64), nullable=True),
    sa.Column('traffic_class', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', sa.BigInteger(), nullable=False),
    sa.CheckConstraint("traffic_class IN ('transactional', 'marketing')", name=op.f('ck_accounts_traffic_class')),
    sa.CheckConstraint('max_binds >= 0', name=op.f('ck_accounts_max_binds')),
    sa.CheckConstraint('max_mps >= 0', name=op.f('ck_accounts_max_mps')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_accounts')),
    sa.UniqueConstraint('system_id', name=op.f('uq_accounts_system_id'))
    )
    op.create_table('inbound_fingerprints',
    sa.Column('connector', sa.String(length=64), nullable=False),
    sa.Column('fingerprint', sa.String(length=128), nullable=False),
    sa.Column('seen_at', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('connector', 'fingerprint', name=op.f('pk_inbound_fingerprints'))
    )
    with op.batch_alter_table('inbound_fingerprints', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_inbound_fingerprints_seen_at'), ['seen_at'], unique=False)

    op.create_table('inbound_messages',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('account', sa.String(length=15), nullable=False),
    sa.Column('connector', sa.String(length=64), nullable=False),
    sa.Column('carrier_message_id', sa.String(length=64), nullable=True),
    sa.Column('source_addr', sa.String(length=20), nullable=False),
    sa.Column('source_ton', sa.SmallInteger(), nullable=False),
    sa.Column('source_npi', sa.SmallInteger(), nullable=False),
    sa.Column('dest_addr', sa.String(length=20), nullable=False),
    sa.Column('dest_ton', sa.SmallInteger(), nullable=False),
    sa.Column('dest_npi', sa.SmallInteger(), nullable=False),
    sa.Column('data_coding', sa.SmallInteger(), nullable=False),
    sa.Column('esm_class', sa.SmallInteger(), nullable=False),
    sa.Column('protocol_id', sa.SmallInteger(), nullable=False),
    sa.Column('text', sa.Text(), nullable=True),
    sa.Column('payload', sa.LargeBinary(), nullable=False),
    sa.Column('received_at', sa.BigInteger(), nullable=False),
    sa.Column('expires_at', sa.BigInteger(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('forwarded_at', sa.BigInteger(), nullable=True),
    sa.Column('dropped_at', sa.BigInteger(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inbound_messages'))
    )
    with op.batch_alter_table('inbound_messages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_inbound_messages_account_forwarded_at_dropped_at'), ['account', 'forwarded_at', 'dropped_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_inbound_messages_received_at'), ['received_at'], unique=False)

    op.create_table('messages',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('account', sa.String(length=15), nullable=False),
    sa.Column('source_addr', sa.String(length=20), nullable=False),
    sa.Column('source_ton', sa.SmallInteger(), nullable=False),
    sa.Column('source_npi', sa.SmallInteger(), nullable=False),
    sa.Column('dest_addr', sa.String(length=20), nullable=False),
    sa.Column('dest_ton', sa.SmallInteger(), nullable=False),
    sa.Column('dest_npi', sa.SmallInteger(), nullable=False),
    sa.Column('data_coding', sa.SmallInteger(), nullable=False),
    sa.Column('esm_class', sa.SmallInteger(), nullable=False),
    sa.Column('protocol_id', sa.SmallInteger(), nullable=False),
    sa.Column('registered_delivery', sa.SmallInteger(), nullable=False),
    sa.Column('priority', sa.SmallInteger(), nullable=False),
    sa.Column('schedule_at', sa.BigInteger(), nullable=True),
    sa.Column('validity_at', sa.BigInteger(), nullable=True),
    sa.Column('text', sa.Text(), nullable=True),
    sa.Column('payload', sa.LargeBinary(), nullable=False),
    sa.Column('part_count', sa.SmallInteger(), nullable=False),
    sa.Column('traffic_class', sa.String(length=16), nullable=False),
    sa.Column('route', sa.String(length=64), nullable=True),
    sa.Column('connector', sa.String(length=64), nullable=True),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.BigInteger(), nullable=True),
    sa.Column('error_code', sa.Integer(), nullable=True),
    sa.Column('error_detail', sa.String(length=255), nullable=True),
    sa.Column('accepted_at', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', sa.BigInteger(), nullable=False),
    sa.Column('finished_at', sa.BigInteger(), nullable=True),
    sa.CheckConstraint("state IN ('accepted', 'scheduled', 'queued', 'submitted', 'delivered', 'undeliverable', 'expired', 'rejected', 'failed', 'cancelled')", name=op.f('ck_messages_state')),
    sa.CheckConstraint("traffic_class IN ('transactional', 'marketing')", name=op.f('ck_messages_traffic_class')),
    sa.CheckConstraint('part_count >= 1', name=op.f('ck_messages_part_count')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_messages'))
    )
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_messages_account_accepted_at'), ['account', 'accepted_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_messages_dest_addr_accepted_at'), ['dest_addr', 'accepted_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_messages_finished_at'), ['finished_at'], unique=False, sqlite_where=sa.text('finished_at IS NOT NULL'), postgresql_where=sa.text('finished_at IS NOT NULL'))
        batch_op.create_index(batch_op.f('ix_messages_state_next_attempt_at'), ['state', 'next_attempt_at'], unique=False)

    op.create_table('message_parts',
    sa.Column('message_id', sa.String(length=32), nullable=False),
    sa.Column('part_no', sa.SmallInteger(), autoincrement=False, nullable=False),
    sa.Column('payload', sa.LargeBinary(), nullable=False),
    sa.Column('connector', sa.String(length=64), nullable=True),
    sa.Column('carrier_message_id', sa.String(length=64), nullable=True),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('error_code', sa.Integer(), nullable=True),
    sa.Column('submitted_at', sa.BigInteger(), nullable=True),
    sa.Column('updated_at', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['message_id'], ['messages.id'], name=op.f('fk_message_parts_message_id_messages'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('message_id', 'part_no', name=op.f('pk_message_parts'))
    )
    with op.batch_alter_table('message_parts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_message_parts_connector_carrier_message_id'), ['connector', 'carrier_message_id'], unique=False, sqlite_where=sa.text('carrier_message_id IS NOT NULL'), postgresql_where=sa.text('carrier_message_id IS NOT NULL'))

    op.create_table('message_transitions',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('message_id', sa.String(length=32), nullable=False),
    sa.Column('from_state', sa.String(length=16), nullable=True),
    sa.Column('to_state', sa.String(length=16), nullable=False),
    sa.Column('at', sa.BigInteger(), nullable=False),
    sa.Column('error_code', sa.Integer(), nullable=True),
    sa.Column('detail', sa.String(length=255), nullable=True),
    sa.ForeignKeyConstraint(['message_id'], ['messages.id'], name=op.f('fk_message_transitions_message_id_messages'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_message_transitions'))
    )
    with op.batch_alter_table('message_transitions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_message_transitions_message_id_id'), ['message_id', 'id'], unique=False)

    op.create_table('receipts',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('message_id', sa.String(length=32), nullable=False),
    sa.Column('account', sa.String(length=15), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('error_code', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.Column('expires_at', sa.BigInteger(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('forwarded_at', sa.BigInteger(), nullable=True),
    sa.Column('dropped_at', sa.BigInteger(), nullable=True),
    sa.ForeignKeyConstraint(['message_id'], ['messages.id'], name=op.f('fk_receipts_message_id_messages'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_receipts'))
    )
    with op.batch_alter_table('receipts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_receipts_account_forwarded_at_dropped_at'), ['account', 'forwarded_at', 'dropped_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_receipts_message_id'), ['message_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('receipts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_receipts_message_id'))
        batch_op.drop_index(batch_op.f('ix_receipts_account_forwarded_at_dropped_at'))

    op.drop_table('receipts')
    with op.batch_alter_table('message_transitions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_message_transitions_message_id_id'))

    op.drop_table('message_transitions')
    with op.batch_alter_table('message_parts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_message_parts_connector_carrier_message_id'), sqlite_where=sa.text('carrier_message_id IS NOT NULL'), postgresql_where=sa.text('carrier_message_id IS NOT NULL'))

    op.drop_table('message_parts')
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_messages_state_next_attempt_at'))
        batch_op.drop_index(batch_op.f('ix_messages_finished_at'), sqlite_where=sa.text('finished_at IS NOT NULL'), postgresql_where=sa.text('finished_at IS NOT NULL'))
        batch_op.drop_index(batch_op.f('ix_messages_dest_addr_accepted_at'))
        batch_op.drop_index(batch_op.f('ix_messages_account_accepted_at'))

    op.drop_table('messages')
    with op.batch_alter_table('inbound_messages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_inbound_messages_received_at'))
        batch_op.drop_index(batch_op.f('ix_inbound_messages_account_forwarded_at_dropped_at'))

    op.drop_table('inbound_messages')
    with op.batch_alter_table('inbound_fingerprints', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_inbound_fingerprints_seen_at'))

    op.drop_table('inbound_fingerprints')
    op.drop_table('accounts')
