"""Binding: credentials, per-peer back-off, lock-out, max binds, IP allow-list, unbind."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from smppd.server.auth import FailedBinds
from smppd.server.service import ServerSettings
from smppd.smpp import CommandStatus
from smppd.smpp.pdu import BindTransceiver, EnquireLink, Pdu, SubmitSm, Unbind, UnbindResp
from tests.server.harness import Harness

S = CommandStatus


def _refused_after(harness: Harness, peer: str, password: str, delay: float) -> int:
    """Bind with a bad password; check the answer comes exactly after ``delay``."""
    app = harness.connect(peer)
    app.send(BindTransceiver(sequence_number=1, system_id="shop", password=password))
    harness.clock.advance(delay - 0.01)
    assert app.read() == []
    harness.clock.advance(0.01)
    (resp,) = app.read()
    # The session closes a refused connection shortly after answering.
    harness.clock.advance(1.0)
    assert app.closed
    app.lose()
    return resp.command_status


def test_bind_with_the_right_password_is_accepted(harness: Harness) -> None:
    app = harness.connect()
    resp = app.bind("trx")
    assert resp.command_status == 0
    assert resp.system_id == "smppd"  # type: ignore[attr-defined]
    assert harness.server.bound_count("shop") == 1


@pytest.mark.parametrize("mode", ["tx", "rx", "trx"])
def test_every_bind_mode_is_accepted(harness: Harness, mode: str) -> None:
    assert harness.connect().bind(mode).command_status == 0


def test_wrong_password_is_answered_after_a_back_off_that_grows_per_peer(
    harness: Harness,
) -> None:
    assert _refused_after(harness, "127.0.0.1", "wrong", 1.0) == S.ESME_RINVPASWD
    assert _refused_after(harness, "127.0.0.1", "wrong", 2.0) == S.ESME_RINVPASWD
    assert _refused_after(harness, "127.0.0.1", "wrong", 4.0) == S.ESME_RINVPASWD
    # Another peer starts from the first step.
    assert _refused_after(harness, "127.0.0.2", "wrong", 1.0) == S.ESME_RINVPASWD


def test_unknown_system_id_gets_the_same_answer_as_a_wrong_password(harness: Harness) -> None:
    app = harness.connect()
    app.send(BindTransceiver(sequence_number=1, system_id="nobody", password="secret"))
    harness.clock.advance(1.0)
    (resp,) = app.read()
    assert resp.command_status == S.ESME_RINVPASWD


def test_peer_is_locked_out_after_max_failed_binds_even_with_the_right_password(
    engine: Engine,
) -> None:
    harness = Harness(engine, settings=ServerSettings(max_failed_binds=2))
    harness.add_account()
    try:
        assert _refused_after(harness, "127.0.0.1", "wrong", 1.0) == S.ESME_RINVPASWD
        assert _refused_after(harness, "127.0.0.1", "wrong", 2.0) == S.ESME_RINVPASWD
        assert _refused_after(harness, "127.0.0.1", "secret", 4.0) == S.ESME_RBINDFAIL
        # Another peer is not affected.
        assert harness.connect("127.0.0.9").bind().command_status == 0
    finally:
        harness.close()


def test_a_successful_bind_clears_the_peers_back_off(harness: Harness) -> None:
    assert _refused_after(harness, "127.0.0.1", "wrong", 1.0) == S.ESME_RINVPASWD
    assert harness.connect().bind().command_status == 0
    assert _refused_after(harness, "127.0.0.1", "wrong", 1.0) == S.ESME_RINVPASWD


def test_max_binds_refuses_one_bind_too_many_until_one_leaves(engine: Engine) -> None:
    harness = Harness(engine)
    harness.add_account(max_binds=2)
    try:
        first = harness.connect()
        assert first.bind("tx").command_status == 0
        assert harness.connect().bind("rx").command_status == 0
        third = harness.connect()
        assert third.bind("trx").command_status == S.ESME_RBINDFAIL
        resp = first.request(Unbind(sequence_number=first.next_seq()))
        assert isinstance(resp, UnbindResp)
        first.lose()
        assert harness.connect().bind("trx").command_status == 0
    finally:
        harness.close()


def test_ip_allow_list_refuses_other_networks(engine: Engine) -> None:
    harness = Harness(engine)
    harness.add_account(ip_allow=("127.0.0.8/29",))
    try:
        outsider = harness.connect("127.0.0.1")
        outsider.send(BindTransceiver(sequence_number=1, system_id="shop", password="secret"))
        harness.clock.advance(1.0)
        (resp,) = outsider.read()
        assert resp.command_status == S.ESME_RBINDFAIL
        assert harness.connect("127.0.0.10").bind().command_status == 0
    finally:
        harness.close()


def test_submit_before_bind_is_answered_invalid_bind_status(harness: Harness) -> None:
    app = harness.connect()
    resp = app.request(
        SubmitSm(sequence_number=1, destination_addr="447700900123", short_message=b"x"),
        settle=False,
    )
    assert resp.command_status == S.ESME_RINVBNDSTS


def test_enquire_link_is_answered_before_and_after_bind(harness: Harness) -> None:
    app = harness.connect()
    assert app.request(EnquireLink(sequence_number=1), settle=False).command_status == 0
    app.bind()
    assert app.request(EnquireLink(sequence_number=9), settle=False).command_status == 0


def test_application_unbind_is_answered_and_the_connection_closes(harness: Harness) -> None:
    app = harness.connect()
    app.bind()
    resp = app.request(Unbind(sequence_number=5), settle=False)
    assert isinstance(resp, UnbindResp)
    assert app.closed
    app.lose()
    assert harness.server.bound_count("shop") == 0


def test_stop_unbinds_every_application_and_refuses_new_binds(harness: Harness) -> None:
    app = harness.connect()
    app.bind()
    done: list[object] = []
    harness.server.stop().addBoth(done.append)
    (unbind,) = app.read()
    assert isinstance(unbind, Unbind)
    late = harness.connect()
    assert late.bind().command_status == S.ESME_RBINDFAIL
    app.send(UnbindResp(sequence_number=unbind.sequence_number))
    assert app.closed
    app.lose()
    late.lose()
    assert done == [None]


def test_failed_bind_table_is_bounded_and_forgets_old_peers() -> None:
    table = FailedBinds(delay=1.0, delay_max=8.0, max_failures=3, max_peers=2, memory=100.0)
    assert [table.failed("a", 0.0) for _ in range(5)] == [1.0, 2.0, 4.0, 8.0, 8.0]
    assert table.locked_out("a", 1.0)
    assert not table.locked_out("a", 9.0)  # delay_max after the last failure
    table.failed("b", 1.0)
    table.failed("c", 2.0)
    assert len(table) == 2
    assert table.failures("a", 2.0) == 0  # the least recently failed peer went first
    assert table.failures("b", 200.0) == 0  # forgotten after `memory` seconds


def test_stop_answers_submits_waiting_for_their_commit_before_unbinding(harness: Harness) -> None:
    app = harness.connect()
    app.bind()
    app.send(SubmitSm(sequence_number=7, destination_addr="447700900123", short_message=b"x"))
    done: list[object] = []
    harness.server.stop().addBoth(done.append)
    assert app.read() == []  # the commit has not come back yet: no unbind either
    got: list[Pdu] = []

    def both_written() -> bool:
        got.extend(app.read())
        return len(got) >= 2

    harness.settle(both_written)
    resp, unbind = got
    assert resp.command_status == 0 and resp.sequence_number == 7
    assert isinstance(unbind, Unbind)
    app.send(UnbindResp(sequence_number=unbind.sequence_number))
    app.lose()
    assert done == [None]
