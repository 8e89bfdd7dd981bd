"""Every (role, state, command, direction) of the session, as in h2's state tests.

The expectations are written out from PROTOCOL.md §1.2-§1.3 independently of
the session's own tables: each input either succeeds, or is answered with a
defined status, or lands in CLOSED. Hypothesis then drives random sequences of
inputs and checks that nothing but the session's typed errors escapes.
"""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smppd.session import (
    AlertReceived,
    BindMode,
    BindRequested,
    Event,
    OutbindReceived,
    ProtocolViolation,
    RequestReceived,
    Role,
    Session,
    SessionClosed,
    SessionConfig,
    SessionError,
    State,
)
from smppd.smpp import CommandId, CommandStatus, GenericNack, Pdu

from .helpers import SAMPLE_REQUESTS, esme, read, smsc, wire

C = CommandId
S = CommandStatus
BOUND = {State.BOUND_TX, State.BOUND_RX, State.BOUND_TRX}
BINDS = {C.BIND_TRANSMITTER, C.BIND_RECEIVER, C.BIND_TRANSCEIVER}
TRANSMIT = {C.SUBMIT_SM, C.SUBMIT_MULTI, C.DATA_SM, C.QUERY_SM, C.CANCEL_SM, C.REPLACE_SM}
RECEIVE = {C.DELIVER_SM, C.DATA_SM}
CAN_TRANSMIT = {State.BOUND_TX, State.BOUND_TRX}
CAN_RECEIVE = {State.BOUND_RX, State.BOUND_TRX}


def _make(role: Role, state: State) -> Session:
    return smsc(state) if role is Role.SMSC else esme(state)


# What must happen: ("event", event type) | ("answer", status) | ("closed", status)
Outcome = tuple[str, object]


def expected_on_receive(role: Role, state: State, cid: C) -> Outcome:
    if state is State.CLOSED:
        return ("ignored", None)
    if cid == C.ENQUIRE_LINK:
        return ("answer", S.ESME_ROK)
    if cid == C.UNBIND:
        if state in BOUND:
            return ("closed", S.ESME_ROK)
        if state is State.UNBINDING:
            # SMSC fixture: the peer already unbound (a duplicate); ESME
            # fixture: we unbound and the peer did at the same time.
            return ("answer", S.ESME_RINVBNDSTS) if role is Role.SMSC else ("closed", S.ESME_ROK)
        return ("answer", S.ESME_RINVBNDSTS)
    if role is Role.SMSC:
        if cid in BINDS:
            if state is State.OPEN:
                return ("event", BindRequested)
            if state is State.UNBINDING:
                return ("answer", S.ESME_RINVBNDSTS)
            return ("answer", S.ESME_RALYBND)
        if cid in TRANSMIT:
            return (
                ("event", RequestReceived)
                if state in CAN_TRANSMIT
                else ("answer", S.ESME_RINVBNDSTS)
            )
        # deliver_sm, outbind, alert_notification never travel ESME -> SMSC.
        return ("answer", S.ESME_RINVCMDID)
    if cid in BINDS or cid in TRANSMIT - RECEIVE:
        return ("answer", S.ESME_RINVCMDID)
    if cid == C.OUTBIND:
        return ("event", OutbindReceived) if state is State.OPEN else ("answer", S.ESME_RINVBNDSTS)
    if cid == C.ALERT_NOTIFICATION:
        return ("event", AlertReceived) if state in CAN_RECEIVE else ("answer", S.ESME_RINVBNDSTS)
    assert cid in RECEIVE
    return ("event", RequestReceived) if state in CAN_RECEIVE else ("answer", S.ESME_RINVBNDSTS)


def may_send(role: Role, state: State, cid: C) -> bool:
    if state is State.CLOSED or cid in BINDS or cid == C.UNBIND:
        return False  # binds and unbind go through bind() / unbind()
    if cid == C.ENQUIRE_LINK:
        return True
    if role is Role.SMSC:
        if cid == C.OUTBIND:
            return state is State.OPEN
        return cid in {C.DELIVER_SM, C.DATA_SM, C.ALERT_NOTIFICATION} and state in CAN_RECEIVE
    return cid in TRANSMIT and state in CAN_TRANSMIT


CASES = [(role, state, cid) for role in Role for state in State for cid in SAMPLE_REQUESTS]


def _id(case: object) -> str:
    return getattr(case, "name", str(case)).lower()


@pytest.mark.parametrize(("role", "state", "cid"), CASES, ids=_id)
def test_every_received_request_has_its_defined_outcome(role: Role, state: State, cid: C) -> None:
    session = _make(role, state)
    kind, detail = expected_on_receive(role, state, cid)
    events = session.receive_data(wire(SAMPLE_REQUESTS[cid], 4242), 1.0)
    out = read(session)
    if kind == "ignored":
        assert (events, out) == ([], [])
        return
    if kind == "event":
        assert [type(e) for e in events] == [detail]
        assert out == []
        return
    assert len(out) == 1
    answer = out[0]
    assert answer.sequence_number == 4242
    assert answer.command_status == detail
    if SAMPLE_REQUESTS[cid].is_response or cid in (C.OUTBIND, C.ALERT_NOTIFICATION):
        assert isinstance(answer, GenericNack)
    else:
        assert answer.command_id == cid | 0x80000000
    if kind == "closed":
        assert session.state is State.CLOSED
        assert isinstance(events[-1], SessionClosed)
    else:
        assert session.state is state
        if detail != S.ESME_ROK:
            assert [type(e) for e in events] == [ProtocolViolation]


