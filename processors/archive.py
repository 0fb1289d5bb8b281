"""`archive` and `unarchive` processors: a batch becomes one message, and one message a batch.

Formats as Benthos has them. `binary` is Benthos' own framing: a big-endian uint32 count of
parts, then each part as a big-endian uint32 length and its bytes, so archives made by Benthos
unarchive here and the other way round.
"""

from __future__ import annotations

import csv
import io
import json
import struct
import tarfile
import time
import zipfile
from collections.abc import Callable
from typing import Any

from streamforge.interpolation import InterpolatedString
from streamforge.message import Message, PayloadError
from streamforge.plugin import BuildContext, Field, Processor, register_processor

__all__ = [
    "ARCHIVE_FORMATS",
    "UNARCHIVE_FORMATS",
    "ArchiveProcessor",
    "UnarchiveProcessor",
    "pack_binary",
    "unpack_binary",
]

ARCHIVE_FORMATS = ("binary", "concatenate", "json_array", "lines", "tar", "zip")
UNARCHIVE_FORMATS = (
    "binary",
    "csv",
    "json_array",
    "json_documents",
    "json_map",
    "lines",
    "tar",
    "zip",
)
#: metadata the file name of a tar or zip entry (or the key of a json_map value) lands in
FILENAME_METADATA = "archive_filename"


def pack_binary(parts: list[bytes]) -> bytes:
    """Benthos' binary framing of several payloads."""
    out = bytearray(struct.pack(">I", len(parts)))
    for p in parts:
        out += struct.pack(">I", len(p))
        out += p
    return bytes(out)


def unpack_binary(data: bytes) -> list[bytes]:
    """The payloads of Benthos' binary framing; ValueError when it is cut short."""
    if len(data) < 4:
        raise ValueError("binary archive too short to hold a part count")
    (count,) = struct.unpack_from(">I", data, 0)
    pos, parts = 4, []
    for i in range(count):
        if pos + 4 > len(data):
            raise ValueError(f"binary archive ends before the length of part {i}")
        (size,) = struct.unpack_from(">I", data, pos)
        pos += 4
        if pos + size > len(data):
            raise ValueError(f"binary archive ends inside part {i}")
        parts.append(data[pos : pos + size])
        pos += size
    return parts


# -- archive -------------------------------------------------------------------------------


@register_processor(
    "archive",
    fields=[
        Field(
            "format",
            "string",
            options=ARCHIVE_FORMATS,
            description="How the messages of a batch are joined into one.",
        ),
        Field(
            "path",
            "string",
            default="",
            interpolable=True,
            description="The file name of each message inside a tar or zip archive, "
            "rendered per message; other formats ignore it.",
            examples=(
                '${! count("files") }-${! timestamp_unix_nano() }.txt',
                '${! meta("kafka_key") }-${! json("id") }.json',
            ),
        ),
    ],
    summary="Archives all the messages of a batch into one message.",
    description=(
        "Formats: `binary` (Benthos' framing), `concatenate` (raw bytes back to back), "
        "`json_array` (each message parsed as JSON, appended to an array), `lines` (joined "
        "with a newline), `tar` and `zip` (one file per message, named by `path`). The "
        "archive keeps the metadata of the first message. It works on batches: place it "
        "after an input that makes batches, a `split`, a `group_by` or an `unarchive`."
    ),
    examples=(
        'archive:\n  format: tar\n  path: ${! meta("kafka_key") }-${! json("id") }.json',
        "archive:\n  format: json_array",
    ),
)
class ArchiveProcessor(Processor):
    """Archives all the messages of a batch into one message."""

    batch_aware = True

    def __init__(self, conf: dict[str, Any], ctx: BuildContext) -> None:
        self.format = str(conf.get("format"))
        if self.format not in ARCHIVE_FORMATS:
            raise ValueError(f"unknown archive format {self.format!r}")
        self.path = InterpolatedString(str(conf.get("path") or ""))
        self._pack: Callable[[list[Message]], bytes | Any] = getattr(self, f"_{self.format}")

    def process_batch(self, batch: list[Message]) -> list[Message]:
        if not batch:
            return batch
        try:
            packed = self._pack(batch)
        except (PayloadError, ValueError) as exc:
            reason = f"archive: {exc}"
            for m in batch:
                m.error = reason
            return batch
        first = batch[0]
        if self.format == "json_array":
            return [Message.from_value(packed, dict(first.metadata))]
        return [Message(packed, dict(first.metadata))]

    def _binary(self, batch: list[Message]) -> bytes:
        return pack_binary([m.payload for m in batch])

    def _concatenate(self, batch: list[Message]) -> bytes:
        return b"".join(m.payload for m in batch)

    def _lines(self, batch: list[Message]) -> bytes:
        return b"\n".join(m.payload for m in batch)

    def _json_array(self, batch: list[Message]) -> list[Any]:
        return [m.value for m in batch]

    def _names(self, batch: list[Message]) -> list[str]:
        return [self.path.render(m, batch, i) for i, m in enumerate(batch)]

    def _tar(self, batch: list[Message]) -> bytes:
        buf = io.BytesIO()
        now = time.time()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
            for name, m in zip(self._names(batch), batch):
                data = m.payload
                info = tarfile.TarInfo(name)
                info.size = len(data)
                info.mode = 0o600
                info.mtime = int(now)
                tar.addfile(info, io.BytesIO(data))
        return buf.getvalue()

    def _zip(self, batch: list[Message]) -> bytes:
        buf = io.BytesIO()
        stamp = time.localtime()[:6]
        with zipfile.ZipFile(buf, mode="w", compression=zipfile.ZIP_DEFLATED) as zf:
            for name, m in zip(self._names(batch), batch):
                info = zipfile.ZipInfo(name, date_time=stamp)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o600 << 16
                zf.writestr(info, m.payload)
        return buf.getvalue()


