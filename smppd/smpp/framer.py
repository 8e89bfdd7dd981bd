"""Sans-IO framing of an SMPP byte stream.

How this works: :meth:`Framer.feed` appends whatever the transport read;
:meth:`Framer.next_frame` returns one complete PDU (header included) or None
when more octets are needed. The 4-octet command_length is checked against
``16..max_length`` as soon as it is available, before any of the body is
waited for, so a hostile length never makes us hold (let alone allocate) more
than ``max_length`` octets of one PDU. A bad length is a
:class:`~smppd.smpp.errors.CommandLengthError` with ``framed=False``: the
next PDU boundary is unknown and the session must answer generic_nack and
close. After that the framer refuses further input.

Memory: the buffer holds what was fed and not yet taken; a caller that drains
``next_frame`` after every ``feed`` keeps it below ``max_length`` plus one read.
"""

from __future__ import annotations

import contextlib
import struct
from collections.abc import Iterator
from typing import Final, NoReturn

from smppd.smpp.constants import CommandStatus
from smppd.smpp.errors import CommandLengthError
from smppd.smpp.pdu import HEADER_LENGTH, MAX_SHORT_MESSAGE_LENGTH, Pdu, decode

__all__ = ["DEFAULT_MAX_PDU_LENGTH", "Framer"]

#: A full 64 KiB message_payload plus the largest mandatory part of a PDU that
#: may carry it (data_sm: ~150 octets) and a margin for other TLVs.
DEFAULT_MAX_PDU_LENGTH: Final = 64 * 1024 + 1024

# Consumed octets are dropped from the front of the buffer only once this
# many have piled up, so a burst of small PDUs does not shift the buffer each time.
_COMPACT_THRESHOLD: Final = 64 * 1024

_LENGTH: Final = struct.Struct(">I")
_ID_SEQ: Final = struct.Struct(">I4xI")


class Framer:
    """Split a byte stream into PDUs; see the module docstring."""

    __slots__ = ("_buffer", "_error", "_start", "max_length")

    def __init__(self, max_length: int = DEFAULT_MAX_PDU_LENGTH) -> None:
        # The smallest limit that still admits every mandatory-field layout.
        if max_length < HEADER_LENGTH + MAX_SHORT_MESSAGE_LENGTH + 256:
            raise ValueError(f"max_length {max_length} is too small for SMPP")
        self.max_length = max_length
        self._buffer = bytearray()
        self._start = 0
        self._error: CommandLengthError | None = None

    @property
    def buffered(self) -> int:
        """Octets received and not yet returned as frames."""
        return len(self._buffer) - self._start

    def feed(self, data: bytes) -> None:
        """Add octets read from the transport.

        A PDU at the front of the buffer that declares an impossible length is
        found here already and its octets dropped at once; the error itself is
        raised by the next :meth:`next_frame`, where the caller expects it.
        """
        if self._error is not None:
            raise self._error
        self._buffer += data
        with contextlib.suppress(CommandLengthError):
            self._check_length()

    def _check_length(self) -> int | None:
        """command_length of the PDU at the front, once its 4 octets are here."""
        available = len(self._buffer) - self._start
        if available < 4:
            return None
        (length,) = _LENGTH.unpack_from(self._buffer, self._start)
        if not HEADER_LENGTH <= length <= self.max_length:
            self._fail(length, available)
        return int(length)

    def next_frame(self) -> bytes | None:
        """One complete PDU, or None until more octets arrive."""
        if self._error is not None:
            raise self._error
        length = self._check_length()
        buf = self._buffer
        start = self._start
        if length is None or len(buf) - start < length:
            return None
        frame = bytes(buf[start : start + length])
        start += length
        if start == len(buf):
            buf.clear()
            start = 0
        elif start >= _COMPACT_THRESHOLD:
            del buf[:start]
            start = 0
        self._start = start
        return frame

    def frames(self) -> Iterator[bytes]:
        """Every complete PDU buffered now."""
        while (frame := self.next_frame()) is not None:
            yield frame

    def pdus(self) -> Iterator[Pdu]:
        """Decode every complete PDU buffered now (stops at the first error)."""
        for frame in self.frames():
            yield decode(frame)

    def _fail(self, length: int, available: int) -> NoReturn:
        command_id: int | None = None
        sequence_number: int | None = None
        if available >= HEADER_LENGTH:
            command_id, sequence_number = _ID_SEQ.unpack_from(self._buffer, self._start + 4)
        self._error = CommandLengthError(
            f"command_length {length} is outside {HEADER_LENGTH}..{self.max_length}",
            command_status=CommandStatus.ESME_RINVCMDLEN,
            command_id=command_id,
            sequence_number=sequence_number,
            framed=False,
        )
        # Nothing after a framing error can be trusted; release the memory.
        self._buffer = bytearray()
        self._start = 0
        raise self._error
