"""A loyalty programme file: earn rules, tiers, rewards, referral, expiry, birthday, limits.

How this works: ``[plugins.loyalty] programmes = ["rules/coffee-loyalty.toml"]``
names one file per programme (relative to ``smppd.toml``). Each file names
its rule set file (relative to itself) and the programme in it, and holds
the figures of the programme: what each keyword earns and when, tiers,
rewards, referral, expiry, birthday and fraud limits. It is loaded with the
gateway's own configuration loader (:func:`smppd.config.load_toml_model`),
so every problem comes in one pass with file, line and key, and
:meth:`LoyaltyFile.cross_check` compares the file with its rule set: an earn
rule that is no rule of the programme or whose action is not ``earn``, a
template or rule that does not exist, a template using a placeholder the
plugin does not supply (:data:`PLACEHOLDERS`), a reward name claimed twice,
a ``sender`` that is none of the rule set's numbers. The rule set's own
problems are reported with it (:func:`load_programme`).

The result, a :class:`LoadedProgramme`, carries the validated file, the
rule set, the programme's time zone and the reward names folded the way the
rules engine folds ``REDEEM <reward>`` arguments.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, time
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, Final, Literal, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    PrivateAttr,
    ValidationInfo,
    model_validator,
)

from plugins.api import PluginConfig
from rules import RuleSet, load_ruleset, normalise
from rules._sections import LanguageCode, Name, Number, read_only
from rules.ruleset import number_key, placeholders
from smppd.config import ConfigError, ConfigProblem, Expect, Section, load_toml_model

__all__ = [
    "DEFAULT_BATCH",
    "DEFAULT_INTERVAL",
    "PLACEHOLDERS",
    "Birthday",
    "EarnRule",
    "Expiry",
    "Limits",
    "LoadedProgramme",
    "LoyaltyConfig",
    "LoyaltyFile",
    "Referral",
    "Replies",
    "Reward",
    "Tier",
    "load_programme",
    "load_programmes",
]

# Points are whole numbers; a million per award is far beyond any real programme.
MAX_POINTS: Final = 1_000_000
MAX_BUDGET: Final = 2_000_000_000
MAX_DAYS: Final = 3_660
MAX_TIERS: Final = 16
MAX_REWARDS: Final = 64
# The clock loop: every ten minutes, at most this many members per job and run.
DEFAULT_INTERVAL: Final = 600.0
DEFAULT_BATCH: Final = 500
MAX_BATCH: Final = 10_000
# What the loyalty plugin's replies may say: the rule set's own values, the
# rules engine's and the plugin's (tier names in the reply's language).
PLACEHOLDERS: Final = frozenset(
    {
        "brand",
        "support",
        "programme",
        "hours",
        "keyword",
        "argument",
        "points",
        "balance",
        "lifetime",
        "tier",
        "next_tier",
        "to_next",
        "reward",
        "rewards",
        "code",
        "validity",
        "missing",
        "birthday",
        "date",
        "referrer",
    }
)

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: Final[tuple[Weekday, ...]] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

Points = Annotated[
    int, Field(ge=1, le=MAX_POINTS), Expect(f"a whole number of points from 1 to {MAX_POINTS}")
]
Count = Annotated[int, Field(ge=1, le=1_000_000), Expect("a whole number of at least 1")]
Prefix = Annotated[
    str, Field(pattern=r"^[0-9]{1,15}$"), Expect('the leading digits of numbers ("46")')
]
RewardName = Annotated[
    str, Field(min_length=1, max_length=40), Expect("a name of 1 to 40 characters")
]


def _check_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f'"{value}" is not a time zone (e.g. "Europe/Stockholm")') from None
    return value


def _tuples(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: tuple(v) if isinstance(v, list) else v for k, v in value.items()}
    return value


TimeZone = Annotated[
    str, AfterValidator(_check_zone), Expect('a time zone such as "Europe/Stockholm"')
]


class EarnRule(Section):
    """``[earn.RULE]``: what one earn keyword of the rule set is worth, and when."""

    points: Points
    # Active from/until these dates (inclusive), on these weekdays, between
    # these local times (closes before opens: across midnight).
    starts: date | None = None
    ends: date | None = None
    weekdays: tuple[Weekday, ...] = ()
    opens: time | None = None
    closes: time | None = None
    # Per member: at most this many awards per local day / week / month.
    per_day: Count | None = None
    per_week: Count | None = None
    per_month: Count | None = None
    cooldown_minutes: Annotated[float, Field(gt=0, le=525_600)] | None = None
    # All members together: at most this many points from this rule.
    budget: Annotated[int, Field(ge=1, le=MAX_BUDGET)] | None = None
    # Only members of these tiers / segments (any, when empty).
    tiers: tuple[Name, ...] = ()
    segments: tuple[Name, ...] = ()

    @model_validator(mode="after")
    def _coherent(self) -> Self:
        if self.starts is not None and self.ends is not None and self.ends < self.starts:
            raise ValueError("ends is before starts")
        if (self.opens is None) != (self.closes is None):
            raise ValueError("opens and closes go together")
        if self.opens is not None and self.opens == self.closes:
            raise ValueError("opens and closes are the same time")
        return self


class Tier(Section):
    """``[[tiers]]``: a level reached at ``threshold`` lifetime points."""

    name: Name
    threshold: Annotated[int, Field(ge=0, le=MAX_BUDGET)]
    # Sent when a member reaches this tier (none for the entry tier).
    template: Name | None = None
    # What replies call the tier ({tier}, {next_tier}) per language; the
    # name itself in a language not listed.
    names: Annotated[
        Mapping[LanguageCode, Annotated[str, Field(min_length=1, max_length=40)]],
        AfterValidator(read_only),
    ] = Field(default_factory=dict)

    def display(self, language: str) -> str:
        return self.names.get(language, self.name)


class Reward(Section):
    """``[rewards.KEY]``: what ``REDEEM KEY`` gives, for how many points."""

    points: Points
    # Other names a member may write after REDEEM, per language; the first
    # name of a language is what replies call it ({reward}).
    names: Annotated[
        Mapping[LanguageCode, Annotated[tuple[RewardName, ...], Field(min_length=1)]],
        BeforeValidator(_tuples),
        AfterValidator(read_only),
    ] = Field(default_factory=dict)
    # Codes one member may take in all (no limit when unset).
    per_member: Count | None = None
    # How long a code is good for, as the reply says it ({validity}).
    validity: Annotated[
        Mapping[LanguageCode, Annotated[str, Field(min_length=1, max_length=60)]],
        AfterValidator(read_only),
    ] = Field(default_factory=dict)

    def display(self, key: str, language: str) -> str:
        names = self.names.get(language)
        return names[0] if names else key

    def validity_in(self, language: str) -> str:
        if language in self.validity:
            return self.validity[language]
        return next(iter(self.validity.values()), "")


class Referral(Section):
    """``[referral]``: REFER <number>, awarded once the friend has joined."""

    referrer_points: Points
    friend_points: Points
    max_per_referrer: Count = 10
    # The invitation texted to the friend (marketing, so the consent gate
    # applies): this template, or false to send none (the friend joins on
    # their own; the referral still waits for them).
    invite: Name | Literal[False] = "refer_invite"


class Expiry(Section):
    """``[expiry]``: when earned points lapse, and the reminder before."""

    policy: Literal["never", "after_days", "month_end", "year_end"] = "never"
    days: Annotated[int, Field(ge=1, le=MAX_DAYS)] | None = None
    reminder_days: Annotated[int, Field(ge=1, le=366)] | None = None
    reminder: Name | None = None

    @model_validator(mode="after")
    def _coherent(self) -> Self:
        if self.policy == "after_days" and self.days is None:
            raise ValueError('policy "after_days" needs days')
        if self.policy != "after_days" and self.days is not None:
            raise ValueError('days applies only to policy "after_days"')
        if (self.reminder_days is None) != (self.reminder is None):
            raise ValueError("reminder_days and reminder go together")
        if self.policy == "never" and self.reminder is not None:
            raise ValueError("points that never expire need no reminder")
        return self


class Birthday(Section):
    """``[birthday]``: a member gives a date (FÖDELSEDAG 03-14) and gets a yearly bonus."""

    points: Points
    # The rule set's rule (action "reply", match "argument") that gives the date.
    rule: Name
    # The yearly message (marketing) and the reply confirming the date.
    template: Name
    saved: Name
    usage: Name


class Limits(Section):
    """``[limits]``: fraud limits per sender, on the programme's own keywords only."""

    # More of the programme's keywords than this in a minute: one "slow
    # down" reply, then silence until a minute passes without too many.
    messages_per_minute: Count = 10
    # The same keyword more than repeat_limit times within repeat_window_minutes:
    # the repeats get no reply (the first ones had theirs), other keywords still work.
    repeat_limit: Count = 1
    repeat_window_minutes: Annotated[float, Field(gt=0, le=1_440)] = 10.0


