"""Accounts: the applications allowed to bind, their passwords and limits.

Passwords are hashed with argon2id (argon2-cffi's defaults, RFC 9106's
second recommended parameter set) and verified by the library in constant
time. An unknown ``system_id`` is verified against a dummy hash so that
response time does not reveal which accounts exist. Neither passwords nor
hashes ever leave this module: :class:`Account` has no field for the hash.

SMPP 3.4 (§4.1.1) limits ``password`` to 9 octets including the NUL, so a
password has at most 8 characters, and ``system_id`` at most 15.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any, Final, Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import Connection, Engine, delete, insert, select, update

from smppd.store import models as m
from smppd.store.engine import read_only
from smppd.store.errors import StoreError
from smppd.store.ops import ms

PASSWORD_MAX: Final = 8
SYSTEM_ID_MAX: Final = m.SYSTEM_ID_MAX
DEFAULT_MAX_BINDS: Final = 4
DEFAULT_MAX_MPS: Final = 0  # no limit

TrafficClass = Literal["transactional", "marketing"]

_hasher = PasswordHasher()
_DUMMY_HASH: str | None = None


class AccountError(StoreError):
    """An account operation refused (bad input, unknown or duplicate account)."""


@dataclass(frozen=True, slots=True)
class AccountSettings:
    # Source addresses the application may use; empty = any.
    allowed_sources: tuple[str, ...] = ()
    # Networks the application may bind from (CIDR); empty = any.
    ip_allow: tuple[str, ...] = ()
    max_binds: int = DEFAULT_MAX_BINDS
    max_mps: int = DEFAULT_MAX_MPS
    default_route: str | None = None
    traffic_class: TrafficClass = "transactional"

    def __post_init__(self) -> None:
        for network in self.ip_allow:
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError as exc:
                raise AccountError(f"not a CIDR network: {network!r}") from exc
        for source in self.allowed_sources:
            if not source or len(source) > m.ADDRESS_MAX:
                raise AccountError(
                    f"source address must have 1 to {m.ADDRESS_MAX} characters: {source!r}"
                )
        if self.max_binds < 0 or self.max_mps < 0:
            raise AccountError("max_binds and max_mps must not be negative")
        if self.traffic_class not in m.TRAFFIC_CLASSES:
            raise AccountError(f"traffic class must be one of {', '.join(m.TRAFFIC_CLASSES)}")
        if self.default_route is not None and len(self.default_route) > m.NAME_MAX:
            raise AccountError(f"route names have at most {m.NAME_MAX} characters")


@dataclass(frozen=True, slots=True)
class Account:
    id: int
    system_id: str
    enabled: bool
    settings: AccountSettings
    created_at: float
    updated_at: float

    def ip_allowed(self, address: str) -> bool:
        if not self.settings.ip_allow:
            return True
        ip = ipaddress.ip_address(address)
        return any(ip in ipaddress.ip_network(net, strict=False) for net in self.settings.ip_allow)

    def source_allowed(self, source_addr: str) -> bool:
        return not self.settings.allowed_sources or source_addr in self.settings.allowed_sources


def validate_system_id(system_id: str) -> None:
    if not system_id or len(system_id) > SYSTEM_ID_MAX:
        raise AccountError(f"system_id must have 1 to {SYSTEM_ID_MAX} characters")
    if not system_id.isascii() or not system_id.isprintable() or " " in system_id:
        raise AccountError("system_id must be printable ASCII without spaces")


def validate_password(password: str) -> None:
    """Refuse passwords an SMPP 3.4 bind cannot carry."""
    if not password:
        raise AccountError("the password must not be empty")
    if len(password) > PASSWORD_MAX:
        raise AccountError(
            f"SMPP 3.4 passwords have at most {PASSWORD_MAX} characters "
            f"(this one has {len(password)}); choose a shorter one"
        )
    if not password.isascii() or not password.isprintable():
        raise AccountError("the password must be printable ASCII")


def _row_to_account(row: Any) -> Account:
    return Account(
        id=row.id,
        system_id=row.system_id,
        enabled=bool(row.enabled),
        settings=AccountSettings(
            allowed_sources=tuple(row.allowed_sources),
            ip_allow=tuple(row.ip_allow),
            max_binds=row.max_binds,
            max_mps=row.max_mps,
            default_route=row.default_route,
            traffic_class=row.traffic_class,
        ),
        created_at=row.created_at / 1000,
        updated_at=row.updated_at / 1000,
    )


_PUBLIC_COLUMNS = [c for c in m.accounts.c if c.name != "password_hash"]


def add_account(
    conn: Connection,
    system_id: str,
    password: str,
    settings: AccountSettings,
    now: float,
    *,
    hasher: PasswordHasher = _hasher,
) -> Account:
    validate_system_id(system_id)
    validate_password(password)
    if get_account(conn, system_id) is not None:
        raise AccountError(f"account {system_id!r} already exists")
    at = ms(now)
    conn.execute(
        insert(m.accounts).values(
            system_id=system_id,
            password_hash=hasher.hash(password),
            enabled=True,
            allowed_sources=list(settings.allowed_sources),
            ip_allow=list(settings.ip_allow),
            max_binds=settings.max_binds,
            max_mps=settings.max_mps,
            default_route=settings.default_route,
            traffic_class=settings.traffic_class,
            created_at=at,
            updated_at=at,
        )
    )
    account = get_account(conn, system_id)
    assert account is not None
    return account


def get_account(conn: Connection, system_id: str) -> Account | None:
    row = conn.execute(
        select(*_PUBLIC_COLUMNS).where(m.accounts.c.system_id == system_id)
    ).one_or_none()
    return None if row is None else _row_to_account(row)


def list_accounts(conn: Connection) -> list[Account]:
    rows = conn.execute(select(*_PUBLIC_COLUMNS).order_by(m.accounts.c.system_id)).all()
    return [_row_to_account(r) for r in rows]


def _require(conn: Connection, system_id: str) -> Account:
    account = get_account(conn, system_id)
    if account is None:
        raise AccountError(f"no account {system_id!r}")
    return account


def set_password(
    conn: Connection,
    system_id: str,
    password: str,
    now: float,
    *,
    hasher: PasswordHasher = _hasher,
) -> None:
    validate_password(password)
    _require(conn, system_id)
    conn.execute(
        update(m.accounts)
        .where(m.accounts.c.system_id == system_id)
        .values(password_hash=hasher.hash(password), updated_at=ms(now))
    )


def set_enabled(conn: Connection, system_id: str, enabled: bool, now: float) -> None:
    _require(conn, system_id)
    conn.execute(
        update(m.accounts)
        .where(m.accounts.c.system_id == system_id)
        .values(enabled=enabled, updated_at=ms(now))
    )


def update_settings(
    conn: Connection, system_id: str, settings: AccountSettings, now: float
) -> None:
    _require(conn, system_id)
    conn.execute(
        update(m.accounts)
        .where(m.accounts.c.system_id == system_id)
        .values(
            allowed_sources=list(settings.allowed_sources),
            ip_allow=list(settings.ip_allow),
            max_binds=settings.max_binds,
            max_mps=settings.max_mps,
            default_route=settings.default_route,
            traffic_class=settings.traffic_class,
            updated_at=ms(now),
        )
    )


def remove_account(conn: Connection, system_id: str) -> None:
    """Delete an account. Its messages stay (they name it) until retention purges them."""
    _require(conn, system_id)
    conn.execute(delete(m.accounts).where(m.accounts.c.system_id == system_id))


def _dummy_hash(hasher: PasswordHasher) -> str:
    global _DUMMY_HASH  # noqa: PLW0603 - computed once, lazily: hashing is slow on purpose
    if _DUMMY_HASH is None:
        _DUMMY_HASH = hasher.hash("smppd-no-such-account")
    return _DUMMY_HASH


def authenticate(
    conn: Connection,
    system_id: str,
    password: str,
    *,
    hasher: PasswordHasher = _hasher,
) -> Account | None:
    """The enabled account whose password matches, or None (blocking: run in a thread).

    Every refusal costs one hash verification, whether the account is
    unknown, disabled or the password wrong. Only reads: see
    :func:`authenticate_for_bind` for the variant that also upgrades a hash
    made with older parameters.
    """
    account, _ = _verify(conn, system_id, password, hasher)
    return account


def authenticate_for_bind(
    engine: Engine,
    system_id: str,
    password: str,
    *,
    hasher: PasswordHasher = _hasher,
) -> Account | None:
    """:func:`authenticate` on a read-only connection (so a bind never holds
    off the store's writer), then, in the rare case the stored hash was made
    with older parameters, a short write transaction that replaces it."""
    with read_only(engine) as conn:
        account, outdated = _verify(conn, system_id, password, hasher)
    if account is not None and outdated:
        with engine.begin() as conn:
            conn.execute(
                update(m.accounts)
                .where(m.accounts.c.system_id == system_id)
                .values(password_hash=hasher.hash(password))
            )
    return account


def _verify(
    conn: Connection, system_id: str, password: str, hasher: PasswordHasher
) -> tuple[Account | None, bool]:
    row = conn.execute(
        select(m.accounts.c.system_id, m.accounts.c.password_hash, m.accounts.c.enabled).where(
            m.accounts.c.system_id == system_id
        )
    ).one_or_none()
    stored = _dummy_hash(hasher) if row is None else row.password_hash
    try:
        hasher.verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None, False
    if row is None or not row.enabled:
        return None, False
    return get_account(conn, system_id), hasher.check_needs_rehash(stored)
