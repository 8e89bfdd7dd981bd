"""Where each key of a TOML document is written: key path -> line number.

How this works: ``tomllib`` returns plain values without positions, and no
well-kept TOML library exposes them either, yet a configuration error is only
useful when it says which line to fix. So this module scans the raw text a
second time with a deliberately small reader that understands exactly what
it needs to follow the structure: table headers (``[a.b]``), arrays of tables
(``[[a]]``, numbered as they appear, nested ones counted per parent element),
dotted and quoted keys, strings of all four kinds (so nothing inside a string
is taken for a key), arrays (each element gets its own line) and inline
tables. Values themselves are skipped, not interpreted.

It runs only on text ``tomllib`` has already accepted, so it does not
validate anything; on anything it does not understand it stops and returns
what it has found so far, because a missing line number must never hide the
error it was meant to locate.

Pure: text in, mapping out.
"""

from __future__ import annotations

import bisect
import contextlib
from collections.abc import Mapping, Sequence

KeyPath = tuple[str | int, ...]

_BARE_KEY_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
_SCALAR_END = frozenset(",]}#\r\n")
_ESCAPE_SHORT = {"b": "\b", "t": "\t", "n": "\n", "f": "\f", "r": "\r", '"': '"', "\\": "\\"}


class _StopScan(Exception):
    """The text holds something this reader does not follow."""


def locate_keys(text: str) -> dict[KeyPath, int]:
    """Map every key path written in ``text`` to the 1-based line it is on.

    Array elements and array-of-table items are addressed by their index:
    ``("connectors", 1, "window")``, ``("server", "listen", 0)``. A key
    defined implicitly (the ``a`` of ``a.b = 1`` or of ``[a.b]``) maps to the
    line where it first appears.
    """
    scanner = _Scanner(text)
    with contextlib.suppress(_StopScan, IndexError):
        scanner.document()
    return scanner.lines


