"""``smppd rules``: check rule set files and simulate inbound messages against them.

``check`` loads rule set files with the same loader the plugins use and
reports every problem (file:line: key: message), or a summary. ``simulate``
runs the pure engine on one text for one sender and prints the normalised
text, what matched, every decision and the reply texts rendered from the
templates. It opens no database and changes nothing.

Rule sets come from ``--ruleset FILE`` (repeatable), or from a gateway
configuration: the ``rulesets`` arrays of its ``[plugins.NAME]`` tables,
relative to that file.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tomllib
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

import click

from rules import (
    Answered,
    AskConfirmation,
    ComplianceOverride,
    Custom,
    Decision,
    FlagForReview,
    Forward,
    Help,
    NoMatch,
    OptIn,
    OptOut,
    PendingQuestion,
    Reply,
    RuleBook,
    RuleSet,
    SubscriberState,
    evaluate,
    load_rulebook,
    normalise,
)
from smppd.config import CONFIG_ENV_VAR, DEFAULT_CONFIG_FILE, ConfigError

EXIT_INVALID = 1
# Key of a [plugins.NAME] table listing rule set files.
RULESETS_KEY = "rulesets"
# Keywords shown per rule in the check summary before "...".
MAX_KEYWORDS_SHOWN = 6


@click.group()
def rules() -> None:
    """Check a rule set and simulate inbound messages against it."""


def _report(exc: ConfigError, label: str) -> NoReturn:
    for problem in exc.problems:
        click.echo(str(problem), err=True)
    count = len(exc.problems)
    click.echo(f"{label}: {count} problem{'s' if count != 1 else ''}", err=True)
    raise SystemExit(EXIT_INVALID)


@rules.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
def check(files: tuple[str, ...]) -> None:
    """Load rule set FILES and report every problem in them.

    Prints the problems (file:line: key: message) to stderr and exits 1, or
    prints a summary of each rule set and exits 0. Several files are also
    checked against each other: two rule sets may not answer on one number.
    """
    try:
        book = load_rulebook(files)
    except ConfigError as exc:
        _report(exc, ", ".join(files))
    for path, ruleset in zip(files, book.rulesets, strict=True):
        click.echo(f"{path}: OK")
        for label, value in summary(ruleset):
            click.echo(f"  {label:<10} {value}")


def _shown(words: Mapping[str, tuple[str, ...]]) -> str:
    flat = [word for group in words.values() for word in group]
    text = ", ".join(flat[:MAX_KEYWORDS_SHOWN])
    return text + (", ..." if len(flat) > MAX_KEYWORDS_SHOWN else "")


def summary(ruleset: RuleSet) -> list[tuple[str, str]]:
    """What a loaded rule set answers, one row per line."""
    languages = sorted({lang for t in ruleset.templates.values() for lang in t.text})
    rows = [
        ("brand", f"{ruleset.brand} (default language {ruleset.default_language})"),
        ("numbers", ", ".join(ruleset.scope.numbers)),
        ("sentences", f"an opt-out word inside a sentence: {ruleset.compliance.sentence_opt_out}"),
    ]
    rows.extend(
        ("override", f"{', '.join(o.numbers)}: " + _override(o))
        for o in ruleset.compliance.overrides
    )
    for programme in ruleset.programmes:
        how = "single opt-in"
        if programme.confirm is not None:
            question = ruleset.questions[programme.confirm]
            how = (
                f"double opt-in ({programme.confirm}, answer within"
                f" {question.expires_after_hours:g} h)"
            )
        rows.append(
            (
                "programme",
                f"{programme.name} ({programme.title}): {how}; {_shown(programme.keywords)}",
            )
        )
    rows.extend(
        (
            "rule",
            f"{rule.name}: {rule.action}, {rule.match.replace('_', ' ')}: {_shown(rule.keywords)}",
        )
        for rule in ruleset.rules
    )
    rows.append(("templates", f"{len(ruleset.templates)} in {', '.join(languages)}"))
    return rows


def _override(override: ComplianceOverride) -> str:
    parts = []
    if override.commands:
        parts.append(f"commands {', '.join(override.commands)}")
    for key in ("opt_out", "opt_in", "help"):
        table = getattr(override, key)
        if table:
            parts.append(f"{key.replace('_', '-')} + {_shown(table)}")
    if override.remove:
        parts.append(f"removed {', '.join(override.remove)}")
    if override.sentence_opt_out is not None:
        parts.append(f"sentences: {override.sentence_opt_out}")
    return "; ".join(parts) or "no change"


# -- simulate -------------------------------------------------------------------


def ruleset_files(config_path: str) -> list[Path]:
    """The rule set files a gateway configuration names, resolved against it."""
    path = Path(config_path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8-sig"))
    except OSError as exc:
        raise click.ClickException(f"{config_path}: cannot read the file: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise click.ClickException(
            f"{config_path}: invalid TOML ({exc}); run: smppd config check {config_path}"
        ) from None
    found: list[Path] = []
    plugins = data.get("plugins")
    if isinstance(plugins, dict):
        for table in plugins.values():
            names = table.get(RULESETS_KEY) if isinstance(table, dict) else None
            if isinstance(names, list):
                found.extend(path.parent / str(name) for name in names)
    return list(dict.fromkeys(found))


def _state(text: str | None) -> SubscriberState:
    if text is None:
        return SubscriberState()
    try:
        raw = json.loads(text)
        if not isinstance(raw, dict):
            raise TypeError("expected a JSON object")
        unknown = set(raw) - {"programmes", "opted_out", "pending", "language"}
        if unknown:
            raise TypeError(f"unknown keys: {', '.join(sorted(unknown))}")
        pending = None
        if raw.get("pending") is not None:
            expires_at = datetime.fromisoformat(str(raw["pending"]["expires_at"]))
            if expires_at.tzinfo is None:
                expires_at = expires_at.replace(tzinfo=UTC)
            pending = PendingQuestion(str(raw["pending"]["question"]), expires_at)
        language = raw.get("language")
        return SubscriberState(
            programmes=frozenset(str(p) for p in raw.get("programmes", [])),
            opted_out=bool(raw.get("opted_out", False)),
            pending=pending,
            language=str(language) if language is not None else None,
        )
    except (ValueError, TypeError, KeyError) as exc:
        raise click.BadParameter(
            f"{exc}; expected e.g. "
            '{"programmes": ["coffee"], "opted_out": false, "language": "sv",'
            ' "pending": {"question": "join_coffee", "expires_at": "2026-05-01T12:00:00+00:00"}}',
            param_hint="--state",
        ) from None


def _book(rulesets: Sequence[str], config_path: str | None) -> tuple[RuleBook, list[str]]:
    if rulesets:
        files = list(rulesets)
    else:
        source = config_path or os.environ.get(CONFIG_ENV_VAR) or DEFAULT_CONFIG_FILE
        files = [str(p) for p in ruleset_files(source)]
        if not files:
            raise click.ClickException(
                f"{source} names no rule sets (a [plugins.NAME] table with {RULESETS_KEY} = [...]);"
                " give --ruleset FILE"
            )
    try:
        return load_rulebook(files), files
    except ConfigError as exc:
        _report(exc, ", ".join(files))


def _decision_json(decision: Decision, ruleset: RuleSet) -> dict[str, Any]:
    out: dict[str, Any] = {"type": type(decision).__name__}
    for item in dataclasses.fields(decision):
        value = getattr(decision, item.name)
        if isinstance(value, datetime):
            value = value.isoformat()
        elif isinstance(value, Mapping):
            value = dict(value)
        elif isinstance(value, tuple):
            value = list(value)
        out[item.name] = value
    if isinstance(decision, Reply):
        rendered = ruleset.render(decision.template, decision.language, decision.params)
        out.update(
            rendered=rendered.text,
            rendered_language=rendered.language,
            version=rendered.version,
            kind=rendered.kind,
        )
    return out


def matched(decisions: Sequence[Decision]) -> str:
    """What claimed the message: a compliance keyword, a rule, or nothing."""
    for decision in decisions:
        match decision:
            case Custom(rule=rule, keyword=k):
                return f'rule {rule} (keyword "{k}")'
            case OptOut(keyword=k) | OptIn(keyword=k) | Help(keyword=k) | Answered(keyword=k):
                kind = type(decision).__name__
                return f'compliance keyword "{k}" ({kind})'
            case FlagForReview(keyword=k):
                return f'compliance keyword "{k}" (for review)'
    if any(isinstance(d, Reply) for d in decisions):
        return "a rule, answered without an action"
    return "nothing"


def describe(decision: Decision, ruleset: RuleSet) -> str:
    """One decision as a line of text."""
    match decision:
        case OptOut(scope="all", keyword=k, language=lang, how=how):
            return f'OptOut    every programme on this sender ("{k}", {how}, {lang})'
        case OptOut(programme=p, keyword=k, language=lang, how=how):
            return f'OptOut    programme {p} ("{k}", {how}, {lang})'
        case OptIn(programme=None, keyword=k, language=lang):
            return f'OptIn     lift the opt-out ("{k}", {lang})'
        case OptIn(programme=p, confirmed=c, keyword=k, language=lang):
            state = "confirmed" if c else "waiting for confirmation"
            return f'OptIn     programme {p}, {state} ("{k}", {lang})'
        case AskConfirmation(question=q, programme=p, expires_at=at):
            return f"Ask       question {q} about {p}, open until {at.isoformat()}"
        case Answered(question=q, answer=a, keyword=k):
            return f'Answered  question {q}: {a} ("{k}")'
        case Help(keyword=k, language=lang):
            return f'Help      ("{k}", {lang})'
        case Reply(template=t, language=lang, params=params):
            rendered = ruleset.render(t, lang, params)
            return (
                f"Reply     {t} v{rendered.version} ({rendered.language}, {rendered.kind}):"
                f" {rendered.text}"
            )
        case FlagForReview(reason=r):
            return f"Review    {r}"
        case Custom(action=a, args=args, rule=rule, keyword=k, language=lang):
            shown = "".join(f" {json.dumps(arg, ensure_ascii=False)}" for arg in args)
            return f'Custom    {a}{shown} (rule {rule}, "{k}", {lang})'
        case Forward(forward=f):
            return "Forward   " + (
                "yes: the message goes on to applications" if f else "no: handled here"
            )
        case NoMatch():
            return "NoMatch   no rule claimed the message"
    return repr(decision)


@rules.command()
@click.option("--from", "sender", required=True, metavar="NUMBER", help="The sender's number.")
@click.option(
    "--to", "destination", required=True, metavar="SHORTCODE", help="The number written to."
)
@click.option(
    "--ruleset",
    "rulesets",
    multiple=True,
    type=click.Path(dir_okay=False),
    help="A rule set file (repeatable); default: the ones --config names.",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    help="A gateway configuration naming rule sets (default $SMPPD_CONFIG, then ./smppd.toml).",
)
@click.option("--state", "state_json", metavar="JSON", help="The subscriber's state as JSON.")
@click.option("--at", "at", metavar="TIME", help="The time (ISO 8601); default now.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.argument("text")
def simulate(
    *,
    sender: str,
    destination: str,
    rulesets: tuple[str, ...],
    config_path: str | None,
    state_json: str | None,
    at: str | None,
    as_json: bool,
    text: str,
) -> None:
    """Evaluate TEXT from --from to --to and print every decision; change nothing."""
    book, files = _book(rulesets, config_path)
    subscriber = _state(state_json)
    try:
        now = datetime.fromisoformat(at) if at is not None else datetime.now(UTC)
    except ValueError:
        raise click.BadParameter(f"{at!r} is not an ISO 8601 time", param_hint="--at") from None
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    ruleset = book.select(destination)
    if ruleset is None:
        numbers = ", ".join(n for r in book.rulesets for n in r.scope.numbers)
        raise click.ClickException(
            f"no rule set answers on {destination} (rule sets in {', '.join(files)} answer on"
            f" {numbers})"
        )
    path = files[book.rulesets.index(ruleset)]
    normalised = normalise(text)
    decisions = evaluate(normalised, subscriber, ruleset, now, destination=destination)
    if as_json:
        out = {
            "ruleset": path,
            "brand": ruleset.brand,
            "from": sender,
            "to": destination,
            "at": now.isoformat(),
            "text": text,
            "normalised": normalised.normalised,
            "words": list(normalised.words),
            "matched": matched(decisions),
            "decisions": [_decision_json(d, ruleset) for d in decisions],
        }
        click.echo(json.dumps(out, ensure_ascii=False, indent=2))
        return
    click.echo(f"rule set    {path} ({ruleset.brand}) on {destination}")
    click.echo(f"from        {sender} at {now.isoformat()}")
    click.echo(f"text        {json.dumps(text, ensure_ascii=False)}")
    click.echo(f"normalised  {json.dumps(normalised.normalised, ensure_ascii=False)}")
    click.echo(f"matched     {matched(decisions)}")
    click.echo("decisions")
    for number, decision in enumerate(decisions, start=1):
        click.echo(f"  {number}. {describe(decision, ruleset)}")
    click.echo("(simulation: nothing was changed)")
