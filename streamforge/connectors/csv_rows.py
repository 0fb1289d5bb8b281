"""CSV rows from a byte stream, as Benthos' `csv` scanner and `csv` input read them.

Bytes are fed in chunks as they are read (a file, an object body, stdin) and parsed by
Python's `csv` module over the stream of lines, so a quoted field may hold new lines and a
large file is never held whole. A record that a chunk ends in the middle of is parsed again
once the rest arrives. Each row becomes one record: an object keyed by the header row, or an
array of strings without one. `consumed` counts the bytes of the rows returned so far, so a
reader can resume right after the last row it emitted.
"""

from __future__ import annotations

import csv
import re
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from streamforge.message import Message

__all__ = ["CsvOptions", "CsvRecord", "CsvRows", "check_delimiter", "csv_messages"]

_BOM = b"\xef\xbb\xbf"
_QUOTE = '"'


def check_delimiter(value: Any) -> str:
    """The one character a CSV delimiter is ("" means a comma; `\\t` spelled out is a tab).

    Raises ValueError naming what is wrong (lint reports it at the field).
    """
    text = "" if value is None else str(value)
    if text in ("", ","):
        return ","
    if text == "\\t":
        return "\t"
    if len(text) != 1:
        raise ValueError(f"expected one character, got {text!r}")
    if text in ('"', "\r", "\n"):
        raise ValueError(f"{text!r} cannot separate CSV fields")
    return text


@dataclass(frozen=True)
class CsvOptions:
    """How CSV text is read."""

    delimiter: str = ","
    #: the first row names the fields: rows become objects keyed by it
    parse_header_row: bool = True
    #: a quote may appear in an unquoted field, and a non-doubled quote in a quoted one
    lazy_quotes: bool = False
    #: a row that fails to parse becomes an errored record and reading goes on; otherwise
    #: the error ends reading the stream (`CsvRows.failed`)
    continue_on_error: bool = False
    #: a row with another number of fields than the first row is an error (the `csv`
    #: scanner); without it such rows are taken as they are (the `csv` input): fewer fields
    #: give fewer keys, more than the header names give an array
    strict_fields: bool = True

    def open(self, source: str = "") -> CsvRows:
        """A parser for one stream (`source` names it in errors)."""
        return CsvRows(self, source)


class CsvRecord:
    """One row: its index (from 0, the header not counted), its fields, the header that keys
    them (None: the row is an array), the error when it failed, and where it ends (the byte
    offset and line after it, for resuming)."""

    __slots__ = ("end", "error", "fields", "header", "index", "line")

    def __init__(
        self,
        index: int,
        fields: list[str],
        header: list[str] | None = None,
        error: str | None = None,
    ) -> None:
        self.index = index
        self.fields = fields
        self.header = header
        self.error = error
        self.end = 0
        self.line = 0

    @property
    def value(self) -> Any:
        """The row as a message holds it: a new object (or array) each time it is asked."""
        if self.header is None:
            return list(self.fields)
        return dict(zip(self.header, self.fields))

    def __repr__(self) -> str:
        return f"CsvRecord({self.index}, {self.value!r}, error={self.error!r})"


def csv_messages(
    records: list[CsvRecord], meta: dict[str, Any], *, row_key: str = "", header_key: str = ""
) -> list[Message]:
    """One message per record, each with its own copy of `meta`; the row index under
    `row_key` and the header (when the row is an object) under `header_key`, when given."""
    new = Message.from_value
    out: list[Message] = []
    append = out.append
    for rec in records:
        m = meta.copy()
        if row_key:
            m[row_key] = rec.index
        header = rec.header
        if header is None:
            value: Any = list(rec.fields)
        else:
            value = dict(zip(header, rec.fields))
            if header_key and header:
                m[header_key] = header
        append(new(value, m, rec.error))
    return out


class _NeedMore(Exception):
    """The lines fed so far end inside a record: wait for more."""


