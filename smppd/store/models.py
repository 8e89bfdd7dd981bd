"""The store's schema (SQLAlchemy Core tables).

Times are integers: milliseconds since the Unix epoch, UTC. They compare and
index the same way on SQLite and PostgreSQL, carry no time-zone ambiguity,
and come straight from the injected clock (``clock.seconds()``).

Messages name their account by ``system_id`` rather than by a foreign key so
that the history of an application's traffic outlives the account until
retention purges it. Parts, transitions and receipts belong to their message
(``ON DELETE CASCADE``; the purge also deletes them explicitly so it does not
depend on SQLite's foreign-key pragma).

Every change here needs an Alembic revision in ``migrations/versions``;
``tests/store/test_migrations.py`` fails when the two differ.
"""

from __future__ import annotations

from typing import Final

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
)

from smppd.store.ids import MESSAGE_ID_LENGTH
from smppd.store.lifecycle import State

# SMPP 3.4 §5.2: system_id is a C-Octet String of at most 16 octets with the NUL.
SYSTEM_ID_MAX: Final = 15
# source_addr / destination_addr: at most 21 octets with the NUL.
ADDRESS_MAX: Final = 20
# message_id in submit_sm_resp / deliver_sm receipts: at most 65 octets with the NUL.
CARRIER_MESSAGE_ID_MAX: Final = 64
NAME_MAX: Final = 64
DETAIL_MAX: Final = 255
PASSWORD_HASH_MAX: Final = 255
FINGERPRINT_MAX: Final = 128

TRAFFIC_CLASSES: Final = ("transactional", "marketing")

NAMING_CONVENTION: Final = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

# SQLite only gives AUTOINCREMENT-style rowids to INTEGER PRIMARY KEY.
_BigId = BigInteger().with_variant(Integer(), "sqlite")
_Time = BigInteger  # ms since the epoch, UTC

_STATES = ", ".join(f"'{s.value}'" for s in State)
_CLASSES = ", ".join(f"'{c}'" for c in TRAFFIC_CLASSES)

accounts = Table(
    "accounts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("system_id", String(SYSTEM_ID_MAX), nullable=False, unique=True),
    Column("password_hash", String(PASSWORD_HASH_MAX), nullable=False),
    Column("enabled", Boolean(create_constraint=False), nullable=False),
    # Source addresses the application may send from; empty list = any.
    Column("allowed_sources", JSON, nullable=False),
    # CIDR networks the application may bind from; empty list = any.
    Column("ip_allow", JSON, nullable=False),
    Column("max_binds", Integer, nullable=False),
    # Messages per second across all binds; 0 = no limit.
    Column("max_mps", Integer, nullable=False),
    Column("default_route", String(NAME_MAX), nullable=True),
    Column("traffic_class", String(16), nullable=False),
    Column("created_at", _Time, nullable=False),
    Column("updated_at", _Time, nullable=False),
    CheckConstraint(f"traffic_class IN ({_CLASSES})", name="traffic_class"),
    CheckConstraint("max_binds >= 0", name="max_binds"),
    CheckConstraint("max_mps >= 0", name="max_mps"),
)

