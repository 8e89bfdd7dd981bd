"""Subscribers, consent evidence, marketing sends, and the loyalty programme:
subscriptions, pending questions, the consent ledger, marketing_sends,
the points ledger, loyalty members, reward codes and referrals.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 15:18:20.961469
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('consent_ledger',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('number', sa.String(length=20), nullable=False),
    sa.Column('scope', sa.String(length=64), nullable=False),
    sa.Column('programme', sa.String(length=64), nullable=False),
    sa.Column('event', sa.String(length=32), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('keyword', sa.String(length=64), nullable=True),
    sa.Column('original_text', sa.Text(), nullable=True),
    sa.Column('channel', sa.String(length=16), nullable=True),
    sa.Column('sender', sa.String(length=20), nullable=True),
    sa.Column('connector', sa.String(length=64), nullable=True),
    sa.Column('carrier_reference', sa.String(length=64), nullable=True),
    sa.Column('shown_text', sa.Text(), nullable=True),
    sa.Column('template', sa.String(length=64), nullable=True),
    sa.Column('template_version', sa.Integer(), nullable=True),
    sa.Column('language', sa.String(length=8), nullable=True),
    sa.Column('reason', sa.String(length=255), nullable=True),
    sa.Column('inbound_key', sa.String(length=128), nullable=True),
    sa.Column('at', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consent_ledger'))
    )
    with op.batch_alter_table('consent_ledger', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_consent_ledger_inbound_key_event_programme'), ['inbound_key', 'event', 'programme'], unique=True)
        batch_op.create_index(batch_op.f('ix_consent_ledger_number_at'), ['number', 'at'], unique=False)

    op.create_table('loyalty_members',
    sa.Column('number', sa.String(length=20), nullable=False),
    sa.Column('programme', sa.String(length=64), nullable=False),
    sa.Column('balance', sa.Integer(), nullable=False),
    sa.Column('lifetime', sa.Integer(), nullable=False),
    sa.Column('tier', sa.String(length=64), nullable=True),
    sa.Column('birthday', sa.String(length=5), nullable=True),
    sa.Column('joined_at', sa.BigInteger(), nullable=False),
    sa.Column('last_activity_at', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', sa.BigInteger(), nullable=False),
    sa.CheckConstraint('balance >= 0', name=op.f('ck_loyalty_members_balance')),
    sa.PrimaryKeyConstraint('number', 'programme', name=op.f('pk_loyalty_members'))
    )
    op.create_table('marketing_sends',
    sa.Column('message_id', sa.String(length=32), nullable=False),
    sa.Column('number', sa.String(length=20), nullable=False),
    sa.Column('at', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('message_id', name=op.f('pk_marketing_sends'))
    )
    with op.batch_alter_table('marketing_sends', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_marketing_sends_number_at'), ['number', 'at'], unique=False)

    op.create_table('pending_questions',
    sa.Column('number', sa.String(length=20), nullable=False),
    sa.Column('scope', sa.String(length=64), nullable=False),
    sa.Column('question', sa.String(length=64), nullable=False),
    sa.Column('programme', sa.String(length=64), nullable=False),
    sa.Column('asked_at', sa.BigInteger(), nullable=False),
    sa.Column('expires_at', sa.BigInteger(), nullable=False),
    sa.Column('language', sa.String(length=8), nullable=True),
    sa.PrimaryKeyConstraint('number', 'scope', name=op.f('pk_pending_questions'))
    )
    op.create_table('points_ledger',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('number', sa.String(length=20), nullable=False),
    sa.Column('programme', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('points', sa.Integer(), nullable=False),
    sa.Column('rule', sa.String(length=64), nullable=True),
    sa.Column('reward', sa.String(length=64), nullable=True),
    sa.Column('idempotency_key', sa.String(length=256), nullable=False),
    sa.Column('inbound_key', sa.String(length=128), nullable=True),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('reason', sa.String(length=255), nullable=True),
    sa.Column('expires_at', sa.BigInteger(), nullable=True),
    sa.Column('at', sa.BigInteger(), nullable=False),
    sa.CheckConstraint("kind IN ('earn', 'bonus', 'referral', 'spend', 'restore', 'expire', 'adjust')", name=op.f('ck_points_ledger_kind')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_points_ledger')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_points_ledger_idempotency_key'))
    )
    with op.batch_alter_table('points_ledger', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_points_ledger_number_programme_at'), ['number', 'programme', 'at'], unique=False)
        batch_op.create_index(batch_op.f('ix_points_ledger_programme_rule_at'), ['programme', 'rule', 'at'], unique=False)

    op.create_table('referrals',
    sa.Column('programme', sa.String(length=64), nullable=False),
    sa.Column('friend', sa.String(length=20), nullable=False),
    sa.Column('referrer', sa.String(length=20), nullable=False),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.Column('confirmed_at', sa.BigInteger(), nullable=True),
    sa.PrimaryKeyConstraint('programme', 'friend', name=op.f('pk_referrals'))
    )
    with op.batch_alter_table('referrals', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_referrals_programme_referrer'), ['programme', 'referrer'], unique=False)

    op.create_table('reward_codes',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('programme', sa.String(length=64), nullable=False),
    sa.Column('reward', sa.String(length=64), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('imported_at', sa.BigInteger(), nullable=False),
    sa.Column('issued_to', sa.String(length=20), nullable=True),
    sa.Column('issued_at', sa.BigInteger(), nullable=True),
    sa.Column('ledger_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('message_id', sa.String(length=32), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reward_codes'))
    )
    with op.batch_alter_table('reward_codes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reward_codes_programme_reward_code'), ['programme', 'reward', 'code'], unique=True)
        batch_op.create_index(batch_op.f('ix_reward_codes_programme_reward_issued_at'), ['programme', 'reward', 'issued_at'], unique=False)

    op.create_table('subscriptions',
    sa.Column('number', sa.String(length=20), nullable=False),
    sa.Column('scope', sa.String(length=64), nullable=False),
    sa.Column('programme', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('language', sa.String(length=8), nullable=True),
    sa.Column('ledger_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('since', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', sa.BigInteger(), nullable=False),
    sa.CheckConstraint("status IN ('opted_in', 'opted_out')", name=op.f('ck_subscriptions_status')),
    sa.PrimaryKeyConstraint('number', 'scope', 'programme', name=op.f('pk_subscriptions'))
    )
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_subscriptions_scope_programme_status'), ['scope', 'programme', 'status'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_subscriptions_scope_programme_status'))

    op.drop_table('subscriptions')
    with op.batch_alter_table('reward_codes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_reward_codes_programme_reward_issued_at'))
        batch_op.drop_index(batch_op.f('ix_reward_codes_programme_reward_code'))

    op.drop_table('reward_codes')
    with op.batch_alter_table('referrals', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_referrals_programme_referrer'))

    op.drop_table('referrals')
    with op.batch_alter_table('points_ledger', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_points_ledger_programme_rule_at'))
        batch_op.drop_index(batch_op.f('ix_points_ledger_number_programme_at'))

    op.drop_table('points_ledger')
    op.drop_table('pending_questions')
    with op.batch_alter_table('marketing_sends', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_marketing_sends_number_at'))

    op.drop_table('marketing_sends')
    op.drop_table('loyalty_members')
    with op.batch_alter_table('consent_ledger', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_consent_ledger_number_at'))
        batch_op.drop_index(batch_op.f('ix_consent_ledger_inbound_key_event_programme'))

    op.drop_table('consent_ledger')
