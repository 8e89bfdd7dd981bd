"""Settings from the config, session timers, the plugin host as outbound check, part groups."""

from __future__ import annotations

import struct

from sqlalchemy import Engine
from twisted.internet.task import Clock

from plugins.api import Accept, OutboundMessage, Refuse, Verdict
from plugins.host import PluginHost, prepare_plugin
from smppd.config._models import ServerConfig
from smppd.pipeline import Accepted
from smppd.server.groups import PartGroups
from smppd.server.service import ServerSettings, plugin_outbound_check
from smppd.server.submit import GroupKey
from smppd.smpp import CommandStatus
from smppd.smpp.pdu import BindTransceiver, EnquireLink, EnquireLinkResp, Unbind
from tests.server.harness import Harness, run_inline
from tests.server.test_submit import bound, submit

S = CommandStatus


def test_settings_come_from_the_config_section() -> None:
    config = ServerConfig(window=25, failed_bind_delay=2.0, failed_bind_delay_max=60.0)
    settings = ServerSettings.from_config(config, node="node-7")
    assert settings.listen == ("tcp:2775:interface=127.0.0.1",)
    assert (settings.window, settings.failed_bind_delay, settings.node) == (25, 2.0, "node-7")
    session = settings.session_config()
    assert session.send_window == 25
    assert session.max_pdu_length == config.max_pdu_length


def test_a_connection_that_never_binds_is_closed_after_the_session_init_timeout(
    harness: Harness,
) -> None:
    app = harness.connect()
    harness.clock.advance(harness.settings.session_init_timeout)
    assert app.closed
    app.lose()


def test_an_idle_bind_is_probed_with_enquire_link_then_unbound_for_inactivity(
    engine: Engine,
) -> None:
    harness = Harness(
        engine, settings=ServerSettings(enquire_link_interval=30.0, inactivity_timeout=90.0)
    )
    harness.add_account()
    try:
        app = bound(harness)
        harness.clock.advance(30.0)
        (probe,) = app.read()
        assert isinstance(probe, EnquireLink)
        app.send(EnquireLinkResp(sequence_number=probe.sequence_number))
        harness.clock.advance(60.0)
        pdus = app.read()
        assert any(isinstance(p, Unbind) for p in pdus)
    finally:
        harness.close()


def test_a_receiver_bind_may_not_submit(harness: Harness) -> None:
    app = harness.connect()
    app.bind("rx")
    assert app.request(submit(), settle=False).command_status == S.ESME_RINVBNDSTS


def test_a_connection_lost_during_the_bind_back_off_leaves_no_timer(harness: Harness) -> None:
    app = harness.connect()
    app.send(BindTransceiver(sequence_number=1, system_id="shop", password="wrong"))
    app.lose()
    # Harness.close() asserts that no delayed call is left behind.


class _Shouty:
    name = "shouty"

    def outbound(self, msg: OutboundMessage) -> Verdict:
        if msg.text is not None and msg.text.isupper():
            return Refuse(S.ESME_RX_R_APPN, "all capitals")
        return Accept()


def test_the_plugin_host_decides_through_plugin_outbound_check(engine: Engine) -> None:
    clock = Clock()
    host = PluginHost([prepare_plugin("shouty", _Shouty())], clock=clock, run_blocking=run_inline)
    host.start()
    harness = Harness(engine, outbound_check=plugin_outbound_check(host))
    harness.add_account()
    try:
        app = bound(harness)
        shout = submit(1, short_message=b"BUY NOW")
        assert app.request(shout, settle=False).command_status == S.ESME_RX_R_APPN
        assert app.request(submit(2, short_message=b"Buy now")).command_status == 0
    finally:
        harness.close()
        host.stop()


def _accepted(n: int) -> Accepted:
    return Accepted(f"id{n}", "shop", "uk", None, None)


def test_part_groups_hand_over_the_oldest_group_when_full() -> None:
    clock = Clock()
    handed: list[list[str]] = []
    groups = PartGroups(
        clock, lambda batch: handed.append([a.message_id for a in batch]), max_open=2
    )
    keys = [GroupKey("shop", "44770090012", ref, 2, "udh8") for ref in range(3)]
    groups.add(keys[0], 1, _accepted(0))
    groups.add(keys[1], 2, _accepted(1))
    assert handed == []
    groups.add(keys[2], 1, _accepted(2))
    assert handed == [["id0"]]
    groups.add(keys[1], 1, _accepted(3))
    assert handed == [["id0"], ["id3", "id1"]]
    groups.flush_all()
    assert handed[-1] == ["id2"]
    assert clock.getDelayedCalls() == []


def test_an_unknown_command_is_nacked_and_the_session_lives_on(harness: Harness) -> None:
    app = bound(harness)
    app.send_raw(struct.pack(">IIII", 16, 0x00000077, 0, 41))
    (nack,) = app.read()
    assert (nack.command_id, nack.command_status, nack.sequence_number) == (
        0x80000000,
        S.ESME_RINVCMDID,
        41,
    )
    assert app.request(submit(42)).command_status == 0


def test_an_impossible_command_length_is_nacked_and_closes_the_connection(
    harness: Harness,
) -> None:
    app = bound(harness)
    app.send_raw(struct.pack(">IIII", 0xF0000009, 0x00000004, 0, 43))
    (nack,) = app.read()
    assert (nack.command_id, nack.command_status) == (0x80000000, S.ESME_RINVCMDLEN)
    assert app.closed
    app.lose()
