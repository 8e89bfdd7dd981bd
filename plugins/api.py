"""The plugin API: what a plugin sees, what it answers, and what it may use.

How this works:

* The gateway hands a plugin plain, frozen values: :class:`OutboundMessage`
  (an application's message before it is accepted), :class:`InboundMessage`
  (an MO after reassembly and de-duplication) and :class:`ReceiptEvent`.
  No PDU, no database row: a plugin cannot change a message behind the
  gateway's back, and the values stay valid after the call.
* A plugin answers with values too. To an outbound message: :class:`Accept`,
  :class:`Refuse` (with the SMPP ``command_status`` the application gets) or
  :class:`Defer` (accepted, but held until a moment: quiet hours, frequency
  caps; never dropped). To an inbound message: an :class:`InboundOutcome`
  saying whether the message still goes to applications, which
  :class:`Reply` messages to send back (through the normal outbound path,
  so they meet every plugin's outbound hook like any other message) and tags
  for the log. A receipt hook answers nothing.
* A plugin is a class with a ``name``, an optional ``config_model`` (a
  pydantic model that validates its ``[plugins.NAME]`` table; derive it from
  :class:`PluginConfig`) and any of the hook methods ``outbound``,
  ``inbound``, ``receipt``, ``start`` and ``stop``. Its other public
  attributes may only be ``description`` and ``requires`` (the names of
  plugins that must be enabled before it, as the loyalty plugin needs the
  consent plugin): helpers start with an underscore,
  so a misspelt hook (``outbond``) is refused at load instead of being
  silently never called. The :class:`Plugin` protocol and the ``*Hook``
  protocols below spell the contract out for type checkers.
* A hook may answer at once or with a Deferred (or be a coroutine function).
  It runs on the reactor thread, so it must be quick: anything that blocks
  (the database, files, a remote service) goes through
  :attr:`PluginContext.run_blocking`. The host measures the time each call
  spends on the reactor thread and logs slow ones; a hook that has not
  answered within its timeout is treated as failed.
* Inbound effects must be idempotent: a crash between a plugin's effect and
  the gateway recording the outcome makes the hook run again for the same
  message, and a call that timed out may still have taken effect.
  :attr:`InboundMessage.idempotency_key` is the key to make them so (a
  unique ledger key for a loyalty award, for example). Replies are
  idempotent by themselves: reply number ``i`` of plugin ``P`` to inbound
  key ``K`` is stored under :func:`reply_message_id` ``(K, P, i)``, and the
  store keeps the first copy only, so a re-run hook does not send twice.
* Besides answering, a started plugin may send on its own
  (:attr:`PluginContext.send`: reminders, reward codes) and write to the
  store inside the gateway's group commit (:attr:`PluginContext.write`).
  Both go through the same machinery as everything else: a plugin's
  messages meet every outbound hook, are routed as account ``P`` (an
  operator routes plugin traffic with ``accounts = ["loyalty"]``) and are
  committed before they are sent.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Coroutine, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import (
    Any,
    Final,
    Generic,
    Literal,
    ParamSpec,
    Protocol,
    TypeAlias,
    TypeVar,
    runtime_checkable,
)

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Connection
from twisted.internet.defer import Deferred, fail
from twisted.logger import Logger

from smppd.clock import ReactorClock
from smppd.smpp.constants import CommandStatus
from smppd.store.lifecycle import State

__all__ = [
    "FORWARD",
    "MAX_REPLIES_PER_OUTCOME",
    "MAX_SEND_KEY_LENGTH",
    "MAX_TAGS_PER_OUTCOME",
    "MAX_TAG_LENGTH",
    "Accept",
    "Answer",
    "BlockingRunner",
    "Channel",
    "Defer",
    "InboundHook",
    "InboundMessage",
    "InboundOutcome",
    "MessageClass",
    "OutboundHook",
    "OutboundMessage",
    "Plugin",
    "PluginConfig",
    "PluginContext",
    "ReceiptEvent",
    "ReceiptHook",
    "Refuse",
    "Reply",
    "SendResult",
    "SendUnavailable",
    "Sender",
    "StartHook",
    "StopHook",
    "Verdict",
    "Writer",
    "engine_writer",
    "reply_message_id",
    "send_message_id",
]

# A plugin that answers one inbound message with more replies than this is
# misbehaving (a loop, a template gone wrong): the answer is treated as a
# failure rather than flooding the sender.
MAX_REPLIES_PER_OUTCOME = 4
MAX_TAGS_PER_OUTCOME = 16
MAX_TAG_LENGTH = 64
# SMPP 3.4 §5.1.3: command_status is a 4-octet integer; 0 is ESME_ROK.
MAX_COMMAND_STATUS = 0xFFFFFFFF
# An idempotency key of PluginContext.send is hashed into a message id; a key
# longer than this is a plugin passing its message text by mistake.
MAX_SEND_KEY_LENGTH: Final = 512

P = ParamSpec("P")
R = TypeVar("R")
ConfigT = TypeVar("ConfigT", bound=BaseModel | None)


class MessageClass(StrEnum):
    """Whether a message is marketing (held by quiet hours and frequency
    caps) or transactional (receipts, one-time codes, opt-out confirmations)."""

    MARKETING = "marketing"
    TRANSACTIONAL = "transactional"


class Channel(StrEnum):
    """Where an inbound message came from."""

    SMPP = "smpp"
    MODEM = "modem"


def _require_aware(owner: str, name: str, value: datetime | None) -> None:
    if value is not None and (value.tzinfo is None or value.utcoffset() is None):
        raise ValueError(f"{owner}.{name} must be a timezone-aware datetime")


def _frozen_mapping(value: Mapping[str, str]) -> Mapping[str, str]:
    # A copy behind a read-only view: the caller's dict may change later.
    return MappingProxyType(dict(value))


_EMPTY: Mapping[str, str] = MappingProxyType({})


# -- what a plugin sees ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """An application's (or a plugin reply's) message before it is accepted.

    ``destination`` is normalised (international digits, as routing sees
    it). ``text`` is the decoded text when the data coding is text;
    ``payload`` the raw short message / message_payload octets as submitted,
    with ``data_coding``; at least one of the two is set. ``schedule_at`` and
    ``validity_until`` are the absolute times the SMPP fields mean.
    ``origin`` names the plugin whose :class:`Reply` this is (None for
    application traffic), and ``in_reply_to`` the inbound message's
    idempotency key: a consent plugin recognises its own opt-out
    confirmation by them.
    """

    message_id: str
    system_id: str
    source: str
    destination: str
    message_class: MessageClass
    text: str | None = None
    payload: bytes | None = None
    data_coding: int = 0
    registered_delivery: int = 0
    schedule_at: datetime | None = None
    validity_until: datetime | None = None
    route: str | None = None
    connector: str | None = None
    metadata: Mapping[str, str] = field(default_factory=lambda: _EMPTY, hash=False)
    origin: str | None = None
    in_reply_to: str | None = None

    def __post_init__(self) -> None:
        if self.text is None and self.payload is None:
            raise ValueError("OutboundMessage needs text, payload or both")
        if not 0 <= self.data_coding <= 0xFF:
            raise ValueError(f"data_coding {self.data_coding} is not an octet")
        if not 0 <= self.registered_delivery <= 0xFF:
            raise ValueError(f"registered_delivery {self.registered_delivery} is not an octet")
        _require_aware("OutboundMessage", "schedule_at", self.schedule_at)
        _require_aware("OutboundMessage", "validity_until", self.validity_until)
        object.__setattr__(self, "message_class", MessageClass(self.message_class))
        object.__setattr__(self, "metadata", _frozen_mapping(self.metadata))


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """A mobile-originated message, reassembled and de-duplicated.

    ``connector`` is the carrier connector or modem it arrived on;
    ``carrier_reference`` the carrier's or SMSC's reference when the channel
    gives one. ``idempotency_key`` is stable for this message: the same
    inbound message re-sent by a carrier or re-read from a modem, or handed
    to the plugins again after a restart, carries the same key. Plugins key
    their own effects on it.
    """

    source: str
    destination: str
    text: str
    received_at: datetime
    channel: Channel
    connector: str
    idempotency_key: str
    carrier_reference: str | None = None

    def __post_init__(self) -> None:
        _require_aware("InboundMessage", "received_at", self.received_at)
        if not self.idempotency_key:
            raise ValueError("InboundMessage.idempotency_key must not be empty")
        object.__setattr__(self, "channel", Channel(self.channel))


@dataclass(frozen=True, slots=True)
class ReceiptEvent:
    """A delivery receipt for one of our messages, already correlated.

    ``state`` is the message's lifecycle state the receipt moved it to;
    ``error`` the carrier's error code as reported (None when it gave none);
    ``carrier_id`` the id the carrier knows the message by; ``at`` when the
    carrier says it happened (or when we received it, if it did not say).
    """

    message_id: str
    state: State
    at: datetime
    error: str | None = None
    carrier_id: str | None = None

    def __post_init__(self) -> None:
        _require_aware("ReceiptEvent", "at", self.at)
        object.__setattr__(self, "state", State(self.state))


# -- what a plugin answers ------------------------------------------------


@dataclass(frozen=True, slots=True)
class Accept:
    """Let the message through; ``reason`` goes to the log and history."""

    reason: str = ""


@dataclass(frozen=True, slots=True)
class Refuse:
    """Reject the message.

    ``answer="status"``: the application gets ``command_status`` in its
    ``submit_sm_resp`` (e.g. ``ESME_RX_R_APPN`` for an opted-out recipient).
    ``answer="receipt"``: the application gets status 0 and a message id as
    if the message were accepted; the message is stored straight away as
    ``rejected`` (error code ``command_status``, detail ``reason``), never
    sent, and a ``REJECTD`` delivery receipt reaches the application when
    its ``registered_delivery`` asks for one. Applications that treat every
    non-zero status as "try again" stop retrying an opted-out recipient
    that way. For a plugin's own message both mean "not sent".
    """

    command_status: int
    reason: str
    answer: Literal["status", "receipt"] = "status"

    def __post_init__(self) -> None:
        if not 0 < self.command_status <= MAX_COMMAND_STATUS:
            raise ValueError(
                f"Refuse.command_status must be a non-zero SMPP status, got {self.command_status}"
            )
        if self.answer not in ("status", "receipt"):
            raise ValueError(f'Refuse.answer must be "status" or "receipt", got {self.answer!r}')
        # A known status shows its name in logs; an operator's own code stays an int.
        with suppress(ValueError):
            object.__setattr__(self, "command_status", CommandStatus(self.command_status))


@dataclass(frozen=True, slots=True)
class Defer:
    """Accept the message but hold it until ``until`` (never drop it).

    The gateway sends it at ``until`` or its own schedule, whichever is later,
    and still expires it at its validity.
    """

    until: datetime
    reason: str

    def __post_init__(self) -> None:
        # An ``until`` already past is allowed: it holds nothing.
        _require_aware("Defer", "until", self.until)


Verdict: TypeAlias = Accept | Refuse | Defer


@dataclass(frozen=True, slots=True)
class Reply:
    """A text to send back to the sender of an inbound message.

    It goes out through the normal outbound path from the number the sender
    wrote to. ``message_class`` defaults to marketing, the safe side: opt-out
    and help confirmations, which must not wait for quiet hours, say
    transactional. ``metadata`` becomes the outbound message's metadata.
    """

    text: str
    message_class: MessageClass = MessageClass.MARKETING
    metadata: Mapping[str, str] = field(default_factory=lambda: _EMPTY, hash=False)

    def __post_init__(self) -> None:
        if not self.text:
            raise ValueError("Reply.text must not be empty")
        object.__setattr__(self, "message_class", MessageClass(self.message_class))
        object.__setattr__(self, "metadata", _frozen_mapping(self.metadata))


@dataclass(frozen=True, slots=True)
class InboundOutcome:
    """A plugin's answer to an inbound message.

    ``forward=False`` keeps the message from applications (a STOP handled
    here, a loyalty keyword). Tags are short words for the log
    (``opt-out``, ``points-awarded``).
    """

    forward: bool = True
    replies: tuple[Reply, ...] = ()
    tags: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        replies = tuple(self.replies)
        tags = tuple(self.tags)
        if len(replies) > MAX_REPLIES_PER_OUTCOME:
            raise ValueError(
                f"at most {MAX_REPLIES_PER_OUTCOME} replies per inbound message, got {len(replies)}"
            )
        if not all(isinstance(reply, Reply) for reply in replies):
            raise TypeError("InboundOutcome.replies must hold Reply values")
        if len(tags) > MAX_TAGS_PER_OUTCOME:
            raise ValueError(f"at most {MAX_TAGS_PER_OUTCOME} tags, got {len(tags)}")
        for tag in tags:
            if not isinstance(tag, str) or not 0 < len(tag) <= MAX_TAG_LENGTH:
                raise ValueError(f"a tag is a string of 1 to {MAX_TAG_LENGTH} characters")
        object.__setattr__(self, "replies", replies)
        object.__setattr__(self, "tags", tags)


# The answer of a plugin that has nothing to say about a message.
FORWARD = InboundOutcome()


# -- what a plugin may use -------------------------------------------------


class BlockingRunner(Protocol):
    """Runs ``fn(*args, **kwargs)`` off the reactor thread; the Deferred
    fires on the reactor thread with its result or failure."""

    def __call__(self, fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> Deferred[R]: ...


@dataclass(frozen=True, slots=True)
class SendResult:
    """What became of a message a plugin sent (:attr:`PluginContext.send`).

    Sent: ``message_id`` is its id and ``refused`` None; ``reason`` says
    ``"accepted"``, or ``"already stored"`` when a send with the same key
    stored it before (nothing is sent twice). Not sent: ``refused`` is the
    SMPP status an application would have had (no route, a bad address, a
    plugin's refusal, the store failing), ``reason`` says why, and
    ``message_id`` is None.
    """

    message_id: str | None
    refused: int | None
    reason: str

    @property
    def sent(self) -> bool:
        return self.refused is None


class SendUnavailable(RuntimeError):
    """This context has no outbound path (a hand-built context in tests, a
    tool that loads plugins without running the gateway, a send before the
    gateway is wired)."""


class Sender(Protocol):
    """Sends a text on a plugin's behalf: :attr:`PluginContext.send`.

    ``source`` and ``destination`` are read as an application's addresses
    with TON 0 / NPI 1: ``+46701234567`` (international), a short code such
    as ``72345``, digits of the default region, or a text sender (source
    only). The text is encoded and split by its route's text policy. The
    message is an application message of account ``<plugin name>``: routes
    select it with ``accounts = ["<plugin name>"]`` (``"*"`` takes it too),
    every plugin's outbound hook sees it (``origin`` = the plugin) and their
    verdict holds (refused: not sent; deferred: held), then it is committed
    and sent. ``key`` makes the call idempotent: the message id is
    :func:`send_message_id` ``(key, plugin)`` and a second call with the same
    key stores and sends nothing. ``metadata`` becomes the outbound
    message's metadata.

    The Deferred fires after the commit (or the refusal) with a
    :class:`SendResult`; it fails only with :class:`SendUnavailable`. A
    refusal is in the result, not sent to the plugin's receipt hook; the
    receipt hook sees the carrier's receipts for sent messages. A ``key``
    that is empty or longer than :data:`MAX_SEND_KEY_LENGTH` raises
    ``ValueError`` at once (a plugin's mistake, not the message's fate).
    """

    def __call__(
        self,
        *,
        source: str,
        destination: str,
        text: str,
        message_class: MessageClass = MessageClass.MARKETING,
        key: str | None = None,
        metadata: Mapping[str, str] = _EMPTY,
    ) -> Deferred[SendResult]: ...


class Writer(Protocol):
    """Runs ``fn(conn)`` inside the store writer's next group commit:
    :attr:`PluginContext.write`.

    The Deferred fires on the reactor thread after that commit, with
    ``fn``'s result, or with its exception (then nothing ``fn`` wrote is
    kept: it runs inside a savepoint of the group's transaction, so its
    failure costs no other write its commit).

    The writer thread applies one write after another, so a read-modify-write
    inside one ``fn`` is atomic with respect to every other write of the
    gateway and of the plugins (on PostgreSQL shared by several gateway
    nodes, lock the rows you read with ``SELECT ... FOR UPDATE``). For an
    idempotent insert use ``INSERT ... ON CONFLICT DO NOTHING`` on a unique
    key.

    ``fn`` may run more than once: when the group's commit fails for
    another reason (the database refused another write of the group, the
    disk is full), the whole group is rolled back and each write runs again
    in a transaction of its own. Nothing of a rolled-back run is kept, so
    this is safe as long as ``fn`` only talks to ``conn``: it must not send,
    log as if done, change objects outside itself, commit, roll back or
    close ``conn``. It runs on the writer thread, holding up every other
    write while it runs: keep it to a few statements.
    """

    def __call__(self, fn: Callable[[Connection], R], /) -> Deferred[R]: ...


def _no_sender(
    *,
    source: str,
    destination: str,
    text: str,
    message_class: MessageClass = MessageClass.MARKETING,
    key: str | None = None,
    metadata: Mapping[str, str] = _EMPTY,
) -> Deferred[SendResult]:
    return fail(
        SendUnavailable(
            "this plugin context has no outbound path: plugins send only inside a running gateway"
        )
    )


def _in_transaction(engine: Any, fn: Callable[[Connection], R]) -> R:
    with engine.begin() as conn:
        return fn(conn)


def engine_writer(engine: Any, run_blocking: BlockingRunner) -> Writer:
    """A :class:`Writer` for a context without the group-commit writer: each
    ``fn`` in a transaction of its own through ``run_blocking``. Without an
    engine every call fails, naming the reason."""

    def write(fn: Callable[[Connection], R], /) -> Deferred[R]:
        if engine is None:
            return fail(
                RuntimeError("this plugin context has no store: the gateway runs without one")
            )
        return run_blocking(_in_transaction, engine, fn)

    return write


class _WriteWithEngine:
    """Marks a context built without ``write``: it gets :func:`engine_writer`."""

    def __call__(self, fn: Callable[[Connection], R], /) -> Deferred[R]:
        raise RuntimeError("placeholder writer called")  # replaced in __post_init__


_WRITE_WITH_ENGINE: Final = _WriteWithEngine()


@dataclass(frozen=True, slots=True)
class PluginContext(Generic[ConfigT]):
    """What a started plugin may use.

    ``clock`` is the only source of time (``clock.seconds()``, and
    ``callLater`` for timers). ``config`` is the validated
    ``config_model`` instance, None without a model: a plugin declares
    ``start(self, context: PluginContext[MyConfig])``. ``engine`` is the
    store's SQLAlchemy engine as the daemon passes it (None when the gateway
    runs without one, as in tests); use it only inside ``run_blocking``, and
    for reads: writes go through ``write``. ``send`` sends a message of the
    plugin's own (:class:`Sender`); ``write`` runs a function inside the
    store writer's group commit (:class:`Writer`; a context built without
    one runs it in a transaction of its own on ``engine`` through
    ``run_blocking``). ``base_dir`` is the directory of the configuration
    file: relative paths in the plugin's settings mean paths from there
    (a ``config_model`` validator sees it as ``info.context["base_dir"]``).
    """

    name: str
    clock: ReactorClock
    log: Logger
    run_blocking: BlockingRunner
    config: ConfigT
    # Typed loosely on purpose: the store decides what it hands out.
    engine: Any = None
    send: Sender = _no_sender
    write: Writer = _WRITE_WITH_ENGINE
    base_dir: Path = Path()

    def __post_init__(self) -> None:
        if self.write is _WRITE_WITH_ENGINE:
            object.__setattr__(self, "write", engine_writer(self.engine, self.run_blocking))


# -- message ids of plugin messages ----------------------------------------

# Layout of an id (smppd.store.ids): 48-bit time, version 7, 12 bits, variant
# 0b10, 62 bits. A derived id keeps the version and variant, so it is an id
# like any other to the store and to query_sm, fills the 74 free bits from a
# hash, and leaves the time field zero: it names no moment (the message's
# acceptance time is in its row), sorts before every id issued at
# acceptance, and cannot collide with one.
_DERIVED_FREE_BITS: Final = 74


def _derived_id(kind: str, *fields: str) -> str:
    h = hashlib.sha256(kind.encode())
    for text in fields:
        h.update(b"\x00")
        h.update(text.encode("utf-8", "surrogatepass"))
    bits = int.from_bytes(h.digest()[:10], "big") >> (80 - _DERIVED_FREE_BITS)
    high, low = bits >> 62, bits & ((1 << 62) - 1)
    value = 0x7 << 76 | high << 64 | 0b10 << 62 | low
    return f"{value:032x}"


def reply_message_id(key: str, plugin: str, index: int) -> str:
    """The message id of reply number ``index`` (0-based, counted per
    plugin) of ``plugin`` to the inbound message with idempotency ``key``.

    The same inputs give the same id, so the store can tell a reply it
    already holds (a hook re-run after a crash) from a new one.
    """
    if not key or not plugin:
        raise ValueError("reply_message_id needs a key and a plugin name")
    if index < 0:
        raise ValueError(f"reply index must not be negative, got {index}")
    return _derived_id("smppd-reply", key, plugin, str(index))


def send_message_id(key: str, plugin: str) -> str:
    """The message id of ``plugin``'s :attr:`PluginContext.send` with ``key``
    (never equal to a reply's id)."""
    if not key or not plugin:
        raise ValueError("send_message_id needs a key and a plugin name")
    if len(key) > MAX_SEND_KEY_LENGTH:
        raise ValueError(f"a send key has at most {MAX_SEND_KEY_LENGTH} characters")
    return _derived_id("smppd-send", key, plugin)


class PluginConfig(BaseModel):
    """Base for a plugin's ``config_model``: strict, closed and immutable,
    like every other configuration table (a misspelt key is an error)."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


# -- the contract, for type checkers and the load-time check ---------------


# A hook answers at once, with a Deferred, or as a coroutine function.
Answer: TypeAlias = R | Deferred[R] | Coroutine[Any, Any, R]


@runtime_checkable
class Plugin(Protocol):
    """A plugin: a name and, optionally, a config model. Hooks are optional;
    implement any of :class:`OutboundHook`, :class:`InboundHook`,
    :class:`ReceiptHook`, :class:`StartHook` and :class:`StopHook`."""

    name: str


class OutboundHook(Protocol):
    def outbound(self, msg: OutboundMessage, /) -> Answer[Verdict]: ...


class InboundHook(Protocol):
    def inbound(self, msg: InboundMessage, /) -> Answer[InboundOutcome]: ...


class ReceiptHook(Protocol):
    def receipt(self, evt: ReceiptEvent, /) -> Answer[None]: ...


class StartHook(Protocol):
    def start(self, context: PluginContext[Any], /) -> Answer[None]: ...


class StopHook(Protocol):
    def stop(self) -> Answer[None]: ...
