"""The in-memory suppression index: who is opted out (or in) where, without the store.

How this works: the outbound hook runs for every message before it is
accepted, so the opt-out check must not wait for the database. The index
holds each number's :class:`~plugins.consent.store.Standing` per scope:
loaded once at start from ``subscriptions``, set after every change this
process commits, and refreshed from the store every few seconds for the
changes made elsewhere (the CLI, another gateway node on the same
PostgreSQL).

A refresh reads the store on a worker thread while this process keeps
committing changes; a standing read before a local change but applied after
it would bring back an old answer (a number opted in again for a while
after its STOP). So every local change is stamped with a sequence number,
and a refresh only overwrites the pairs not changed locally since it began.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from plugins.consent.store import Standing

__all__ = ["SuppressionIndex"]

_NOWHERE: Final[dict[str, Standing]] = {}


class SuppressionIndex:
    """Each number's standing per scope. Used on the reactor thread only."""

    __slots__ = ("_by_number", "_changed", "_sequence")

    def __init__(self) -> None:
        self._by_number: dict[str, dict[str, Standing]] = {}
        self._sequence = 0
        # (number, scope) -> sequence of its last local change, kept only
        # while a refresh that began before it may still be applied.
        self._changed: dict[tuple[str, str], int] = {}

    def __len__(self) -> int:
        return sum(len(scopes) for scopes in self._by_number.values())

    @property
    def sequence(self) -> int:
        """Stamp of the latest local change: note it when a refresh begins."""
        return self._sequence

    def standing(self, number: str, scope: str) -> Standing | None:
        return self._by_number.get(number, _NOWHERE).get(scope)

    def opted_out_anywhere(self, number: str) -> bool:
        return Standing.OPTED_OUT in self._by_number.get(number, _NOWHERE).values()

    def _put(self, number: str, scope: str, standing: Standing | None) -> None:
        if standing is None:
            scopes = self._by_number.get(number)
            if scopes is not None:
                scopes.pop(scope, None)
                if not scopes:
                    del self._by_number[number]
        else:
            self._by_number.setdefault(number, {})[scope] = standing

    def changed(self, number: str, scope: str, standing: Standing | None) -> None:
        """A change this process committed."""
        self._sequence += 1
        self._changed[(number, scope)] = self._sequence
        self._put(number, scope, standing)

    def load(self, rows: Iterable[tuple[str, str, Standing | None]]) -> None:
        """Replace everything with ``rows`` (at start, before any local change)."""
        self._by_number.clear()
        self._changed.clear()
        for number, scope, standing in rows:
            self._put(number, scope, standing)

    def refreshed(self, rows: Iterable[tuple[str, str, Standing | None]], began: int) -> int:
        """Apply standings read by a refresh that began at sequence ``began``;
        how many were applied (the others changed here since)."""
        applied = 0
        changed = self._changed
        for number, scope, standing in rows:
            if changed.get((number, scope), 0) > began:
                continue
            self._put(number, scope, standing)
            applied += 1
        # Local changes up to ``began`` can no longer be overtaken by a refresh
        # that begins from now on.
        self._changed = {pair: seq for pair, seq in changed.items() if seq > began}
        return applied
