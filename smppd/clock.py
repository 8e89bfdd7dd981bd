"""The reactor's clock as a structural type.

Twisted declares ``IReactorTime`` and ``IDelayedCall`` as zope interfaces,
which mypy cannot check calls against without a plugin. These protocols
spell out the methods smppd uses; the real reactor and
``twisted.internet.task.Clock`` both fit them. Everything below the CLI
receives one of these instead of importing the global reactor.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol


class DelayedCall(Protocol):
    """A pending ``callLater`` (the part of ``IDelayedCall`` smppd uses)."""

    def cancel(self) -> None: ...

    def active(self) -> bool: ...


class ReactorClock(Protocol):
    def seconds(self) -> float: ...

    def callLater(
        self, delay: float, callable: Callable[..., object], *args: object, **kw: object
    ) -> DelayedCall: ...
