"""`csv` input: CSV files (paths with globs) as structured rows, one partition per file.

Each row becomes a message: an object keyed by the header row, or an array of strings with
`parse_header_row: false`. As in Benthos, a row with fewer fields than the header gives the
keys it has and one with more gives an array; a row that does not parse (a stray quote
without `lazy_quotes`) becomes an empty message carrying the error, and reading goes on.
"""

from __future__ import annotations

import logging
from typing import Any

from streamforge.connectors.acked_reader import replay_nacks_field
from streamforge.connectors.csv_rows import CsvOptions, CsvRecord, check_delimiter, csv_messages
from streamforge.connectors.files import FileReader, expand_paths
from streamforge.connectors.scanners import Scanner
from streamforge.message import Message
from streamforge.plugin import BuildContext, Field, Input, InputReader, register_input
from streamforge.plugin.spec import ParsedField

__all__ = ["CsvInput"]

log = logging.getLogger("streamforge.inputs.csv")


def _batch_count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"expected a count of 1 or more, got {value!r}")
    return value


def _messages(records: list[CsvRecord], meta: dict[str, Any]) -> list[Message]:
    return csv_messages(records, meta, header_key="header")


@register_input(
    "csv",
    fields=[
        Field(
            "paths",
            "array",
            item=Field("path", "string"),
            description="CSV files to read, one after another per worker; glob patterns "
            "(including `**`) are expanded and sorted.",
            examples=(["./export/plant.csv"], ["/data/line1/*.csv", "/data/**/*.csv"]),
        ),
        Field(
            "parse_header_row",
            "bool",
            default=True,
            description="The first row names the fields: messages are objects keyed by it. "
            "With false each message is an array of the row's values.",
        ),
        ParsedField(
            "delimiter",
            "string",
            default=",",
            parser=check_delimiter,
            description="The one character between fields.",
            examples=(";", "\t"),
        ),
        Field(
            "lazy_quotes",
            "bool",
            default=False,
            description="Allow a quote in an unquoted field and a non-doubled quote in a "
            "quoted field.",
        ),
        Field(
            "delete_on_finish",
            "bool",
            default=False,
            advanced=True,
            description="Delete each file once it was read to its end and every row of it "
            "was written.",
        ),
        ParsedField(
            "batch_count",
            "int",
            default=1,
            advanced=True,
            parser=_batch_count,
            description="Rows per batch; the last batch of a file may be smaller.",
        ),
        replay_nacks_field("rows", "dropped (and the file is not deleted)"),
    ],
    summary="Reads CSV files as structured rows: objects keyed by the header row, or arrays.",
    description=(
        "Metadata: `header` (the header row as an array, on rows that are objects), `path`, "
        "`mod_time_unix` and `mod_time` (RFC 3339). Quoted fields may hold delimiters and "
        "new lines; a byte order mark opening a file is skipped. Files are read in chunks, "
        "never whole."
    ),
    examples=(
        "csv:\n  paths: [ ./export/*.csv ]\n  delimiter: ';'\n",
        "csv:\n  paths: [ ./inbox/*.csv ]\n  delete_on_finish: true\n  batch_count: 100\n",
    ),
)
class CsvInput(Input):
    """Reads CSV files as structured rows; each file is a partition, resumable by offset."""

    replays_from_snapshot = True

    def __init__(self, conf: dict[str, Any], ctx: BuildContext | None = None) -> None:
        self.options = CsvOptions(
            delimiter=check_delimiter(conf.get("delimiter", ",")),
            parse_header_row=conf.get("parse_header_row", True) is not False,
            lazy_quotes=bool(conf.get("lazy_quotes", False)),
            continue_on_error=True,
            strict_fields=False,
        )
        self.batch_count = _batch_count(conf.get("batch_count", 1))
        #: as in Benthos, each row is a batch of its own unless batch_count says otherwise
        self.one_message_per_batch = self.batch_count == 1
        self.delete_on_finish = bool(conf.get("delete_on_finish", False))
        self.replay_nacks = conf.get("auto_replay_nacks", True) is not False
        self.files = expand_paths([str(p) for p in conf.get("paths") or []])
        if not self.files:
            raise ValueError("paths: no file matches (the csv input needs at least one)")
        self.name = "csv input"
        self.log = ctx.logger if ctx is not None else log

    def partitions(self) -> list[str]:
        return list(self.files)

    def open(self, partition: str, resume_state: Any | None) -> InputReader:
        return FileReader(
            partition,
            Scanner(csv=self.options),
            resume_state=resume_state,
            delete_on_finish=self.delete_on_finish,
            replay_nacks=self.replay_nacks,
            batch_count=self.batch_count,
            messages=_messages,  # type: ignore[arg-type]
            name=self.name,
            log=self.log,
        )
