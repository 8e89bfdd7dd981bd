"""Shared rule sets: the example coffee programme and a small one built per test."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from rules import RuleSet, load_ruleset, loads_ruleset

ROOT = Path(__file__).resolve().parents[2]
COFFEE = ROOT / "config" / "rules" / "coffee.toml"
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)

# The smallest valid rule set; tests append tables to it.
MINIMAL = """\
brand = "Demo"
default_language = "en"
scope.numbers = ["72000"]

[templates.opt_out]
version = 1
text.en = "{brand}: unsubscribed, no further messages."

[templates.help]
version = 1
text.en = "{brand} help. Msg&data rates may apply. Reply STOP to cancel."

[templates.opt_in]
version = 1
text.en = "{brand}: welcome back. Reply STOP to cancel."
"""


def minimal(extra: str = "", *, head: str = "") -> RuleSet:
    """The minimal rule set with top-level keys ``head`` and tables ``extra``."""
    return loads_ruleset(head + MINIMAL + extra, file="demo.toml")


@pytest.fixture(scope="session")
def coffee() -> RuleSet:
    return load_ruleset(COFFEE)
