"""Building sessions in a given state and reading what they wrote."""

from __future__ import annotations

import struct
from typing import TypeVar

from smppd.session import (
    BindMode,
    Event,
    Role,
    Session,
    SessionConfig,
    State,
)
from smppd.smpp import (
    AlertNotification,
    BindReceiver,
    BindTransceiver,
    BindTransceiverResp,
    BindTransmitter,
    CancelSm,
    CommandId,
    DataSm,
    DeliverSm,
    EnquireLink,
    Framer,
    Outbind,
    Pdu,
    QuerySm,
    ReplaceSm,
    SubmitMulti,
    SubmitSm,
    Unbind,
    decode,
)

C = CommandId
E = TypeVar("E")

#: One valid request of every command the codec knows.
SAMPLE_REQUESTS: dict[CommandId, Pdu] = {
    C.BIND_TRANSMITTER: BindTransmitter(sequence_number=1, system_id="app", password="pw"),
    C.BIND_RECEIVER: BindReceiver(sequence_number=1, system_id="app", password="pw"),
    C.BIND_TRANSCEIVER: BindTransceiver(sequence_number=1, system_id="app", password="pw"),
    C.OUTBIND: Outbind(sequence_number=1, system_id="smsc", password="pw"),
    C.UNBIND: Unbind(sequence_number=1),
    C.ENQUIRE_LINK: EnquireLink(sequence_number=1),
    C.SUBMIT_SM: SubmitSm(
        sequence_number=1, source_addr="12345", destination_addr="447700900123", short_message=b"hi"
    ),
    C.DELIVER_SM: DeliverSm(
        sequence_number=1, source_addr="447700900123", destination_addr="12345", short_message=b"yo"
    ),
    C.SUBMIT_MULTI: SubmitMulti(sequence_number=1, short_message=b"hi"),
    C.DATA_SM: DataSm(sequence_number=1, destination_addr="447700900123"),
    C.QUERY_SM: QuerySm(sequence_number=1, message_id="m1"),
    C.CANCEL_SM: CancelSm(sequence_number=1, message_id="m1"),
    C.REPLACE_SM: ReplaceSm(sequence_number=1, message_id="m1", short_message=b"x"),
    C.ALERT_NOTIFICATION: AlertNotification(sequence_number=1),
}

BIND_IDS = (C.BIND_TRANSMITTER, C.BIND_RECEIVER, C.BIND_TRANSCEIVER)
MODE_OF_STATE = {
    State.BOUND_TX: BindMode.TRANSMITTER,
    State.BOUND_RX: BindMode.RECEIVER,
    State.BOUND_TRX: BindMode.TRANSCEIVER,
}
BIND_OF_MODE = {
    BindMode.TRANSMITTER: C.BIND_TRANSMITTER,
    BindMode.RECEIVER: C.BIND_RECEIVER,
    BindMode.TRANSCEIVER: C.BIND_TRANSCEIVER,
}


def frame(command_id: int, body: bytes = b"", *, status: int = 0, seq: int = 7) -> bytes:
    """Octets of one PDU assembled by hand (independent of the encoder)."""
    return struct.pack(">IIII", 16 + len(body), command_id, status, seq) + body


def wire(pdu: Pdu, seq: int) -> bytes:
    data = bytearray(pdu.encode())
    struct.pack_into(">I", data, 12, seq)
    return bytes(data)


def read(session: Session) -> list[Pdu]:
    """Decode everything the session wrote since the last call (must all decode)."""
    framer = Framer()
    framer.feed(session.bytes_to_send())
    return [decode(f) for f in framer.frames()]


def smsc(
    state: State = State.OPEN, *, now: float = 0.0, config: SessionConfig | None = None
) -> Session:
    """An SMSC-role session (we face an application) brought into ``state``."""
    session = Session(Role.SMSC, now, config)
    if state is State.OPEN:
        return session
    if state is State.CLOSED:
        session.close()
        read(session)
        return session
    mode = MODE_OF_STATE.get(state, BindMode.TRANSCEIVER)
    session.receive_data(wire(SAMPLE_REQUESTS[BIND_OF_MODE[mode]], 1), now)
    if state is State.BINDING:
        return session
    session.accept_bind(now, "smppd")
    if state is State.UNBINDING:
        # The application unbinds while a submit it sent is still unanswered.
        session.receive_data(wire(SAMPLE_REQUESTS[C.SUBMIT_SM], 2), now)
        session.receive_data(wire(Unbind(sequence_number=0), 3), now)
    read(session)
    assert session.state is state
    return session


def esme(
    state: State = State.OPEN, *, now: float = 0.0, config: SessionConfig | None = None
) -> Session:
    """An ESME-role session (we face a carrier) brought into ``state``."""
    session = Session(Role.ESME, now, config)
    if state is State.OPEN:
        return session
    if state is State.CLOSED:
        session.close()
        read(session)
        return session
    mode = MODE_OF_STATE.get(state, BindMode.TRANSCEIVER)
    seq = session.bind(mode, "app", "pw", now)
    if state is State.BINDING:
        read(session)
        return session
    resp = BindTransceiverResp(sequence_number=seq, system_id="carrier")
    data = bytearray(frame(0x80000000 | BIND_OF_MODE[mode], resp.encode()[16:], seq=seq))
    session.receive_data(bytes(data), now)
    if state is State.UNBINDING:
        session.unbind(now)
    read(session)
    assert session.state is state
    return session


def of_type(events: list[Event], kind: type[E]) -> list[E]:
    return [e for e in events if isinstance(e, kind)]
