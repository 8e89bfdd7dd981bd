"""Accounts: SMPP 3.4 password limits, argon2id hashes that never leak,
authentication that does not reveal which accounts exist."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher
from sqlalchemy import Engine, select

from smppd.store import models as m
from smppd.store.accounts import (
    AccountError,
    AccountSettings,
    add_account,
    authenticate,
    authenticate_for_bind,
    get_account,
    list_accounts,
    remove_account,
    set_enabled,
    set_password,
    update_settings,
)
from tests.store.conftest import NOW

# Cheap parameters: the tests check behaviour, not the cost of an attack.
FAST = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


@pytest.fixture
def acme(engine: Engine) -> None:
    with engine.begin() as conn:
        add_account(
            conn,
            "acme",
            "s3cret",
            AccountSettings(ip_allow=("127.0.0.0/8", "::1/128"), allowed_sources=("ACME",)),
            NOW,
            hasher=FAST,
        )


def test_the_right_password_authenticates(engine: Engine, acme: None) -> None:
    with engine.begin() as conn:
        account = authenticate(conn, "acme", "s3cret", hasher=FAST)
    assert account is not None and account.system_id == "acme"


@pytest.mark.parametrize(
    ("system_id", "password"),
    [("acme", "wrong"), ("acme", ""), ("nobody", "s3cret"), ("ACME", "s3cret")],
)
def test_a_wrong_password_or_unknown_account_is_refused(
    engine: Engine, acme: None, system_id: str, password: str
) -> None:
    with engine.begin() as conn:
        assert authenticate(conn, system_id, password, hasher=FAST) is None


def _stored_hash(engine: Engine) -> str:
    with engine.connect() as conn:
        value = conn.execute(
            select(m.accounts.c.password_hash).where(m.accounts.c.system_id == "acme")
        ).scalar_one()
    assert isinstance(value, str)
    return value


def test_a_bind_upgrades_a_hash_made_with_older_parameters(engine: Engine, acme: None) -> None:
    stronger = PasswordHasher(time_cost=2, memory_cost=2048, parallelism=1)
    old = _stored_hash(engine)
    assert stronger.check_needs_rehash(old)
    account = authenticate_for_bind(engine, "acme", "s3cret", hasher=stronger)
    assert account is not None and account.system_id == "acme"
    new = _stored_hash(engine)
    assert new != old and not stronger.check_needs_rehash(new)
    stronger.verify(new, "s3cret")


def test_a_refused_bind_never_rewrites_the_hash(engine: Engine, acme: None) -> None:
    stronger = PasswordHasher(time_cost=2, memory_cost=2048, parallelism=1)
    old = _stored_hash(engine)
    assert authenticate_for_bind(engine, "acme", "wrong", hasher=stronger) is None
    assert _stored_hash(engine) == old


def test_a_disabled_account_cannot_bind_until_enabled(engine: Engine, acme: None) -> None:
    with engine.begin() as conn:
        set_enabled(conn, "acme", False, NOW)
        assert authenticate(conn, "acme", "s3cret", hasher=FAST) is None
        set_enabled(conn, "acme", True, NOW)
        assert authenticate(conn, "acme", "s3cret", hasher=FAST) is not None


def test_the_password_is_stored_as_an_argon2id_hash(engine: Engine, acme: None) -> None:
    with engine.connect() as conn:
        stored = conn.execute(select(m.accounts.c.password_hash)).scalar_one()
    assert stored.startswith("$argon2id$")
    assert "s3cret" not in stored


def test_an_account_value_carries_no_password_or_hash(engine: Engine, acme: None) -> None:
    with engine.connect() as conn:
        account = get_account(conn, "acme")
    assert account is not None
    assert "argon2" not in repr(account) and "s3cret" not in repr(account)


@pytest.mark.parametrize(
    "password",
    ["123456789", "a-much-longer-password", "", "pässwd", "tab\there"],
    ids=["nine", "long", "empty", "non-ascii", "control"],
)
def test_passwords_an_smpp_34_bind_cannot_carry_are_refused(engine: Engine, password: str) -> None:
    with engine.begin() as conn, pytest.raises(AccountError):
        add_account(conn, "acme", password, AccountSettings(), NOW, hasher=FAST)


def test_an_eight_character_password_is_the_longest_accepted(engine: Engine) -> None:
    with engine.begin() as conn:
        add_account(conn, "acme", "12345678", AccountSettings(), NOW, hasher=FAST)
        assert authenticate(conn, "acme", "12345678", hasher=FAST) is not None


def test_changing_the_password_retires_the_old_one(engine: Engine, acme: None) -> None:
    with engine.begin() as conn:
        set_password(conn, "acme", "n3w", NOW, hasher=FAST)
        assert authenticate(conn, "acme", "s3cret", hasher=FAST) is None
        assert authenticate(conn, "acme", "n3w", hasher=FAST) is not None


@pytest.mark.parametrize(
    "system_id", ["", "a" * 16, "with space", "ünï"], ids=["empty", "16", "space", "non-ascii"]
)
def test_system_ids_smpp_cannot_carry_are_refused(engine: Engine, system_id: str) -> None:
    with engine.begin() as conn, pytest.raises(AccountError):
        add_account(conn, system_id, "pw", AccountSettings(), NOW, hasher=FAST)


def test_an_account_cannot_be_added_twice(engine: Engine, acme: None) -> None:
    with engine.begin() as conn, pytest.raises(AccountError, match="already exists"):
        add_account(conn, "acme", "pw", AccountSettings(), NOW, hasher=FAST)


@pytest.mark.parametrize(
    ("address", "allowed"),
    [("127.0.0.1", True), ("127.9.9.9", True), ("::1", True), ("10.0.0.1", False)],
)
def test_binds_are_allowed_only_from_the_account_networks(
    engine: Engine, acme: None, address: str, allowed: bool
) -> None:
    with engine.connect() as conn:
        account = get_account(conn, "acme")
    assert account is not None
    assert account.ip_allowed(address) is allowed


def test_sources_are_limited_to_the_allowed_list(engine: Engine, acme: None) -> None:
    with engine.connect() as conn:
        account = get_account(conn, "acme")
    assert account is not None
    assert account.source_allowed("ACME")
    assert not account.source_allowed("BANK")


def test_settings_round_trip_and_can_be_changed(engine: Engine, acme: None) -> None:
    new = AccountSettings(
        allowed_sources=("A", "B"),
        ip_allow=("192.0.2.0/24",),
        max_binds=2,
        max_mps=50,
        default_route="eu",
        traffic_class="marketing",
    )
    with engine.begin() as conn:
        update_settings(conn, "acme", new, NOW + 1)
        account = get_account(conn, "acme")
    assert account is not None
    assert account.settings == new
    assert account.updated_at == NOW + 1


@pytest.mark.parametrize(
    "bad",
    [
        {"ip_allow": ("not-a-network",)},
        {"max_binds": -1},
        {"traffic_class": "spam"},
        {"allowed_sources": ("x" * 21,)},
    ],
)
def test_impossible_settings_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(AccountError):
        AccountSettings(**bad)  # type: ignore[arg-type]


def test_removed_accounts_are_gone(engine: Engine, acme: None) -> None:
    with engine.begin() as conn:
        remove_account(conn, "acme")
        assert list_accounts(conn) == []
        with pytest.raises(AccountError):
            remove_account(conn, "acme")