messages = Table(
    "messages",
    metadata,
    Column("id", String(MESSAGE_ID_LENGTH), primary_key=True),
    Column("account", String(SYSTEM_ID_MAX), nullable=False),
    Column("source_addr", String(ADDRESS_MAX), nullable=False),
    Column("source_ton", SmallInteger, nullable=False),
    Column("source_npi", SmallInteger, nullable=False),
    Column("dest_addr", String(ADDRESS_MAX), nullable=False),
    Column("dest_ton", SmallInteger, nullable=False),
    Column("dest_npi", SmallInteger, nullable=False),
    Column("data_coding", SmallInteger, nullable=False),
    Column("esm_class", SmallInteger, nullable=False),
    Column("protocol_id", SmallInteger, nullable=False),
    Column("registered_delivery", SmallInteger, nullable=False),
    Column("priority", SmallInteger, nullable=False),
    Column("schedule_at", _Time, nullable=True),
    Column("validity_at", _Time, nullable=True),
    # Decoded text for people (admin views); the payload is what goes out.
    Column("text", Text, nullable=True),
    Column("payload", LargeBinary, nullable=False),
    Column("part_count", SmallInteger, nullable=False),
    Column("traffic_class", String(16), nullable=False),
    Column("route", String(NAME_MAX), nullable=True),
    Column("connector", String(NAME_MAX), nullable=True),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", _Time, nullable=True),
    Column("error_code", Integer, nullable=True),
    Column("error_detail", String(DETAIL_MAX), nullable=True),
    Column("accepted_at", _Time, nullable=False),
    Column("updated_at", _Time, nullable=False),
    Column("finished_at", _Time, nullable=True),
    CheckConstraint(f"state IN ({_STATES})", name="state"),
    CheckConstraint(f"traffic_class IN ({_CLASSES})", name="traffic_class"),
    CheckConstraint("part_count >= 1", name="part_count"),
    # The dispatcher's "what is due" scan and recovery's scan.
    Index(None, "state", "next_attempt_at"),
    Index(None, "dest_addr", "accepted_at"),
    Index(None, "account", "accepted_at"),
)
# Partial indexes: a new row (not finished, no carrier id yet) adds no entry,
# which keeps the acceptance hot path to as few B-tree inserts as possible.
# Retention finds finished messages by age.
Index(
    None,
    messages.c.finished_at,
    sqlite_where=messages.c.finished_at.is_not(None),
    postgresql_where=messages.c.finished_at.is_not(None),
)

