"""Routing: which connector an outbound message goes to, which account an MO belongs to.

* :mod:`smppd.routing.address`: SMPP (TON, NPI, address) to a normalised
  :class:`Address` (E.164, short code or alphanumeric), or an
  :class:`AddressError` with the SMPP status to answer;
* :mod:`smppd.routing.outbound`: route definitions, the outbound table with
  failover groups and weighted balancing, :class:`NoRoute` for a message to
  refuse with ``ESME_RINVDSTADR``;
* :mod:`smppd.routing.inbound`: destination number or short code (and
  keyword) to an account;
* :mod:`smppd.routing.balance`: smooth weighted round robin.

Pure: no Twisted, no I/O, no clock.
"""

from smppd.routing.address import (
    Address,
    AddressError,
    AddressField,
    AddressKind,
    AddressNormaliser,
)
from smppd.routing.balance import SmoothWeightedRoundRobin
from smppd.routing.inbound import (
    InboundDecision,
    InboundRoute,
    InboundRouter,
    Unroutable,
    first_keyword,
    normalise_keyword,
    validate_inbound_routes,
)
from smppd.routing.outbound import (
    ANY,
    DEFAULT_TEXT_POLICY,
    IsUp,
    MessageClass,
    NoRoute,
    OutboundRoute,
    OutboundRouter,
    RouteDecision,
    RouteTableError,
    Target,
    TargetGroup,
    TargetKind,
    validate_outbound_routes,
)

__all__ = [
    "ANY",
    "DEFAULT_TEXT_POLICY",
    "Address",
    "AddressError",
    "AddressField",
    "AddressKind",
    "AddressNormaliser",
    "InboundDecision",
    "InboundRoute",
    "InboundRouter",
    "IsUp",
    "MessageClass",
    "NoRoute",
    "OutboundRoute",
    "OutboundRouter",
    "RouteDecision",
    "RouteTableError",
    "SmoothWeightedRoundRobin",
    "Target",
    "TargetGroup",
    "TargetKind",
    "Unroutable",
    "first_keyword",
    "normalise_keyword",
    "validate_inbound_routes",
    "validate_outbound_routes",
]
