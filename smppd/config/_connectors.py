"""``[[connectors]]``: the carriers messages leave through, one model per ``type``.

A connector is a table of the union :data:`Connector`, told apart by its
``type`` key: ``"smpp"`` (:class:`SmppConnector`, a carrier's SMSC over an
SMPP client bind), ``"sim"`` (:class:`SimConnector`, the in-process
carrier simulator the default configuration uses as a demo) or
``"modem_pool"`` (:class:`ModemPoolConnector`, GSM modems of ``[[modems]]``
sharing the traffic; routes name it ``modem_pool:NAME``). Adding a kind
of connector is adding one model with its own ``type`` literal to the union;
errors, redaction and "did you mean" follow from the declarations.

Every connector carries the text settings of :class:`TextSettings` (what
``data_coding`` 0 means at this carrier, how long messages are tied
together, national language tables) and turns them into the
:class:`~smppd.text.policy.TextPolicy` the text layer applies with
:meth:`TextSettings.text_policy`.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, ClassVar, Final, Literal, Self

from pydantic import AfterValidator, Field, ValidationInfo, model_validator
from pydantic_core import PydanticCustomError

from smppd.config._base import (
    MAX_TIMER_SECONDS,
    Name,
    Seconds,
    Section,
    SystemId,
    validation_context,
)
from smppd.config._endpoints import EndpointError, check_client_endpoint, check_server_endpoint
from smppd.config._schema import Expect, Sensitive
from smppd.receipt import IdBase, IdRule
from smppd.routing.address import AddressKind
from smppd.routing.outbound import TargetKind
from smppd.smpp.constants import MessageState, Npi, Ton
from smppd.text import natlang
from smppd.text.layout import MAX_PARTS
from smppd.text.policy import Dcs0, LongMessageMode, TextPolicy

# -- limits and defaults -----------------------------------------------------

# SMPP 3.4 §5.2.1: password is a C-Octet String of at most 9 octets with the
# terminating NUL; system_type at most 13.
MAX_PASSWORD_LENGTH: Final = 8
MAX_SYSTEM_TYPE_LENGTH: Final = 12
# Kannel's max-pending-submits default; many SMSCs allow 1 to 100.
DEFAULT_CONNECTOR_WINDOW: Final = 10
MAX_CONNECTOR_WINDOW: Final = 10_000
# Carriers that state no rate usually take at least this; set the
# contracted rate.
DEFAULT_MAX_MESSAGES_PER_SECOND: Final = 10.0
DEFAULT_SIM_MESSAGES_PER_SECOND: Final = 100.0
MAX_MESSAGES_PER_SECOND: Final = 100_000.0
DEFAULT_CARRIER_ENQUIRE_LINK_INTERVAL: Final = 30.0
DEFAULT_CARRIER_RESPONSE_TIMEOUT: Final = 30.0
DEFAULT_BIND_TIMEOUT: Final = 30.0
# Reconnecting backs off from the first delay, doubling up to the last.
DEFAULT_RECONNECT_DELAY_MIN: Final = 5.0
DEFAULT_RECONNECT_DELAY_MAX: Final = 60.0
# A runaway text costs one SMS per part: at most this many unless raised.
DEFAULT_CONNECTOR_MAX_PARTS: Final = 10
DEFAULT_MAX_BINDS: Final = 1
MAX_MAX_BINDS: Final = 1_000
# interface_version in bind PDUs (SMPP 3.4 §5.2.4): 3.3, 3.4, 5.0.
INTERFACE_VERSIONS: Final = (0x33, 0x34, 0x50)
DEFAULT_INTERFACE_VERSION: Final = 0x34
DEFAULT_RECEIPT_DELAY: Final = 1.0
# A pool is a rack of USB modems, not a bank of thousands.
MAX_MODEMS_PER_POOL: Final = 256
# Parts one modem of a pool holds at once: one on the wire and one ready to
# follow the moment it is answered (modem.pool.DEFAULT_WINDOW). A modem
# sends one at a time, so a deep window only hides parts from other modems.
DEFAULT_POOL_WINDOW: Final = 2
MAX_POOL_WINDOW: Final = 16
# How long a part sent through a modem waits for its SMS-STATUS-REPORT
# (modem.pool.DEFAULT_REPORT_WINDOW); networks keep trying for days.
DEFAULT_REPORT_WINDOW: Final = 3 * 86_400.0
MAX_REPORT_WINDOW: Final = 30 * 86_400.0
# Shares of a state mix may be written as decimals that do not add up
# exactly in binary (0.95 + 0.04 + 0.01).
STATE_MIX_TOLERANCE: Final = 1e-6

BIND_TRANSCEIVER: Final = "transceiver"
BIND_TX_RX: Final = "transmitter+receiver"
_BIND_SPELLINGS: Final = {"tx+rx": BIND_TX_RX}

_NPI_VALUES: Final = tuple(int(npi) for npi in Npi)
_LANGUAGE_NAMES: Final = ", ".join(sorted(natlang.LANGUAGES))


def _check_endpoint(value: str, info: ValidationInfo) -> str:
    try:
        return check_client_endpoint(value, validation_context(info).base_dir)
    except EndpointError as exc:
        raise ValueError(str(exc)) from None


def _check_password(value: str) -> str:
    # The length is what SMPP limits; the value itself is never quoted.
    if len(value) > MAX_PASSWORD_LENGTH:
        raise ValueError(
            f"SMPP 3.4 allows a password of at most {MAX_PASSWORD_LENGTH} characters"
            f" (9 octets with the terminating NUL); this one has {len(value)}"
        )
    if not value.isascii() or not value.isprintable():
        raise ValueError("a password must be printable ASCII")
    return value


def _check_npi(value: int) -> int:
    if value not in _NPI_VALUES:
        raise ValueError(f"NPI {value} is not defined by SMPP 3.4 §5.2.6")
    return value


def _check_language(value: str) -> str:
    try:
        natlang.language_id(value)
    except natlang.UnknownLanguage:
        raise ValueError(
            f'no national language table "{value}" (known: {_LANGUAGE_NAMES})'
        ) from None
    return value.strip().lower()


def _check_interface_version(value: int) -> int:
    if value not in INTERFACE_VERSIONS:
        raise ValueError(
            "interface_version is 0x34 (SMPP 3.4), 0x50 (SMPP 5.0) or 0x33 (SMPP 3.3),"
            f" not 0x{value:02x}"
        )
    return value


def _canonical_bind(value: str) -> str:
    return _BIND_SPELLINGS.get(value, value)


def _cross_field(key: str, message: str) -> PydanticCustomError:
    return PydanticCustomError("cross_field", message, {"key": key})


Password = Annotated[
    str,
    Sensitive.SECRET,
    Expect(f"a password of at most {MAX_PASSWORD_LENGTH} printable ASCII characters"),
    AfterValidator(_check_password),
]
ClientEndpoint = Annotated[
    str,
    Expect('a Twisted client endpoint string such as "tcp:host=smsc.example.net:port=2775"'),
    AfterValidator(_check_endpoint),
]
Language = Annotated[
    str,
    Expect(f"a national language ({_LANGUAGE_NAMES})"),
    AfterValidator(_check_language),
]
MessagesPerSecond = Annotated[float, Field(gt=0, le=MAX_MESSAGES_PER_SECOND)]
Share = Annotated[float, Field(ge=0, le=1)]


# -- parts shared by every connector -------------------------------------------


class TonNpi(Section):
    """The TON and NPI a source address is sent with."""

    ton: Annotated[
        int,
        Field(ge=0, le=6),
        Expect("a TON from 0 to 6 (SMPP 3.4 §5.2.5: 1 international, 3 network, 5 text)"),
    ]
    npi: Annotated[
        int,
        Expect("an NPI of SMPP 3.4 §5.2.6 (0 unknown, 1 ISDN/E.164, 8 national, ...)"),
        AfterValidator(_check_npi),
    ]


class SourceTonNpi(Section):
    """``source_ton_npi``: the TON/NPI sent for each kind of source address.

    The defaults are what SMSCs expect almost everywhere: a text sender as
    alphanumeric (5/0), a number as international E.164 (1/1) and a short
    code as network specific (3/0).
    """

    alphanumeric: TonNpi = TonNpi(ton=int(Ton.ALPHANUMERIC), npi=int(Npi.UNKNOWN))
    international: TonNpi = TonNpi(ton=int(Ton.INTERNATIONAL), npi=int(Npi.ISDN))
    short_code: TonNpi = TonNpi(ton=int(Ton.NETWORK_SPECIFIC), npi=int(Npi.UNKNOWN))

    def for_kind(self, kind: AddressKind) -> tuple[Ton, Npi]:
        """The (TON, NPI) to send a source address of ``kind`` with."""
        rule = {
            AddressKind.ALPHANUMERIC: self.alphanumeric,
            AddressKind.E164: self.international,
            AddressKind.SHORT_CODE: self.short_code,
        }[kind]
        return Ton(rule.ton), Npi(rule.npi)


IdBaseName = Literal["dec", "hex", "text", "auto"]


class ReceiptIds(Section):
    """``receipt_ids``: how a carrier's receipt ids relate to its submit_sm_resp ids.

    Either the base of each side (``submit``, ``receipt``: dec, hex, text or
    auto) or Kannel's ``msg_id_type`` 0..3 (bit 0: submit_sm_resp ids are
    hex, bit 1: receipt ids are hex). Unset: both sides ``auto``.
    """

    submit: IdBaseName | None = None
    receipt: IdBaseName | None = None
    msg_id_type: Annotated[int, Field(ge=0, le=3)] | None = None

    @model_validator(mode="after")
    def _one_convention(self) -> Self:
        if self.msg_id_type is not None and (self.submit or self.receipt):
            raise _cross_field("msg_id_type", "give either msg_id_type or submit/receipt, not both")
        try:
            self.id_rule()
        except ValueError as exc:
            raise _cross_field("receipt", f"{exc} (submit and receipt disagree)") from None
        return self

    def id_rule(self) -> IdRule:
        """The :class:`~smppd.receipt.IdRule` receipts are correlated with."""
        if self.msg_id_type is not None:
            return IdRule.from_kannel(self.msg_id_type)
        return IdRule(IdBase(self.submit or "auto"), IdBase(self.receipt or "auto"))


class TextSettings(Section):
    """The text settings every connector has (see :class:`~smppd.text.policy.TextPolicy`)."""

    dcs0: Literal["gsm7", "latin1", "ascii"] = "gsm7"
    long_messages: Literal["udh8", "udh16", "sar", "payload"] = "udh8"
    max_parts: Annotated[int, Field(ge=1, le=MAX_PARTS)] = DEFAULT_CONNECTOR_MAX_PARTS
    national_languages: tuple[Language, ...] = ()
    transliterate: bool = False
    ucs2_fallback: bool = True

    # How routes name this kind of connector (a modem pool is another kind).
    target_kind: ClassVar[TargetKind] = TargetKind.CONNECTOR

    @model_validator(mode="after")
    def _national_tables_need_udh(self) -> Self:
        # The tables are announced in the UDH and are GSM-7 septets, so an
        # SMSC must pass the UDH through and read data_coding 0 as GSM-7.
        if self.national_languages and (
            Dcs0(self.dcs0) is not Dcs0.GSM7
            or LongMessageMode(self.long_messages)
            not in (LongMessageMode.UDH8, LongMessageMode.UDH16)
        ):
            raise _cross_field(
                "national_languages",
                'national language tables need dcs0 = "gsm7" and long_messages = "udh8"'
                f' or "udh16" (here dcs0 = "{self.dcs0}",'
                f' long_messages = "{self.long_messages}")',
            )
        return self

    def text_policy(self) -> TextPolicy:
        """The rules the text layer applies to messages sent through this connector."""
        return TextPolicy(
            long_message=LongMessageMode(self.long_messages),
            max_parts=self.max_parts,
            national_languages=self.national_languages,
            transliterate=self.transliterate,
            dcs0=Dcs0(self.dcs0),
            ucs2_fallback=self.ucs2_fallback,
        )


# -- the kinds of connector --------------------------------------------------------


class SmppConnector(TextSettings):
    """``type = "smpp"``: a carrier's SMSC, reached by an SMPP client bind."""

    name: Name
    type: Literal["smpp"]
    endpoint: ClientEndpoint
    system_id: SystemId
    password: Password = ""
    system_type: Annotated[
        str,
        Field(max_length=MAX_SYSTEM_TYPE_LENGTH),
        Expect(f"at most {MAX_SYSTEM_TYPE_LENGTH} characters"),
    ] = ""
    bind: Annotated[
        Literal["transceiver", "transmitter+receiver", "tx+rx"],
        AfterValidator(_canonical_bind),
    ] = BIND_TRANSCEIVER
    window: Annotated[int, Field(ge=1, le=MAX_CONNECTOR_WINDOW)] = DEFAULT_CONNECTOR_WINDOW
    max_messages_per_second: MessagesPerSecond = DEFAULT_MAX_MESSAGES_PER_SECOND
    enquire_link_interval: Seconds = DEFAULT_CARRIER_ENQUIRE_LINK_INTERVAL
    response_timeout: Seconds = DEFAULT_CARRIER_RESPONSE_TIMEOUT
    bind_timeout: Seconds = DEFAULT_BIND_TIMEOUT
    reconnect_delay_min: Seconds = DEFAULT_RECONNECT_DELAY_MIN
    reconnect_delay_max: Seconds = DEFAULT_RECONNECT_DELAY_MAX
    source_ton_npi: SourceTonNpi = SourceTonNpi()
    receipt_ids: ReceiptIds = ReceiptIds()
    max_binds: Annotated[int, Field(ge=1, le=MAX_MAX_BINDS)] = DEFAULT_MAX_BINDS
    interface_version: Annotated[
        int,
        Expect("0x34 (SMPP 3.4), 0x50 (SMPP 5.0) or 0x33 (SMPP 3.3)"),
        AfterValidator(_check_interface_version),
    ] = DEFAULT_INTERFACE_VERSION

    @model_validator(mode="before")
    @classmethod
    def _two_binds_for_tx_rx(cls, data: Any) -> Any:
        # A transmitter+receiver pair holds two of the account's binds.
        if (
            isinstance(data, dict)
            and "max_binds" not in data
            and _canonical_bind(str(data.get("bind", ""))) == BIND_TX_RX
        ):
            return {**data, "max_binds": 2}
        return data

    @model_validator(mode="after")
    def _check_binds_and_timers(self) -> Self:
        if self.reconnect_delay_max < self.reconnect_delay_min:
            raise _cross_field(
                "reconnect_delay_max",
                f"must be at least reconnect_delay_min ({self.reconnect_delay_min:g})",
            )
        if self.bind == BIND_TX_RX and self.max_binds < 2:
            raise _cross_field(
                "max_binds",
                'must be at least 2: bind = "transmitter+receiver" opens a transmitter'
                " and a receiver",
            )
        return self

    @property
    def transceiver(self) -> bool:
        """True for one transceiver bind, False for a transmitter and a receiver."""
        return self.bind == BIND_TRANSCEIVER

    def id_rule(self) -> IdRule:
        return self.receipt_ids.id_rule()


