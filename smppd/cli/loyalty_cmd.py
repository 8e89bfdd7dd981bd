"""``smppd loyalty``: members' points, the ledger, manual awards and adjustments, reward codes.

Every command reads the daemon's configuration (``--config``): its
``[store]`` names the database (``--database-url`` overrides it) and its
``[plugins.loyalty]`` the programme files, whose figures (expiry, tiers,
rewards) a manual award follows exactly as the plugin does. With one
programme configured ``--programme`` may be left out.

Changes go through the same ledger functions as the plugin
(:mod:`plugins.loyalty.ledger`): an award or adjustment is one ledger entry
with actor ``admin:<login user>`` and a required reason, and a balance
never goes below zero. Only opted-in members earn: ``award`` and ``adjust``
refuse a number that is not opted in to the programme (its consent, in the
scope of the programme's rule set, as the consent plugin records it);
``adjust --force`` corrects the balance a former member still has.
``members`` lists opted-in members with their consent status (``--all``:
everyone with a balance row, also those who left).
"""

from __future__ import annotations

import csv
import functools
import getpass
import io
import json
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, TypeVar

import click
from sqlalchemy import Connection, Engine, and_, func, select

from plugins.host import HOST_KEYS
from plugins.loyalty import ledger
from plugins.loyalty.config import LoadedProgramme, LoyaltyConfig
from plugins.subscribers import ALL_PROGRAMMES, OPTED_IN, OPTED_OUT, is_member, subscriber_number
from smppd.cli.db_cmd import (
    CONFIG_ENV_VAR,
    DATABASE_URL_ENV_VAR,
    DEFAULT_CONFIG_FILE,
    EXIT_FAILURE,
    load_settings,
    open_engine,
)
from smppd.config import ConfigError, load_config
from smppd.store.engine import read_only
from smppd.store.models import loyalty_members, points_ledger, reward_codes, subscriptions

DEFAULT_HISTORY: Final = 20
MAX_HISTORY: Final = 10_000
MAX_CODE_CHARS: Final = 64

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True, slots=True)
class _Where:
    """What a loyalty command works on: the store and one programme."""

    engine_factory: Callable[[], Engine]
    programme: LoadedProgramme


def _programmes(config_file: str) -> tuple[LoadedProgramme, ...]:
    try:
        cfg = load_config(config_file)
        table = {
            key: value
            for key, value in dict(cfg.plugins.get("loyalty", {})).items()
            if key not in HOST_KEYS
        }
        if not table:
            raise click.ClickException(f"{config_file} has no [plugins.loyalty] programmes")
        config = LoyaltyConfig.model_validate(table)
        return config.loaded(Path(config_file).absolute().parent)
    except ConfigError as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        raise SystemExit(EXIT_FAILURE) from None
    except OSError as exc:
        raise click.ClickException(f"cannot read {config_file}: {exc.strerror}") from None
    except ValueError as exc:
        raise click.ClickException(f"{config_file}: [plugins.loyalty]: {exc}") from None


def loyalty_options(func: F) -> F:
    """``--config``, ``--database-url`` and ``--programme``; pass ``where: _Where``."""

    @click.option(
        "--config",
        "config_file",
        type=click.Path(dir_okay=False),
        default=DEFAULT_CONFIG_FILE,
        envvar=CONFIG_ENV_VAR,
        show_default=True,
        help="The configuration file ([store] and [plugins.loyalty]).",
    )
    @click.option(
        "--database-url",
        envvar=DATABASE_URL_ENV_VAR,
        default=None,
        help="SQLAlchemy URL of the store, instead of the configuration's.",
    )
    @click.option("--programme", default=None, help="The programme (needed with several).")
    @functools.wraps(func)
    def wrapper(
        config_file: str, database_url: str | None, programme: str | None, **kwargs: Any
    ) -> Any:
        loaded = _programmes(config_file)
        names = [p.name for p in loaded]
        if programme is None:
            if len(loaded) != 1:
                raise click.UsageError(f"--programme is needed: one of {', '.join(names)}")
            chosen = loaded[0]
        else:
            found = [p for p in loaded if p.name == programme]
            if not found:
                raise click.UsageError(f"no programme {programme!r}: one of {', '.join(names)}")
            chosen = found[0]
        settings = load_settings(config_file, database_url)
        return func(where=_Where(lambda: open_engine(settings), chosen), **kwargs)

    return wrapper  # type: ignore[return-value]


@contextmanager
def _writing(where: _Where) -> Iterator[Connection]:
    engine = where.engine_factory()
    try:
        with engine.begin() as conn:
            yield conn
    finally:
        engine.dispose()


@contextmanager
def _reading(where: _Where) -> Iterator[Connection]:
    engine = where.engine_factory()
    try:
        with read_only(engine) as conn:
            yield conn
    finally:
        engine.dispose()


def _actor() -> str:
    try:
        user = getpass.getuser()
    except (OSError, KeyError):
        user = "unknown"
    return f"admin:{user}"


def _now_ms() -> int:
    return int(datetime.now(UTC).timestamp() * 1000)