@pytest.mark.parametrize(("role", "state", "cid"), CASES, ids=_id)
def test_every_request_we_send_is_allowed_or_refused_by_state(
    role: Role, state: State, cid: C
) -> None:
    session = _make(role, state)
    if may_send(role, state, cid):
        seq = session.send_request(SAMPLE_REQUESTS[cid], 2.0)
        (sent,) = read(session)
        assert sent.command_id == cid
        assert sent.sequence_number == seq
    else:
        with pytest.raises(SessionError):
            session.send_request(SAMPLE_REQUESTS[cid], 2.0)
        assert read(session) == []
        assert session.state is state


# ---------------------------------------------------------------------------
# Random sequences

_request_ids = st.sampled_from(sorted(SAMPLE_REQUESTS))
_seqs = st.integers(min_value=0, max_value=0xFFFFFFFF)

_actions = st.one_of(
    st.tuples(st.just("receive"), _request_ids, _seqs),
    st.tuples(st.just("receive"), _request_ids, st.integers(0, 6)),
    st.tuples(st.just("respond_wire"), _request_ids, _seqs, st.integers(0, 0x20)),
    st.tuples(st.just("noise"), st.binary(max_size=40)),
    st.tuples(st.just("send"), _request_ids),
    st.tuples(st.just("answer"), st.integers(0, 5)),
    st.tuples(st.just("refuse"), st.integers(0, 5)),
    st.tuples(st.just("answer_any"), st.integers(0, 6), st.booleans()),
    st.tuples(
        st.just("accept_bind"),
    ),
    st.tuples(
        st.just("reject_bind"),
    ),
    st.tuples(st.just("bind"), st.sampled_from(list(BindMode))),
    st.tuples(
        st.just("unbind"),
    ),
    st.tuples(st.just("wait"), st.floats(min_value=0, max_value=100)),
)

SMALL = SessionConfig(
    send_window=2,
    receive_window=3,
    session_init_timeout=50,
    enquire_link_interval=20,
    response_timeout=15,
    inactivity_timeout=120,
    unbind_timeout=5,
    max_enquire_link_failures=2,
)


def _apply(session: Session, action: tuple[object, ...], now: float, owed: list[Pdu]) -> float:
    name = action[0]
    events: list[Event] = []
    if name == "receive":
        cid, seq = action[1], action[2]
        assert isinstance(cid, C) and isinstance(seq, int)
        events = session.receive_data(wire(SAMPLE_REQUESTS[cid], seq), now)
    elif name == "respond_wire":
        cid, seq, status = action[1], action[2], action[3]
        assert isinstance(cid, C) and isinstance(seq, int) and isinstance(status, int)
        request: Pdu = SAMPLE_REQUESTS[cid]
        if cid in (C.OUTBIND, C.ALERT_NOTIFICATION):
            response: Pdu = GenericNack(sequence_number=seq, command_status=status)
        else:
            response = request.response(command_status=status)
        events = session.receive_data(wire(response, seq), now)
    elif name == "noise":
        data = action[1]
        assert isinstance(data, bytes)
        events = session.receive_data(data, now)
    elif name == "send":
        cid = action[1]
        assert isinstance(cid, C)
        session.send_request(SAMPLE_REQUESTS[cid], now)
    elif name in ("answer", "refuse"):
        index = action[1]
        assert isinstance(index, int)
        if owed:
            request = owed.pop(index % len(owed))
            if name == "answer" and request.command_id not in BINDS:
                events = session.send_response(request.sequence_number, request.response())
            else:
                events = session.send_error_response(request.sequence_number, S.ESME_RSYSERR)
    elif name == "answer_any":
        # Sequence numbers picked blindly: binds, our own, nothing at all.
        seq, nack = action[1], action[2]
        assert isinstance(seq, int)
        if nack:
            events = session.send_response(seq, GenericNack(sequence_number=seq, command_status=8))
        else:
            events = session.send_error_response(seq, S.ESME_RSYSERR)
    elif name == "accept_bind":
        events = session.accept_bind(now, "smppd")
    elif name == "reject_bind":
        events = session.reject_bind(S.ESME_RINVPASWD, now)
    elif name == "bind":
        mode = action[1]
        assert isinstance(mode, BindMode)
        session.bind(mode, "app", "pw", now)
    elif name == "unbind":
        events = session.unbind(now)
    else:
        delta = action[1]
        assert isinstance(delta, float)
        now += delta
        events = session.handle_timer(now)
    owed.extend(e.request for e in events if isinstance(e, RequestReceived))
    return now


@settings(max_examples=300)
@given(st.sampled_from(list(Role)), st.lists(_actions, max_size=40))
def test_random_inputs_raise_only_typed_errors_and_write_valid_pdus(
    role: Role, actions: list[tuple[object, ...]]
) -> None:
    session = Session(role, 0.0, SMALL)
    now = 0.0
    owed: list[Pdu] = []
    for action in actions:
        with contextlib.suppress(SessionError):
            now = _apply(session, action, now, owed)
        # Everything written decodes, and nothing is written once CLOSED.
        was_closed = session.closed
        read(session)
        assert session.outstanding <= SMALL.send_window
        if was_closed:
            assert session.next_deadline() is None
            assert session.receive_data(wire(SAMPLE_REQUESTS[C.ENQUIRE_LINK], 9), now) == []
            assert session.bytes_to_send() == b""
        else:
            deadline = session.next_deadline()
            assert deadline is None or deadline >= 0
