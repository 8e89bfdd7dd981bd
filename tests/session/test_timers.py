"""Timers with explicit ``now`` values (SMPP 3.4 §7.2, PROTOCOL.md §1.9)."""

from __future__ import annotations

from smppd.session import (
    BindFailed,
    CloseReason,
    Failure,
    RequestFailed,
    SessionClosed,
    SessionConfig,
    State,
    Unbound,
    WindowOpen,
)
from smppd.smpp import EnquireLink, EnquireLinkResp, SubmitSmResp, Unbind, UnbindResp

from .helpers import SAMPLE_REQUESTS, C, esme, frame, of_type, read, smsc, wire

CONFIG = SessionConfig(
    send_window=2,
    enquire_link_interval=30,
    response_timeout=10,
    inactivity_timeout=300,
    unbind_timeout=5,
    max_enquire_link_failures=3,
)


def test_enquire_link_is_sent_only_after_the_link_was_idle_for_the_interval() -> None:
    session = esme(State.BOUND_TRX, now=0.0, config=CONFIG)
    assert session.next_deadline() == 30
    # Traffic from the peer at t=20 proves the link; nothing is due at 30.
    session.receive_data(frame(0x00000015, seq=900), 20.0)
    read(session)
    assert session.handle_timer(30.0) == []
    assert read(session) == []
    assert session.next_deadline() == 50
    assert session.handle_timer(50.0) == []
    (probe,) = read(session)
    assert isinstance(probe, EnquireLink)
    # One probe at a time: the next deadline is the probe's response timer.
    assert session.next_deadline() == 60


def test_answered_enquire_link_keeps_the_link_and_sends_no_event() -> None:
    session = esme(State.BOUND_TRX, config=CONFIG)
    session.handle_timer(30.0)
    (probe,) = read(session)
    events = session.receive_data(
        wire(EnquireLinkResp(sequence_number=0), probe.sequence_number), 31.0
    )
    assert events == []
    assert session.next_deadline() == 61


def test_enquire_link_probes_do_not_take_room_in_the_owner_window() -> None:
    session = esme(State.BOUND_TRX, config=CONFIG)
    session.handle_timer(30.0)
    assert session.window_available == 2


def test_link_is_dead_after_n_consecutive_enquire_link_timeouts() -> None:
    session = esme(State.BOUND_TRX, config=CONFIG)
    now = 30.0
    events: list[object] = []
    for _ in range(3):
        events += session.handle_timer(now)  # probe goes out
        read(session)
        now += 10
        events += session.handle_timer(now)  # probe times out; link idle: next probe at once
    assert events[-2:] == [Unbound(CloseReason.LINK_DEAD), SessionClosed(CloseReason.LINK_DEAD)]
    assert session.state is State.CLOSED


def test_an_answered_probe_resets_the_count_of_failures() -> None:
    session = esme(State.BOUND_TRX, config=CONFIG)
    session.handle_timer(30.0)
    read(session)
    session.handle_timer(40.0)  # first failure, second probe out
    (probe,) = read(session)
    session.receive_data(wire(EnquireLinkResp(sequence_number=0), probe.sequence_number), 41.0)
    for now in (71.0, 81.0, 91.0):  # probe, failure 1 + probe, failure 2 + probe
        session.handle_timer(now)
        read(session)
    assert session.state is State.BOUND_TRX  # two failures since the reset, not three


def test_response_timeout_fails_the_request_and_reopens_the_window() -> None:
    session = esme(State.BOUND_TRX, config=CONFIG)
    first = session.send_request(SAMPLE_REQUESTS[C.SUBMIT_SM], 1.0)
    second = session.send_request(SAMPLE_REQUESTS[C.SUBMIT_SM], 2.0)
    assert session.window_available == 0
    assert session.next_deadline() == 11.0
    events = session.handle_timer(11.0)
    assert events == [
        RequestFailed(SAMPLE_REQUESTS[C.SUBMIT_SM], first, Failure.TIMED_OUT),
        WindowOpen(1),
    ]
    assert session.next_deadline() == 12.0
    # A late answer to the failed request is a response to nothing pending.
    session.receive_data(wire(SubmitSmResp(sequence_number=0, message_id="x"), first), 11.5)
    events = session.handle_timer(12.0)
    assert [e.sequence_number for e in of_type(events, RequestFailed)] == [second]


def test_session_init_timer_closes_an_application_that_never_binds() -> None:
    session = smsc(now=5.0, config=SessionConfig(session_init_timeout=30))
    assert session.handle_timer(34.9) == []
    assert session.handle_timer(35.0) == [SessionClosed(CloseReason.SESSION_INIT_TIMEOUT)]


def test_session_init_timer_stops_once_bound() -> None:
    session = smsc(State.BOUND_TRX, now=0.0, config=SessionConfig(session_init_timeout=30))
    assert session.handle_timer(31.0) == []
    assert session.state is State.BOUND_TRX


def test_owner_slow_to_decide_a_bind_is_bounded_by_session_init() -> None:
    session = smsc(State.BINDING, now=0.0, config=SessionConfig(session_init_timeout=30))
    assert session.handle_timer(30.0) == [SessionClosed(CloseReason.SESSION_INIT_TIMEOUT)]


