"""Benthos v4 `scanner` of inputs that read byte streams (`stdin`, `file`, `aws_s3`).

`scanner: {lines: {custom_delimiter, max_buffer_size}}` and `scanner: {to_the_end: {}}` are
the splitters the `codec` field names (`lines`, `delim:<x>`, `all-bytes`); when a scanner is
given it replaces `codec` and `max_buffer`. `scanner: {csv: {custom_delimiter,
parse_header_row, lazy_quotes, continue_on_error}}` reads CSV rows (see `csv_rows`). Other
Benthos scanners are refused by name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from streamforge.connectors.codecs import Splitter
from streamforge.connectors.csv_rows import CsvOptions, CsvRecord, CsvRows, check_delimiter
from streamforge.connectors.csv_rows import csv_messages as _csv_messages
from streamforge.message import Message
from streamforge.plugin.spec import ParsedField

__all__ = [
    "CSV_ROW",
    "SCANNERS",
    "Scanner",
    "csv_scanner",
    "parse_scanner",
    "scanner_codec",
    "scanner_field",
    "scanner_messages",
]

#: scanner -> its fields
SCANNERS: dict[str, tuple[str, ...]] = {
    "lines": ("custom_delimiter", "max_buffer_size"),
    "to_the_end": (),
    "csv": ("custom_delimiter", "parse_header_row", "lazy_quotes", "continue_on_error"),
}

#: the metadata key of a CSV row's index
CSV_ROW = "csv_row"


@dataclass(frozen=True)
class Scanner:
    """How a byte stream becomes messages: a codec's splitter, or CSV rows (`csv`)."""

    codec: str = "lines"
    max_buffer: int = 1_000_000
    csv: CsvOptions | None = None

    def open(self, source: str = "") -> Splitter | CsvRows:
        """A fresh splitter for one stream (`source` names it in CSV errors)."""
        if self.csv is not None:
            return self.csv.open(source)
        return Splitter(self.codec, self.max_buffer)


def scanner_messages(records: list[bytes] | list[CsvRecord], meta: dict[str, Any]) -> list[Message]:
    """The messages of records a scanner returned, each with its own copy of `meta` (and
    `csv_row` for CSV rows)."""
    if records and isinstance(records[0], CsvRecord):
        return _csv_messages(records, meta, row_key=CSV_ROW)  # type: ignore[arg-type]
    return Message.from_payloads(records, meta)  # type: ignore[arg-type]


def _escape(delimiter: str) -> str:
    """A delimiter as the `delim:` codec spells it (a tab or a new line written escaped)."""
    return delimiter.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def _one_scanner(scanner: Any) -> tuple[str, dict[str, Any]] | None:
    """The (name, fields) of a `scanner` value; None when it names none."""
    if not scanner:
        return None
    if not isinstance(scanner, dict):
        raise ValueError("expected an object with one scanner, e.g. {lines: {}}")
    if len(scanner) != 1:
        raise ValueError(f"one scanner per input, got {', '.join(map(str, scanner))}")
    ((name, conf),) = scanner.items()
    if name not in SCANNERS:
        from streamforge.plugin.benthos_names import missing_component
        from streamforge.plugin.similar import close_match

        missing = missing_component("scanner", str(name))
        if missing is not None:
            raise ValueError(missing)
        hint = close_match(str(name), list(SCANNERS))
        how = f', did you mean "{hint}"?' if hint else f" (valid: {', '.join(SCANNERS)})"
        raise ValueError(f'unknown scanner "{name}"{how}')
    try:
        return str(name), _known_fields(str(name), conf)
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from None


def _known_fields(name: str, conf: Any) -> dict[str, Any]:
    """A scanner's fields, each one it has (ValueError naming an unknown one)."""
    conf = conf or {}
    if not isinstance(conf, dict):
        raise ValueError("expected an object")
    for key in conf:
        if key not in SCANNERS[name]:
            from streamforge.plugin.similar import close_match

            hint = close_match(str(key), list(SCANNERS[name]))
            valid = ", ".join(SCANNERS[name]) or "none"
            how = f', did you mean "{hint}"?' if hint else f" (valid: {valid})"
            raise ValueError(f'unknown field "{key}"{how}')
    return conf