class _Lines:
    """The lines `csv.reader` pulls: the complete ones fed so far, each with the byte offset
    where it ends. At their end it raises `_NeedMore` (StopIteration once the stream ended);
    `taken` keeps the lines of the record being read so they can be given back."""

    __slots__ = ("ended", "ends", "lines", "pos", "taken")

    def __init__(self) -> None:
        self.lines: deque[str] = deque()
        self.ends: deque[int] = deque()
        self.taken: list[tuple[str, int]] = []
        self.pos = 0  # where the last line pulled ends
        self.ended = False

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        if not self.lines:
            if self.ended:
                raise StopIteration
            raise _NeedMore
        line = self.lines.popleft()
        self.pos = self.ends.popleft()
        self.taken.append((line, self.pos))
        return line

    def give_back(self) -> None:
        """Put the lines of an unfinished record back in front."""
        taken = self.taken
        if taken:
            self.lines.extendleft(line for line, _ in reversed(taken))
            self.ends.extendleft(end for _, end in reversed(taken))
            taken.clear()


class CsvRows:
    """Incrementally parses fed bytes into CSV records (see the module docstring)."""

    def __init__(self, options: CsvOptions, source: str = "") -> None:
        self.options = options
        self.source = source
        self._lines = _Lines()
        self._reader = csv.reader(
            self._lines,
            delimiter=options.delimiter,
            quotechar=_QUOTE,
            doublequote=True,
            skipinitialspace=False,
            strict=not options.lazy_quotes,
        )
        self._bare = None if options.lazy_quotes else _strict_record(options.delimiter)
        self._tail = b""
        self._fed = 0  # where the bytes fed so far end
        self._first = True  # the next line is the stream's first (a BOM may open it)
        self._line_no = 0  # lines split so far
        #: bytes of the rows returned so far (including blank lines and failed rows)
        self.consumed = 0
        #: the next row's index
        self.row = 0
        self.header: list[str] | None = None
        #: the number of fields every row must have (strict_fields), once known
        self.fields: int | None = None
        #: the error that ended reading (the rest is not read), None while all is well
        self.failed: str | None = None
        #: what a codec splitter reports here; CSV errors are records of their own
        self.overflows: list[str] = []

    # -- resuming ---------------------------------------------------------------------------
    def state(self, after: CsvRecord | None = None) -> dict[str, Any]:
        """Where to go on from after the record `after` (after every row returned when
        None), for a reader's snapshot."""
        if after is None:
            offset, row, line = self.consumed, self.row, self._line_no - len(self._lines.lines)
        else:
            offset, row, line = after.end, after.index + 1, after.line
        return {
            "offset": offset,
            "row": row,
            "line": line,
            "header": self.header,
            "fields": self.fields,
        }

    def resume(self, state: dict[str, Any]) -> int:
        """Continue a stream read as far as `state` says; returns the byte offset to go on
        reading from."""
        offset = int(state.get("offset") or 0)
        self._fed = self.consumed = offset
        self._first = offset == 0
        self.row = int(state.get("row") or 0)
        self._line_no = int(state.get("line") or 0)
        header = state.get("header")
        self.header = [str(h) for h in header] if isinstance(header, list) else None
        fields = state.get("fields")
        self.fields = fields if isinstance(fields, int) else None
        return offset

    # -- feeding ----------------------------------------------------------------------------
    def feed(self, data: bytes) -> list[CsvRecord]:
        """Add bytes; return the records they complete."""
        if not data or self.failed is not None:
            return []
        buf = self._tail + data if self._tail else data
        self._fed += len(data)
        parts = buf.splitlines(keepends=True)
        if parts[-1].endswith((b"\n", b"\r")):
            self._tail = b""
        else:
            self._tail = parts.pop()
        if parts:
            self._queue(parts, self._fed - len(self._tail))
        return self._rows()

    def finish(self) -> list[CsvRecord]:
        """End of the stream: the last line needs no line end; an open quote is an error."""
        if self.failed is not None:
            return []
        if self._tail:
            tail, self._tail = self._tail, b""
            self._queue([tail], self._fed)
        self._lines.ended = True
        return self._rows()

    def _queue(self, parts: list[bytes], end: int) -> None:
        """Queue complete lines (raw bytes) that end at byte offset `end`."""
        offset = end - sum(map(len, parts))
        if self._first:
            self._first = False
            if parts[0].startswith(_BOM):
                offset += len(_BOM)
                parts[0] = parts[0][len(_BOM) :]
        lines, ends = self._lines.lines, self._lines.ends
        for raw in parts:
            offset += len(raw)
            lines.append(raw.decode("utf-8", "replace"))
            ends.append(offset)
        self._line_no += len(parts)

    # -- parsing ----------------------------------------------------------------------------
    def _rows(self) -> list[CsvRecord]:
        out: list[CsvRecord] = []
        lines, reader, bare = self._lines, self._reader, self._bare
        taken = lines.taken
        while True:
            taken.clear()
            try:
                fields = next(reader)
            except _NeedMore:
                lines.give_back()
                break
            except StopIteration:
                break
            except csv.Error as exc:
                if self._failed_row(out, _reason(str(exc))):
                    continue
                break
            self.consumed = lines.pos
            if not fields:
                continue  # a blank line
            if bare is not None and self._bare_quote(taken, bare):
                if self._failed_row(out, "a quote in a field that is not quoted"):
                    continue
                break
            if self.header is None and self.options.parse_header_row:
                self.header = fields
                if self.options.strict_fields:
                    self.fields = len(fields)
                continue
            rec = self._record(fields)
            if rec is None:
                break
            rec.end = self.consumed
            rec.line = self._line_no - len(lines.lines)
            out.append(rec)
        return out

    @staticmethod
    def _bare_quote(taken: list[tuple[str, int]], strict: re.Pattern[str]) -> bool:
        """Whether the record's text has a quote outside a quoted field (Python's reader
        keeps such quotes as text, Benthos refuses them without lazy_quotes)."""
        if len(taken) == 1:
            raw = taken[0][0]
            if _QUOTE not in raw:
                return False
        else:
            raw = "".join(line for line, _ in taken)
            if _QUOTE not in raw:
                return False
        return strict.fullmatch(raw) is None

    def _record(self, fields: list[str]) -> CsvRecord | None:
        """The record of a parsed row; None when its field count ends reading."""
        index = self.row
        self.row = index + 1
        header = self.header
        options = self.options
        error = None
        if options.strict_fields:
            expected = self.fields
            if expected is None:
                self.fields = len(fields)
            elif len(fields) != expected:
                error = self._where(index, f"{len(fields)} fields, the first row has {expected}")
                if not options.continue_on_error:
                    self._fail(error)
                    return None
        elif header is not None and len(fields) > len(header):
            return CsvRecord(index, fields, None, error)
        return CsvRecord(index, fields, header, error)

    def _failed_row(self, out: list[CsvRecord], reason: str) -> bool:
        """A row that does not parse: an errored record, or the end of reading; True when
        reading goes on."""
        self.consumed = self._lines.pos
        if self.header is None and self.options.parse_header_row:
            self._fail(self._where(None, f"does not parse: {reason}"))
            return False
        index = self.row
        error = self._where(index, reason)
        if not self.options.continue_on_error:
            self._fail(error)
            return False
        self.row = index + 1
        rec = CsvRecord(index, [], None if self.header is None else [], error)
        rec.end = self.consumed
        rec.line = self._line_no - len(self._lines.lines)
        out.append(rec)
        return True

    def _fail(self, error: str) -> None:
        self.failed = error
        self._lines.lines.clear()
        self._lines.ends.clear()
        self._tail = b""

    def _where(self, index: int | None, reason: str) -> str:
        """An error naming the row, the source and the line the record starts on."""
        lines = self._lines
        first = self._line_no - len(lines.lines) - len(lines.taken) + 1
        what = "header row" if index is None else f"row {index}"
        source = f" of {self.source}" if self.source else ""
        return f"csv {what}{source} (line {first}): {reason}"


def _reason(error: str) -> str:
    """Python's words for a row that does not parse, as a user reads them."""
    if error.endswith("expected after '\"'"):
        return "text after the closing quote of a quoted field (a quote inside one is doubled)"
    if error == "unexpected end of data":
        return "a quoted field is not closed before the end"
    if error.startswith("field larger than field limit"):
        return f"a field longer than {csv.field_size_limit()} characters"
    return error


def _strict_record(delimiter: str) -> re.Pattern[str]:
    """A record whose quotes are all where RFC 4180 allows them (no bare quote)."""
    d = re.escape(delimiter)
    field = f'(?:"(?:[^"]|"")*"|[^"{d}\\r\\n]*)'
    return re.compile(f"{field}(?:{d}{field})*(?:\\r\\n|\\n|\\r)?")
