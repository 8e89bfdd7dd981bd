"""State that several gateway processes must agree on.

* :mod:`~smppd.shared.interface`: :class:`SharedState` and its parts
  (token buckets, correlations, de-duplication, leases, presence, node-to-node
  delivery), each operation documented with the atomic Redis step it maps to.
* :mod:`~smppd.shared.memory`: :class:`MemorySharedState`, the in-process
  implementation for a single gateway process.
* :mod:`~smppd.shared.tokens`: :class:`LocalTokenCache`, shared throughput
  tokens fetched in chunks and spent from memory.
"""

from smppd.shared.interface import (
    MAX_BINDS_PER_SYSTEM_ID,
    MAX_KEY_LENGTH,
    MAX_LEASE_SLOTS,
    MAX_PAYLOAD_LENGTH,
    MAX_TTL,
    MAX_VALUE_LENGTH,
    BindMode,
    BindPresence,
    Correlations,
    Deduplication,
    Leases,
    Messaging,
    Presence,
    PresenceFull,
    SharedState,
    SharedStateError,
    StateFull,
    Subscription,
    TokenBuckets,
    TokenGrant,
)
from smppd.shared.memory import MemoryLimits, MemorySharedState, MemoryStats
from smppd.shared.tokens import LocalTokenCache

__all__ = [
    "MAX_BINDS_PER_SYSTEM_ID",
    "MAX_KEY_LENGTH",
    "MAX_LEASE_SLOTS",
    "MAX_PAYLOAD_LENGTH",
    "MAX_TTL",
    "MAX_VALUE_LENGTH",
    "BindMode",
    "BindPresence",
    "Correlations",
    "Deduplication",
    "Leases",
    "LocalTokenCache",
    "MemoryLimits",
    "MemorySharedState",
    "MemoryStats",
    "Messaging",
    "Presence",
    "PresenceFull",
    "SharedState",
    "SharedStateError",
    "StateFull",
    "Subscription",
    "TokenBuckets",
    "TokenGrant",
]
