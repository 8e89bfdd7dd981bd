"""``smppd send``: submit one message through a running gateway and wait for its receipt.

How this works
--------------
The command is an ordinary SMPP application (smpplib, blocking sockets):

1. The text is encoded and split by smppd's own segmenter
   (:func:`smppd.text.segment.segment`), never smpplib's, whose splitter cuts
   escape sequences and surrogate pairs. Long texts become UDH parts
   (8-bit reference by default) or SAR parts.
2. It binds as a transceiver, so the receipts come back on the same
   connection, and submits the parts one at a time with
   ``registered_delivery`` 1 (a final receipt), printing the message id the
   gateway returns for each. ``--marketing`` / ``--transactional`` add
   smppd's ``smppd_message_class`` TLV to every part
   (:attr:`~smppd.smpp.constants.VendorTag.SMPPD_MESSAGE_CLASS`), which
   overrides the account's traffic class for this message; without either
   the account's class applies.
3. It reads PDUs until every distinct message id has a final receipt
   (``deliver_sm`` with a receipt ``esm_class``, parsed by
   :func:`smppd.receipt.parse_receipt`) or the deadline passes, answering
   ``enquire_link`` and sending its own when the line is quiet. Receipts for
   other messages and mobile-originated messages may arrive too when the
   account is also bound elsewhere; they are answered ``ESME_RX_T_APPN``
   (temporary application error) so the gateway keeps them and delivers them
   to the real application, instead of losing them to this command.
4. It unbinds and exits with one of the codes below, after one line that
   says why.

Exit codes: 0 delivered (or submitted, with ``--no-wait``); 1 refused by the
gateway or not delivered; 2 timed out; 3 no connection or no bind; 64 a
command-line mistake (not click's 2, which would read as a timeout).

The password comes from an environment variable (``--password-env``,
default ``SMPPD_PASSWORD``) or, on a terminal, from a prompt; it is never a
command-line argument (``ps`` shows those to every user) and never printed.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import select
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final, NoReturn

import click
import smpplib.client
import smpplib.command
import smpplib.consts
import smpplib.exceptions
import smpplib.smpp

from smppd.cli._bind import (
    DEFAULT_PASSWORD_ENV,
    MAX_PASSWORD_LENGTH,
    bind_options,
)
from smppd.receipt import IdBase, Receipt, ReceiptError, id_keys, parse_receipt
from smppd.smpp.constants import (
    CommandStatus,
    MessageState,
    Npi,
    RegisteredDelivery,
    SmppdMessageClass,
    Ton,
    VendorTag,
)
from smppd.smpp.helpers import is_delivery_receipt, is_intermediate_notification
from smppd.smpp.tlv import Tlv
from smppd.text.charset import TextEncodeError
from smppd.text.policy import DEFAULT_POLICY, LongMessageMode, TextPolicy
from smppd.text.segment import SegmentedMessage, TooManyParts, segment

__all__ = [
    "DEFAULT_PASSWORD_ENV",
    "EXIT_DELIVERED",
    "EXIT_FAILED",
    "EXIT_TIMEOUT",
    "EXIT_UNREACHABLE",
    "EXIT_USAGE",
    "NO_SOURCE",
    "Address",
    "Outcome",
    "SendRequest",
    "Submitted",
    "parse_address",
    "run_send",
    "send",
]

EXIT_DELIVERED: Final = 0
EXIT_FAILED: Final = 1
EXIT_TIMEOUT: Final = 2
EXIT_UNREACHABLE: Final = 3
EXIT_USAGE: Final = 64  # EX_USAGE, sysexits.h

DEFAULT_TIMEOUT: Final = 60.0
MAX_TIMEOUT: Final = 86_400.0
#: A line quiet this long gets an enquire_link, so the gateway's inactivity
#: timer never drops a bind that is waiting for a slow receipt.
KEEPALIVE_INTERVAL: Final = 30.0
#: Once a PDU has started to arrive, the rest must follow within this.
PDU_READ_TIMEOUT: Final = 10.0
#: How long the unbind at the end may take; the outcome is already known.
UNBIND_TIMEOUT: Final = 5.0
# SMPP 3.4 §4.1: system_id is a C-Octet String of 16, password of 9, and
# addresses of 21 (source/destination in submit_sm), NUL included.
MAX_ADDRESS_LENGTH: Final = 20
#: GSM 03.40 alphanumeric senders: 11 characters.
MAX_ALPHANUMERIC_SENDER: Final = 11

_FINAL_FAILURES: Final = frozenset(
    {
        MessageState.EXPIRED,
        MessageState.DELETED,
        MessageState.UNDELIVERABLE,
        MessageState.UNKNOWN,
        MessageState.REJECTED,
        MessageState.SKIPPED,
    }
)
_SMPPLIB_LOGGER: Final = "smppd.send.smpplib"
_BOUND_STATES: Final = frozenset(
    {
        smpplib.consts.SMPP_CLIENT_STATE_BOUND_TX,
        smpplib.consts.SMPP_CLIENT_STATE_BOUND_RX,
        smpplib.consts.SMPP_CLIENT_STATE_BOUND_TRX,
    }
)


# ---------------------------------------------------------------- values


@dataclass(frozen=True, slots=True)
class Address:
    """An SMPP address: TON, NPI and the digits (or text, for an alphanumeric sender)."""

    ton: int
    npi: int
    value: str


#: No source address: the gateway puts in the account's default sender.
NO_SOURCE: Final = Address(Ton.UNKNOWN, Npi.UNKNOWN, "")


@dataclass(frozen=True, slots=True)
class SendRequest:
    """What to send, where, and how long to wait."""

    host: str
    port: int
    system_id: str
    destination: Address
    text: str
    source: Address = NO_SOURCE
    wait: bool = True
    timeout: float = DEFAULT_TIMEOUT
    policy: TextPolicy = DEFAULT_POLICY
    #: The message's class; None: the account's traffic class.
    message_class: SmppdMessageClass | None = None


@dataclass(frozen=True, slots=True)
class Submitted:
    """One part accepted by the gateway."""

    part: int  # 1-based
    parts: int
    message_id: str


@dataclass(frozen=True, slots=True)
class Outcome:
    """How the command ended: exit code, a one-line reason, what was seen."""

    exit_code: int
    result: str  # delivered | submitted | failed | timeout | unreachable
    detail: str
    submitted: tuple[Submitted, ...] = ()
    receipts: tuple[Receipt, ...] = ()


def parse_address(value: str, *, source: bool = False) -> Address:
    """``+46701234567`` (international), digits (TON unknown), or a text sender.

    Raises ``ValueError`` with the reason when the value cannot be sent.
    """
    text = value.strip().replace(" ", "")
    if text.startswith("+"):
        digits = text[1:]
        if not digits.isdigit() or not digits.isascii():
            raise ValueError(f"{value!r}: expected digits after +")
        if len(digits) > MAX_ADDRESS_LENGTH:
            raise ValueError(f"{value!r}: at most {MAX_ADDRESS_LENGTH} digits")
        return Address(Ton.INTERNATIONAL, Npi.ISDN, digits)
    if text.isdigit() and text.isascii():
        if len(text) > MAX_ADDRESS_LENGTH:
            raise ValueError(f"{value!r}: at most {MAX_ADDRESS_LENGTH} digits")
        # TON unknown: the gateway's number rules decide short code, national
        # or international.
        return Address(Ton.UNKNOWN, Npi.ISDN, text)
    if not source:
        raise ValueError(f"{value!r}: expected a phone number (digits, optionally after +)")
    sender = value.strip()
    if not sender or not sender.isascii() or not sender.isprintable():
        raise ValueError(f"{value!r}: a text sender is printable ASCII")
    if len(sender) > MAX_ALPHANUMERIC_SENDER:
        raise ValueError(
            f"{value!r}: a text sender has at most {MAX_ALPHANUMERIC_SENDER} characters"
        )
    return Address(Ton.ALPHANUMERIC, Npi.UNKNOWN, sender)


def _status_name(status: int) -> str:
    try:
        return f"{CommandStatus(status).name} (0x{status:08X})"
    except ValueError:
        pass
    from plugins.consent import OPTED_OUT_STATUS  # noqa: PLC0415  (only when refused)

    if status == OPTED_OUT_STATUS:
        return f"0x{status:08X} (the recipient opted out of marketing)"
    return f"0x{status:08X}"


# ---------------------------------------------------------------- the SMPP side


class _Client(smpplib.client.Client):  # type: ignore[misc]  # smpplib is untyped
    """smpplib's client, plus a wait for readability and a per-read timeout."""

    def wait_readable(self, seconds: float) -> bool:
        readable, _, _ = select.select([self._socket], [], [], max(0.0, seconds))
        return bool(readable)

    def set_timeout(self, seconds: float) -> None:
        self._socket.settimeout(max(0.001, seconds))