class StateMix(Section):
    """``states``: the share of simulated receipts in each final state (adding up to 1)."""

    delivered: Share = 0.0
    undeliverable: Share = 0.0
    expired: Share = 0.0
    rejected: Share = 0.0
    deleted: Share = 0.0
    unknown: Share = 0.0

    def shares(self) -> tuple[tuple[MessageState, float], ...]:
        """``(state, share)`` for every state with a share above 0."""
        return tuple(
            (MessageState[name.upper()], share)
            for name, share in self.model_dump().items()
            if share > 0
        )


def _check_control(value: str, info: ValidationInfo) -> str:
    try:
        return check_server_endpoint(value, validation_context(info).base_dir)
    except EndpointError as exc:
        raise ValueError(str(exc)) from None


ControlEndpoint = Annotated[
    str,
    Expect('a Twisted endpoint string such as "tcp:2777:interface=127.0.0.1"'),
    AfterValidator(_check_control),
]


class SimConnector(TextSettings):
    """``type = "sim"``: the in-process carrier simulator (a demo, not a carrier).

    It accepts every message, answers at ``max_messages_per_second`` and
    sends a receipt ``receipt_delay`` seconds later, in a state drawn from
    ``states`` (or delivered with probability ``delivered_ratio``, else
    undeliverable; everything delivered when neither is set). With
    ``control`` (a server endpoint string) it serves the JSON control API
    of ``smppd sim`` there: inject a phone's message, read what a phone
    received, statistics and faults. It has no authentication: keep it on
    loopback.
    """

    name: Name
    type: Literal["sim"]
    receipt_delay: Annotated[float, Field(ge=0, le=MAX_TIMER_SECONDS)] = DEFAULT_RECEIPT_DELAY
    delivered_ratio: Share | None = None
    states: StateMix | None = None
    max_messages_per_second: MessagesPerSecond = DEFAULT_SIM_MESSAGES_PER_SECOND
    control: ControlEndpoint | None = None

    @model_validator(mode="after")
    def _one_outcome(self) -> Self:
        if self.delivered_ratio is not None and self.states is not None:
            raise _cross_field("states", "give either delivered_ratio or states, not both")
        if self.states is not None:
            total = math.fsum(share for _, share in self.states.shares())
            if abs(total - 1.0) > STATE_MIX_TOLERANCE:
                raise _cross_field("states", f"the shares add up to {total:g}, not 1")
        return self

    def state_mix(self) -> tuple[tuple[MessageState, float], ...]:
        """The final states receipts are drawn from, with their shares (adding up to 1)."""
        if self.states is not None:
            return self.states.shares()
        ratio = 1.0 if self.delivered_ratio is None else self.delivered_ratio
        mix = ((MessageState.DELIVERED, ratio), (MessageState.UNDELIVERABLE, 1.0 - ratio))
        return tuple((state, share) for state, share in mix if share > 0)


