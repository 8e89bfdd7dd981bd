"""The SMPP server applications bind to (see :mod:`smppd.server.service`).

* :mod:`~smppd.server.service` — :class:`ApplicationServer` and its settings;
* :mod:`~smppd.server.auth` — bind authentication and per-peer back-off;
* :mod:`~smppd.server.submit` — submit_sm / data_sm / submit_multi to messages;
* :mod:`~smppd.server.groups` — application-split parts kept together;
* :mod:`~smppd.server.queries` — query_sm, cancel_sm, replace_sm;
* :mod:`~smppd.server.outbox` — receipts and MO to receiver binds.
"""

from smppd.server.auth import Authenticator, FailedBinds
from smppd.server.groups import PartGroups
from smppd.server.outbox import ApplicationOutbox
from smppd.server.queries import ApplicationQueries
from smppd.server.service import (
    ApplicationServer,
    OutboundCheck,
    ServerSettings,
    accept_all,
    plugin_outbound_check,
)
from smppd.server.submit import GroupKey, Refusal, Submission, SubmitChecker

__all__ = [
    "ApplicationOutbox",
    "ApplicationQueries",
    "ApplicationServer",
    "Authenticator",
    "FailedBinds",
    "GroupKey",
    "OutboundCheck",
    "PartGroups",
    "Refusal",
    "ServerSettings",
    "Submission",
    "SubmitChecker",
    "accept_all",
    "plugin_outbound_check",
]
