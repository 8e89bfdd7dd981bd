"""The configuration sections: one frozen, strictly typed model per table.

A section is a :class:`Section` subclass; its fields are the keys it accepts,
with their types, limits and defaults. Adding a section to ``smppd.toml`` is
adding one such class and one field on :class:`Config`: validation, error
messages (with file, line and key), "did you mean" and redaction all follow
from the declarations here. The node's own sections live in this module;
carriers in :mod:`smppd.config._connectors`, GSM modems in
:mod:`smppd.config._modems`, routes in :mod:`smppd.config._routes`, and
what refers to what across sections is checked in
:mod:`smppd.config._references`.

Strict mode is on: TOML already has integers, floats, booleans and strings,
so ``window = "10"`` is a mistake to report, not a string to coerce.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, Self, get_origin

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    PrivateAttr,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from smppd.config._base import (
    NODE_NAME_PATTERN,
    Reference,
    Seconds,
    Section,
    SystemId,
    validation_context,
)
from smppd.config._connectors import AnyConnector, Connector, ModemPoolConnector
from smppd.config._endpoints import EndpointError, check_server_endpoint
from smppd.config._modems import ModemConfig
from smppd.config._references import reference_problems
from smppd.config._routes import InboundConfig, InboundRouteConfig, RouteConfig, RoutingConfig
from smppd.config._schema import (
    ConfigSource,
    Expect,
    Sensitive,
    ValidationContext,
    redacted_value,
)
from smppd.routing.outbound import TargetKind

# -- limits and defaults -------------------------------------------------

DEFAULT_STATE_DIR = "var"
DEFAULT_LISTEN = ("tcp:2775:interface=127.0.0.1",)
DEFAULT_SYSTEM_ID = "smppd"
FALLBACK_NODE_NAME = "smppd"

DEFAULT_WINDOW = 10
MAX_WINDOW = 10_000
# The message_payload TLV carries up to 65 535 octets (its length field is
# 16 bits), so a legal submit_sm can be that plus the 16-octet header, the
# mandatory fields (at most a few hundred octets) and other TLVs: 64 KiB +
# 1 KiB admits every legal PDU while still bounding what one peer can make
# us buffer. The same figure as the framer's default (smppd.smpp.framer).
DEFAULT_MAX_PDU_LENGTH = 65_536 + 1_024
# A submit_sm with every mandatory field at its maximum and a 254-octet
# short_message is about 364 octets, and the framer refuses limits below
# header + short_message + 256; 1 KiB clears both with room for TLVs.
MIN_MAX_PDU_LENGTH = 1_024
MAX_MAX_PDU_LENGTH = 1_048_576

DEFAULT_SESSION_INIT_TIMEOUT = 30.0
DEFAULT_ENQUIRE_LINK_INTERVAL = 30.0
DEFAULT_INACTIVITY_TIMEOUT = 300.0
DEFAULT_RESPONSE_TIMEOUT = 30.0
DEFAULT_FAILED_BIND_DELAY = 1.0
DEFAULT_FAILED_BIND_DELAY_MAX = 30.0
MAX_FAILED_BIND_DELAY = 3_600.0
DEFAULT_MAX_FAILED_BINDS = 5
MAX_MAX_FAILED_BINDS = 1_000

DEFAULT_COMMIT_INTERVAL_MS = 1.0
MAX_COMMIT_INTERVAL_MS = 1_000.0
DEFAULT_COMMIT_MAX_BATCH = 2_000
MAX_COMMIT_MAX_BATCH = 100_000
DEFAULT_RETENTION_DAYS = 30
MAX_RETENTION_DAYS = 36_500
DEFAULT_RECEIPT_WAIT_HOURS = 72.0
MAX_RECEIPT_WAIT_HOURS = 24.0 * 30
DEFAULT_PURGE_BATCH_SIZE = 500
MAX_PURGE_BATCH_SIZE = 100_000
SQLITE_FILE_NAME = "smppd.sqlite3"
DATABASE_BACKENDS = ("sqlite", "postgresql")
REDIS_SCHEMES = ("redis", "rediss", "unix")
DEFAULT_KEY_PREFIX = "smppd:"
MAX_KEY_PREFIX_LENGTH = 64


def _resolve_path(value: Any, info: ValidationInfo) -> Any:
    if not isinstance(value, str):
        return value  # strict validation reports the wrong type
    if not value:
        raise ValueError("expected a path, got an empty string")
    return Path(os.path.normpath(validation_context(info).base_dir / value))


def _check_listen(value: str, info: ValidationInfo) -> str:
    try:
        return check_server_endpoint(value, validation_context(info).base_dir)
    except EndpointError as exc:
        raise ValueError(str(exc)) from None


def _split_scheme(url: str) -> tuple[str, str]:
    scheme, sep, rest = url.partition("://")
    if not sep or not re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*", scheme):
        raise ValueError("expected a URL such as scheme://host/name")
    return scheme, rest


def _check_database_url(value: str, info: ValidationInfo) -> str:
    scheme, rest = _split_scheme(value)
    backend = scheme.partition("+")[0]
    if backend not in DATABASE_BACKENDS:
        raise ValueError(
            f'database "{backend}" is not supported (expected {" or ".join(DATABASE_BACKENDS)})'
        )
    if backend != "sqlite":
        return value
    # sqlite:///relative.db is relative to the working directory in
    # SQLAlchemy; in smppd.toml it is relative to the file, like every path.
    if not rest.startswith("/"):
        raise ValueError('a SQLite URL is "sqlite:///relative/path" or "sqlite:////absolute/path"')
    location, sep, query = rest[1:].partition("?")
    if location in ("", ":memory:") or os.path.isabs(location):
        return value
    absolute = os.path.normpath(validation_context(info).base_dir / location)
    return f"{scheme}:///{absolute}{sep}{query}"


def _check_redis_url(value: str) -> str:
    scheme, _ = _split_scheme(value)
    if scheme not in REDIS_SCHEMES:
        raise ValueError(f"expected a Redis URL ({', '.join(s + '://' for s in REDIS_SCHEMES)})")
    return value


def default_node_name() -> str:
    """The host name, when it can serve as a node name."""
    name = socket.gethostname()
    return name if re.match(NODE_NAME_PATTERN, name) else FALLBACK_NODE_NAME


ListenEndpoint = Annotated[
    str,
    Expect('a Twisted endpoint string such as "tcp:2775:interface=127.0.0.1"'),
    AfterValidator(_check_listen),
]


# -- sections --------------------------------------------------------------


class GatewayConfig(Section):
    """``[gateway]``: this node."""

    name: Annotated[
        str,
        Field(pattern=NODE_NAME_PATTERN),
        Expect('a node name (letters, digits, ".", "_" and "-"; at most 63 characters)'),
    ] = Field(default_factory=default_node_name)
    state_dir: Annotated[Path, BeforeValidator(_resolve_path), Expect("a directory path")] = Field(
        default=DEFAULT_STATE_DIR, validate_default=True
    )


class ServerConfig(Section):
    """``[server]``: the SMPP server applications bind to."""

    listen: Annotated[
        tuple[ListenEndpoint, ...],
        Field(min_length=1),
        Expect("a non-empty list of Twisted endpoint strings"),
    ] = DEFAULT_LISTEN
    system_id: SystemId = DEFAULT_SYSTEM_ID
    window: Annotated[int, Field(ge=1, le=MAX_WINDOW)] = DEFAULT_WINDOW
    max_pdu_length: Annotated[int, Field(ge=MIN_MAX_PDU_LENGTH, le=MAX_MAX_PDU_LENGTH)] = (
        DEFAULT_MAX_PDU_LENGTH
    )
    session_init_timeout: Seconds = DEFAULT_SESSION_INIT_TIMEOUT
    enquire_link_interval: Seconds = DEFAULT_ENQUIRE_LINK_INTERVAL
    inactivity_timeout: Seconds = DEFAULT_INACTIVITY_TIMEOUT
    response_timeout: Seconds = DEFAULT_RESPONSE_TIMEOUT
    failed_bind_delay: Annotated[float, Field(ge=0, le=MAX_FAILED_BIND_DELAY)] = (
        DEFAULT_FAILED_BIND_DELAY
    )
    failed_bind_delay_max: Annotated[float, Field(ge=0, le=MAX_FAILED_BIND_DELAY)] = (
        DEFAULT_FAILED_BIND_DELAY_MAX
    )
    max_failed_binds: Annotated[int, Field(ge=1, le=MAX_MAX_FAILED_BINDS)] = (
        DEFAULT_MAX_FAILED_BINDS
    )

    @model_validator(mode="after")
    def _check_timers(self) -> Self:
        if self.failed_bind_delay_max < self.failed_bind_delay:
            raise PydanticCustomError(
                "cross_field",
                f"must be at least failed_bind_delay ({self.failed_bind_delay:g})",
                {"key": "failed_bind_delay_max"},
            )
        if self.enquire_link_interval >= self.inactivity_timeout:
            # An idle but healthy link must be probed before it is dropped.
            raise PydanticCustomError(
                "cross_field",
                f"must be shorter than inactivity_timeout ({self.inactivity_timeout:g})",
                {"key": "enquire_link_interval"},
            )
        return self


class StoreConfig(Section):
    """``[store]``: the durable message store."""

    url: Annotated[
        str,
        Sensitive.URL,
        Expect('a SQLAlchemy URL such as "postgresql+psycopg://user@host/db"'),
        AfterValidator(_check_database_url),
    ]
    commit_interval_ms: Annotated[float, Field(ge=0, le=MAX_COMMIT_INTERVAL_MS)] = (
        DEFAULT_COMMIT_INTERVAL_MS
    )
    commit_max_batch: Annotated[int, Field(ge=1, le=MAX_COMMIT_MAX_BATCH)] = (
        DEFAULT_COMMIT_MAX_BATCH
    )
    retention_days: Annotated[int, Field(ge=0, le=MAX_RETENTION_DAYS)] = DEFAULT_RETENTION_DAYS
    purge_batch_size: Annotated[int, Field(ge=1, le=MAX_PURGE_BATCH_SIZE)] = (
        DEFAULT_PURGE_BATCH_SIZE
    )
    sqlite_synchronous: Literal["full", "normal"] = "full"
    # Hours a message a carrier accepted may wait for its receipt before it
    # is expired (its application told EXPIRED); most carriers keep trying
    # for at most 48-72 h.
    receipt_wait_hours: Annotated[float, Field(gt=0, le=MAX_RECEIPT_WAIT_HOURS)] = (
        DEFAULT_RECEIPT_WAIT_HOURS
    )

    @property
    def backend(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.url.partition("://")[0].partition("+")[0]


class RedisConfig(Section):
    """``[redis]``: shared state between nodes; absent url = in-process."""

    url: (
        Annotated[
            str,
            Sensitive.URL,
            Expect('a Redis URL such as "redis://127.0.0.1:6379/0"'),
            AfterValidator(_check_redis_url),
        ]
        | None
    ) = None
    key_prefix: Annotated[str, Field(min_length=1, max_length=MAX_KEY_PREFIX_LENGTH)] = (
        DEFAULT_KEY_PREFIX
    )


class LogConfig(Section):
    """``[log]``."""

    level: Literal["debug", "info", "warn", "error"] = "info"
    format: Literal["text", "json"] = "text"


class Config(Section):
    """The whole ``smppd.toml``."""

    gateway: GatewayConfig
    server: ServerConfig
    store: StoreConfig
    redis: RedisConfig
    log: LogConfig
    routing: RoutingConfig
    connectors: Annotated[
        tuple[Connector, ...],
        Expect("an array of tables ([[connectors]])"),
    ]
    modems: Annotated[
        tuple[ModemConfig, ...],
        Expect("an array of tables ([[modems]])"),
    ]
    routes: Annotated[
        tuple[RouteConfig, ...],
        Expect("an array of tables ([[routes]])"),
    ]
    inbound_routes: Annotated[
        tuple[InboundRouteConfig, ...],
        Expect("an array of tables ([[inbound_routes]])"),
    ]
    inbound: InboundConfig
    # [plugins]: `enabled = [...]` and one [plugins.NAME] table per plugin.
    # Open here (after ${...} substitution); the plugin host validates it
    # against each plugin's own model (plugins.host.load_plugins).
    plugins: dict[str, Any]

    _source: ConfigSource = PrivateAttr()

    @model_validator(mode="before")
    @classmethod
    def _absent_sections_get_defaults(cls, data: Any) -> Any:
        # Validated as empty tables (not built by a default factory) so that
        # their defaults see the validation context, e.g. state_dir resolves
        # against the configuration file's directory.
        if not isinstance(data, dict):
            return data
        absent: dict[str, Any] = {
            name: () if get_origin(info.annotation) is tuple else {}
            for name, info in cls.model_fields.items()
        }
        return absent | data

    @field_validator("store", mode="before")
    @classmethod
    def _default_database(cls, value: Any, info: ValidationInfo) -> Any:
        if not isinstance(value, dict) or "url" in value:
            return value
        gateway = info.data.get("gateway")
        state_dir = (
            gateway.state_dir
            if isinstance(gateway, GatewayConfig)
            # [gateway] is invalid and already reported: any placeholder
            # keeps this section's own checks going.
            else validation_context(info).base_dir / DEFAULT_STATE_DIR
        )
        return {"url": f"sqlite:///{state_dir / SQLITE_FILE_NAME}", **value}

    @model_validator(mode="after")
    def _remember_source(self, info: ValidationInfo) -> Self:
        context = validation_context(info)
        self._source = ConfigSource(
            file=context.file, base_dir=context.base_dir, templates=dict(context.templates)
        )
        return self

    @classmethod
    def cross_check(cls, data: Mapping[str, Any], context: ValidationContext) -> list[Reference]:
        return reference_problems(data, context)

    def connector(self, name: str) -> AnyConnector:
        """The connector called ``name``; :class:`KeyError` when there is none."""
        for connector in self.connectors:
            if connector.name == name:
                return connector
        raise KeyError(name)

    @property
    def modem_pools(self) -> tuple[ModemPoolConnector, ...]:
        """The connectors of ``type = "modem_pool"``, in file order."""
        return tuple(c for c in self.connectors if isinstance(c, ModemPoolConnector))

    def modem(self, name: str) -> ModemConfig:
        """The ``[[modems]]`` table called ``name``; :class:`KeyError` when there is none."""
        for modem in self.modems:
            if modem.name == name:
                return modem
        raise KeyError(name)

    def pool_of(self, modem: str) -> ModemPoolConnector | None:
        """The modem pool the modem called ``modem`` belongs to, None when it is in none."""
        for pool in self.modem_pools:
            if modem in pool.modems:
                return pool
        return None

    def target_names(self, kind: TargetKind) -> frozenset[str]:
        """Names routes may use for targets of ``kind`` (connectors, modem pools)."""
        return frozenset(c.name for c in self.connectors if c.target_kind is kind)

    @property
    def source(self) -> ConfigSource:
        """The file this was loaded from and which values came from the environment."""
        return self._source

    @classmethod
    def default(cls, base_dir: Path | None = None) -> Config:
        """Every default, with relative paths under ``base_dir`` (the cwd)."""
        base = Path(os.path.abspath(base_dir if base_dir is not None else Path.cwd()))
        return cls.model_validate({}, context=ValidationContext(base_dir=base))

    def redacted(self, key: str) -> str:
        """The value at ``key`` (``store.url``, ``server.listen[0]``) safe to print."""
        return redacted_value(self, key)
