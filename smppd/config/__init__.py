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
"""

from smppd.config._errors import ConfigError, ConfigProblem
from smppd.config._loader import load_config, load_toml_model, loads_config, loads_toml_model
from smppd.config._models import (
    Config,
    GatewayConfig,
    LogConfig,
    RedisConfig,
    Section,
    ServerConfig,
    StoreConfig,
)
from smppd.config._schema import ConfigSource, Expect, Sensitive, format_key, redact_url

DEFAULT_CONFIG_FILE = "smppd.toml"
CONFIG_ENV_VAR = "SMPPD_CONFIG"

__all__ = [
    "CONFIG_ENV_VAR",
    "DEFAULT_CONFIG_FILE",
    "Config",
    "ConfigError",
    "ConfigProblem",
    "ConfigSource",
    "Expect",
    "GatewayConfig",
    "LogConfig",
    "RedisConfig",
    "Section",
    "Sensitive",
    "ServerConfig",
    "StoreConfig",
    "format_key",
    "load_config",
    "load_toml_model",
    "loads_config",
    "loads_toml_model",
    "redact_url",
]
