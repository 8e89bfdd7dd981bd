"""smppd's configuration: ``smppd.toml`` into typed, frozen objects.

    from smppd.config import load_config, ConfigError

    try:
        cfg = load_config("smppd.toml")
    except ConfigError as exc:
        for problem in exc.problems:   # file, line, key, message
            print(problem)             # smppd.toml:14: server.window: expected ...

Every problem in a file is reported in one pass, each with its file, line
and key path; unknown keys come with a "did you mean". String values may
use ``${ENV_VAR}`` (``$${`` for a literal ``${``); such values, and secrets,
are shown only as ``***``. Relative paths resolve against the directory of
the file that names them.

What the daemon builds from it::

    router = build_outbound_router(cfg)      # [[routes]] -> OutboundRouter
    inbound = build_inbound_router(cfg)      # [[inbound_routes]] -> InboundRouter
    numbers = build_normaliser(cfg)          # [routing] -> AddressNormaliser
    modems = modem_settings(cfg)             # [[modems]] -> modem.driver.ModemSettings
    pools = modem_pool_settings(cfg)         # type = "modem_pool" -> modem.pool.ModemPoolSettings
    policy = cfg.connector("carrier-a").text_policy()

GSM modems are ``[[modems]]`` tables (a serial port and the SIM behind it)
grouped by connectors of ``type = "modem_pool"``, which routes name as
``modem_pool:NAME``.
"""

from smppd.config._base import Section
from smppd.config._builders import (
    build_inbound_router,
    build_normaliser,
    build_outbound_router,
    modem_pool_settings,
    modem_settings,
)
from smppd.config._connectors import (
    AnyConnector,
    Connector,
    ModemPoolConnector,
    ReceiptIds,
    SimConnector,
    SmppConnector,
    SourceTonNpi,
    StateMix,
    TextSettings,
    TonNpi,
)
from smppd.config._errors import ConfigError, ConfigProblem
from smppd.config._loader import load_config, load_toml_model, loads_config, loads_toml_model
from smppd.config._models import (
    Config,
    GatewayConfig,
    LogConfig,
    RedisConfig,
    ServerConfig,
    StoreConfig,
)
from smppd.config._modems import ModemConfig
from smppd.config._routes import InboundConfig, InboundRouteConfig, RouteConfig, RoutingConfig
from smppd.config._schema import ConfigSource, Expect, Sensitive, format_key, redact_url

DEFAULT_CONFIG_FILE = "smppd.toml"
CONFIG_ENV_VAR = "SMPPD_CONFIG"

__all__ = [
    "CONFIG_ENV_VAR",
    "DEFAULT_CONFIG_FILE",
    "AnyConnector",
    "Config",
    "ConfigError",
    "ConfigProblem",
    "ConfigSource",
    "Connector",
    "Expect",
    "GatewayConfig",
    "InboundConfig",
    "InboundRouteConfig",
    "LogConfig",
    "ModemConfig",
    "ModemPoolConnector",
    "ReceiptIds",
    "RedisConfig",
    "RouteConfig",
    "RoutingConfig",
    "Section",
    "Sensitive",
    "ServerConfig",
    "SimConnector",
    "SmppConnector",
    "SourceTonNpi",
    "StateMix",
    "StoreConfig",
    "TextSettings",
    "TonNpi",
    "build_inbound_router",
    "build_normaliser",
    "build_outbound_router",
    "format_key",
    "load_config",
    "load_toml_model",
    "loads_config",
    "loads_toml_model",
    "modem_pool_settings",
    "modem_settings",
    "redact_url",
]