class _SubmitSm(smpplib.command.SubmitSM):  # type: ignore[misc]  # smpplib is untyped
    """smpplib's submit_sm with TLVs it does not know appended as ready octets
    (smpplib encodes only the standard optional parameters)."""

    def __init__(self, *args: Any, extra_tlvs: bytes = b"", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.extra_tlvs = extra_tlvs

    def generate_params(self) -> bytes:
        body: bytes = super().generate_params()
        return body + self.extra_tlvs


class _Stop(Exception):
    """Ends the session with an outcome."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.detail)
        self.outcome = outcome


@dataclass(slots=True)
class _Progress:
    submitted: list[Submitted] = field(default_factory=list)
    receipts: list[Receipt] = field(default_factory=list)
    # correlation key -> message id as the gateway gave it
    keys: dict[str, str] = field(default_factory=dict)
    final: dict[str, Receipt] = field(default_factory=dict)
    last_state: dict[str, Receipt] = field(default_factory=dict)

    def outcome(self, exit_code: int, result: str, detail: str) -> Outcome:
        return Outcome(exit_code, result, detail, tuple(self.submitted), tuple(self.receipts))

    @property
    def message_ids(self) -> list[str]:
        return list(dict.fromkeys(item.message_id for item in self.submitted))


class _Session:
    """One bind: submit the parts, collect the receipts."""

    def __init__(
        self,
        request: SendRequest,
        message: SegmentedMessage,
        report: Callable[[Submitted | Receipt], None],
        clock: Callable[[], float],
    ) -> None:
        self.request = request
        self.message = message
        self.report = report
        self.clock = clock
        self.deadline = clock() + request.timeout
        self.progress = _Progress()
        self.client = _Client(
            request.host,
            request.port,
            timeout=max(0.001, min(request.timeout, PDU_READ_TIMEOUT)),
            logger_name=_SMPPLIB_LOGGER,
            allow_unknown_opt_params=True,
        )
        self._last_traffic = clock()
        self._closing = False

    # -- the whole exchange ---------------------------------------------------

    def run(self, password: str) -> Outcome:
        request = self.request
        where = f"{request.host}:{request.port}"
        try:
            self.client.connect()
        except smpplib.exceptions.ConnectionError:
            return self.progress.outcome(
                EXIT_UNREACHABLE, "unreachable", f"cannot connect to {where}: no gateway answers"
            )
        try:
            try:
                self._bind(password)
                self._submit_all()
                if not request.wait:
                    return self.progress.outcome(
                        EXIT_DELIVERED,
                        "submitted",
                        "submitted; not waiting for a receipt (--no-wait)",
                    )
                self._wait_for_receipts()
                return self.progress.outcome(EXIT_DELIVERED, "delivered", self._delivered_detail())
            except _Stop as stop:
                return stop.outcome
        finally:
            self._close()

    def _bind(self, password: str) -> None:
        self.client.set_timeout(self._remaining())
        try:
            self.client.bind_transceiver(system_id=self.request.system_id, password=password)
        except smpplib.exceptions.PDUError as exc:
            status = exc.args[1] if len(exc.args) > 1 else CommandStatus.ESME_RBINDFAIL
            hint = (
                ": check --system-id and the password"
                if status in (CommandStatus.ESME_RINVPASWD, CommandStatus.ESME_RINVSYSID)
                else ""
            )
            raise _Stop(
                self.progress.outcome(
                    EXIT_UNREACHABLE,
                    "unreachable",
                    f"bind refused with {_status_name(status)}{hint}",
                )
            ) from None
        except (smpplib.exceptions.ConnectionError, OSError):
            raise _Stop(
                self.progress.outcome(
                    EXIT_UNREACHABLE, "unreachable", "no answer to bind_transceiver"
                )
            ) from None
        self._last_traffic = self.clock()

    def _submit_all(self) -> None:
        message = self.message
        request = self.request
        total = len(message.parts)
        receipt = RegisteredDelivery.FINAL if request.wait else RegisteredDelivery.NONE
        for index, part in enumerate(message.parts, start=1):
            fields: dict[str, Any] = {
                "source_addr_ton": request.source.ton,
                "source_addr_npi": request.source.npi,
                "source_addr": request.source.value,
                "dest_addr_ton": request.destination.ton,
                "dest_addr_npi": request.destination.npi,
                "destination_addr": request.destination.value,
                "esm_class": message.esm_class_udhi,
                "data_coding": message.data_coding,
                "registered_delivery": int(receipt),
                "short_message": part.short_message,
            }
            if part.sar is not None:
                fields |= {
                    "sar_msg_ref_num": part.sar.reference,
                    "sar_total_segments": part.sar.total,
                    "sar_segment_seqnum": part.sar.seq,
                }
            pdu = _SubmitSm(
                "submit_sm", client=self.client, extra_tlvs=self._extra_tlvs(), **fields
            )
            self._send(pdu)
            response = self._read_until(
                _answer_to(pdu.sequence), waiting_for=f"the answer to part {index}/{total}"
            )
            if response.status:
                raise _Stop(
                    self.progress.outcome(
                        EXIT_FAILED,
                        "failed",
                        f"part {index}/{total} refused: {response.command}"
                        f" {_status_name(response.status)}",
                    )
                )
            message_id = _text(response.message_id)
            submitted = Submitted(index, total, message_id)
            self.progress.submitted.append(submitted)
            # The same reading on both sides, so a receipt that spells the id
            # in another base still meets it.
            for key in id_keys(message_id, IdBase.AUTO):
                self.progress.keys[key] = message_id
            self.report(submitted)

    def _extra_tlvs(self) -> bytes:
        message_class = self.request.message_class
        if message_class is None:
            return b""
        return Tlv.u8(VendorTag.SMPPD_MESSAGE_CLASS, message_class).encode()

    def _wait_for_receipts(self) -> None:
        # Each distinct id needs its receipt: the gateway may give one id to
        # the whole message or one to each part. A failed one ends the wait
        # early (in _on_deliver).
        pending = self.progress.message_ids
        final = self.progress.final
        if any(message_id not in final for message_id in pending):
            self._read_until(
                lambda _: all(message_id in final for message_id in pending),
                waiting_for="the receipt" if len(pending) == 1 else "the receipts",
            )

    def _delivered_detail(self) -> str:
        ids = self.progress.message_ids
        return "delivered" if len(ids) == 1 else f"delivered: all {len(ids)} parts"

    # -- reading ---------------------------------------------------------------

    def _remaining(self) -> float:
        return self.deadline - self.clock()

    def _read_until(self, wanted: Callable[[Any], bool], *, waiting_for: str) -> Any:
        """Read and handle PDUs until ``wanted(pdu)`` holds after handling; returns that PDU."""
        while True:
            remaining = self._remaining()
            if remaining <= 0:
                raise _Stop(self._timeout(waiting_for))
            idle = self.clock() - self._last_traffic
            if idle >= KEEPALIVE_INTERVAL:
                link = smpplib.smpp.make_pdu("enquire_link", client=self.client)
                self._send(link)
                self._last_traffic = self.clock()
                continue
            if not self.client.wait_readable(min(remaining, KEEPALIVE_INTERVAL - idle)):
                continue
            pdu = self._read_pdu()
            self._last_traffic = self.clock()
            self._handle(pdu)
            if wanted(pdu):
                return pdu

    def _read_pdu(self) -> Any:
        self.client.set_timeout(PDU_READ_TIMEOUT)
        try:
            pdu = self.client.read_pdu()
        except smpplib.exceptions.ConnectionError:
            raise _Stop(
                self.progress.outcome(
                    EXIT_UNREACHABLE, "unreachable", "the gateway closed the connection"
                )
            ) from None
        except Exception as exc:  # smpplib raises many kinds on bad input
            raise _Stop(
                self.progress.outcome(
                    EXIT_UNREACHABLE,
                    "unreachable",
                    f"unreadable PDU from the gateway ({type(exc).__name__})",
                )
            ) from None
        if pdu is None:
            raise _Stop(
                self.progress.outcome(
                    EXIT_UNREACHABLE, "unreachable", "the gateway sent a PDU smpplib cannot read"
                )
            )
        return pdu

    def _send(self, pdu: Any) -> None:
        try:
            self.client.send_pdu(pdu)
        except (smpplib.exceptions.ConnectionError, smpplib.exceptions.PDUError, OSError):
            raise _Stop(
                self.progress.outcome(
                    EXIT_UNREACHABLE, "unreachable", "the connection to the gateway broke"
                )
            ) from None

    def _answer(self, pdu: Any, command: str, status: int = CommandStatus.ESME_ROK) -> None:
        response = smpplib.smpp.make_pdu(command, client=self.client, status=status)
        response.sequence = pdu.sequence
        self._send(response)

    def _handle(self, pdu: Any) -> None:
        command = pdu.command
        if command == "deliver_sm":
            self._on_deliver(pdu)
        elif command == "enquire_link":
            self._answer(pdu, "enquire_link_resp")
        elif command == "unbind":
            self._answer(pdu, "unbind_resp")
            raise _Stop(
                self.progress.outcome(
                    EXIT_UNREACHABLE, "unreachable", "the gateway ended the session (unbind)"
                )
            )
        # Responses to nothing we wait for (enquire_link_resp) need nothing.

    def _on_deliver(self, pdu: Any) -> None:
        esm_class = int(pdu.esm_class or 0)
        receipt = None
        if is_delivery_receipt(esm_class) or is_intermediate_notification(esm_class):
            receipt = _parse(pdu)
        message_id = None
        if receipt is not None:
            for key in id_keys(receipt.message_id, IdBase.AUTO):
                message_id = self.progress.keys.get(key)
                if message_id is not None:
                    break
        if receipt is None or message_id is None or self._closing:
            # Someone else's receipt or an MO (or anything once the outcome
            # is printed): refuse it for now so the gateway keeps it for the
            # application it belongs to.
            self._answer(pdu, "deliver_sm_resp", CommandStatus.ESME_RX_T_APPN)
            return
        self._answer(pdu, "deliver_sm_resp")
        self.progress.receipts.append(receipt)
        self.progress.last_state[message_id] = receipt
        self.report(receipt)
        if receipt.state is MessageState.DELIVERED or receipt.state in _FINAL_FAILURES:
            self.progress.final[message_id] = receipt
            if receipt.state in _FINAL_FAILURES:
                raise _Stop(self.progress.outcome(EXIT_FAILED, "failed", _failure_detail(receipt)))

    def _timeout(self, waiting_for: str) -> Outcome:
        seconds = f"{self.request.timeout:g}"
        detail = f"timed out after {seconds} s waiting for {waiting_for}"
        states = [
            self.progress.last_state[m].stat or self.progress.last_state[m].state.name
            for m in self.progress.message_ids
            if m in self.progress.last_state and m not in self.progress.final
        ]
        if states:
            detail += f" (last state {', '.join(states)})"
        return self.progress.outcome(EXIT_TIMEOUT, "timeout", detail)

    def _close(self) -> None:
        client = self.client
        if client.state in _BOUND_STATES:
            self._closing = True
            self.deadline = self.clock() + UNBIND_TIMEOUT
            try:
                unbind = smpplib.smpp.make_pdu("unbind", client=client)
                self._send(unbind)
                self._read_until(lambda got: got.command == "unbind_resp", waiting_for="unbind")
            except _Stop:
                pass  # the outcome is decided; a failed unbind changes nothing
        # smpplib warns about disconnecting while bound; the unbind above is
        # as clean as the gateway let it be.
        client.state = smpplib.consts.SMPP_CLIENT_STATE_OPEN
        client.disconnect()


def _answer_to(sequence: int) -> Callable[[Any], bool]:
    def matches(pdu: Any) -> bool:
        if pdu.command == "submit_sm_resp":
            return bool(pdu.sequence == sequence)
        # One request is outstanding at a time, so a generic_nack with
        # sequence 0 (the gateway could not read our header) answers it.
        return bool(pdu.command == "generic_nack" and pdu.sequence in (sequence, 0))

    return matches


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.rstrip(b"\x00").decode("latin-1")
    return "" if value is None else str(value)


def _parse(pdu: Any) -> Receipt | None:
    receipted = getattr(pdu, "receipted_message_id", None)
    state = getattr(pdu, "message_state", None)
    network_error = getattr(pdu, "network_error_code", None)
    try:
        return parse_receipt(
            bytes(pdu.short_message or b""),
            message_payload=getattr(pdu, "message_payload", None) or None,
            receipted_message_id=_text(receipted) if receipted is not None else None,
            message_state=int(state) if state is not None else None,
            network_error_code=network_error if isinstance(network_error, bytes) else None,
        )
    except ReceiptError:
        return None


def _failure_detail(receipt: Receipt) -> str:
    word = receipt.stat or receipt.state.name
    err = f" (err {receipt.err})" if receipt.err else ""
    return f"not delivered: the receipt for {receipt.message_id} says {word}{err}"


# ---------------------------------------------------------------- entry points


def run_send(
    request: SendRequest,
    password: str,
    *,
    report: Callable[[Submitted | Receipt], None] = lambda _: None,
    clock: Callable[[], float] = time.monotonic,
    next_reference: Callable[[], int] | None = None,
) -> Outcome:
    """Send ``request`` and wait as it says; ``report`` sees each id and receipt as it comes.

    Raises :class:`~smppd.text.segment.TooManyParts` or
    :class:`~smppd.text.charset.TextEncodeError` when the text cannot be
    sent under ``request.policy``.
    """
    reference = next_reference or (lambda: secrets.randbits(16))
    message = segment(request.text, request.policy, next_reference=reference)
    return _Session(request, message, report, clock).run(password)


def _human(item: Submitted | Receipt) -> str:
    if isinstance(item, Submitted):
        where = f"part {item.part}/{item.parts} " if item.parts > 1 else ""
        return f"{where}accepted: message id {item.message_id}"
    parts = [f"receipt: message id {item.message_id}: {item.stat or item.state.name}"]
    if item.err is not None:
        parts.append(f"err {item.err}")
    if item.done_date is not None:
        parts.append(f"done {item.done_date:%Y-%m-%d %H:%M:%S}")
    return ", ".join(parts)


def _receipt_json(receipt: Receipt) -> dict[str, Any]:
    return {
        "message_id": receipt.message_id,
        "state": receipt.state.name.lower(),
        "stat": receipt.stat,
        "err": receipt.err,
        "submit_date": receipt.submit_date.isoformat() if receipt.submit_date else None,
        "done_date": receipt.done_date.isoformat() if receipt.done_date else None,
    }


def _outcome_json(outcome: Outcome) -> str:
    return json.dumps(
        {
            "result": outcome.result,
            "exit_code": outcome.exit_code,
            "detail": outcome.detail,
            "message_ids": [item.message_id for item in outcome.submitted],
            "receipts": [_receipt_json(receipt) for receipt in outcome.receipts],
        },
        ensure_ascii=False,
    )


def _read_text(value: str) -> str:
    if value != "-":
        return value
    data = sys.stdin.read()
    # The newline a shell pipeline adds is not part of the message.
    return data.removesuffix("\n").removesuffix("\r")


def _password(variable: str) -> str | None:
    value = os.environ.get(variable)
    if value is not None:
        return value
    if sys.stdin.isatty():
        return str(click.prompt("Password", hide_input=True, err=True))
    return None


def _usage_exit(ctx: click.Context, error: click.UsageError) -> NoReturn:
    error.show()
    ctx.exit(EXIT_USAGE)


class _SendCommand(click.Command):
    """Usage errors exit 64, so a script never mistakes them for a timeout (2)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as exc:
            _usage_exit(ctx, exc)
            raise  # not reached: _usage_exit exits


def _address_option(source: bool) -> Callable[[click.Context, click.Parameter, str | None], Any]:
    def convert(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
        if value is None:
            return None
        try:
            return parse_address(value, source=source)
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from None

    return convert


@click.command(cls=_SendCommand)
@click.option(
    "--to",
    "destination",
    required=True,
    callback=_address_option(False),
    metavar="NUMBER",
    help="Recipient: +46701234567, or digits the gateway's number rules read.",
)
@click.option("--text", required=True, help="The message; - reads it from standard input.")
@click.option(
    "--from",
    "source",
    callback=_address_option(True),
    metavar="SENDER",
    help="Sender: a number or up to 11 characters of text (default: the gateway's).",
)
@bind_options(
    server="The gateway's address.",
    account="The application account to bind as.",
    password="Environment variable holding the password (asked for on a terminal if unset).",
)
@click.option(
    "--long",
    "long_mode",
    type=click.Choice(["udh8", "udh16", "sar"]),
    default="udh8",
    show_default=True,
    help="How the parts of a long text are tied together.",
)
@click.option(
    "--marketing/--transactional",
    "marketing",
    default=None,
    help="The message's class (quiet hours and frequency caps hold marketing;"
    " default: the account's traffic class).",
)
@click.option("--no-wait", is_flag=True, help="Exit once submitted; ask for no receipt.")
@click.option(
    "--timeout",
    default=DEFAULT_TIMEOUT,
    show_default=True,
    type=click.FloatRange(0, MAX_TIMEOUT, min_open=True),
    help="Seconds for the whole exchange, receipts included.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object at the end instead.")
@click.pass_context
def send(
    ctx: click.Context,
    *,
    destination: Address,
    text: str,
    source: Address | None,
    host: str,
    port: int,
    system_id: str,
    password_env: str,
    long_mode: str,
    marketing: bool | None,
    no_wait: bool,
    timeout: float,
    as_json: bool,
) -> None:
    """Submit one message through a running gateway and wait for its receipt.

    Exit status: 0 delivered (or submitted, with --no-wait), 1 refused or not
    delivered, 2 timed out, 3 no connection or bind, 64 a usage mistake.
    """
    smpplib_log = logging.getLogger(_SMPPLIB_LOGGER)
    smpplib_log.propagate = False  # its warnings are ours to word
    smpplib_log.addHandler(logging.NullHandler())

    request = SendRequest(
        host=host,
        port=port,
        system_id=system_id,
        destination=destination,
        text=_read_text(text),
        source=source or NO_SOURCE,
        wait=not no_wait,
        timeout=timeout,
        policy=TextPolicy(long_message=LongMessageMode(long_mode)),
        message_class=(
            None
            if marketing is None
            else SmppdMessageClass.MARKETING
            if marketing
            else SmppdMessageClass.TRANSACTIONAL
        ),
    )
    password = _password(password_env)
    if password is None:
        _finish(
            ctx,
            as_json,
            Outcome(
                EXIT_UNREACHABLE,
                "unreachable",
                f"no password: set {password_env} (or name another variable with"
                " --password-env), or run on a terminal to be asked",
            ),
        )
        return
    if len(password) > MAX_PASSWORD_LENGTH or not _latin1(password):
        _finish(
            ctx,
            as_json,
            Outcome(
                EXIT_UNREACHABLE,
                "unreachable",
                f"the password in {password_env} cannot be sent: SMPP 3.4 passwords have at most"
                f" {MAX_PASSWORD_LENGTH} Latin-1 characters",
            ),
        )
        return

    def report(item: Submitted | Receipt) -> None:
        if not as_json:
            click.echo(_human(item))

    try:
        outcome = run_send(request, password, report=report)
    except (TooManyParts, TextEncodeError) as exc:
        _usage_exit(ctx, click.UsageError(str(exc), ctx))
    _finish(ctx, as_json, outcome)


def _latin1(value: str) -> bool:
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True


def _finish(ctx: click.Context, as_json: bool, outcome: Outcome) -> None:
    if as_json:
        click.echo(_outcome_json(outcome))
    else:
        click.echo(outcome.detail, err=outcome.exit_code != EXIT_DELIVERED)
    ctx.exit(outcome.exit_code)
