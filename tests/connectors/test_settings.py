"""SmppConnectorSettings: defaults, spellings, limits, and what they turn into."""

from __future__ import annotations

from typing import Any

import pytest

from smppd.connectors.base import SmppAddress
from smppd.connectors.smpp import (
    BindLayout,
    SmppConnectorSettings,
    SourceTonNpiRules,
    TonNpi,
)
from smppd.session import DEFAULT_RECEIVE_WINDOW
from smppd.text.policy import Dcs0, LongMessageMode


def settings(**overrides: Any) -> SmppConnectorSettings:
    values: dict[str, Any] = {"name": "telco", "endpoint": "tcp:host=127.0.0.1:port=2775"}
    values.update(system_id="esme")
    values.update(overrides)
    return SmppConnectorSettings(**values)


@pytest.mark.parametrize(
    ("spelling", "layout", "binds"),
    [
        ("transceiver", BindLayout.TRANSCEIVER, 1),
        ("tx+rx", BindLayout.TX_RX, 2),
        ("transmitter+receiver", BindLayout.TX_RX, 2),
        ("TX+RX", BindLayout.TX_RX, 2),
    ],
)
def test_bind_spellings_and_the_binds_they_need(
    spelling: str, layout: BindLayout, binds: int
) -> None:
    s = settings(bind=spelling)
    assert s.layout is layout
    assert s.max_binds == binds


@pytest.mark.parametrize(
    "bad",
    [
        {"bind": "receiver"},
        {"bind": "tx+rx", "max_binds": 1},
        {"window": 0},
        {"max_messages_per_second": 0.0},
        {"max_messages_per_second": float("nan")},
        {"response_timeout": -1.0},
        {"reconnect_delay_min": 10.0, "reconnect_delay_max": 5.0},
        {"interface_version": 0x40},
        {"max_parts": 0},
        {"max_parts": 256},
        {"name": ""},
        {"long_messages": "mms"},
        {"dcs0": "utf8"},
    ],
)
def test_impossible_settings_are_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        settings(**bad)


def test_text_policy_follows_the_settings() -> None:
    s = settings(dcs0="latin1", long_messages="sar", max_parts=4, transliterate=True)
    policy = s.text_policy()
    assert (policy.dcs0, policy.long_message, policy.max_parts, policy.transliterate) == (
        Dcs0.LATIN1,
        LongMessageMode.SAR,
        4,
        True,
    )


def test_session_config_follows_the_settings() -> None:
    config = settings(window=7, response_timeout=12.0, enquire_link_interval=20.0).session_config()
    assert (config.send_window, config.response_timeout, config.enquire_link_interval) == (
        7,
        12.0,
        20.0,
    )
    assert config.inactivity_timeout is None
    assert config.receive_window == DEFAULT_RECEIVE_WINDOW


def test_burst_is_one_second_of_the_rate_and_at_least_one() -> None:
    assert settings(max_messages_per_second=50.0).burst == 50.0
    assert settings(max_messages_per_second=0.2).burst == 1.0


def test_source_rules_can_be_changed_per_carrier() -> None:
    rules = SourceTonNpiRules(
        alphanumeric=TonNpi(5, 9), international=TonNpi(0, 1), short_code_max_digits=4
    )
    assert rules.apply(SmppAddress(0, 0, "Shop")) == SmppAddress(5, 9, "Shop")
    assert rules.apply(SmppAddress(0, 0, "+4670")) == SmppAddress(0, 1, "4670")
    assert rules.apply(SmppAddress(0, 0, "12345")) == SmppAddress(0, 1, "12345")
    assert rules.apply(SmppAddress(0, 0, "1234")) == SmppAddress(3, 0, "1234")


def test_ton_npi_are_octets() -> None:
    with pytest.raises(ValueError):
        TonNpi(256, 0)


def test_settings_are_hashable_values() -> None:
    from smppd.connectors.retry import StatusAction

    s = settings(status_actions={0x401: StatusAction.RETRY})
    assert hash(s) == hash(settings(status_actions={0x401: StatusAction.RETRY}))