def line_of(lines: Mapping[KeyPath, int], path: Sequence[str | int]) -> int | None:
    """The line of ``path``, or of its nearest written ancestor.

    A key that is missing, or a value pydantic reports below the level the
    text spells out, is best shown at the table that should hold it.
    """
    key = tuple(path)
    while key:
        found = lines.get(key)
        if found is not None:
            return found
        key = key[:-1]
    return None


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.lines: dict[KeyPath, int] = {}
        self._newlines = [i for i, ch in enumerate(text) if ch == "\n"]
        # Concrete path of each array of tables -> how many items so far.
        self._array_tables: dict[KeyPath, int] = {}

    # -- positions -------------------------------------------------------

    def _line(self) -> int:
        return bisect.bisect_left(self._newlines, self.pos) + 1

    def _record(self, path: KeyPath, line: int) -> None:
        self.lines.setdefault(path, line)

    def _peek(self, ahead: int = 0) -> str:
        index = self.pos + ahead
        return self.text[index] if index < len(self.text) else ""

    def _at_end(self) -> bool:
        return self.pos >= len(self.text)

    def _skip_blanks(self) -> None:
        while self._peek() in (" ", "\t") and not self._at_end():
            self.pos += 1

    def _skip_comment(self) -> None:
        if self._peek() == "#":
            end = self.text.find("\n", self.pos)
            self.pos = len(self.text) if end < 0 else end

    def _skip_space(self) -> None:
        """Blanks, newlines and comments: the filler between array items."""
        while not self._at_end():
            ch = self._peek()
            if ch in (" ", "\t", "\r", "\n"):
                self.pos += 1
            elif ch == "#":
                self._skip_comment()
            else:
                return

    def _expect(self, literal: str) -> None:
        if not self.text.startswith(literal, self.pos):
            raise _StopScan(literal)
        self.pos += len(literal)

    # -- structure -------------------------------------------------------

    def document(self) -> None:
        table: KeyPath = ()
        while True:
            self._skip_space()
            if self._at_end():
                return
            if self.text.startswith("[[", self.pos):
                table = self._array_table_header()
            elif self._peek() == "[":
                table = self._table_header()
            else:
                self._key_value(table)

    def _resolve(self, parts: Sequence[str]) -> KeyPath:
        """Concrete path of a header's parent: ``a`` means its last item if
        ``a`` is an array of tables."""
        path: KeyPath = ()
        for part in parts:
            path = (*path, part)
            count = self._array_tables.get(path)
            if count is not None:
                path = (*path, count - 1)
        return path

    def _table_header(self) -> KeyPath:
        line = self._line()
        self._expect("[")
        parts = self._key()
        self._expect("]")
        parent = self._resolve(parts[:-1])
        path = (*parent, parts[-1])
        self._record_prefixes(parent, line)
        self._record(path, line)
        return path

    def _array_table_header(self) -> KeyPath:
        line = self._line()
        self._expect("[[")
        parts = self._key()
        self._expect("]]")
        parent = self._resolve(parts[:-1])
        array = (*parent, parts[-1])
        index = self._array_tables.get(array, 0)
        self._array_tables[array] = index + 1
        self._record_prefixes(parent, line)
        self._record(array, line)
        self._record((*array, index), line)
        return (*array, index)

    def _record_prefixes(self, path: KeyPath, line: int) -> None:
        for end in range(1, len(path) + 1):
            self._record(path[:end], line)

    def _key_value(self, table: KeyPath) -> None:
        line = self._line()
        parts = self._key()
        self._expect("=")
        path = table
        for part in parts:
            path = (*path, part)
            self._record(path, line)
        self._value(path)

    def _key(self) -> list[str]:
        parts: list[str] = []
        while True:
            self._skip_blanks()
            ch = self._peek()
            if ch == '"':
                parts.append(self._basic_string())
            elif ch == "'":
                parts.append(self._literal_string())
            else:
                start = self.pos
                while self._peek() in _BARE_KEY_CHARS and not self._at_end():
                    self.pos += 1
                if self.pos == start:
                    raise _StopScan("key")
                parts.append(self.text[start : self.pos])
            self._skip_blanks()
            if self._peek() != ".":
                return parts
            self.pos += 1

    # -- values ----------------------------------------------------------

    def _value(self, path: KeyPath) -> None:
        self._skip_blanks()
        ch = self._peek()
        if ch in ('"', "'"):
            self._string()
        elif ch == "[":
            self._array(path)
        elif ch == "{":
            self._inline_table(path)
        else:
            start = self.pos
            while not self._at_end() and self._peek() not in _SCALAR_END:
                self.pos += 1
            if self.pos == start:
                raise _StopScan("value")

    def _array(self, path: KeyPath) -> None:
        self._expect("[")
        index = 0
        while True:
            self._skip_space()
            if self._peek() == "]":
                self.pos += 1
                return
            item = (*path, index)
            self._record(item, self._line())
            self._value(item)
            index += 1
            self._skip_space()
            if self._peek() == ",":
                self.pos += 1

    def _inline_table(self, path: KeyPath) -> None:
        self._expect("{")
        while True:
            # TOML 1.0 keeps inline tables on one line; newlines are
            # tolerated here so a later TOML version does not stop the scan.
            self._skip_space()
            if self._peek() == "}":
                self.pos += 1
                return
            self._key_value(path)
            self._skip_space()
            if self._peek() == ",":
                self.pos += 1

    def _string(self) -> None:
        if self.text.startswith('"""', self.pos):
            self._multiline('"""', escapes=True)
        elif self.text.startswith("'''", self.pos):
            self._multiline("'''", escapes=False)
        elif self._peek() == '"':
            self._basic_string()
        else:
            self._literal_string()

    def _multiline(self, delimiter: str, *, escapes: bool) -> None:
        self.pos += 3
        while True:
            if self._at_end():
                raise _StopScan(delimiter)
            if escapes and self._peek() == "\\":
                self.pos += 2
            elif self.text.startswith(delimiter, self.pos):
                self.pos += 3
                # Up to two quotes may close the content right before the
                # delimiter: '''it's'''' ends with a quote inside.
                for _ in range(2):
                    if self._peek() == delimiter[0]:
                        self.pos += 1
                return
            else:
                self.pos += 1

    def _basic_string(self) -> str:
        self._expect('"')
        out: list[str] = []
        while True:
            ch = self._peek()
            if ch in ("", "\n"):
                raise _StopScan('"')
            self.pos += 1
            if ch == '"':
                return "".join(out)
            if ch != "\\":
                out.append(ch)
                continue
            code = self._peek()
            self.pos += 1
            if code in _ESCAPE_SHORT:
                out.append(_ESCAPE_SHORT[code])
            elif code in ("u", "U"):
                width = 4 if code == "u" else 8
                out.append(chr(int(self.text[self.pos : self.pos + width], 16)))
                self.pos += width
            else:
                raise _StopScan("escape")

    def _literal_string(self) -> str:
        self._expect("'")
        end = self.text.find("'", self.pos)
        if end < 0 or "\n" in self.text[self.pos : end]:
            raise _StopScan("'")
        value = self.text[self.pos : end]
        self.pos = end + 1
        return value