message_parts = Table(
    "message_parts",
    metadata,
    Column(
        "message_id",
        String(MESSAGE_ID_LENGTH),
        ForeignKey("messages.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("part_no", SmallInteger, primary_key=True, autoincrement=False),
    Column("payload", LargeBinary, nullable=False),
    Column("connector", String(NAME_MAX), nullable=True),
    Column("carrier_message_id", String(CARRIER_MESSAGE_ID_MAX), nullable=True),
    Column("state", String(16), nullable=False),
    Column("error_code", Integer, nullable=True),
    Column("submitted_at", _Time, nullable=True),
    Column("updated_at", _Time, nullable=False),
)
# Receipts from a carrier are matched by (connector, carrier id).
Index(
    None,
    message_parts.c.connector,
    message_parts.c.carrier_message_id,
    sqlite_where=message_parts.c.carrier_message_id.is_not(None),
    postgresql_where=message_parts.c.carrier_message_id.is_not(None),
)

message_transitions = Table(
    "message_transitions",
    metadata,
    Column("id", _BigId, primary_key=True, autoincrement=True),
    Column(
        "message_id",
        String(MESSAGE_ID_LENGTH),
        ForeignKey("messages.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("from_state", String(16), nullable=True),
    Column("to_state", String(16), nullable=False),
    Column("at", _Time, nullable=False),
    Column("error_code", Integer, nullable=True),
    Column("detail", String(DETAIL_MAX), nullable=True),
    Index(None, "message_id", "id"),
)

# Delivery receipts we owe an application, kept until it binds and takes them.
receipts = Table(
    "receipts",
    metadata,
    Column("id", _BigId, primary_key=True, autoincrement=True),
    Column(
        "message_id",
        String(MESSAGE_ID_LENGTH),
        ForeignKey("messages.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("account", String(SYSTEM_ID_MAX), nullable=False),
    Column("state", String(16), nullable=False),
    Column("error_code", Integer, nullable=True),
    Column("created_at", _Time, nullable=False),
    Column("expires_at", _Time, nullable=True),
    Column("attempts", Integer, nullable=False),
    Column("forwarded_at", _Time, nullable=True),
    Column("dropped_at", _Time, nullable=True),
    Index(None, "account", "forwarded_at", "dropped_at"),
    Index(None, "message_id"),
)

# Inbound messages (MO) waiting for the application they are routed to.
inbound_messages = Table(
    "inbound_messages",
    metadata,
    Column("id", _BigId, primary_key=True, autoincrement=True),
    Column("account", String(SYSTEM_ID_MAX), nullable=False),
    Column("connector", String(NAME_MAX), nullable=False),
    Column("carrier_message_id", String(CARRIER_MESSAGE_ID_MAX), nullable=True),
    Column("source_addr", String(ADDRESS_MAX), nullable=False),
    Column("source_ton", SmallInteger, nullable=False),
    Column("source_npi", SmallInteger, nullable=False),
    Column("dest_addr", String(ADDRESS_MAX), nullable=False),
    Column("dest_ton", SmallInteger, nullable=False),
    Column("dest_npi", SmallInteger, nullable=False),
    Column("data_coding", SmallInteger, nullable=False),
    Column("esm_class", SmallInteger, nullable=False),
    Column("protocol_id", SmallInteger, nullable=False),
    Column("text", Text, nullable=True),
    Column("payload", LargeBinary, nullable=False),
    Column("received_at", _Time, nullable=False),
    Column("expires_at", _Time, nullable=True),
    Column("attempts", Integer, nullable=False),
    Column("forwarded_at", _Time, nullable=True),
    Column("dropped_at", _Time, nullable=True),
    Index(None, "account", "forwarded_at", "dropped_at"),
    Index(None, "received_at"),
)

# What a carrier already gave us (receipt or MO), so a PDU re-sent after a
# timeout is acknowledged again but never processed twice.
inbound_fingerprints = Table(
    "inbound_fingerprints",
    metadata,
    Column("connector", String(NAME_MAX), primary_key=True),
    Column("fingerprint", String(FINGERPRINT_MAX), primary_key=True),
    Column("seen_at", _Time, nullable=False),
    Index(None, "seen_at"),
)

# -- Subscribers and consent (the consent plugin) ---------------------------------------
#
# ``scope`` is where a consent applies: the brand of the rule set that covers
# the number written to, or that number itself when no rule set covers it.
# ``programme`` is "" for the scope as a whole (plain STOP, START) and a
# programme's name otherwise (JOIN COFFEE, STOP COFFEE).

CONSENT_STATUSES: Final = ("opted_in", "opted_out")
_CONSENT_STATUSES = ", ".join(f"'{s}'" for s in CONSENT_STATUSES)

# Where a number stands now, per scope and programme: what enforcement reads.
subscriptions = Table(
    "subscriptions",
    metadata,
    Column("number", String(ADDRESS_MAX), primary_key=True),
    Column("scope", String(NAME_MAX), primary_key=True),
    Column("programme", String(NAME_MAX), primary_key=True),
    Column("status", String(16), nullable=False),
    Column("language", String(8), nullable=True),
    # The ledger entry that set this status.
    Column("ledger_id", _BigId, nullable=True),
    Column("since", _Time, nullable=False),
    Column("updated_at", _Time, nullable=False),
    CheckConstraint(f"status IN ({_CONSENT_STATUSES})", name="status"),
    Index(None, "scope", "programme", "status"),
)

# A question the number has been asked and may answer (double opt-in's "reply YES").
pending_questions = Table(
    "pending_questions",
    metadata,
    Column("number", String(ADDRESS_MAX), primary_key=True),
    Column("scope", String(NAME_MAX), primary_key=True),
    Column("question", String(NAME_MAX), nullable=False),
    Column("programme", String(NAME_MAX), nullable=False),
    Column("asked_at", _Time, nullable=False),
    Column("expires_at", _Time, nullable=False),
    # The language the question was asked in: the answer is replied to in it.
    Column("language", String(8), nullable=True),
)

# Consent as evidence: append-only, one row per event, never updated.
consent_ledger = Table(
    "consent_ledger",
    metadata,
    Column("id", _BigId, primary_key=True, autoincrement=True),
    Column("number", String(ADDRESS_MAX), nullable=False),
    Column("scope", String(NAME_MAX), nullable=False),
    Column("programme", String(NAME_MAX), nullable=False),
    # opt_in, opt_out, confirm_asked, declined, help, review, ...
    Column("event", String(32), nullable=False),
    # subscriber (by SMS) or admin:<who> (the CLI).
    Column("actor", String(NAME_MAX), nullable=False),
    Column("keyword", String(NAME_MAX), nullable=True),
    Column("original_text", Text, nullable=True),
    Column("channel", String(16), nullable=True),
    # The short code or number written to, and the connector or modem.
    Column("sender", String(ADDRESS_MAX), nullable=True),
    Column("connector", String(NAME_MAX), nullable=True),
    Column("carrier_reference", String(CARRIER_MESSAGE_ID_MAX), nullable=True),
    # The exact text shown in reply, and its template and version.
    Column("shown_text", Text, nullable=True),
    Column("template", String(NAME_MAX), nullable=True),
    Column("template_version", Integer, nullable=True),
    Column("language", String(8), nullable=True),
    Column("reason", String(DETAIL_MAX), nullable=True),
    # The inbound message's idempotency key: the same message recorded once.
    Column("inbound_key", String(FINGERPRINT_MAX), nullable=True),
    Column("at", _Time, nullable=False),
    Index(None, "number", "at"),
    Index(None, "inbound_key", "event", "programme", unique=True),
)

# Marketing messages let through to a number, at the time they go out: what
# frequency caps count.
marketing_sends = Table(
    "marketing_sends",
    metadata,
    Column("message_id", String(MESSAGE_ID_LENGTH), primary_key=True),
    Column("number", String(ADDRESS_MAX), nullable=False),
    Column("at", _Time, nullable=False),
    Index(None, "number", "at"),
)

# -- The loyalty programme (the loyalty plugin) ------------------------------------------

LEDGER_KINDS: Final = ("earn", "bonus", "referral", "spend", "restore", "expire", "adjust")
_LEDGER_KINDS = ", ".join(f"'{k}'" for k in LEDGER_KINDS)

# Append-only points ledger; ``idempotency_key`` makes every award happen once
# (an atomic insert, never check-then-write).
points_ledger = Table(
    "points_ledger",
    metadata,
    Column("id", _BigId, primary_key=True, autoincrement=True),
    Column("number", String(ADDRESS_MAX), nullable=False),
    Column("programme", String(NAME_MAX), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("points", Integer, nullable=False),
    Column("rule", String(NAME_MAX), nullable=True),
    Column("reward", String(NAME_MAX), nullable=True),
    Column("idempotency_key", String(2 * FINGERPRINT_MAX), nullable=False, unique=True),
    Column("inbound_key", String(FINGERPRINT_MAX), nullable=True),
    Column("actor", String(NAME_MAX), nullable=False),
    Column("reason", String(DETAIL_MAX), nullable=True),
    # Earned points expire at this moment (None: never).
    Column("expires_at", _Time, nullable=True),
    Column("at", _Time, nullable=False),
    CheckConstraint(f"kind IN ({_LEDGER_KINDS})", name="kind"),
    Index(None, "number", "programme", "at"),
    Index(None, "programme", "rule", "at"),
)

# A member's running totals, updated in the transaction that appends to the ledger.
loyalty_members = Table(
    "loyalty_members",
    metadata,
    Column("number", String(ADDRESS_MAX), primary_key=True),
    Column("programme", String(NAME_MAX), primary_key=True),
    Column("balance", Integer, nullable=False),
    # Points ever earned: what tiers are measured on.
    Column("lifetime", Integer, nullable=False),
    Column("tier", String(NAME_MAX), nullable=True),
    Column("birthday", String(5), nullable=True),  # MM-DD
    Column("joined_at", _Time, nullable=False),
    Column("last_activity_at", _Time, nullable=False),
    Column("updated_at", _Time, nullable=False),
    CheckConstraint("balance >= 0", name="balance"),
)

# Unique reward codes imported per reward; each handed out once.
reward_codes = Table(
    "reward_codes",
    metadata,
    Column("id", _BigId, primary_key=True, autoincrement=True),
    Column("programme", String(NAME_MAX), nullable=False),
    Column("reward", String(NAME_MAX), nullable=False),
    Column("code", String(NAME_MAX), nullable=False),
    Column("imported_at", _Time, nullable=False),
    Column("issued_to", String(ADDRESS_MAX), nullable=True),
    Column("issued_at", _Time, nullable=True),
    Column("ledger_id", _BigId, nullable=True),
    # The message that carried the code to the member.
    Column("message_id", String(MESSAGE_ID_LENGTH), nullable=True),
    Index(None, "programme", "reward", "code", unique=True),
    Index(None, "programme", "reward", "issued_at"),
)

# REFER <number>: one referral per friend and programme, awarded once the
# friend confirms the opt-in.
referrals = Table(
    "referrals",
    metadata,
    Column("programme", String(NAME_MAX), primary_key=True),
    Column("friend", String(ADDRESS_MAX), primary_key=True),
    Column("referrer", String(ADDRESS_MAX), nullable=False),
    Column("created_at", _Time, nullable=False),
    Column("confirmed_at", _Time, nullable=True),
    Index(None, "programme", "referrer"),
)
