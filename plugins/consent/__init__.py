"""The consent plugin: keyword opt-out / opt-in / help, the consent ledger, enforcement.

* :mod:`plugins.consent.plugin` — :class:`ConsentPlugin`, the hooks.
* :mod:`plugins.consent.config` — its ``[plugins.consent]`` table.
* :mod:`plugins.consent.plan` — the engine's decisions turned into ledger
  events, subscription changes and replies (pure).
* :mod:`plugins.consent.store` — the ledger, subscriptions, pending
  questions and marketing sends in the store (shared with ``smppd
  subscriber``).
* :mod:`plugins.consent.index` — the in-memory suppression index the
  outbound hook reads.
* :mod:`plugins.consent.builtin` — the keywords and neutral replies of
  numbers no rule set covers.

Enabled in ``smppd.toml``::

    [plugins]
    enabled = ["consent", "loyalty"]

    [plugins.consent]
    rulesets = ["config/rules/coffee.toml"]
"""

from plugins.consent.config import OPTED_OUT_STATUS, ConsentConfig
from plugins.consent.plugin import ConsentPlugin

__all__ = ["OPTED_OUT_STATUS", "ConsentConfig", "ConsentPlugin"]
