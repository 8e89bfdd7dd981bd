"""Pure parsers for the AT information lines the modem driver needs.

How this works: every parser takes one line as the AT engine delivered it
(surrounding whitespace already removed), checks its prefix, splits the
parameters with :func:`split_params` (commas outside double quotes; a quoted
parameter keeps its quotedness, which some answers need to be told apart)
and returns a frozen value. A line that does not match raises
:class:`ATParseError`, a :class:`ValueError`; nothing else is raised.

Formats are those of 3GPP TS 27.007 (+CSQ, +CREG/+CGREG/+CEREG, +CPIN,
+COPS, +CUSD, +CGMI...) and TS 27.005 (+CMGS, +CMGR, +CMGL, +CMT, +CDS, +CMTI,
+CDSI, +CPMS, +CSCA), PDU mode.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

__all__ = [
    "REGISTERED_STATES",
    "ATParseError",
    "DeliverHeader",
    "ListedMessageHeader",
    "Operator",
    "Param",
    "Registration",
    "ServiceCentre",
    "SignalQuality",
    "StorageIndication",
    "StorageUsage",
    "StoredMessageHeader",
    "Ussd",
    "info_body",
    "parse_cds_header",
    "parse_cmgl_header",
    "parse_cmgr_header",
    "parse_cmgs",
    "parse_cmt_header",
    "parse_cops",
    "parse_cpin",
    "parse_cpms",
    "parse_csca",
    "parse_csq",
    "parse_cusd",
    "parse_identity",
    "parse_registration",
    "parse_storage_indication",
    "registration_prefix",
    "split_params",
]


class ATParseError(ValueError):
    """An information line that does not have the expected form."""


@dataclass(frozen=True, slots=True)
class Param:
    """One comma-separated parameter; ``quoted`` tells ``"1"`` from ``1``."""

    value: str
    quoted: bool = False

    @property
    def empty(self) -> bool:
        return not self.quoted and not self.value


def split_params(text: str) -> tuple[Param, ...]:
    """Split ``1,"SM",,"a,b"`` into parameters; an unclosed quote is an error."""
    params: list[Param] = []
    i = 0
    n = len(text)
    while True:
        while i < n and text[i] == " ":
            i += 1
        if i < n and text[i] == '"':
            end = text.find('"', i + 1)
            if end < 0:
                raise ATParseError(f"unclosed quote in {text!r}")
            params.append(Param(text[i + 1 : end], quoted=True))
            i = end + 1
            while i < n and text[i] == " ":
                i += 1
            if i < n and text[i] != ",":
                raise ATParseError(f"text after a quoted parameter in {text!r}")
        else:
            end = text.find(",", i)
            if end < 0:
                end = n
            params.append(Param(text[i:end].strip()))
            i = end
        if i >= n:
            return tuple(params)
        i += 1  # the comma


def info_body(line: str, prefix: str) -> str:
    """What follows ``prefix`` (``"+CSQ"`` or ``"+CSQ:"``) and its colon."""
    name = prefix.rstrip(":")
    if not line[: len(name)].upper() == name.upper():
        raise ATParseError(f"expected {name}: in {line!r}")
    rest = line[len(name) :].lstrip()
    if not rest.startswith(":"):
        raise ATParseError(f"expected {name}: in {line!r}")
    return rest[1:].strip()


def _int(param: Param, what: str, low: int = 0, high: int | None = None) -> int:
    text = param.value.strip()
    if not text.isascii() or not text.isdigit():
        raise ATParseError(f"{what}: {param.value!r} is not a number")
    value = int(text)
    if value < low or (high is not None and value > high):
        raise ATParseError(f"{what}: {value} is out of range")
    return value


def _opt_int(params: tuple[Param, ...], index: int, what: str) -> int | None:
    if index >= len(params) or params[index].empty:
        return None
    return _int(params[index], what)


def _opt_str(params: tuple[Param, ...], index: int) -> str | None:
    if index >= len(params) or params[index].empty:
        return None
    return params[index].value


def _params(line: str, prefix: str, minimum: int) -> tuple[Param, ...]:
    params = split_params(info_body(line, prefix))
    if len(params) < minimum:
        raise ATParseError(f"{prefix} needs {minimum} parameters: {line!r}")
    return params


# -- signal and registration -------------------------------------------------

_RSSI_UNKNOWN: Final = 99


@dataclass(frozen=True, slots=True)
class SignalQuality:
    """``+CSQ: <rssi>,<ber>``."""

    rssi: int
    ber: int

    @property
    def dbm(self) -> int | None:
        """Received signal strength in dBm; None when the modem does not know.

        0..31 is -113 dBm + 2 dB per step (0 means -113 or less, 31 -51 or
        more); 100..191 is the TD-SCDMA range, -116 dBm + 1 dB per step.
        """
        if 0 <= self.rssi <= 31:
            return -113 + 2 * self.rssi
        if 100 <= self.rssi <= 191:
            return self.rssi - 216
        return None

    @property
    def ber_known(self) -> bool:
        return 0 <= self.ber <= 7


def parse_csq(line: str) -> SignalQuality:
    params = _params(line, "+CSQ", 2)
    rssi = _int(params[0], "rssi", 0, 199)
    ber = _int(params[1], "ber", 0, 99)
    if 31 < rssi < 100 and rssi != _RSSI_UNKNOWN:
        raise ATParseError(f"rssi {rssi} is not defined")
    return SignalQuality(rssi, ber)


#: <stat> values that mean SMS can be sent: home, roaming, "SMS only" home and
#: roaming, and the two CSFB-not-preferred variants (27.007 +CREG).
REGISTERED_STATES: Final = frozenset({1, 5, 6, 7, 9, 10})

_REGISTRATION_PREFIXES: Final = ("+CREG", "+CGREG", "+CEREG", "+C5GREG")


@dataclass(frozen=True, slots=True)
class Registration:
    """``+CREG``/``+CGREG``/``+CEREG``/``+C5GREG``, query answer or URC.

    ``n`` is the URC setting echoed by the query answer; it is None for the
    unsolicited form, which starts with ``<stat>``.
    """

    command: str
    stat: int
    n: int | None = None
    area: str | None = None
    cell: str | None = None
    act: int | None = None

    @property
    def registered(self) -> bool:
        return self.stat in REGISTERED_STATES

    @property
    def unsolicited(self) -> bool:
        return self.n is None


def _is_query_form(params: tuple[Param, ...]) -> bool:
    # Query: <n>,<stat>[,<lac>,<ci>[,<AcT>...]]; URC: <stat>[,<lac>,<ci>[,<AcT>...]].
    # Counts 1 and 3 only fit the URC, 2 only the query; past that the second
    # parameter decides: a bare small number is <stat>, a quoted or empty one
    # is the area code of a URC.
    count = len(params)
    if count in {1, 3}:
        return False
    if count == 2:
        return True
    second = params[1]
    return not second.quoted and second.value.isascii() and second.value.isdigit()


def registration_prefix(line: str) -> str | None:
    """``"+CREG"`` etc. when the line is a registration line, else None."""
    upper = line[:8].upper()
    for prefix in _REGISTRATION_PREFIXES:
        if upper.startswith((prefix + ":", prefix + " :")):
            return prefix
    return None


def parse_registration(line: str) -> Registration:
    prefix = registration_prefix(line)
    if prefix is None:
        raise ATParseError(f"not a registration line: {line!r}")
    params = _params(line, prefix, 1)
    if _is_query_form(params):
        n: int | None = _int(params[0], "n", 0, 9)
        rest = params[1:]
    else:
        n = None
        rest = params
    stat = _int(rest[0], "stat", 0, 11)
    return Registration(
        command=prefix,
        stat=stat,
        n=n,
        area=_opt_str(rest, 1),
        cell=_opt_str(rest, 2),
        act=_opt_int(rest, 3, "AcT"),
    )


@dataclass(frozen=True, slots=True)
class Operator:
    """``+COPS: <mode>[,<format>,<oper>[,<AcT>]]``."""

    mode: int
    format: int | None = None
    name: str | None = None
    act: int | None = None


def parse_cops(line: str) -> Operator:
    params = _params(line, "+COPS", 1)
    return Operator(
        mode=_int(params[0], "mode", 0, 4),
        format=_opt_int(params, 1, "format"),
        name=_opt_str(params, 2),
        act=_opt_int(params, 3, "AcT"),
    )


# -- SIM and identification --------------------------------------------------


def parse_cpin(line: str) -> str:
    """``+CPIN: READY`` -> ``"READY"`` (also ``SIM PIN``, ``SIM PUK``...)."""
    body = info_body(line, "+CPIN").strip().strip('"').strip()
    if not body:
        raise ATParseError(f"empty +CPIN answer: {line!r}")
    return body.upper()


def parse_identity(line: str, prefix: str | None = None) -> str:
    """The value of a plain information line (+CGMI, +CGMM, +CGMR, +CGSN, +CIMI).

    Most modems answer with the bare value; some repeat the command name
    (``+CGMM: "EC25"``). Either way the value comes back without the name
    and without quotes.
    """
    text = line.strip()
    if prefix is not None:
        name = prefix.rstrip(":")
        head = text[: len(name)].upper()
        if head == name.upper() and text[len(name) :].lstrip().startswith(":"):
            text = info_body(text, name)
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        text = text[1:-1]
    if not text:
        raise ATParseError(f"empty identification line: {line!r}")
    return text


# -- SMS (27.005) ------------------------------------------------------------


def parse_cmgs(line: str) -> int:
    """The TP-MR of ``+CMGS: <mr>[,<scts|ackpdu>]``."""
    return _int(_params(line, "+CMGS", 1)[0], "mr", 0, 255)


# Text-mode names of <stat>; PDU mode uses the numbers.
_STAT_NAMES: Final = {
    "REC UNREAD": 0,
    "REC READ": 1,
    "STO UNSENT": 2,
    "STO SENT": 3,
    "ALL": 4,
}


def _stat(param: Param) -> int:
    if param.quoted or not param.value.isdigit():
        code = _STAT_NAMES.get(param.value.upper())
        if code is None:
            raise ATParseError(f"unknown <stat> {param.value!r}")
        return code
    return _int(param, "stat", 0, 4)


@dataclass(frozen=True, slots=True)
class StoredMessageHeader:
    """``+CMGR: <stat>,[<alpha>],<length>`` (length of the TPDU, octets)."""

    stat: int
    alpha: str | None
    length: int


@dataclass(frozen=True, slots=True)
class ListedMessageHeader:
    """``+CMGL: <index>,<stat>,[<alpha>],<length>``."""

    index: int
    stat: int
    alpha: str | None
    length: int


# The longest TPDU is 164 octets (SMS-SUBMIT with a 12-octet address and
# absolute validity); anything above 255 is a corrupted header.
_MAX_TPDU: Final = 255


def parse_cmgr_header(line: str) -> StoredMessageHeader:
    params = _params(line, "+CMGR", 2)
    if len(params) == 2:
        # Some modems leave the empty <alpha> out altogether.
        return StoredMessageHeader(_stat(params[0]), None, _int(params[1], "length", 0, _MAX_TPDU))
    return StoredMessageHeader(
        _stat(params[0]), _opt_str(params, 1), _int(params[2], "length", 0, _MAX_TPDU)
    )


def parse_cmgl_header(line: str) -> ListedMessageHeader:
    params = _params(line, "+CMGL", 3)
    index = _int(params[0], "index")
    if len(params) == 3:
        return ListedMessageHeader(
            index, _stat(params[1]), None, _int(params[2], "length", 0, _MAX_TPDU)
        )
    return ListedMessageHeader(
        index, _stat(params[1]), _opt_str(params, 2), _int(params[3], "length", 0, _MAX_TPDU)
    )


@dataclass(frozen=True, slots=True)
class DeliverHeader:
    """``+CMT: [<alpha>],<length>``."""

    alpha: str | None
    length: int


def parse_cmt_header(line: str) -> DeliverHeader:
    params = _params(line, "+CMT", 1)
    if len(params) == 1:
        return DeliverHeader(None, _int(params[0], "length", 0, _MAX_TPDU))
    return DeliverHeader(_opt_str(params, 0), _int(params[1], "length", 0, _MAX_TPDU))


def parse_cds_header(line: str) -> int:
    """The TPDU length of ``+CDS: <length>``."""
    return _int(_params(line, "+CDS", 1)[0], "length", 0, _MAX_TPDU)


@dataclass(frozen=True, slots=True)
class StorageIndication:
    """``+CMTI: <mem>,<index>`` or ``+CDSI: <mem>,<index>``."""

    memory: str
    index: int


def parse_storage_indication(line: str) -> StorageIndication:
    prefix = line[:5].upper()
    if prefix not in ("+CMTI", "+CDSI"):
        raise ATParseError(f"not +CMTI/+CDSI: {line!r}")
    params = _params(line, prefix, 2)
    if params[0].empty:
        raise ATParseError(f"no storage in {line!r}")
    return StorageIndication(params[0].value.upper(), _int(params[1], "index"))


@dataclass(frozen=True, slots=True)
class StorageUsage:
    """One storage of ``+CPMS``; ``memory`` is None in the answer to a set command."""

    memory: str | None
    used: int
    total: int

    @property
    def full(self) -> bool:
        return self.total > 0 and self.used >= self.total


def parse_cpms(line: str) -> tuple[StorageUsage, ...]:
    """``+CPMS: "SM",5,30,"SM",5,30,...`` (query) or ``+CPMS: 5,30,5,30...`` (set)."""
    params = _params(line, "+CPMS", 2)
    usage: list[StorageUsage] = []
    if params[0].quoted or not params[0].value.isdigit():
        if len(params) % 3:
            raise ATParseError(f"+CPMS query answer needs triples: {line!r}")
        for i in range(0, len(params), 3):
            used = _int(params[i + 1], "used")
            usage.append(StorageUsage(params[i].value.upper(), used, _int(params[i + 2], "total")))
    else:
        if len(params) % 2:
            raise ATParseError(f"+CPMS set answer needs pairs: {line!r}")
        usage.extend(
            StorageUsage(None, _int(params[i], "used"), _int(params[i + 1], "total"))
            for i in range(0, len(params), 2)
        )
    return tuple(usage)


@dataclass(frozen=True, slots=True)
class ServiceCentre:
    """``+CSCA: <sca>,<tosca>``."""

    address: str
    toa: int | None

    @property
    def international(self) -> bool:
        return self.toa == 145 or self.address.startswith("+")


def parse_csca(line: str) -> ServiceCentre:
    params = _params(line, "+CSCA", 1)
    return ServiceCentre(params[0].value, _opt_int(params, 1, "tosca"))


@dataclass(frozen=True, slots=True)
class Ussd:
    """``+CUSD: <m>[,<str>,<dcs>]``; m 0 done, 1 more input wanted, 2 ended by network."""

    status: int
    text: str | None = None
    dcs: int | None = None


def parse_cusd(line: str) -> Ussd:
    params = _params(line, "+CUSD", 1)
    return Ussd(_int(params[0], "m", 0, 5), _opt_str(params, 1), _opt_int(params, 2, "dcs"))
