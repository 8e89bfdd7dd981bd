"""``smppd message``: look up stored messages."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

import click

from smppd.cli.db_cmd import StoreSettings, open_engine, store_options
from smppd.store.admin import (
    DEFAULT_LIST_LIMIT,
    MAX_LIST_LIMIT,
    MessageFilter,
    MessageStory,
    message_story,
)
from smppd.store.admin import list_messages as query_messages
from smppd.store.engine import read_only
from smppd.store.lifecycle import State


def _iso(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds")


def _parse_time(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"not an ISO 8601 time: {value!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


@click.group()
def message() -> None:
    """Look up stored messages."""


@message.command("show")
@store_options
@click.argument("message_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def show_cmd(settings: StoreSettings, message_id: str, as_json: bool) -> None:
    """The whole story of one message: parts, carrier ids, transitions, receipts."""
    engine = open_engine(settings)
    try:
        with read_only(engine) as conn:
            story = message_story(conn, message_id)
    finally:
        engine.dispose()
    if story is None:
        raise click.ClickException(f"no message {message_id}")
    if as_json:
        click.echo(json.dumps(story.to_dict(), indent=2))
    else:
        _print_story(story)


def _print_story(story: MessageStory) -> None:
    s = story.summary
    rows: list[tuple[str, Any]] = [
        ("id", s.id),
        ("state", s.state),
        ("account", s.account),
        ("from", f"{s.source_addr} (ton {story.source_ton}, npi {story.source_npi})"),
        ("to", f"{s.dest_addr} (ton {story.dest_ton}, npi {story.dest_npi})"),
        ("data_coding", f"0x{story.data_coding:02x}"),
        ("esm_class", f"0x{story.esm_class:02x}"),
        ("receipt", f"registered_delivery 0x{story.registered_delivery:02x}"),
        ("class", story.traffic_class),
        ("route", f"{s.route or '-'} via {s.connector or '-'}"),
        ("accepted", _iso(s.accepted_at)),
        ("scheduled", _iso(story.schedule_at)),
        ("valid until", _iso(story.validity_at)),
        ("attempts", f"{s.attempts} (next {_iso(story.next_attempt_at)})"),
        ("error", f"{s.error_code} {story.error_detail or ''}" if s.error_code else "-"),
        ("text", story.text if story.text is not None else "-"),
    ]
    for label, value in rows:
        click.echo(f"{label + ':':<13} {value}")
    click.echo("parts:")
    for p in story.parts:
        click.echo(
            f"  {p.part_no:>3}  {p.state:<10} {p.size:>4} octets  "
            f"{p.connector or '-'}:{p.carrier_message_id or '-'}  {_iso(p.submitted_at)}"
        )
    click.echo("transitions:")
    for t in story.transitions:
        detail = f"  error {t.error_code}" if t.error_code is not None else ""
        detail += f"  {t.detail}" if t.detail else ""
        click.echo(f"  {_iso(t.at)}  {t.from_state or '-':>13} -> {t.to_state}{detail}")
    click.echo("receipts:")
    for r in story.receipts:
        status = (
            f"forwarded {_iso(r.forwarded_at)}"
            if r.forwarded_at is not None
            else (f"dropped {_iso(r.dropped_at)}" if r.dropped_at is not None else "waiting")
        )
        click.echo(f"  {_iso(r.created_at)}  {r.state:<13} {status}")


@message.command("list")
@store_options
@click.option("--dest", help="Destination address.")
@click.option("--source", help="Source address.")
@click.option("--account", help="Account (system_id).")
@click.option("--state", type=click.Choice([s.value for s in State]))
@click.option("--since", help="Accepted at or after (ISO 8601, UTC if no offset).")
@click.option("--until", help="Accepted before (ISO 8601, UTC if no offset).")
@click.option(
    "--limit",
    type=click.IntRange(1, MAX_LIST_LIMIT),
    default=DEFAULT_LIST_LIMIT,
    show_default=True,
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_cmd(
    *,
    settings: StoreSettings,
    dest: str | None,
    source: str | None,
    account: str | None,
    state: str | None,
    since: str | None,
    until: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """Messages, newest first, filtered."""
    where = MessageFilter(
        dest_addr=dest,
        source_addr=source,
        account=account,
        state=State(state) if state else None,
        since=_parse_time(since),
        until=_parse_time(until),
        limit=limit,
    )
    engine = open_engine(settings)
    try:
        with read_only(engine) as conn:
            found = query_messages(conn, where)
    finally:
        engine.dispose()
    if as_json:
        click.echo(json.dumps([asdict(s) for s in found], indent=2))
        return
    for s in found:
        click.echo(
            f"{s.id}  {_iso(s.accepted_at)}  {s.state:<13} {s.account:<15} "
            f"{s.source_addr:>11} -> {s.dest_addr:<20} parts={s.part_count}"
        )
