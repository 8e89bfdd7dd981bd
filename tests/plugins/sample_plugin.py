"""Plugin classes the loading tests register as entry points.

Only the tests register them, through ``EntryPoint`` objects or a temporary
``.dist-info`` directory; nothing installs them.
"""

from __future__ import annotations

from datetime import time

from pydantic import BaseModel, ConfigDict, Field

from plugins.api import (
    FORWARD,
    Accept,
    InboundMessage,
    InboundOutcome,
    OutboundMessage,
    PluginConfig,
    PluginContext,
    Verdict,
)


class QuietHours(PluginConfig):
    start: time
    end: time


class SampleConfig(PluginConfig):
    brand: str
    api_key: str = ""
    daily_cap: int = Field(default=3, ge=1)
    quiet_hours: QuietHours | None = None


class Sample:
    """A well-formed plugin with a configuration model."""

    name = "sample"
    config_model = SampleConfig
    description = "answers everything with yes"

    def __init__(self) -> None:
        self._context: PluginContext[SampleConfig] | None = None

    def start(self, context: PluginContext[SampleConfig]) -> None:
        self._context = context

    def stop(self) -> None:
        self._context = None

    def outbound(self, msg: OutboundMessage) -> Verdict:
        return Accept("sample says yes")

    def inbound(self, msg: InboundMessage) -> InboundOutcome:
        return FORWARD


class Bare:
    """A plugin with no configuration at all."""

    name = "bare"

    def receipt(self, evt: object) -> None:
        return None


class Misspelt:
    name = "misspelt"

    def outbund(self, msg: OutboundMessage) -> Verdict:
        return Accept()


class WrongName:
    name = "something-else"

    def outbound(self, msg: OutboundMessage) -> Verdict:
        return Accept()


class BadName:
    name = "Bad Name"


class Reserved:
    name = "enabled"


class BadSignature:
    name = "badsig"

    def outbound(self) -> Verdict:
        return Accept()

    def stop(self, now: float) -> None:
        return None


class OpenModel(BaseModel):
    model_config = ConfigDict(extra="allow")

    brand: str = ""


class OpenConfig:
    name = "openconfig"
    config_model = OpenModel


class ClashModel(PluginConfig):
    on_error: str = ""


class HostKeyClash:
    name = "clash"
    config_model = ClashModel


class Exploding:
    name = "exploding"

    def __init__(self) -> None:
        raise RuntimeError("no licence file")


not_a_class = Sample()


class NeedsBare:
    """A plugin that only works after another one (as loyalty after consent)."""

    name = "needsbare"
    requires = ("bare",)

    def receipt(self, evt: object) -> None:
        return None
