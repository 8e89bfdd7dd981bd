"""The +CMS / +CME ERROR tables and the action the driver takes for each code."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modem.errors import (
    CME_ERRORS,
    CMS_ERRORS,
    Action,
    cme_action,
    cme_code_from_text,
    cme_policy,
    cms_action,
    cms_code_from_text,
    cms_policy,
)

# PROTOCOL.md §4.6, row by row.
CMS_ACTIONS = [
    (1, Action.FAIL_MESSAGE),
    (8, Action.FAIL_MESSAGE),
    (10, Action.FAIL_MESSAGE),
    (21, Action.FAIL_MESSAGE),
    (27, Action.FAIL_MESSAGE),
    (28, Action.FAIL_MESSAGE),
    (29, Action.FAIL_MESSAGE),
    (30, Action.FAIL_MESSAGE),
    (38, Action.RETRY),
    (41, Action.RETRY),
    (42, Action.RETRY),
    (47, Action.RETRY),
    (50, Action.FAIL_MESSAGE),
    (69, Action.FAIL_MESSAGE),
    (81, Action.FAIL_MESSAGE),
    (95, Action.FAIL_MESSAGE),
    (96, Action.FAIL_MESSAGE),
    (97, Action.FAIL_MESSAGE),
    (98, Action.FAIL_MESSAGE),
    (99, Action.FAIL_MESSAGE),
    (111, Action.FAIL_MESSAGE),
    (127, Action.FAIL_MESSAGE),
    (0xC0, Action.RETRY),
    (0xC2, Action.RETRY),
    (0xC3, Action.FAIL_MESSAGE),
    (0xC4, Action.FAIL_MESSAGE),
    (0xC5, Action.FAIL_MESSAGE),
    (0xC6, Action.FAIL_MESSAGE),
    (0xC7, Action.FAIL_MESSAGE),
    (0xD0, Action.DELETE_STORED),
    (0xD3, Action.DELETE_STORED),
    (0xD4, Action.RETRY),
    (300, Action.RETRY),
    (304, Action.FAIL_MESSAGE),
    (305, Action.FAIL_MESSAGE),
    (310, Action.OFFLINE),
    (311, Action.OFFLINE),
    (312, Action.OFFLINE),
    (313, Action.OFFLINE),
    (314, Action.RETRY),
    (315, Action.OFFLINE),
    (316, Action.OFFLINE),
    (317, Action.OFFLINE),
    (318, Action.OFFLINE),
    (321, Action.IGNORE),
    (322, Action.DELETE_STORED),
    (330, Action.OFFLINE),
    (331, Action.RETRY),
    (332, Action.RETRY),
    (340, Action.IGNORE),
    (500, Action.RETRY),
]


@pytest.mark.parametrize(("code", "action"), CMS_ACTIONS)
def test_cms_action_follows_the_policy_table(code: int, action: Action) -> None:
    assert cms_action(code) is action


def test_me_failure_is_retried_once_then_the_modem_is_reinitialised() -> None:
    policy = cms_policy(300)
    assert (policy.max_retries, policy.exhausted) == (1, Action.REINITIALISE)


def test_sim_busy_is_retried_after_a_pause_then_the_modem_goes_offline() -> None:
    policy = cms_policy(314)
    assert policy.retry_after >= 1.0
    assert policy.max_retries is not None and policy.exhausted is Action.OFFLINE


def test_unknown_error_is_retried_a_limited_number_of_times() -> None:
    assert cms_policy(500).max_retries is not None


@pytest.mark.parametrize("code", [8, 10, 21, 50, 69, 304, 330])
def test_credit_plan_configuration_and_encoder_errors_raise_an_alarm(code: int) -> None:
    assert cms_policy(code).alarm


@pytest.mark.parametrize(
    ("code", "action"),
    [
        (2, Action.RETRY),  # unassigned in 24.011
        (3, Action.RETRY),  # unlisted RP-cause
        (0xE0, Action.FAIL_MESSAGE),  # application-specific TP-FCS
        (400, Action.RETRY),  # reserved
        (517, Action.RETRY),  # manufacturer-specific
    ],
)
def test_codes_outside_the_table_get_a_cautious_default(code: int, action: Action) -> None:
    policy = cms_policy(code)
    assert policy.action is action
    if action is Action.RETRY:
        assert policy.max_retries is not None


@pytest.mark.parametrize(
    ("code", "action"),
    [
        (10, Action.OFFLINE),
        (11, Action.OFFLINE),
        (14, Action.RETRY),
        (16, Action.OFFLINE),
        (20, Action.DELETE_STORED),
        (21, Action.IGNORE),
        (30, Action.RETRY),
        (100, Action.RETRY),
        (3, Action.FAIL_MESSAGE),
        (9999, Action.RETRY),
    ],
)
def test_cme_action(code: int, action: Action) -> None:
    assert cme_action(code) is action


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("Congestion", 42),
        ("congestion", 42),
        ("Temporary failure", 41),
        ("Network out of order", 38),
        ("SIM busy", 314),
        ("(U)SIM busy", 314),
        ("USIM busy", 314),
        ("SIM not inserted", 310),
        ("SIM PIN required", 311),
        ("memory full", 322),
        ("Memory Capacity Exceeded", 0xD3),
        ("SMSC address unknown", 330),
        ("no network service", 331),
        ("network timeout", 332),
        ("invalid PDU mode parameter", 304),
        ("operation not allowed", 302),
        ("Unknown error", 500),
        ("Unassigned (unallocated) number", 1),
        ("SC busy", 0xC0),
        ("no such thing", None),
    ],
)
def test_verbose_cms_texts_map_to_codes(text: str, code: int | None) -> None:
    assert cms_code_from_text(text) == code


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("SIM not inserted", 10),
        ("SIM PIN required", 11),
        ("SIM busy", 14),
        ("incorrect password", 16),
        ("phone failure", 0),
        ("operation not allowed", 3),
        ("Network not allowed - emergency calls only", 32),
        ("unknown", 100),
        ("flux capacitor", None),
    ],
)
def test_verbose_cme_texts_map_to_codes(text: str, code: int | None) -> None:
    assert cme_code_from_text(text) == code


def test_every_table_meaning_maps_back_to_a_code_with_the_same_action() -> None:
    for table, lookup, policy_of in (
        (CMS_ERRORS, cms_code_from_text, cms_policy),
        (CME_ERRORS, cme_code_from_text, cme_policy),
    ):
        for code, policy in table.items():
            found = lookup(policy.meaning)
            assert found is not None, policy.meaning
            assert policy_of(found).action is policy.action or found == code


@given(code=st.integers(-10, 100_000))
def test_every_code_has_a_policy(code: int) -> None:
    assert cms_policy(code).code == code
    assert cme_policy(code).code == code
