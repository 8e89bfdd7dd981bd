"""What the daemon builds from a loaded configuration: routers, the address reader,
the modem driver's settings.

Each builder takes a :class:`~smppd.config.Config` that the loader accepted,
so the tables are known to be consistent; the routers still check them
again (they raise :class:`~smppd.routing.RouteTableError`) because a
configuration can also be made in code. A router holds balancing state:
build one per process and build again on a reload.

The modem driver's settings classes are imported when a builder for them
is called, not before: ``modem.driver`` brings Twisted and pyserial with it,
and loading (or checking) a configuration needs neither.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from smppd.config._connectors import ModemPoolConnector
from smppd.config._models import Config
from smppd.config._modems import ModemConfig
from smppd.routing.address import AddressNormaliser
from smppd.routing.inbound import InboundRouter
from smppd.routing.outbound import OutboundRouter, TargetKind
from smppd.text.policy import LongMessageMode

if TYPE_CHECKING:
    from modem.driver import ModemSettings
    from modem.pool import ModemPoolSettings


def build_normaliser(cfg: Config) -> AddressNormaliser:
    """The reader of SMPP addresses under ``[routing]``."""
    return AddressNormaliser(
        cfg.routing.default_region,
        strict=cfg.routing.strict_numbers,
        short_code_max_digits=cfg.routing.short_code_max_digits,
    )


def build_outbound_router(cfg: Config) -> OutboundRouter:
    """The ``[[routes]]`` table, checked against the connectors and modem pools defined."""
    return OutboundRouter(
        [route.outbound_route() for route in cfg.routes],
        connectors=cfg.target_names(TargetKind.CONNECTOR),
        modem_pools=cfg.target_names(TargetKind.MODEM_POOL),
    )


def build_inbound_router(cfg: Config) -> InboundRouter:
    """The ``[[inbound_routes]]`` table with ``[inbound] default_account``."""
    return InboundRouter(
        [route.inbound_route() for route in cfg.inbound_routes],
        default_account=cfg.inbound.default_account,
    )


def modem_settings(cfg: Config) -> tuple[ModemSettings, ...]:
    """The driver's :class:`~modem.driver.ModemSettings` of every ``[[modems]]`` table, in order."""
    from modem.driver import ModemSettings  # noqa: PLC0415 (brings Twisted, pyserial)

    def settings(modem: ModemConfig) -> ModemSettings:
        return ModemSettings(
            name=modem.name,
            port=modem.port,
            baudrate=modem.baudrate,
            rtscts=modem.rtscts,
            xonxoff=modem.xonxoff,
            write_delay=modem.write_delay,
            prompt_delay=modem.prompt_delay,
            pin=modem.pin,
            # The driver reads "" as "not known".
            own_number=modem.own_number or "",
            smsc=modem.smsc,
            messages_per_minute=modem.messages_per_minute,
            daily_limit=modem.daily_limit,
            init_extra=modem.init_extra,
            storage=modem.storage,
            sweep_interval=modem.sweep_interval,
        )

    return tuple(settings(modem) for modem in cfg.modems)


def modem_pool_settings(cfg: Config) -> tuple[ModemPoolSettings, ...]:
    """The :class:`~modem.pool.ModemPoolSettings` of every modem pool connector, in order.

    Each pool carries the :func:`modem_settings` of its modems, in the order
    the pool lists them. The pool's state file (what ``smppd modem list``
    reads) is ``modem.pool.STATE_FILE_NAME`` in ``[gateway] state_dir``;
    with several pools each has its own, named after the pool.
    """
    from modem.pool import STATE_FILE_NAME, ModemPoolSettings  # noqa: PLC0415 (brings Twisted)

    modems = {settings.name: settings for settings in modem_settings(cfg)}
    pools = cfg.modem_pools
    state_dir = cfg.gateway.state_dir

    def state_file(pool: ModemPoolConnector) -> str:
        if len(pools) == 1:
            return STATE_FILE_NAME
        stem, dot, suffix = STATE_FILE_NAME.rpartition(".")
        return f"{stem}-{pool.name}{dot}{suffix}"

    return tuple(
        ModemPoolSettings(
            name=pool.name,
            modems=tuple(modems[name] for name in pool.modems),
            long_message=LongMessageMode(pool.long_messages),
            window=pool.window,
            report_window=pool.report_window,
            state_path=state_dir / state_file(pool),
            text_policy=pool.text_policy(),
            status_reports=pool.status_reports,
        )
        for pool in pools
    )