class Replies(Section):
    """``[replies]``: the rule set's templates for each answer (defaults shown)."""

    earned: Name = "earned"
    balance: Name = "balance"
    tier: Name = "tier"
    rewards: Name = "rewards"
    redeemed: Name = "redeemed"
    not_enough_points: Name = "not_enough_points"
    pool_empty: Name = "pool_empty"
    reward_limit: Name = "reward_limit"
    earn_limit: Name = "earn_limit"
    earn_closed: Name = "earn_closed"
    referred: Name = "referred"
    refer_self: Name = "refer_self"
    refer_member: Name = "refer_member"
    refer_already: Name = "refer_already"
    refer_cap: Name = "refer_cap"
    refer_opted_out: Name = "refer_opted_out"
    refer_invalid: Name = "refer_usage"
    slow_down: Name = "slow_down"


class LoyaltyFile(Section):
    """One programme's file (see the module docstring)."""

    # The rule set file, relative to this file, and the programme in it.
    ruleset: Annotated[str, Field(min_length=1)]
    programme: Name
    # Local days, weeks, hours and birthdays are this zone's.
    timezone: TimeZone
    # What messages the programme starts come from: one of the rule set's
    # numbers (its first when unset).
    sender: Number | None = None
    join_bonus: Annotated[int, Field(ge=0, le=MAX_POINTS)] = 0
    earn: Annotated[Mapping[Name, EarnRule], AfterValidator(read_only)] = Field(
        default_factory=dict
    )
    tiers: Annotated[tuple[Tier, ...], Field(max_length=MAX_TIERS)] = ()
    rewards: Annotated[
        Mapping[Name, Reward], Field(max_length=MAX_REWARDS), AfterValidator(read_only)
    ] = Field(default_factory=dict)
    referral: Referral | None = None
    expiry: Expiry = Field(default_factory=Expiry)
    birthday: Birthday | None = None
    limits: Limits = Field(default_factory=Limits)
    # Named groups of numbers by leading digits, for earn rules' segments.
    segments: Annotated[
        Mapping[Name, Annotated[tuple[Prefix, ...], Field(min_length=1)]],
        BeforeValidator(_tuples),
        AfterValidator(read_only),
    ] = Field(default_factory=dict)
    replies: Replies = Field(default_factory=Replies)

    @model_validator(mode="after")
    def _coherent(self) -> Self:
        thresholds = [tier.threshold for tier in self.tiers]
        if thresholds != sorted(set(thresholds)):
            raise ValueError("tiers must be listed by rising threshold, each threshold once")
        names = [tier.name for tier in self.tiers]
        if len(set(names)) != len(names):
            raise ValueError("two tiers have one name")
        return self

    @classmethod
    def cross_check(
        cls, data: Mapping[str, Any], context: Any
    ) -> list[tuple[tuple[str | int, ...], str]]:
        ruleset_file = data.get("ruleset")
        if not isinstance(ruleset_file, str) or not ruleset_file:
            return []
        try:
            ruleset = load_ruleset(Path(context.base_dir) / ruleset_file)
        except ConfigError:
            return []  # its problems are reported with this file's (load_programme)
        return _against_ruleset(data, ruleset)