def _iso(at_ms: int | None) -> str:
    if at_ms is None:
        return "-"
    return datetime.fromtimestamp(at_ms / 1000, UTC).isoformat(timespec="seconds")


@click.group()
def loyalty() -> None:
    """Members' points: balances, history, awards, adjustments, reward codes."""


@loyalty.command("balance")
@loyalty_options
@click.argument("number")
def balance_cmd(where: _Where, number: str) -> None:
    """A member's balance, lifetime points and tier."""
    number = subscriber_number(number)
    with _reading(where) as conn:
        member = ledger.get_member(conn, number, where.programme.name)
    if member is None:
        raise click.ClickException(f"{number} is not a member of {where.programme.name}")
    click.echo(
        f"{member.number}  {member.programme}  balance {member.balance}"
        f"  lifetime {member.lifetime}  tier {member.tier or '-'}"
    )


@loyalty.command("history")
@loyalty_options
@click.argument("number")
@click.option(
    "--limit", type=click.IntRange(1, MAX_HISTORY), default=DEFAULT_HISTORY, show_default=True
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def history_cmd(where: _Where, number: str, limit: int, as_json: bool) -> None:
    """A member's ledger entries, newest first."""
    number = subscriber_number(number)
    c = points_ledger.c
    with _reading(where) as conn:
        rows = conn.execute(
            select(c.id, c.at, c.kind, c.points, c.rule, c.reward, c.actor, c.reason, c.expires_at)
            .where(c.number == number, c.programme == where.programme.name)
            .order_by(c.at.desc(), c.id.desc())
            .limit(limit)
        ).all()
    entries = [dict(row._mapping) for row in rows]
    if as_json:
        click.echo(json.dumps(entries, indent=2))
        return
    for e in entries:
        what = e["rule"] or e["reward"] or e["reason"] or ""
        click.echo(f"{_iso(e['at'])}  {e['kind']:<8} {e['points']:>+7}  {e['actor']:<20} {what}")


def _award(
    where: _Where, number: str, points: int, reason: str, *, kind: str, force: bool = False
) -> ledger.Change | None:
    programme = where.programme
    key = f"{kind}:{programme.name}:{number}:{uuid.uuid4().hex}"
    now_ms = _now_ms()
    with _writing(where) as conn:
        if not is_member(conn, number, programme.scope, programme.name):
            former = ledger.get_member(conn, number, programme.name) is not None
            if not (force and former):
                raise click.ClickException(_not_member(where, number, former=former, kind=kind))
        ledger.ensure_member(conn, programme, number, now_ms)
        if points > 0:
            return ledger.credit(
                conn,
                programme,
                number,
                kind=kind,
                points=points,
                key=key,
                now_ms=now_ms,
                actor=_actor(),
                reason=reason,
            )
        member = ledger.get_member(conn, number, programme.name)
        balance = member.balance if member is not None else 0
        if balance < -points:
            raise click.ClickException(
                f"{number} has {balance} points: taking {-points} would go below zero"
            )
        return ledger.debit(
            conn,
            programme,
            number,
            kind=kind,
            points=-points,
            key=key,
            now_ms=now_ms,
            actor=_actor(),
            reason=reason,
        )


def _not_member(where: _Where, number: str, *, former: bool, kind: str) -> str:
    programme = where.programme
    refusal = (
        f"{number} is not an opted-in member of {programme.name} ({programme.scope}):"
        " only opted-in members earn"
    )
    if kind != "adjust":
        return refusal
    if former:
        return f"{refusal}; to correct the balance of this former member, give --force"
    return f"{refusal}, and {number} has never been one (nothing to correct)"


def _reason(value: str) -> str:
    value = value.strip()
    if not value:
        raise click.BadParameter("a reason is required")
    return value[:255]


@loyalty.command("award")
@loyalty_options
@click.argument("number")
@click.argument("points", type=click.IntRange(1, 1_000_000))
@click.option("--reason", required=True, help="Why (kept in the ledger).")
def award_cmd(where: _Where, number: str, points: int, reason: str) -> None:
    """Give an opted-in member bonus points (they count towards tiers and lapse like
    earned ones)."""
    number = subscriber_number(number)
    change = _award(where, number, points, _reason(reason), kind="bonus")
    assert change is not None
    click.echo(f"{number}: +{points}, balance {change.balance}, tier {change.tier_after or '-'}")


@loyalty.command("adjust", context_settings={"ignore_unknown_options": True})
@loyalty_options
@click.argument("number")
@click.argument("points")
@click.option("--reason", required=True, help="Why (kept in the ledger).")
@click.option(
    "--force",
    is_flag=True,
    help="Correct the balance of a former member (one who opted out): the reason says why.",
)
def adjust_cmd(where: _Where, number: str, points: str, reason: str, force: bool) -> None:
    """Correct an opted-in member's balance by +POINTS or -POINTS (never below zero;
    tiers unchanged); a former member's only with --force."""
    try:
        amount = int(points)
    except ValueError:
        raise click.BadParameter(f"{points!r} is not +N or -N", param_hint="POINTS") from None
    if amount == 0 or abs(amount) > 1_000_000:
        raise click.BadParameter("between -1000000 and +1000000, not 0", param_hint="POINTS")
    number = subscriber_number(number)
    change = _award(where, number, amount, _reason(reason), kind="adjust", force=force)
    assert change is not None
    click.echo(f"{number}: {amount:+d}, balance {change.balance}")


@loyalty.group("codes")
def codes() -> None:
    """Reward code pools."""


def _reward(where: _Where, reward: str) -> str:
    if reward not in where.programme.file.rewards:
        known = ", ".join(where.programme.file.rewards) or "none"
        raise click.BadParameter(f"no reward {reward!r} (rewards: {known})", param_hint="REWARD")
    return reward


def _read_codes(text: str) -> Iterator[str]:
    for row in csv.reader(io.StringIO(text)):
        yield row[0].strip() if row else ""


@codes.command("import")
@loyalty_options
@click.argument("reward")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
def import_cmd(where: _Where, reward: str, file: str) -> None:
    """Add codes to REWARD's pool: one per line, or a CSV's first column.

    Blank lines, codes seen twice and codes already in the pool are skipped.
    """
    reward = _reward(where, reward)
    text = Path(file).read_text("utf-8-sig")
    imported = skipped = 0
    now_ms = _now_ms()
    with _writing(where) as conn:
        for code in _read_codes(text):
            if not code or len(code) > MAX_CODE_CHARS:
                skipped += 1
                continue
            inserted = ledger.insert_ignore(
                conn,
                reward_codes,
                {
                    "programme": where.programme.name,
                    "reward": reward,
                    "code": code,
                    "imported_at": now_ms,
                },
            )
            if inserted is None:
                skipped += 1
            else:
                imported += 1
    click.echo(f"imported {imported}, skipped {skipped}")


@codes.command("list")
@loyalty_options
@click.argument("reward")
def list_codes_cmd(where: _Where, reward: str) -> None:
    """How many codes of REWARD are issued and available."""
    reward = _reward(where, reward)
    c = reward_codes.c
    with _reading(where) as conn:
        issued, total = conn.execute(
            select(func.count(c.issued_to), func.count()).where(
                and_(c.programme == where.programme.name, c.reward == reward)
            )
        ).one()
    click.echo(f"{reward}: issued {issued}, available {total - issued}")


# A member's consent to the programme, as ``members`` shows it.
CONSENT_OPTED_IN: Final = "opted_in"
CONSENT_OPTED_OUT: Final = "opted_out"  # left the programme, or said plain STOP
CONSENT_NONE: Final = "none"  # no consent on record


@dataclass(frozen=True, slots=True)
class _MemberRow:
    number: str
    consent: str
    balance: int
    lifetime: int
    tier: str | None
    birthday: str | None
    joined_at: str


def _consents(conn: Connection, programme: LoadedProgramme) -> dict[str, str]:
    """Each number's consent to ``programme`` in its scope (absent: none on record)."""
    c = subscriptions.c
    rows = conn.execute(
        select(c.number, c.programme, c.status).where(
            c.scope == programme.scope, c.programme.in_((ALL_PROGRAMMES, programme.name))
        )
    ).all()
    statuses: dict[str, dict[str, str]] = {}
    for number, name, status in rows:
        statuses.setdefault(str(number), {})[str(name)] = str(status)
    consents: dict[str, str] = {}
    for number, found in statuses.items():
        if found.get(programme.name) == OPTED_IN and found.get(ALL_PROGRAMMES) != OPTED_OUT:
            consents[number] = CONSENT_OPTED_IN
        elif programme.name in found or ALL_PROGRAMMES in found:
            consents[number] = (
                CONSENT_OPTED_OUT
                if OPTED_OUT in (found.get(programme.name), found.get(ALL_PROGRAMMES))
                else CONSENT_NONE
            )
    return consents


@loyalty.command("members")
@loyalty_options
@click.option("--tier", default=None, help="Only members of this tier.")
@click.option(
    "--all",
    "everyone",
    is_flag=True,
    help="Also members who opted out or have no consent on record.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def members_cmd(where: _Where, tier: str | None, everyone: bool, as_json: bool) -> None:
    """The programme's opted-in members by number, with their consent status."""
    c = loyalty_members.c
    query = select(c.number, c.balance, c.lifetime, c.tier, c.birthday, c.joined_at).where(
        c.programme == where.programme.name
    )
    if tier is not None:
        query = query.where(c.tier == tier)
    with _reading(where) as conn:
        rows = conn.execute(query.order_by(c.number)).all()
        consents = _consents(conn, where.programme)
    members = [
        _MemberRow(
            r.number,
            consents.get(r.number, CONSENT_NONE),
            r.balance,
            r.lifetime,
            r.tier,
            r.birthday,
            _iso(r.joined_at),
        )
        for r in rows
    ]
    if not everyone:
        members = [m for m in members if m.consent == CONSENT_OPTED_IN]
    if as_json:
        click.echo(json.dumps([asdict(m) for m in members], indent=2))
        return
    for m in members:
        click.echo(
            f"{m.number:<16} {m.consent:<10} {m.balance:>8} {m.lifetime:>8}"
            f"  {m.tier or '-':<10} {m.joined_at}"
        )
