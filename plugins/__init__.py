"""Plugin API and the built-in plugins (compliance keywords, loyalty).

* :mod:`plugins.api` — what a plugin sees and answers: the message values
  (:class:`OutboundMessage`, :class:`InboundMessage`, :class:`ReceiptEvent`),
  the verdicts (:class:`Accept`, :class:`Refuse`, :class:`Defer`), the
  inbound :class:`InboundOutcome` with its :class:`Reply` values, the
  :class:`PluginContext` a started plugin may use (its :class:`Sender` for
  messages of its own, its :class:`Writer` into the store's group commit,
  the configuration's directory), the derived message ids of replies and
  keyed sends, and the contract (:class:`Plugin` and the hook protocols)
  checked when a plugin loads.
* :mod:`plugins.host` — discovery through the entry-point group
  ``smppd.plugins`` (the built-ins register the same way), loading and
  configuration from the ``[plugins]`` table (:func:`load_plugins`), and the
  :class:`PluginHost` that calls the hooks in the configured order and
  contains every failure: a broken plugin is logged, counted and given its
  ``on_error`` treatment; it never crashes the gateway or loses a message.

A minimal plugin::

    class Shouty:
        name = "shouty"

        def outbound(self, msg: OutboundMessage) -> Verdict:
            if msg.text is not None and msg.text.isupper():
                return Refuse(CommandStatus.ESME_RX_R_APPN, "all capitals")
            return Accept()

registered in its distribution's metadata::

    [project.entry-points."smppd.plugins"]
    shouty = "shouty_plugin:Shouty"

and enabled in ``smppd.toml`` with ``[plugins] enabled = ["shouty"]``.
"""

from plugins.api import (
    FORWARD,
    Accept,
    BlockingRunner,
    Channel,
    Defer,
    InboundMessage,
    InboundOutcome,
    MessageClass,
    OutboundMessage,
    Plugin,
    PluginConfig,
    PluginContext,
    ReceiptEvent,
    Refuse,
    Reply,
    Sender,
    SendResult,
    SendUnavailable,
    Verdict,
    Writer,
    reply_message_id,
    send_message_id,
)

__all__ = [
    "FORWARD",
    "Accept",
    "BlockingRunner",
    "Channel",
    "Defer",
    "InboundMessage",
    "InboundOutcome",
    "MessageClass",
    "OutboundMessage",
    "Plugin",
    "PluginConfig",
    "PluginContext",
    "ReceiptEvent",
    "Refuse",
    "Reply",
    "SendResult",
    "SendUnavailable",
    "Sender",
    "Verdict",
    "Writer",
    "reply_message_id",
    "send_message_id",
]
