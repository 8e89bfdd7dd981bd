"""``smppd subscriber``: look up, export and change subscribers' consent.

``show``, ``list`` and ``export`` only read: they open the store read-only
(on SQLite a snapshot that never holds off a running gateway's writer).
``export`` answers a GDPR access request: every consent ledger row of one
number, with the exact texts shown, as CSV or JSON.

``optout`` and ``optin`` change consent on a subscriber's behalf (a request
by e-mail, a signed form). Each writes an append-only ledger row with the
actor ``admin:<login user>`` and the reason, which is required, in the same
transaction as the subscription row. A running gateway sees the change
within its ``index_refresh_seconds``. An admin opt-in is consent someone
must be able to prove: the reason should name the evidence.

Numbers are accepted in any common international form (``+46 70-123 45
67``, ``0046701234567``, ``46701234567``) and kept as digits.

A change names a scope the gateway enforces, or it would be recorded and
never applied: ``--scope`` is the brand of one of the rule sets in the
configuration's ``[plugins.consent] rulesets`` (spelt as there, a close
misspelling answered with a "did you mean"), or a number no rule set covers
(consent given by writing to it is scoped to the number itself), and
``--programme`` one of that rule set's programmes.
"""

from __future__ import annotations

import csv
import difflib
import getpass
import io
import json
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import click
from sqlalchemy import Connection
from sqlalchemy.engine import Row

from plugins.consent.config import ConsentConfig
from plugins.consent.store import (
    EVENT_OPT_IN,
    EVENT_OPT_OUT,
    LedgerEntry,
    clear_question,
    leave_programmes,
    list_subscriptions,
    number_history,
    pending_of,
    record,
    set_status,
    subscriptions_of,
)
from plugins.host import HOST_KEYS
from plugins.subscribers import ALL_PROGRAMMES, OPTED_IN, OPTED_OUT, subscriber_number
from rules import RuleBook
from smppd.cli.db_cmd import EXIT_FAILURE, StoreSettings, open_engine, store_options
from smppd.config import ConfigError, load_config
from smppd.store.engine import read_only
from smppd.store.models import DETAIL_MAX, NAME_MAX

# E.164: at most 15 digits; shorter than this is a short code, not a subscriber.
MIN_NUMBER_DIGITS: Final = 6
MAX_NUMBER_DIGITS: Final = 15
DEFAULT_EVENTS_SHOWN: Final = 10
DEFAULT_LIST_LIMIT: Final = 100
MAX_LIST_LIMIT: Final = 100_000
ADMIN_CHANNEL: Final = "cli"
EXPORT_COLUMNS: Final = (
    "id",
    "at",
    "number",
    "scope",
    "programme",
    "event",
    "actor",
    "keyword",
    "original_text",
    "channel",
    "sender",
    "connector",
    "carrier_reference",
    "shown_text",
    "template",
    "template_version",
    "language",
    "reason",
    "inbound_key",
)


def _iso(at_ms: int | None) -> str:
    if at_ms is None:
        return "-"
    return datetime.fromtimestamp(at_ms / 1000, UTC).isoformat(timespec="seconds")


def _number(value: str) -> str:
    number = subscriber_number(value)
    if not number.isdigit():
        raise click.BadParameter(f"{value!r} is not a phone number", param_hint="NUMBER")
    stripped = value.strip()
    if stripped.startswith("0") and not stripped.startswith("00"):
        raise click.BadParameter(
            f"{value!r} looks like a national number: give it in international form"
            " (+46701234567 or 0046701234567)",
            param_hint="NUMBER",
        )
    if not MIN_NUMBER_DIGITS <= len(number) <= MAX_NUMBER_DIGITS:
        raise click.BadParameter(
            f"{value!r} has {len(number)} digits; an international number has"
            f" {MIN_NUMBER_DIGITS} to {MAX_NUMBER_DIGITS}",
            param_hint="NUMBER",
        )
    return number


