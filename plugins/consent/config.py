"""The consent plugin's ``[plugins.consent]`` table.

How this works: :class:`ConsentConfig` is the plugin's ``config_model``; the
plugin host validates the table with it and reports every problem with its
key (``plugins.consent.timing.caps[0].count``). Rule set files are loaded
here, at validation time, relative to the configuration file's directory
(the validation context's ``base_dir``; the working directory when there is
none), so ``smppd config check`` reports a broken rule set with its file,
line and key before the gateway starts. Everything is immutable once
validated.

A complete table, every key at its default but ``rulesets``::

    [plugins.consent]
    rulesets = ["config/rules/coffee.toml"]   # relative to this file
    opted_out_status = 0x00000440             # the submit_sm_resp of a refused message
    answer = "status"                         # or "receipt": accept, then a REJECTD receipt
    accounts = { shop = "receipt" }           # per account (system_id)
    account_scopes = { shop = "Kaffebaren" }  # an account's marketing belongs to a brand
    require_opt_in = false                    # marketing only to numbers that opted in
    suppression = "global"                    # one list: a STOP blocks marketing from every
                                              # sender; "scope": only from that brand's numbers
    reconfirm_opt_out_hours = 24.0
    repeat_reply_seconds = 600.0              # HELP / JOIN again within it: no reply; 0: off
    index_refresh_seconds = 10.0

    [plugins.consent.default_keywords]        # numbers no rule set covers
    language = "en"
    sentence_opt_out = "opt_out"
    forward_handled = false

    [plugins.consent.timing]                  # quiet hours and frequency caps
    enabled = true
    window = { start = 08:00:00, end = 21:00:00 }
    caps = [{ count = 4, per_hours = 720.0 }]
    fallback_zone = "UTC"
    builtin_regions = true
    regions.FR = { days_off = [7], public_holidays = true }
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import time, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, Final, Literal, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    Field,
    PlainValidator,
    PrivateAttr,
    ValidationInfo,
    model_validator,
)

from plugins.api import PluginConfig
from plugins.consent.builtin import BUILTIN_LANGUAGES
from rules import RuleBook, load_rulebook
from rules.timing import (
    DEFAULT_POLICY,
    FrequencyCap,
    MarketingPolicy,
    RegionRule,
    Window,
)
from smppd.config import ConfigError

__all__ = [
    "OPTED_OUT_STATUS",
    "AnswerMode",
    "CapConfig",
    "ConsentConfig",
    "DefaultKeywords",
    "RegionConfig",
    "RuleSetFiles",
    "TimingConfig",
    "WindowConfig",
]

#: "Recipient opted out": SMPP 3.4 §5.1.3 leaves 0x400-0x4FF to the SMSC
#: vendor. Applications that know it stop retrying; others see a
#: permanent-looking error, which is what an opt-out is.
OPTED_OUT_STATUS: Final = 0x00000440
MAX_COMMAND_STATUS: Final = 0xFFFFFFFF
# A cap counts sends over at most a year; anything longer is a typo.
MAX_CAP_HOURS: Final = 8_760.0
MAX_CAP_COUNT: Final = 10_000
MAX_REFRESH_SECONDS: Final = 3_600.0
# Silence after a repeated HELP or JOIN for at most a day: longer, and a
# subscriber who forgot the answer could not ask again.
MAX_REPEAT_SECONDS: Final = 86_400.0
MAX_SCOPE_CHARS: Final = 64

AnswerMode = Literal["status", "receipt"]


def _read_only(value: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(value))


def _arrays_become_tuples(data: Any) -> Any:
    # TOML arrays arrive as lists; the strict models take tuples.
    if not isinstance(data, dict):
        return data
    return {key: tuple(v) if isinstance(v, list) else v for key, v in data.items()}


class _Table(PluginConfig):
    @model_validator(mode="before")
    @classmethod
    def _tuples(cls, data: Any) -> Any:
        return _arrays_become_tuples(data)


# -- rule set files ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RuleSetFiles:
    """The rule set files named in the table, resolved, and what they hold."""

    paths: tuple[Path, ...] = ()
    book: RuleBook = field(default_factory=lambda: RuleBook(()), compare=False)


def _base_dir(info: ValidationInfo) -> Path:
    context = info.context
    if isinstance(context, Mapping):
        base = context.get("base_dir")
        if isinstance(base, str | os.PathLike):
            return Path(base)
    return Path.cwd()


def _load_rulesets(value: Any, info: ValidationInfo) -> RuleSetFiles:
    if isinstance(value, RuleSetFiles):
        return value
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise ValueError("expected an array of rule set file names")
    base = _base_dir(info)
    paths = tuple(dict.fromkeys(base / name for name in value))
    try:
        book = load_rulebook(paths)
    except ConfigError as exc:
        # One line per problem: file:line: key: message, as `smppd rules check` prints them.
        raise ValueError(
            "rule set problems:\n    " + "\n    ".join(str(p) for p in exc.problems)
        ) from None
    return RuleSetFiles(paths, book)


# -- numbers no rule set covers ---------------------------------------------


def _builtin_language(value: str) -> str:
    if value not in BUILTIN_LANGUAGES:
        known = ", ".join(sorted(BUILTIN_LANGUAGES))
        raise ValueError(f'no built-in replies in "{value}" (built in: {known})')
    return value


class DefaultKeywords(_Table):
    """The compliance words on numbers no rule set covers.

    The built-in multilingual keywords always apply there (STOP and HELP
    must work on every number); this says which language answers a word
    many languages share (STOP), whether an opt-out word inside a sentence
    opts out or is flagged for review, and whether handled messages still
    go to applications.
    """

    language: Annotated[str, AfterValidator(_builtin_language)] = "en"
    sentence_opt_out: Literal["opt_out", "review"] = "opt_out"
    forward_handled: bool = False


# -- quiet hours and frequency caps -----------------------------------------


class WindowConfig(_Table):
    """Hours marketing may go out, recipient local time (``end`` before
    ``start`` spans midnight)."""

    start: time
    end: time

    def window(self) -> Window:
        return Window(self.start, self.end)


class CapConfig(_Table):
    """At most ``count`` marketing messages to a number per ``per_hours``."""

    count: Annotated[int, Field(ge=1, le=MAX_CAP_COUNT)]
    per_hours: Annotated[float, Field(gt=0, le=MAX_CAP_HOURS)]

    def cap(self) -> FrequencyCap:
        return FrequencyCap(self.count, timedelta(hours=self.per_hours))


class RegionConfig(_Table):
    """A country (``FR``) or subdivision (``US-FL``) with its own limits."""

    window: WindowConfig | None = None
    # ISO weekdays without marketing: 1 is Monday, 7 Sunday.
    days_off: tuple[Annotated[int, Field(ge=1, le=7)], ...] = ()
    public_holidays: bool = False
    caps: tuple[CapConfig, ...] = ()

    def rule(self) -> RegionRule:
        return RegionRule(
            window=self.window.window() if self.window is not None else None,
            days_off=frozenset(self.days_off),
            public_holidays=self.public_holidays,
            caps=tuple(cap.cap() for cap in self.caps),
        )


def _zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f'"{value}" is not an IANA time zone (e.g. "Europe/Stockholm")') from None
    return value


class TimingConfig(_Table):
    """Quiet hours and caps for marketing, on top of the built-in defaults.

    Unset keys keep :data:`rules.timing.DEFAULT_POLICY`'s values; a region
    given here replaces the built-in rule of that region, and
    ``builtin_regions = false`` drops the built-in ones (US TCPA hours,
    Florida and Oklahoma, France's Sundays and holidays) altogether.
    """

    enabled: bool = True
    window: WindowConfig | None = None
    caps: tuple[CapConfig, ...] | None = None
    fallback_zone: Annotated[str, AfterValidator(_zone)] | None = None
    builtin_regions: bool = True
    regions: Annotated[Mapping[str, RegionConfig], AfterValidator(_read_only)] = Field(
        default_factory=dict
    )

    _policy: MarketingPolicy | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _build(self) -> Self:
        # MarketingPolicy checks what only the whole can tell (a region key
        # phonenumbers cannot give, days off covering every weekday).
        self._policy = self._built() if self.enabled else None
        return self

    @property
    def policy(self) -> MarketingPolicy | None:
        """The policy the outbound hook applies; None when timing is off."""
        return self._policy

    def _built(self) -> MarketingPolicy:
        base = DEFAULT_POLICY
        regions: dict[str, RegionRule] = dict(base.regions) if self.builtin_regions else {}
        regions.update((name, region.rule()) for name, region in self.regions.items())
        return MarketingPolicy(
            window=self.window.window() if self.window is not None else base.window,
            regions=MappingProxyType(regions),
            caps=tuple(c.cap() for c in self.caps) if self.caps is not None else base.caps,
            fallback_zone=self.fallback_zone or base.fallback_zone,
        )


# -- the table ----------------------------------------------------------------


def _scope_name(value: str) -> str:
    if not 0 < len(value) <= MAX_SCOPE_CHARS:
        raise ValueError(f"a scope is 1 to {MAX_SCOPE_CHARS} characters")
    return value


class ConsentConfig(_Table):
    """``[plugins.consent]``: see the module docstring for every key."""

    rulesets: Annotated[RuleSetFiles, PlainValidator(_load_rulesets)] = Field(
        default_factory=RuleSetFiles
    )
    default_keywords: DefaultKeywords = Field(default_factory=DefaultKeywords)
    opted_out_status: Annotated[int, Field(gt=0, le=MAX_COMMAND_STATUS)] = OPTED_OUT_STATUS
    answer: AnswerMode = "status"
    # Per account (system_id): how its refused marketing is answered.
    accounts: Annotated[Mapping[str, AnswerMode], AfterValidator(_read_only)] = Field(
        default_factory=dict
    )
    # Per account: the scope its marketing belongs to (an alphanumeric sender
    # cannot receive STOP, so it has no scope of its own).
    account_scopes: Annotated[
        Mapping[str, Annotated[str, AfterValidator(_scope_name)]], AfterValidator(_read_only)
    ] = Field(default_factory=dict)
    require_opt_in: bool = False
    # "global": one suppression list across all numbers, carriers and modems
    # (COMPLIANCE.md), so an opt-out written to any number or brand blocks
    # marketing from every sender. "scope": only from the scope it was
    # written to (a brand's numbers, or the number itself).
    suppression: Literal["scope", "global"] = "global"
    # A repeated STOP gets no second confirmation within this many hours.
    reconfirm_opt_out_hours: Annotated[float, Field(ge=0, le=MAX_CAP_HOURS)] = 24.0
    # HELP, or a JOIN that asks for confirmation, repeated within this many
    # seconds of the one last answered is recorded but not answered again
    # (one reply, then silence); 0 answers every one.
    repeat_reply_seconds: Annotated[float, Field(ge=0, le=MAX_REPEAT_SECONDS)] = 600.0
    # How often changes made elsewhere (the CLI, another node) reach the
    # in-memory suppression index.
    index_refresh_seconds: Annotated[float, Field(gt=0, le=MAX_REFRESH_SECONDS)] = 10.0
    timing: TimingConfig = Field(default_factory=TimingConfig)

    def answer_for(self, system_id: str) -> AnswerMode:
        """How a refused marketing message of account ``system_id`` is answered."""
        return self.accounts.get(system_id, self.answer)
