"""`file` input: reads files (paths with globs), one partition per file, resumable by offset."""

from __future__ import annotations

import logging
from typing import Any

from streamforge.connectors.acked_reader import replay_nacks_field
from streamforge.connectors.codecs import input_codec_fields, parse_input_codec
from streamforge.connectors.files import FileReader, expand_paths, file_metadata
from streamforge.connectors.scanners import parse_scanner, scanner_field
from streamforge.plugin import BuildContext, Field, Input, InputReader, register_input

__all__ = ["FileInput", "FileReader", "expand_paths", "file_metadata"]

log = logging.getLogger("streamforge.inputs.file")


@register_input(
    "file",
    fields=[
        Field(
            "paths",
            "array",
            item=Field("path", "string"),
            description="Files to read; glob patterns (including `**`) are expanded and sorted.",
            examples=(["./data/*.jsonl"], ["/var/log/plant/**/*.log"]),
        ),
        *input_codec_fields("a file", "\\t"),
        scanner_field("a file"),
        Field(
            "delete_on_finish",
            "bool",
            default=False,
            description="Delete each file once it was read to its end and every message of "
            "it was written.",
        ),
        replay_nacks_field("messages of a file", "dropped (and the file is not deleted)"),
    ],
    summary="Reads messages from files; each file is a partition, resumable by byte offset.",
    description=(
        "Metadata: `path`, `mod_time_unix` and `mod_time` (RFC 3339); with the `csv` "
        "scanner also `csv_row`."
    ),
    examples=(
        "file:\n  paths: [ ./data/*.jsonl ]\n  codec: lines",
        "file:\n  paths: [ ./export/*.csv ]\n  scanner:\n    csv:\n      custom_delimiter: ';'",
    ),
)
class FileInput(Input):
    """Reads messages from files; each file is a partition, resumable by byte offset."""

    one_message_per_batch = True
    replays_from_snapshot = True

    def __init__(self, conf: dict[str, Any], ctx: BuildContext | None = None) -> None:
        self.scanner = parse_scanner(
            conf.get("scanner"),
            str(conf.get("codec") or "lines"),
            int(conf.get("max_buffer", 1_000_000) or 0),
        )
        parse_input_codec(self.scanner.codec)
        self.delete_on_finish = bool(conf.get("delete_on_finish", False))
        self.replay_nacks = conf.get("auto_replay_nacks", True) is not False
        self.files = expand_paths([str(p) for p in conf.get("paths") or []])
        self.name = "file input"
        self.log = ctx.logger if ctx is not None else log

    @property
    def codec(self) -> str:
        return self.scanner.codec

    @property
    def max_buffer(self) -> int:
        return self.scanner.max_buffer

    def partitions(self) -> list[str]:
        return list(self.files)

    def open(self, partition: str, resume_state: Any | None) -> InputReader:
        return FileReader(
            partition,
            self.scanner,
            resume_state=resume_state,
            delete_on_finish=self.delete_on_finish,
            replay_nacks=self.replay_nacks,
            name=self.name,
            log=self.log,
        )
