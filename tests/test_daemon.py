"""The daemon's wiring that can be checked without a reactor: configuration to settings.

The gateway running end to end is tests/e2e/.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.python.failure import Failure

from smppd.config import Config, ConfigError, SmppConnector, load_config, loads_config
from smppd.connectors.smpp import BindLayout, SmppConnectorSettings, TonNpi
from smppd.daemon import (
    SHUTDOWN_BOUND,
    WRITER_STOP_FLOOR,
    WRITER_STOP_TIMEOUT,
    Gateway,
    GatewayError,
    smpp_connector_settings,
)
from smppd.receipt import IdBase, IdRule
from smppd.text.policy import Dcs0, LongMessageMode

#: Connector settings the configuration has no key for: their defaults apply.
SETTINGS_WITHOUT_CONFIG = frozenset({"status_actions"})

CARRIER = """
[[connectors]]
name = "telco"
type = "smpp"
endpoint = "tcp:host=127.0.0.1:port=2775"
system_id = "esme"
password = "pw"
system_type = "VMA"
bind = "tx+rx"
window = 42
max_messages_per_second = 250.0
enquire_link_interval = 11.0
response_timeout = 7.0
bind_timeout = 9.0
reconnect_delay_min = 0.5
reconnect_delay_max = 8.0
dcs0 = "latin1"
long_messages = "sar"
max_parts = 4
transliterate = true
ucs2_fallback = false
max_binds = 3
interface_version = 0x50
receipt_ids = { msg_id_type = 1 }
source_ton_npi = { alphanumeric = { ton = 5, npi = 9 }, short_code = { ton = 6, npi = 0 } }

[routing]
short_code_max_digits = 5