def _csv_options(conf: dict[str, Any]) -> CsvOptions:
    for key in ("parse_header_row", "lazy_quotes", "continue_on_error"):
        if conf.get(key) is not None and not isinstance(conf[key], bool):
            raise ValueError(f"{key}: expected a bool, got {conf[key]!r}")
    try:
        delimiter = check_delimiter(conf.get("custom_delimiter"))
    except ValueError as exc:
        raise ValueError(f"custom_delimiter: {exc}") from None
    return CsvOptions(
        delimiter=delimiter,
        parse_header_row=conf.get("parse_header_row") is not False,
        lazy_quotes=bool(conf.get("lazy_quotes")),
        continue_on_error=bool(conf.get("continue_on_error")),
    )


def _lines(conf: dict[str, Any], max_buffer: int) -> tuple[str, int]:
    delimiter = conf.get("custom_delimiter") or ""
    if not isinstance(delimiter, str):
        raise ValueError("custom_delimiter: expected a string")
    size = conf.get("max_buffer_size")
    if size is None:
        size = max_buffer
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise ValueError("max_buffer_size: expected a number of bytes")
    return (f"delim:{_escape(delimiter)}" if delimiter else "lines"), size


def parse_scanner(scanner: Any, codec: str, max_buffer: int) -> Scanner:
    """What a `scanner` value means; the `codec`/`max_buffer` splitter when it is empty.

    Raises ValueError naming what is wrong (lint reports it at the field).
    """
    found = _one_scanner(scanner)
    if found is None:
        return Scanner(codec, max_buffer)
    name, conf = found
    try:
        if name == "to_the_end":
            return Scanner("all-bytes", max_buffer)
        if name == "csv":
            return Scanner("lines", max_buffer, _csv_options(conf))
        return Scanner(*_lines(conf, max_buffer))
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from None


def scanner_codec(scanner: Any, codec: str, max_buffer: int) -> tuple[str, int]:
    """The (codec, max_buffer) of a scanner that splits bytes (not `csv`)."""
    found = parse_scanner(scanner, codec, max_buffer)
    if found.csv is not None:
        raise ValueError("the csv scanner reads rows, it has no codec")
    return found.codec, found.max_buffer


def csv_scanner(scanner: Any) -> CsvOptions | None:
    """The CSV options of a `{csv: {...}}` scanner; None for any other scanner (left for
    the caller to check)."""
    if not isinstance(scanner, dict) or "csv" not in scanner:
        return None
    found = parse_scanner(scanner, "lines", 0)
    return found.csv


def scanner_field(source: str) -> ParsedField:
    """The `scanner` field of an input reading `source`."""
    return ParsedField(
        "scanner",
        "map",
        default={},
        parser=lambda value: parse_scanner(value, "lines", 1_000_000),
        description=(
            f"How {source} is split into messages, as Benthos' scanners; replaces `codec` "
            "when given. One of: `lines` (one message per line; `custom_delimiter` splits on "
            "it instead, `max_buffer_size` is the longest record in bytes, the input's "
            "`max_buffer` when not set), `to_the_end` (everything as one message) and `csv` "
            "(one message per row: an object keyed by the header row, or an array of "
            "strings without one; metadata `csv_row`, the row's index from 0, the header not "
            "counted). `csv` takes `custom_delimiter` (one character, a comma when not set), "
            "`parse_header_row` (true), `lazy_quotes` (false: a quote in an unquoted field "
            "or a non-doubled one in a quoted field is an error) and `continue_on_error` "
            "(false: a row that does not parse ends reading the file, logged with the file "
            "and the row; true: it becomes a message carrying the error and reading goes on)."
        ),
        examples=(
            {"lines": {}},
            {"lines": {"custom_delimiter": "|"}},
            {"to_the_end": {}},
            {"csv": {"custom_delimiter": ";", "continue_on_error": True}},
        ),
    )
