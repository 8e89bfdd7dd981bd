"""Configuration problems and the error that carries all of them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    """One thing wrong with a configuration file.

    ``key`` is the key path as written in the file (``server.window``,
    ``connectors[1].window``), empty for a problem with the file as a whole;
    ``line`` is 1-based, None where no line applies.
    """

    file: str
    line: int | None
    key: str
    message: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"


def _order(problem: ConfigProblem) -> tuple[bool, int, str]:
    return (problem.line is None, problem.line or 0, problem.key)


class ConfigError(Exception):
    """A configuration could not be loaded; ``problems`` lists every reason."""

    def __init__(self, problems: Iterable[ConfigProblem]) -> None:
        self.problems: tuple[ConfigProblem, ...] = tuple(sorted(problems, key=_order))
        super().__init__("\n".join(str(problem) for problem in self.problems))