[[routes]]
name = "all"
accounts = "*"
destinations = "*"
connectors = ["telco"]
"""


def carrier(text: str = CARRIER) -> tuple[SmppConnector, int]:
    cfg = loads_config(text, base_dir=Path("/nonexistent"))
    (connector,) = cfg.connectors
    assert isinstance(connector, SmppConnector)
    return connector, cfg.routing.short_code_max_digits


def test_every_connector_setting_has_a_configuration_key_of_the_same_name() -> None:
    settings = {f.name for f in dataclasses.fields(SmppConnectorSettings)}
    keys = set(SmppConnector.model_fields)
    assert settings - SETTINGS_WITHOUT_CONFIG <= keys, settings - SETTINGS_WITHOUT_CONFIG - keys


def test_configured_carrier_values_reach_the_connector_settings() -> None:
    connector, digits = carrier()
    settings = smpp_connector_settings(connector, short_code_max_digits=digits)
    assert (settings.name, settings.endpoint, settings.system_id) == (
        "telco",
        "tcp:host=127.0.0.1:port=2775",
        "esme",
    )
    assert (settings.password, settings.system_type) == ("pw", "VMA")
    assert settings.layout is BindLayout.TX_RX
    assert (settings.window, settings.max_messages_per_second) == (42, 250.0)
    assert (
        settings.enquire_link_interval,
        settings.response_timeout,
        settings.bind_timeout,
        settings.reconnect_delay_min,
        settings.reconnect_delay_max,
    ) == (11.0, 7.0, 9.0, 0.5, 8.0)
    assert settings.dcs0 is Dcs0.LATIN1
    assert settings.long_messages is LongMessageMode.SAR
    assert (settings.max_parts, settings.transliterate, settings.ucs2_fallback) == (4, True, False)
    assert (settings.max_binds, settings.interface_version) == (3, 0x50)
    assert settings.receipt_ids == IdRule(IdBase.HEX, IdBase.DEC)
    rules = settings.source_ton_npi
    assert rules.alphanumeric == TonNpi(5, 9)
    assert rules.short_code == TonNpi(6, 0)
    assert rules.international == TonNpi(1, 1)  # not configured: the default
    assert rules.short_code_max_digits == 5
    assert settings.text_policy() == connector.text_policy()


def test_a_minimal_carrier_gets_the_connector_defaults_the_configuration_states() -> None:
    minimal = CARRIER[: CARRIER.index("system_type")] + CARRIER[CARRIER.index("[routing]") :]
    connector, digits = carrier(minimal)
    settings = smpp_connector_settings(connector, short_code_max_digits=digits)
    assert settings.layout is BindLayout.TRANSCEIVER
    assert settings.max_binds == 1
    assert settings.receipt_ids == IdRule()
    assert settings.dcs0 is Dcs0.GSM7


def test_a_redis_url_is_refused_rather_than_run_as_a_single_node() -> None:
    cfg = loads_config('[redis]\nurl = "redis://127.0.0.1:6379/0"\n', base_dir=Path("/tmp"))
    with pytest.raises(GatewayError, match=r"\[redis\]"):
        Gateway(cfg, reactor=None)


@pytest.mark.parametrize(
    ("text", "table"),
    [
        ('[log]\nlevel = "info"\n', {}),
        ('[plugins]\nenabled = ["consent"]\n', {"enabled": ["consent"]}),
        ("[plugins]\n", {}),
        (
            '[plugins.consent]\nsecret = "${PLUGIN_SECRET}"\n',
            {"consent": {"secret": "from-env"}},
        ),
    ],
)
def test_the_plugins_table_reaches_the_gateway_with_references_filled(
    tmp_path: Path, text: str, table: dict[str, object]
) -> None:
    path = tmp_path / "smppd.toml"
    path.write_text(text)
    assert load_config(path, env={"PLUGIN_SECRET": "from-env"}).plugins == table


def test_a_plugins_key_that_is_not_a_table_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "smppd.toml"
    path.write_text('plugins = "consent"\n')
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    assert [p.key for p in caught.value.problems] == ["plugins"]


def test_stuck_stop_steps_are_abandoned_within_the_bound_and_later_steps_still_run(
    tmp_path: Path,
) -> None:
    clock = Clock()
    gateway = Gateway(Config.default(base_dir=tmp_path), reactor=clock)
    ran: list[str] = []

    def stuck(name: str) -> Callable[[], Deferred[None]]:
        def action() -> Deferred[None]:
            ran.append(name)
            return Deferred()  # never fires

        return action

    def quick() -> None:
        ran.append("writer")

    # Pushed in start order; stopped in reverse.
    gateway._push("writer", quick, WRITER_STOP_TIMEOUT, WRITER_STOP_FLOOR)
    gateway._push("connectors", stuck("connectors"), 25.0)
    gateway._push("server", stuck("server"), 25.0)
    stopped = gateway.stop()

    clock.advance(25.0)  # the server step's own timeout
    assert ran == ["server", "connectors"]
    clock.advance(SHUTDOWN_BOUND - 25.0)  # the bound, not the connectors' 25 s
    assert ran == ["server", "connectors", "writer"]
    assert stopped.called
    assert clock.getDelayedCalls() == []


def test_plugin_sends_reach_the_outbound_path_once_the_gateway_is_wired(tmp_path: Path) -> None:
    from plugins.api import SendResult, SendUnavailable
    from plugins.host import PluginHost, prepare_plugin
    from smppd.shared import MemorySharedState
    from smppd.smpp.constants import CommandStatus
    from smppd.store.schema import open_store
    from smppd.store.txwriter import DeferredWriter
    from tests.dispatch.harness import ThreadReactor
    from tests.plugins.fakes import run_now

    class Quiet:
        name = "loyalty"

    clock = Clock()
    gateway = Gateway(Config.default(base_dir=tmp_path), reactor=clock)
    send = gateway._sends.sender_for("loyalty")
    early: list[object] = []
    send(source="72345", destination="+46701234567", text="hi").addErrback(early.append)
    (failure,) = early
    assert isinstance(failure, Failure) and isinstance(failure.value, SendUnavailable)

    engine = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    shared = MemorySharedState(clock)
    try:
        host = PluginHost([prepare_plugin("loyalty", Quiet())], clock=clock, run_blocking=run_now)
        writer = DeferredWriter(ThreadReactor(), engine)  # type: ignore[arg-type]
        gateway._wire(engine, writer, shared, host)
        assert gateway.plugin_messages is not None
        results: list[object] = []
        # Refused before anything is stored: no writer or hook is needed to answer.
        send(source="72345", destination="not a number", text="hi").addBoth(results.append)
        (result,) = results
        assert isinstance(result, SendResult)
        assert result.refused == CommandStatus.ESME_RINVDSTADR
    finally:
        shared.close()
        engine.dispose()