# -- unarchive -----------------------------------------------------------------------------


@register_processor(
    "unarchive",
    fields=[
        Field(
            "format",
            "string",
            description=(
                "The archive format of each message: binary, csv, csv:x (x is the "
                "delimiter), json_array, json_documents, json_map, lines, tar or zip."
            ),
            examples=("tar", "json_array", "csv:\t"),
        ),
    ],
    summary="Unarchives each message into several messages of the same batch.",
    description=(
        "The new messages replace the original in its batch and keep its metadata; tar and "
        "zip entries (and json_map values) get `archive_filename` with their name (key). A "
        "message that does not unarchive stays as it was, flagged with the error. `lines` "
        "makes no message of the empty text after a final newline; `csv` needs a header row "
        "and makes one JSON object of strings per row."
    ),
    examples=("unarchive:\n  format: tar", "unarchive:\n  format: json_array"),
)
class UnarchiveProcessor(Processor):
    """Unarchives each message into several messages of the same batch."""

    def __init__(self, conf: dict[str, Any], ctx: BuildContext) -> None:
        fmt = str(conf.get("format"))
        delimiter = ","
        if fmt.startswith("csv:"):
            if len(fmt) != 5:
                raise ValueError(f"format {fmt!r}: a csv delimiter must be one character")
            fmt, delimiter = "csv", fmt[4]
        if fmt not in UNARCHIVE_FORMATS:
            raise ValueError(
                f"unknown unarchive format {fmt!r}; one of {', '.join(UNARCHIVE_FORMATS)}, csv:x"
            )
        self.format = fmt
        self.delimiter = delimiter
        self._unpack: Callable[[Message], list[Message]] = getattr(self, f"_{fmt}")

    def process_batch(self, batch: list[Message]) -> list[Message]:
        out: list[Message] = []
        for m in batch:
            try:
                out.extend(self._unpack(m))
            except (PayloadError, ValueError, KeyError, tarfile.TarError, zipfile.BadZipFile) as e:
                m.error = f"unarchive {self.format}: {e}"
                out.append(m)
        return out

    @staticmethod
    def _raw(parts: list[bytes], m: Message) -> list[Message]:
        return [Message(p, dict(m.metadata)) for p in parts]

    def _binary(self, m: Message) -> list[Message]:
        return self._raw(unpack_binary(m.payload), m)

    def _lines(self, m: Message) -> list[Message]:
        parts = m.payload.split(b"\n")
        if parts and parts[-1] == b"":
            parts.pop()
        return self._raw(parts, m)

    def _json_array(self, m: Message) -> list[Message]:
        doc = m.value
        if not isinstance(doc, list):
            raise ValueError(f"expected a JSON array, got {type(doc).__name__}")
        return [Message.from_value(v, dict(m.metadata)) for v in doc]

    def _json_map(self, m: Message) -> list[Message]:
        doc = m.value
        if not isinstance(doc, dict):
            raise ValueError(f"expected a JSON object, got {type(doc).__name__}")
        return [
            Message.from_value(v, {**m.metadata, FILENAME_METADATA: str(k)}) for k, v in doc.items()
        ]

    def _json_documents(self, m: Message) -> list[Message]:
        text = m.payload.decode("utf-8")
        decoder = json.JSONDecoder()
        pos, end = 0, len(text)
        out: list[Message] = []
        while True:
            while pos < end and text[pos].isspace():
                pos += 1
            if pos >= end:
                return out
            value, pos = decoder.raw_decode(text, pos)
            out.append(Message.from_value(value, dict(m.metadata)))

    def _csv(self, m: Message) -> list[Message]:
        reader = csv.reader(io.StringIO(m.payload.decode("utf-8")), delimiter=self.delimiter)
        try:
            header = next(reader)
        except StopIteration:
            raise ValueError("no header row") from None
        out = []
        for n, row in enumerate(reader, start=2):
            if not row:
                continue
            if len(row) != len(header):
                raise ValueError(f"row {n} has {len(row)} fields, the header {len(header)}")
            out.append(Message.from_value(dict(zip(header, row)), dict(m.metadata)))
        return out

    def _tar(self, m: Message) -> list[Message]:
        out = []
        with tarfile.open(fileobj=io.BytesIO(m.payload), mode="r:") as tar:
            for info in tar:
                if not info.isfile():
                    continue
                f = tar.extractfile(info)
                data = f.read() if f is not None else b""
                out.append(Message(data, {**m.metadata, FILENAME_METADATA: info.name}))
        return out

    def _zip(self, m: Message) -> list[Message]:
        out = []
        with zipfile.ZipFile(io.BytesIO(m.payload)) as zf:
            for info in zf.infolist():
                if info.is_dir():
                    continue
                data = zf.read(info)
                out.append(Message(data, {**m.metadata, FILENAME_METADATA: info.filename}))
        return out
