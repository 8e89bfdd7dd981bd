"""The loyalty plugin: a points ledger, earn rules, tiers, rewards with code pools,
referral, expiry and birthdays, on the rules engine's brand keywords.

* :mod:`plugins.loyalty.config` — the programme files (``coffee-loyalty.toml``)
  and the plugin's ``[plugins.loyalty]`` table;
* :mod:`plugins.loyalty.ledger` — the idempotent ledger and everything that
  changes points, shared with ``smppd loyalty``;
* :mod:`plugins.loyalty.limits` — the per-sender fraud limits;
* :mod:`plugins.loyalty.plugin` — :class:`LoyaltyPlugin`, the hooks.
"""

from plugins.loyalty.plugin import LoyaltyPlugin

__all__ = ["LoyaltyPlugin"]
