"""Fixtures of the dispatch tests: a migrated SQLite store per test."""

from tests.dispatch.harness import _template, engine

__all__ = ["_template", "engine"]
