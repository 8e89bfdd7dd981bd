"""What the daemon builds from a loaded configuration: routers and the address reader.

Each builder takes a :class:`~smppd.config.Config` that the loader accepted,
so the tables are known to be consistent; the routers still check them
again (they raise :class:`~smppd.routing.RouteTableError`) because a
configuration can also be made in code. A router holds balancing state:
build one per process and build again on a reload.
"""

from __future__ import annotations

from smppd.config._models import Config
from smppd.routing.address import AddressNormaliser
from smppd.routing.inbound import InboundRouter
from smppd.routing.outbound import OutboundRouter, TargetKind


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
