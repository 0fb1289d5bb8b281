"""`file` input: reads files (paths with globs), one partition per file, resumable by offset."""

from __future__ import annotations

import glob
import logging
import os
from datetime import datetime, timezone
from typing import Any, BinaryIO

from streamforge.connectors.codecs import Splitter, input_codec_fields, parse_input_codec
from streamforge.connectors.scanners import scanner_codec, scanner_field
from streamforge.message import Message
from streamforge.plugin import BuildContext, Field, Input, InputReader, register_input

__all__ = ["FileInput", "FileReader", "expand_paths"]

log = logging.getLogger("streamforge.inputs.file")

_CHUNK = 1 << 16


def expand_paths(patterns: list[str]) -> list[str]:
    """Sorted, de-duplicated files matching the patterns (`**` matches any depth)."""
    found: set[str] = set()
    for pattern in patterns:
        if glob.has_magic(pattern):
            found.update(p for p in glob.glob(pattern, recursive=True) if os.path.isfile(p))
        elif os.path.isfile(pattern):
            found.add(pattern)
        else:
            raise FileNotFoundError(f"file {pattern!r} does not exist")
    return sorted(found)


def file_metadata(path: str) -> dict[str, Any]:
    """Benthos' file metadata: path, mod_time_unix and mod_time (RFC 3339)."""
    mtime = os.stat(path).st_mtime
    stamp = datetime.fromtimestamp(int(mtime), tz=timezone.utc)
    return {
        "path": path,
        "mod_time_unix": int(mtime),
        "mod_time": stamp.isoformat().replace("+00:00", "Z"),
    }


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
            description="Delete each file once it has been read completely.",
        ),
    ],
    summary="Reads messages from files; each file is a partition, resumable by byte offset.",
    examples=("file:\n  paths: [ ./data/*.jsonl ]\n  codec: lines",),
)
class FileInput(Input):
    """Reads messages from files; each file is a partition, resumable by byte offset."""

    one_message_per_batch = True
    replays_from_snapshot = True

    def __init__(self, conf: dict[str, Any], ctx: BuildContext | None = None) -> None:
        self.codec, self.max_buffer = scanner_codec(
            conf.get("scanner"),
            str(conf.get("codec") or "lines"),
            int(conf.get("max_buffer", 1_000_000) or 0),
        )
        parse_input_codec(self.codec)
        self.delete_on_finish = bool(conf.get("delete_on_finish", False))
        self.files = expand_paths([str(p) for p in conf.get("paths") or []])

    def partitions(self) -> list[str]:
        return list(self.files)

    def open(self, partition: str, resume_state: Any | None) -> InputReader:
        return FileReader(
            partition,
            codec=self.codec,
            max_buffer=self.max_buffer,
            offset=int(resume_state or 0),
            delete_on_finish=self.delete_on_finish,
        )


class FileReader(InputReader):
    """Reads one file from an offset; the snapshot is the offset after the last record."""

    def __init__(
        self,
        path: str,
        *,
        codec: str = "lines",
        max_buffer: int = 1_000_000,
        offset: int = 0,
        delete_on_finish: bool = False,
    ) -> None:
        self.path = path
        self.delete_on_finish = delete_on_finish
        self.splitter = Splitter(codec, max_buffer)
        self.start = offset
        self._fh: BinaryIO | None = None
        self._done = False
        try:
            self._fh = open(path, "rb")  # noqa: SIM115 - kept open across reads
            self._fh.seek(offset)
            self.meta = file_metadata(path)
        except OSError as exc:
            log.warning("file input: cannot read %s: %s", path, exc)
            self._done = True
            self.meta = {"path": path}

    def read(self) -> list[Message] | None:
        if self._done or self._fh is None:
            return None
        split = self.splitter
        if split.delim is None:
            data = self._fh.read()
            split.feed(data)
            records = split.finish()
            eof = True
        else:
            data = self._fh.read(_CHUNK)
            eof = not data
            records = split.feed(data) if data else split.finish()
        batch = Message.from_payloads(records, self.meta)
        while split.overflows:
            batch.append(Message(b"", dict(self.meta), error=split.overflows.pop(0)))
        if eof:
            self._finish()
            return batch or None
        return batch

    def _finish(self) -> None:
        self._done = True
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        if self.delete_on_finish:
            try:
                os.remove(self.path)
            except OSError as exc:
                log.warning("file input: cannot delete %s: %s", self.path, exc)

    def snapshot(self) -> int:
        return self.start + self.splitter.consumed

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
