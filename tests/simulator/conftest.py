"""Fixtures of the simulator tests: a migrated SQLite store per test (the gateway harness)."""

from tests.dispatch.harness import _template, engine

__all__ = ["_template", "engine"]
