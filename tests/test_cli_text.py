"""``smppd text info``: what admins see when they write campaign texts."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner

from smppd.cli import main


def _run(*args: str, stdin: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["text", "info", *args], input=stdin)
    return result.exit_code, result.output


def _json(*args: str, stdin: str | None = None) -> dict[str, Any]:
    code, output = _run("--json", *args, stdin=stdin)
    assert code == 0, output
    parsed = json.loads(output)
    assert isinstance(parsed, dict)
    return parsed


def test_json_has_encoding_parts_and_part_units() -> None:
    info = _json("a" * 152 + "€" + "b" * 10)
    assert info["encoding"] == "gsm7"
    assert info["data_coding"] == 0
    assert info["parts"] == 2
    assert info["part_units"] == [152, 12]
    assert info["unit"] == "septets"
    assert info["udh"][0].startswith("050003")


def test_json_names_the_character_that_forced_ucs2() -> None:
    info = _json("Hi `you` 😀")
    assert info["encoding"] == "ucs2"
    assert info["forced_by"] == {"index": 3, "char": "`", "codepoint": "U+0060"}
    assert info["part_units"] == [11]
    assert info["unit"] == "units"


def test_text_is_read_from_stdin_without_the_trailing_newline() -> None:
    info = _json(stdin="x" * 160 + "\n")
    assert info["parts"] == 1
    assert info["part_units"] == [160]
    assert _json("-", stdin="ab\r\n")["part_units"] == [2]


def test_human_output_explains_the_choice_and_lists_the_parts() -> None:
    code, output = _run("ж" * 100)
    assert code == 0
    assert "encoding:  ucs2 (data_coding 0x08)" in output
    assert "'ж' (U+0436) at index 0" in output
    assert "parts:     2" in output
    assert "part 1: 67 units" in output
    assert "part 2: 33 units" in output


def test_single_part_human_output_shows_room_left() -> None:
    code, output = _run("Hello")
    assert code == 0
    assert "parts:     1 (5 of 160 septets)" in output


@pytest.mark.parametrize(
    ("mode", "units"),
    [("udh8", [153, 47]), ("udh16", [152, 48]), ("sar", [152, 48]), ("payload", [152, 48])],
)
def test_mode_option_changes_part_capacity(mode: str, units: list[int]) -> None:
    info = _json("--mode", mode, "x" * 200)
    assert info["part_units"] == units
    assert info["pdus"] == (1 if mode == "payload" else 2)


def test_national_option_enables_the_turkish_tables() -> None:
    info = _json("--national", "turkish", "Günaydın şeker")
    assert info["encoding"] == "gsm7"
    names = info["national_language"]
    assert "turkish" in (names["locking_shift"], names["single_shift"])
    _, output = _run("--national", "turkish", "Günaydın şeker")
    assert "tables:    turkish" in output


def test_transliterate_option_keeps_typographic_text_in_gsm7() -> None:
    info = _json("--transliterate", "It’s “fine” — really…")
    assert info["encoding"] == "gsm7"
    assert info["transliterated"] is True
    assert info["text"] == 'It\'s "fine" - really...'
    assert _json("It’s “fine”")["encoding"] == "ucs2"


def test_text_past_the_route_maximum_is_a_clear_error() -> None:
    code, output = _run("--max-parts", "2", "a" * 400)
    assert code == 1
    assert "3 parts" in output
    assert "at most 2" in output
    code, output = _run("--json", "--max-parts", "2", "a" * 400)
    assert code == 1
    assert "at most 2" in json.loads(output)["error"]


def test_no_ucs2_refuses_a_text_gsm7_cannot_carry() -> None:
    code, output = _run("--no-ucs2", "😀")
    assert code == 1
    assert "U+1F600" in output


def test_dcs0_latin1_counts_euro_as_not_sendable_in_gsm7() -> None:
    assert _json("--dcs0", "latin1", "5€")["encoding"] == "ucs2"
    assert _json("5€")["encoding"] == "gsm7"


def test_unknown_national_language_is_a_usage_error() -> None:
    code, output = _run("--national", "klingon", "x")
    assert code == 2
    assert "klingon" in output