def test_bind_timeout_fails_the_bind_and_closes() -> None:
    session = esme(State.BINDING, now=0.0, config=SessionConfig(bind_timeout=12))
    assert session.next_deadline() == 12
    assert session.handle_timer(12.0) == [
        BindFailed(None, Failure.TIMED_OUT),
        SessionClosed(CloseReason.BIND_TIMEOUT),
    ]


def test_inactivity_unbinds_then_closes_when_the_peer_does_not_answer() -> None:
    session = smsc(State.BOUND_TRX, now=0.0, config=CONFIG)
    # enquire_link traffic keeps the link alive but is not activity.
    for now in (30.0, 60.0, 90.0, 120.0, 150.0, 180.0, 210.0, 240.0, 270.0):
        session.handle_timer(now)
        for probe in read(session):
            session.receive_data(
                wire(EnquireLinkResp(sequence_number=0), probe.sequence_number), now
            )
    events = session.handle_timer(300.0)
    assert events == [Unbound(CloseReason.INACTIVITY)]
    (unbind,) = read(session)
    assert isinstance(unbind, Unbind)
    assert session.state is State.UNBINDING
    assert session.handle_timer(305.0) == [SessionClosed(CloseReason.UNBIND_TIMEOUT)]


def test_inactivity_unbind_answered_closes_with_reason_inactivity() -> None:
    session = smsc(State.BOUND_TRX, now=0.0, config=SessionConfig(inactivity_timeout=100))
    session.handle_timer(100.0)
    (unbind,) = read(session)
    events = session.receive_data(wire(UnbindResp(sequence_number=0), unbind.sequence_number), 101)
    assert events == [SessionClosed(CloseReason.INACTIVITY)]


def test_carrier_binds_have_no_inactivity_timer_by_default() -> None:
    session = esme(State.BOUND_TRX)
    assert session.config.inactivity_timeout is None


def test_unbind_drains_outstanding_requests_before_sending_unbind() -> None:
    session = esme(State.BOUND_TRX, config=CONFIG)
    seq = session.send_request(SAMPLE_REQUESTS[C.SUBMIT_SM], 1.0)
    read(session)
    assert session.unbind(2.0) == [Unbound(CloseReason.LOCAL_UNBIND)]
    assert read(session) == []  # still waiting for the submit_sm_resp
    events = session.receive_data(wire(SubmitSmResp(sequence_number=0, message_id="m"), seq), 3.0)
    assert [type(e).__name__ for e in events] == ["ResponseReceived"]
    (unbind,) = read(session)
    assert isinstance(unbind, Unbind)
    events = session.receive_data(wire(UnbindResp(sequence_number=0), unbind.sequence_number), 4.0)
    assert events == [SessionClosed(CloseReason.LOCAL_UNBIND)]


def test_unbind_stops_waiting_for_outstanding_responses_after_the_limit() -> None:
    session = esme(State.BOUND_TRX, config=SessionConfig(unbind_timeout=5, response_timeout=60))
    seq = session.send_request(SAMPLE_REQUESTS[C.SUBMIT_SM], 1.0)
    read(session)
    session.unbind(2.0)
    assert session.next_deadline() == 7.0
    assert session.handle_timer(7.0) == []
    (unbind,) = read(session)
    assert isinstance(unbind, Unbind)
    events = session.handle_timer(12.0)
    assert events == [
        RequestFailed(SAMPLE_REQUESTS[C.SUBMIT_SM], seq, Failure.CLOSED),
        SessionClosed(CloseReason.UNBIND_TIMEOUT),
    ]


def test_peer_unbind_waits_for_the_responses_we_owe() -> None:
    session = smsc(State.BOUND_TRX, config=CONFIG)
    session.receive_data(wire(SAMPLE_REQUESTS[C.SUBMIT_SM], 40), 1.0)
    events = session.receive_data(wire(Unbind(sequence_number=0), 41), 1.5)
    assert events == [Unbound(CloseReason.PEER_UNBIND)]
    assert read(session) == []
    events = session.send_response(40, SubmitSmResp(sequence_number=40, message_id="committed"))
    assert events == [SessionClosed(CloseReason.PEER_UNBIND)]
    assert read(session) == [
        SubmitSmResp(sequence_number=40, message_id="committed"),
        UnbindResp(sequence_number=41),
    ]


def test_peer_unbind_is_answered_at_the_limit_if_the_owner_never_answers() -> None:
    session = smsc(State.BOUND_TRX, config=CONFIG)
    session.receive_data(wire(SAMPLE_REQUESTS[C.SUBMIT_SM], 40), 1.0)
    session.receive_data(wire(Unbind(sequence_number=0), 41), 2.0)
    assert session.handle_timer(7.0) == [SessionClosed(CloseReason.PEER_UNBIND)]
    assert read(session) == [UnbindResp(sequence_number=41)]


def test_next_deadline_is_the_earliest_of_all_timers() -> None:
    session = esme(State.BOUND_TRX, config=CONFIG)
    assert session.next_deadline() == 30  # enquire_link
    session.send_request(SAMPLE_REQUESTS[C.SUBMIT_SM], 5.0)
    assert session.next_deadline() == 15  # response timer
    session.close()
    assert session.next_deadline() is None