def _number_arg(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    return _number(value)


def _bounded(name: str, limit: int, *, empty: bool = False) -> Any:
    """A callback checking an option's length (``empty``: "" is allowed too)."""

    def check(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
        if value is None or (empty and value == ""):
            return value
        if not value.strip() or len(value) > limit:
            raise click.BadParameter(f"expected 1 to {limit} characters", param_hint=name)
        return value

    return check


def _row_dict(row: Row[Any]) -> dict[str, Any]:
    data = dict(row._mapping)
    data["at"] = _iso(data["at"])
    return {column: data.get(column) for column in EXPORT_COLUMNS}


def _subscription_dict(row: Row[Any]) -> dict[str, Any]:
    return {
        "number": row.number,
        "scope": row.scope,
        "programme": row.programme,
        "status": row.status,
        "language": row.language,
        "since": _iso(row.since),
        "updated_at": _iso(row.updated_at),
        "ledger_id": row.ledger_id,
    }


@click.group()
def subscriber() -> None:
    """Look up, export and change subscribers' consent."""


# -- reading ------------------------------------------------------------------------


@subscriber.command("show")
@store_options
@click.argument("number", callback=_number_arg)
@click.option(
    "--events",
    type=click.IntRange(0, MAX_LIST_LIMIT),
    default=DEFAULT_EVENTS_SHOWN,
    show_default=True,
    help="How many of the latest ledger events to show.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def show_cmd(settings: StoreSettings, number: str, events: int, as_json: bool) -> None:
    """Where NUMBER stands in each scope and programme, its pending question, its latest events."""
    engine = open_engine(settings)
    try:
        with read_only(engine) as conn:
            rows = subscriptions_of(conn, number)
            questions = pending_of(conn, number)
            history = number_history(conn, number, events) if events else []
    finally:
        engine.dispose()
    if not rows and not questions and not history:
        raise click.ClickException(f"no consent recorded for {number}")
    if as_json:
        click.echo(
            json.dumps(
                {
                    "number": number,
                    "subscriptions": [_subscription_dict(r) for r in rows],
                    "pending": [
                        {
                            "scope": q.scope,
                            "question": q.question,
                            "programme": q.programme,
                            "asked_at": _iso(q.asked_at),
                            "expires_at": _iso(q.expires_at),
                            "language": q.language,
                        }
                        for q in questions
                    ],
                    "events": [_row_dict(r) for r in history],
                },
                indent=2,
                ensure_ascii=False,
            )
        )
        return
    click.echo(f"number: {number}")
    click.echo("consent:")
    if not rows:
        click.echo("  none")
    for r in rows:
        what = r.programme or "(all programmes)"
        click.echo(
            f"  {r.scope:<20} {what:<20} {r.status:<10} since {_iso(r.since)}"
            f"  language {r.language or '-'}"
        )
    click.echo("pending:")
    if not questions:
        click.echo("  none")
    now_ms = int(time.time() * 1000)
    for q in questions:
        state = "open" if q.expires_at > now_ms else "expired"
        click.echo(
            f"  {q.scope:<20} {q.question} ({q.programme}), asked {_iso(q.asked_at)}"
            f" in {q.language or '-'}, {state} until {_iso(q.expires_at)}"
        )
    click.echo(f"events (latest {events}):")
    for e in history:
        keyword = f" {e.keyword!r}" if e.keyword else ""
        reason = f"  {e.reason}" if e.reason else ""
        click.echo(
            f"  {_iso(e.at)}  {e.scope:<20} {e.programme or '-':<12} {e.event:<14}"
            f" {e.actor}{keyword}{reason}"
        )
        if e.shown_text:
            shown = f"{e.template} v{e.template_version}, {e.language}"
            click.echo(f"      shown ({shown}): {e.shown_text}")


@subscriber.command("list")
@store_options
@click.option("--scope", callback=_bounded("--scope", NAME_MAX), help="Only this scope.")
@click.option("--status", type=click.Choice([OPTED_IN, OPTED_OUT]), help="Only this status.")
@click.option(
    "--limit",
    type=click.IntRange(1, MAX_LIST_LIMIT),
    default=DEFAULT_LIST_LIMIT,
    show_default=True,
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_cmd(
    *, settings: StoreSettings, scope: str | None, status: str | None, limit: int, as_json: bool
) -> None:
    """Subscription rows, most recently changed first."""
    engine = open_engine(settings)
    try:
        with read_only(engine) as conn:
            rows = list_subscriptions(conn, scope=scope, status=status, limit=limit)
    finally:
        engine.dispose()
    if as_json:
        click.echo(json.dumps([_subscription_dict(r) for r in rows], indent=2, ensure_ascii=False))
        return
    for r in rows:
        click.echo(
            f"{r.number:<16} {r.scope:<20} {r.programme or '(all)':<16} {r.status:<10}"
            f" since {_iso(r.since)}"
        )


@subscriber.command("export")
@store_options
@click.argument("number", callback=_number_arg)
@click.option(
    "--format", "fmt", type=click.Choice(["csv", "json"]), required=True, help="Output format."
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, writable=True),
    default=None,
    help="Write to this file instead of stdout.",
)
def export_cmd(settings: StoreSettings, number: str, fmt: str, output: str | None) -> None:
    """Every consent ledger row of NUMBER, with the texts shown (a GDPR access request)."""
    engine = open_engine(settings)
    try:
        with read_only(engine) as conn:
            rows = [_row_dict(r) for r in number_history(conn, number)]
    finally:
        engine.dispose()
    text = _csv(rows) if fmt == "csv" else json.dumps(rows, indent=2, ensure_ascii=False) + "\n"
    if output is None:
        click.echo(text, nl=False)
        return
    try:
        with open(output, "w", encoding="utf-8", newline="") as file:
            file.write(text)
    except OSError as exc:
        raise click.ClickException(f"cannot write {output}: {exc.strerror}") from None
    click.echo(f"{len(rows)} ledger row{'s' if len(rows) != 1 else ''} of {number} -> {output}")


def _csv(rows: Sequence[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=EXPORT_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


# -- changing -------------------------------------------------------------------------


def _login() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "unknown"


def _rulebook(config_file: str) -> RuleBook:
    """The rule sets of ``[plugins.consent]`` in ``config_file`` (none without the table)."""
    try:
        cfg = load_config(config_file)
        table = {
            key: value
            for key, value in dict(cfg.plugins.get("consent", {})).items()
            if key not in HOST_KEYS
        }
        base_dir = Path(config_file).absolute().parent
        config = ConsentConfig.model_validate(table, context={"base_dir": base_dir})
    except ConfigError as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        raise SystemExit(EXIT_FAILURE) from None
    except OSError as exc:
        raise click.ClickException(
            f"cannot read {config_file}: {exc.strerror} (its [plugins.consent] rule sets"
            " say which scopes and programmes exist)"
        ) from None
    except ValueError as exc:
        raise click.ClickException(f"{config_file}: [plugins.consent]: {exc}") from None
    return config.rulesets.book


def _did_you_mean(value: str, known: Sequence[str]) -> str:
    by_fold = {name.casefold(): name for name in known}
    folded = value.casefold()
    close = (
        folded
        if folded in by_fold
        else next(iter(difflib.get_close_matches(folded, list(by_fold), n=1)), None)
    )
    if close is not None:
        return f'; did you mean "{by_fold[close]}"?'
    return f" (known: {', '.join(known)})" if known else ""


def _checked_scope(book: RuleBook, scope: str, programme: str) -> str:
    """``scope`` as the gateway keeps it, once it and ``programme`` are known to exist.

    :class:`click.BadParameter` (exit code 2) names what is wrong.
    """
    brands = {ruleset.brand: ruleset for ruleset in book.rulesets}
    ruleset = brands.get(scope)
    if ruleset is None:
        number = subscriber_number(scope)
        if not number.isdigit():
            raise click.BadParameter(
                f'no rule set has the brand "{scope}"{_did_you_mean(scope, list(brands))}',
                param_hint="--scope",
            )
        covering = book.select(number)
        if covering is not None:
            raise click.BadParameter(
                f'{scope} is answered by the rule set of "{covering.brand}":'
                f' use --scope "{covering.brand}"',
                param_hint="--scope",
            )
        if programme:
            raise click.BadParameter(
                f"{scope} is a number no rule set covers: it has no programmes",
                param_hint="--programme",
            )
        return number
    names = [p.name for p in ruleset.programmes]
    if programme and programme not in names:
        where = _did_you_mean(programme, names) if names else f" ({scope} has no programmes)"
        raise click.BadParameter(
            f'no programme "{programme}" in {scope}{where}', param_hint="--programme"
        )
    return scope


def _change(
    settings: StoreSettings,
    *,
    number: str,
    scope: str,
    programme: str,
    status: str,
    reason: str,
) -> int:
    at = int(time.time() * 1000)
    entry = LedgerEntry(
        number=number,
        scope=scope,
        programme=programme,
        event=EVENT_OPT_OUT if status == OPTED_OUT else EVENT_OPT_IN,
        actor=f"admin:{_login()}",
        at=at,
        channel=ADMIN_CHANNEL,
        reason=reason,
    )
    engine = open_engine(settings)
    try:
        with engine.begin() as conn:
            return _apply(conn, entry, status)
    finally:
        engine.dispose()


def _apply(conn: Connection, entry: LedgerEntry, status: str) -> int:
    ledger_id = record(conn, entry)
    # Admin rows carry no inbound key, so the unique index never drops one.
    assert ledger_id is not None
    number, scope = entry.number, entry.scope
    set_status(
        conn,
        number=number,
        scope=scope,
        programme=entry.programme,
        status=status,
        at=entry.at,
        ledger_id=ledger_id,
    )
    if status == OPTED_OUT and entry.programme == ALL_PROGRAMMES:
        leave_programmes(conn, number=number, scope=scope, at=entry.at, ledger_id=ledger_id)
        clear_question(conn, number=number, scope=scope)
    return ledger_id


def _change_options(func: Any) -> Any:
    func = click.option(
        "--reason",
        required=True,
        callback=_bounded("--reason", DETAIL_MAX),
        help="Why (recorded in the ledger); for an opt-in, the evidence of consent.",
    )(func)
    func = click.option(
        "--programme",
        default=ALL_PROGRAMMES,
        callback=_bounded("--programme", NAME_MAX, empty=True),
        help="One programme of the scope (default: the whole scope).",
    )(func)
    func = click.option(
        "--scope",
        required=True,
        callback=_bounded("--scope", NAME_MAX),
        help=(
            "The brand of a rule set in [plugins.consent] rulesets, as spelt there; or a"
            " number no rule set covers (consent written to it is scoped to that number)."
        ),
    )(func)
    return click.argument("number", callback=_number_arg)(func)


def _scope_in_config(scope: str, programme: str) -> str:
    # The rule sets come from the same --config as the store settings.
    config_file = click.get_current_context().params["config_file"]
    return _checked_scope(_rulebook(config_file), scope, programme)


def _what(scope: str, programme: str) -> str:
    return f"{programme} of {scope}" if programme else f"{scope} (all programmes)"


@subscriber.command("optout")
@store_options
@_change_options
def optout_cmd(
    *, settings: StoreSettings, number: str, scope: str, programme: str, reason: str
) -> None:
    """Opt NUMBER out of a scope (or one programme of it) on the subscriber's behalf."""
    scope = _scope_in_config(scope, programme)
    ledger_id = _change(
        settings, number=number, scope=scope, programme=programme, status=OPTED_OUT, reason=reason
    )
    click.echo(f"{number} opted out of {_what(scope, programme)} (ledger entry {ledger_id})")


@subscriber.command("optin")
@store_options
@_change_options
def optin_cmd(
    *, settings: StoreSettings, number: str, scope: str, programme: str, reason: str
) -> None:
    """Opt NUMBER in to a scope (or one programme of it) on the subscriber's behalf.

    The sender must be able to prove this consent (GDPR Art. 7(1)): name the
    evidence in --reason (a signed form's reference, the e-mail's date).
    """
    scope = _scope_in_config(scope, programme)
    click.echo(
        "warning: consent must be provable; the reason recorded is the only evidence the"
        " ledger holds of this opt-in",
        err=True,
    )
    ledger_id = _change(
        settings, number=number, scope=scope, programme=programme, status=OPTED_IN, reason=reason
    )
    click.echo(f"{number} opted in to {_what(scope, programme)} (ledger entry {ledger_id})")
