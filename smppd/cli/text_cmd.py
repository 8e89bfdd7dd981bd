"""``smppd text``: see how a text will be encoded and split before sending it."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from typing import Any

import click

from smppd.text import layout, natlang
from smppd.text.charset import TextEncodeError
from smppd.text.policy import Dcs0, LongMessageMode, TextPolicy
from smppd.text.segment import SegmentedMessage, TooManyParts, segment


@click.group()
def text() -> None:
    """Inspect how a text is encoded and split into SMS parts."""


def _read_text(argument: str | None) -> str:
    if argument is not None and argument != "-":
        return argument
    data = sys.stdin.read()
    # The newline a shell pipeline (echo, a file) adds is not part of the text.
    if data.endswith("\r\n"):
        return data[:-2]
    if data.endswith("\n"):
        return data[:-1]
    return data


def _on_air(message: SegmentedMessage, policy: TextPolicy) -> tuple[int, ...]:
    """Units of each SMS the network carries (the SMSC's split in payload mode)."""
    if message.mode is not LongMessageMode.PAYLOAD or message.network_parts == 1:
        return message.part_units
    split = segment(
        message.text,
        replace(policy, long_message=LongMessageMode.SAR),
        next_reference=lambda: 0,
        choice=message.choice,
    )
    return split.part_units


def _summary(message: SegmentedMessage, policy: TextPolicy) -> dict[str, Any]:
    choice = message.choice
    units = _on_air(message, policy)
    forced = choice.forced_by
    return {
        "encoding": choice.encoding.value,
        "data_coding": choice.data_coding,
        "reason": choice.reason,
        "forced_by": None
        if forced is None
        else {"index": forced.index, "char": forced.char, "codepoint": f"U+{ord(forced.char):04X}"},
        "national_language": {
            "locking_shift": natlang.LANGUAGE_NAMES.get(choice.locking_shift),
            "single_shift": natlang.LANGUAGE_NAMES.get(choice.single_shift),
        },
        "transliterated": choice.transliterated,
        "text": message.text,
        "mode": message.mode.value,
        "parts": len(units),
        "part_units": list(units),
        "unit": message.unit.value,
        "part_capacity": message.part_capacity,
        "total_units": sum(units),
        "pdus": len(message.parts),
        "udh": [part.udh.hex() for part in message.parts],
    }


def _print_human(summary: dict[str, Any]) -> None:
    unit = summary["unit"]
    click.echo(f"encoding:  {summary['encoding']} (data_coding 0x{summary['data_coding']:02X})")
    click.echo(f"why:       {summary['reason']}")
    tables = [
        f"{name} {kind.replace('_', ' ')}"
        for kind, name in summary["national_language"].items()
        if name is not None
    ]
    if tables:
        click.echo(f"tables:    {', '.join(tables)}")
    if summary["transliterated"]:
        click.echo(f"sent as:   {summary['text']}")
    parts = summary["parts"]
    if parts == 1:
        click.echo(f"parts:     1 ({summary['total_units']} of {summary['part_capacity']} {unit})")
    else:
        how = {
            "udh8": "UDH, 8-bit reference",
            "udh16": "UDH, 16-bit reference",
            "sar": "SAR TLVs",
            "payload": "one message_payload PDU, split by the SMSC",
        }[summary["mode"]]
        click.echo(f"parts:     {parts} ({how}; at most {summary['part_capacity']} {unit} each)")
        width = len(str(parts))
        for seq, size in enumerate(summary["part_units"], start=1):
            click.echo(f"  part {seq:>{width}}: {size} {unit}")
    click.echo(f"total:     {summary['total_units']} {unit}")


@text.command("info")
@click.argument("message_text", metavar="[TEXT]", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option(
    "--mode",
    type=click.Choice([mode.value for mode in LongMessageMode]),
    default=LongMessageMode.UDH8.value,
    show_default=True,
    help="How the route ties the parts of a long message together.",
)
@click.option(
    "--max-parts",
    type=click.IntRange(1, layout.MAX_PARTS),
    default=layout.MAX_PARTS,
    show_default=True,
    help="The route's maximum number of parts.",
)
@click.option(
    "--national",
    "national",
    multiple=True,
    type=click.Choice(sorted(natlang.LANGUAGES)),
    help="Allow a national language shift table (repeatable; udh8/udh16 modes only).",
)
@click.option(
    "--transliterate/--no-transliterate",
    default=False,
    show_default=True,
    help="Replace typographic quotes, dashes, spaces... with GSM-7 look-alikes.",
)
@click.option(
    "--dcs0",
    type=click.Choice([value.value for value in Dcs0]),
    default=Dcs0.GSM7.value,
    show_default=True,
    help="What data_coding 0 means at the carrier.",
)
@click.option(
    "--no-ucs2",
    "no_ucs2",
    is_flag=True,
    help="Refuse texts that GSM-7 cannot carry instead of sending UCS-2.",
)
def info(
    *,
    message_text: str | None,
    as_json: bool,
    mode: str,
    max_parts: int,
    national: tuple[str, ...],
    transliterate: bool,
    dcs0: str,
    no_ucs2: bool,
) -> None:
    """Show the encoding chosen for TEXT, why, and its parts.

    Without TEXT (or with "-") the text is read from standard input; one
    trailing newline is dropped.
    """
    body = _read_text(message_text)
    policy = TextPolicy(
        long_message=LongMessageMode(mode),
        max_parts=max_parts,
        national_languages=national,
        transliterate=transliterate,
        dcs0=Dcs0(dcs0),
        ucs2_fallback=not no_ucs2,
    )
    try:
        message = segment(body, policy, next_reference=lambda: 0)
    except (TooManyParts, TextEncodeError) as exc:
        if as_json:
            click.echo(json.dumps({"error": str(exc)}, ensure_ascii=False))
            sys.exit(1)
        raise click.ClickException(str(exc)) from None
    summary = _summary(message, policy)
    if as_json:
        click.echo(json.dumps(summary, ensure_ascii=False))
    else:
        _print_human(summary)