class ModemPoolConnector(TextSettings):
    """``type = "modem_pool"``: GSM modems (``[[modems]]``) sending as one connector.

    Routes name it ``modem_pool:NAME``. A modem belongs to at most one pool;
    the pool spreads messages over its modems within each one's rate and
    daily limit. Text goes out as TS 23.040 SMS-SUBMIT PDUs, so data_coding
    0 is always the GSM 7-bit alphabet and long messages are always tied
    together by a UDH.
    """

    name: Name
    type: Literal["modem_pool"]
    modems: Annotated[
        tuple[Name, ...],
        Field(min_length=1, max_length=MAX_MODEMS_PER_POOL),
        Expect(f"a non-empty list of at most {MAX_MODEMS_PER_POOL} modem names ([[modems]] name)"),
    ]
    # Ask for SMS-STATUS-REPORTs (TP-SRR): the receipts applications get.
    status_reports: bool = True
    window: Annotated[int, Field(ge=1, le=MAX_POOL_WINDOW)] = DEFAULT_POOL_WINDOW
    report_window: Annotated[
        float,
        Field(gt=0, le=MAX_REPORT_WINDOW),
        Expect(f"a number of seconds greater than 0 and at most {MAX_REPORT_WINDOW:.0f}"),
    ] = DEFAULT_REPORT_WINDOW
    dcs0: Annotated[
        Literal["gsm7"],
        Expect('"gsm7": a modem sends data_coding 0 as the GSM 7-bit alphabet'),
    ] = "gsm7"
    long_messages: Annotated[
        Literal["udh8", "udh16"],
        Expect(
            '"udh8" or "udh16": a modem ties parts together with a UDH'
            ' ("sar" and "payload" are SMPP TLVs)'
        ),
    ] = "udh8"

    target_kind: ClassVar[TargetKind] = TargetKind.MODEM_POOL


AnyConnector = SmppConnector | SimConnector | ModemPoolConnector
Connector = Annotated[AnyConnector, Field(discriminator="type")]
# type -> model, for reading raw tables (cross-references) by their kind.
CONNECTOR_MODELS: Final[dict[str, type[AnyConnector]]] = {
    "smpp": SmppConnector,
    "sim": SimConnector,
    "modem_pool": ModemPoolConnector,
}
