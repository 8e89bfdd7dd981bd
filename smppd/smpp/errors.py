"""Errors raised by the SMPP codec.

Two families, as in h11: :class:`EncodeError` means *we* tried to build or
send something the specification forbids (a bug on our side, raised at
construction time), :class:`DecodeError` means the *peer* sent bytes we cannot
accept. A :class:`DecodeError` carries everything a session needs to react
without inspecting the bytes again: the ``command_status`` to answer with, the
``command_id`` and ``sequence_number`` when they could be read, and whether the
stream is still framed (``framed=False`` means the session must close because
the next PDU boundary is unknown). :meth:`DecodeError.response` builds the
answer: the command's own ``_resp`` without a body, a ``generic_nack``, or
nothing when the offending PDU was itself a response.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from smppd.smpp.constants import RESPONSE_BIT, CommandStatus

if TYPE_CHECKING:
    from smppd.smpp.pdu import Pdu

__all__ = [
    "AddressError",
    "CommandLengthError",
    "DecodeError",
    "EncodeError",
    "InvalidFieldError",
    "MessageLengthError",
    "SmppError",
    "TlvLengthError",
    "TlvStreamError",
    "UnknownCommandError",
]


class SmppError(Exception):
    """Base class of every error raised by :mod:`smppd.smpp`."""


class EncodeError(SmppError, ValueError):
    """A PDU or field value that cannot be put on the wire."""


class DecodeError(SmppError):
    """The peer sent something that does not decode; see the module docstring."""

    command_status: CommandStatus
    command_id: int | None
    sequence_number: int | None
    framed: bool

    def __init__(
        self,
        message: str,
        *,
        command_status: CommandStatus,
        command_id: int | None = None,
        sequence_number: int | None = None,
        framed: bool = True,
    ) -> None:
        super().__init__(message)
        self.command_status = command_status
        self.command_id = command_id
        self.sequence_number = sequence_number
        self.framed = framed

    @property
    def is_response(self) -> bool:
        """True when the offending PDU was a response (never answered)."""
        return self.command_id is not None and bool(self.command_id & RESPONSE_BIT)

    def response(self) -> Pdu | None:
        """The PDU to send back, or None when a response must not be answered."""
        # pdu imports this module, so the PDU classes are looked up late.
        from smppd.smpp.pdu import GenericNack, response_class_for  # noqa: PLC0415

        seq = self.sequence_number if self.sequence_number is not None else 0
        if not self.framed or self.command_id is None:
            return GenericNack(command_status=self.command_status, sequence_number=seq)
        if self.is_response:
            return None
        resp_cls = response_class_for(self.command_id)
        if resp_cls is None:
            # Unknown command, or a request that has no response of its own
            # (outbind, alert_notification): generic_nack is the only answer.
            return GenericNack(command_status=self.command_status, sequence_number=seq)
        return resp_cls(command_status=self.command_status, sequence_number=seq)

    def __repr__(self) -> str:
        cid = "None" if self.command_id is None else f"0x{self.command_id:08X}"
        return (
            f"{type(self).__name__}({str(self)!r}, command_status={self.command_status.name}, "
            f"command_id={cid}, sequence_number={self.sequence_number}, framed={self.framed})"
        )


class CommandLengthError(DecodeError):
    """command_length outside 16..max, or not matching the octets given: close."""


class UnknownCommandError(DecodeError):
    """command_id we do not implement (including SMPP 5.0 broadcast PDUs)."""


class InvalidFieldError(DecodeError):
    """A mandatory field or TLV of a known PDU is malformed; the stream is intact.

    The subclasses below name the cases a session may want to count apart;
    ``command_status`` always says which code to answer with.
    """


class MessageLengthError(InvalidFieldError):
    """sm_length over 254 or past the PDU, or short_message with message_payload."""


class AddressError(InvalidFieldError):
    """A source or destination address that is too long, unterminated or not ASCII."""


class TlvStreamError(InvalidFieldError):
    """A TLV header or value runs past the end of the PDU (ESME_RINVOPTPARSTREAM)."""


class TlvLengthError(InvalidFieldError):
    """A known TLV with a length its definition does not allow (ESME_RINVPARLEN)."""