# -- cross-checks against the rule set --------------------------------------

KeyPath = tuple[str | int, ...]


def _table(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = data.get(key)
    return value if isinstance(value, Mapping) else {}


def _against_ruleset(data: Mapping[str, Any], ruleset: RuleSet) -> list[tuple[KeyPath, str]]:
    problems: list[tuple[KeyPath, str]] = []
    programme = data.get("programme")
    names = [p.name for p in ruleset.programmes]
    if isinstance(programme, str) and programme not in names:
        problems.append(
            (("programme",), f'the rule set has no programme "{programme}" (it has {names})')
        )
    rules = {rule.name: rule for rule in ruleset.rules}
    templates = ruleset.templates
    ruleset_file = data.get("ruleset")
    sender = data.get("sender")
    numbers = ruleset.scope.numbers
    if isinstance(sender, str) and number_key(sender) not in {number_key(n) for n in numbers}:
        problems.append(
            (
                ("sender",),
                f'"{sender}" is none of the rule set\'s numbers ({", ".join(numbers)}):'
                " messages the programme starts come from one of them",
            )
        )

    def unknown_placeholders(path: KeyPath, name: str, used_by: str = "") -> None:
        found = templates.get(name)
        if found is None:
            return
        for language, text in found.text.items():
            unknown = sorted(set(placeholders(text)) - PLACEHOLDERS)
            if unknown:
                shown = ", ".join("{" + item + "}" for item in unknown)
                known = ", ".join("{" + item + "}" for item in sorted(PLACEHOLDERS))
                problems.append(
                    (
                        path,
                        f'template "{name}"{used_by} in {ruleset_file} (text.{language}) uses'
                        f" {shown}, which the loyalty plugin does not supply; it supplies {known}",
                    )
                )

    def template(path: KeyPath, name: object) -> None:
        if isinstance(name, str) and name not in templates:
            problems.append((path, f'the rule set has no template "{name}"'))
        elif isinstance(name, str):
            unknown_placeholders(path, name)

    for name in _table(data, "earn"):
        rule = rules.get(name)
        if rule is None:
            problems.append((("earn", name), f'the rule set has no rule "{name}"'))
        elif rule.action != "earn":
            problems.append(
                (("earn", name), f'rule "{name}" has action "{rule.action}", not "earn"')
            )
        elif rule.programme not in (None, programme):
            problems.append(
                (("earn", name), f'rule "{name}" belongs to programme "{rule.programme}"')
            )
    tiers = data.get("tiers")
    tier_names: set[str] = set()
    if isinstance(tiers, list):
        for index, tier in enumerate(tiers):
            if isinstance(tier, Mapping):
                template(("tiers", index, "template"), tier.get("template"))
                if isinstance(tier.get("name"), str):
                    tier_names.add(tier["name"])
    segments = _table(data, "segments")
    for name, rule_table in _table(data, "earn").items():
        if not isinstance(rule_table, Mapping):
            continue
        for field, known in (("tiers", tier_names), ("segments", set(segments))):
            listed = rule_table.get(field)
            if isinstance(listed, list):
                for index, item in enumerate(listed):
                    if isinstance(item, str) and item not in known:
                        problems.append(
                            ((("earn", name, field, index)), f'no {field[:-1]} "{item}"')
                        )
    for key, value in _table(data, "replies").items():
        template(("replies", key), value)
    for key in Replies.model_fields:
        if key not in _table(data, "replies"):
            default = Replies.model_fields[key].default
            if default not in templates:
                problems.append(
                    (("replies", key), f'the rule set has no template "{default}" (the default)')
                )
            else:
                unknown_placeholders(("replies", key), default)
    referral = data.get("referral")
    if isinstance(referral, Mapping):
        invite = referral.get("invite", Referral.model_fields["invite"].default)
        template(("referral", "invite"), invite)
    # The replies of the programme's own rules are the plugin's to render too.
    for rule in ruleset.rules:
        if rule.programme != programme or rule.action not in _PLUGIN_ACTIONS:
            continue
        for used in (rule.reply, rule.usage):
            if used is not None:
                unknown_placeholders(("programme",), used, f' (rule "{rule.name}")')
    template(("expiry", "reminder"), _table(data, "expiry").get("reminder"))
    birthday = _table(data, "birthday")
    for key in ("template", "saved", "usage"):
        template(("birthday", key), birthday.get(key))
    rule_name = birthday.get("rule")
    if isinstance(rule_name, str):
        rule = rules.get(rule_name)
        if rule is None:
            problems.append((("birthday", "rule"), f'the rule set has no rule "{rule_name}"'))
        elif rule.action != "reply" or rule.match != "argument":
            problems.append(
                (
                    ("birthday", "rule"),
                    f'rule "{rule_name}" must have action "reply" and match "argument"',
                )
            )
    seen: dict[str, str] = {}
    for key, reward in _table(data, "rewards").items():
        spelled: list[tuple[KeyPath, str]] = [(("rewards", key), key)]
        names_table = reward.get("names") if isinstance(reward, Mapping) else None
        if isinstance(names_table, Mapping):
            for language, words in names_table.items():
                if isinstance(words, list):
                    spelled += [
                        (("rewards", key, "names", language, index), word)
                        for index, word in enumerate(words)
                        if isinstance(word, str)
                    ]
        for path, word in spelled:
            folded = reward_form(word)
            if not folded:
                problems.append((path, f'"{word}" has no letters or digits'))
            elif seen.setdefault(folded, key) != key:
                problems.append((path, f'"{word}" already names reward "{seen[folded]}"'))
    return problems


# The actions of rules the loyalty plugin answers (the birthday rule is a "reply" rule).
_PLUGIN_ACTIONS: Final = frozenset({"earn", "balance", "tier", "rewards", "redeem", "refer"})


def reward_form(text: str) -> str:
    """A reward name as ``REDEEM <reward>`` arguments arrive from the rules engine."""
    return normalise(text).normalised


# -- loading -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LoadedProgramme:
    """A programme file with its rule set, ready to use."""

    path: Path
    file: LoyaltyFile
    ruleset: RuleSet
    zone: ZoneInfo
    # Folded reward name -> reward key.
    reward_names: Mapping[str, str]

    @property
    def name(self) -> str:
        return self.file.programme

    @property
    def scope(self) -> str:
        # The brand: every short code of the rule set shares one consent scope.
        return self.ruleset.brand

    @property
    def sender(self) -> str:
        return self.file.sender or self.ruleset.scope.numbers[0]

    def tier_for(self, lifetime: int) -> str | None:
        reached = [tier.name for tier in self.file.tiers if tier.threshold <= lifetime]
        return reached[-1] if reached else None

    def tier_template(self, name: str | None) -> str | None:
        for tier in self.file.tiers:
            if tier.name == name:
                return tier.template
        return None

    def tier_display(self, name: str, language: str) -> str:
        """What replies in ``language`` call tier ``name`` (other values as they are)."""
        for tier in self.file.tiers:
            if tier.name == name:
                return tier.display(language)
        return name

    def tier_rank(self, name: str | None) -> int:
        for index, tier in enumerate(self.file.tiers):
            if tier.name == name:
                return index
        return -1


def load_programme(path: str | os.PathLike[str]) -> LoadedProgramme:
    """Load one programme file and its rule set; :class:`ConfigError` lists every problem."""
    problems: list[ConfigProblem] = []
    file: LoyaltyFile | None = None
    try:
        file = load_toml_model(LoyaltyFile, path)
    except ConfigError as exc:
        problems.extend(exc.problems)
    ruleset: RuleSet | None = None
    ruleset_path = _ruleset_path(Path(path), file)
    if ruleset_path is not None:
        try:
            ruleset = load_ruleset(ruleset_path)
        except ConfigError as exc:
            problems.extend(exc.problems)
    if problems or file is None or ruleset is None:
        raise ConfigError(problems)
    names: dict[str, str] = {}
    for key, reward in file.rewards.items():
        names[reward_form(key)] = key
        for words in reward.names.values():
            for word in words:
                names.setdefault(reward_form(word), key)
    return LoadedProgramme(
        path=Path(path),
        file=file,
        ruleset=ruleset,
        zone=ZoneInfo(file.timezone),
        reward_names=MappingProxyType(names),
    )


def _ruleset_path(path: Path, file: LoyaltyFile | None) -> Path | None:
    if file is not None:
        return path.absolute().parent / file.ruleset
    # The file did not validate: still report its rule set's problems when it can be named.
    try:
        raw = tomllib.loads(path.read_text("utf-8-sig"))
    except (OSError, ValueError):
        return None
    name = raw.get("ruleset")
    return path.absolute().parent / name if isinstance(name, str) and name else None


def load_programmes(
    paths: Sequence[str | os.PathLike[str]], base_dir: Path
) -> tuple[LoadedProgramme, ...]:
    """Load every programme file (relative to ``base_dir``); two with one
    programme name in one rule set is an error. Every problem in one :class:`ConfigError`."""
    problems: list[ConfigProblem] = []
    loaded: list[LoadedProgramme] = []
    for item in paths:
        try:
            loaded.append(load_programme(base_dir / item))
        except ConfigError as exc:
            problems.extend(exc.problems)
    owners: dict[tuple[str, str], Path] = {}
    for programme in loaded:
        key = (programme.scope, programme.name)
        if key in owners:
            problems.append(
                ConfigProblem(
                    os.fspath(programme.path),
                    None,
                    "programme",
                    f'programme "{programme.name}" of {programme.scope}'
                    f" is already in {owners[key]}",
                )
            )
        owners.setdefault(key, programme.path)
    if problems:
        raise ConfigError(problems)
    return tuple(loaded)


# -- the plugin's own table ------------------------------------------------------


def _list_to_tuple(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


class LoyaltyConfig(PluginConfig):
    """``[plugins.loyalty]``: the programme files and the clock loop."""

    programmes: Annotated[
        tuple[Annotated[str, Field(min_length=1)], ...],
        BeforeValidator(_list_to_tuple),
        Field(min_length=1),
    ]
    # Seconds between runs of the timed work (expiry, reminders, birthdays).
    interval: Annotated[float, Field(ge=1, le=86_400)] = DEFAULT_INTERVAL
    # Members handled per job and run, so one run stays short.
    batch: Annotated[int, Field(ge=1, le=MAX_BATCH)] = DEFAULT_BATCH

    _loaded: tuple[LoadedProgramme, ...] | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _load(self, info: ValidationInfo) -> Self:
        # With the configuration's directory (the host passes it), the files
        # are loaded here so ``smppd config check`` reports their problems.
        context = info.context
        base_dir = context.get("base_dir") if isinstance(context, Mapping) else None
        if isinstance(base_dir, Path):
            try:
                self._loaded = load_programmes(self.programmes, base_dir)
            except ConfigError as exc:
                raise ValueError("; ".join(str(problem) for problem in exc.problems)) from None
        return self

    def loaded(self, base_dir: Path) -> tuple[LoadedProgramme, ...]:
        """The programmes, loaded at validation or now (relative to ``base_dir``)."""
        if self._loaded is None:
            self._loaded = load_programmes(self.programmes, base_dir)
        return self._loaded
