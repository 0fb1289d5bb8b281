"""Codecs: how a byte stream becomes messages (inputs) and messages become bytes (outputs).

Benthos names: `lines` (one message per line), `all-bytes` (the whole stream is one
message), `delim:<x>` (split on a custom delimiter) and, for outputs only, `append`
(payloads written back to back).
"""

from __future__ import annotations

from dataclasses import dataclass

from streamforge.plugin.spec import Field, ParsedField

__all__ = [
    "CodecError",
    "input_codec_fields",
    "output_codec_field",
    "INPUT_CODECS",
    "OUTPUT_CODECS",
    "Splitter",
    "WriteCodec",
    "parse_input_codec",
    "parse_output_codec",
]

INPUT_CODECS = ("lines", "all-bytes", "delim:<x>")
OUTPUT_CODECS = ("lines", "all-bytes", "append", "delim:<x>")

_ESCAPES = {"\\n": "\n", "\\t": "\t", "\\r": "\r", "\\0": "\0", "\\\\": "\\"}


def input_codec_fields(source: str, delimiter_example: str) -> tuple[Field, Field]:
    """`codec` and `max_buffer` of an input that splits a byte stream (`source`) into messages."""
    return (
        ParsedField(
            "codec",
            "string",
            default="lines",
            description=f"How {source} is split into messages: lines, all-bytes or delim:<x>.",
            examples=("lines", "all-bytes", f"delim:{delimiter_example}"),
            parser=lambda value: parse_input_codec(str(value)),
        ),
        Field(
            "max_buffer",
            "int",
            default=1_000_000,
            description="Longest record in bytes; longer ones are skipped and reported.",
            advanced=True,
        ),
    )


def output_codec_field(description: str, examples: tuple[str, ...]) -> Field:
    """The `codec` of an output that frames payloads; lint checks it as the output does."""
    return ParsedField(
        "codec",
        "string",
        default="lines",
        description=description,
        examples=examples,
        parser=lambda value: parse_output_codec(str(value)),
    )


class CodecError(ValueError):
    """A codec name is not known."""


def _unescape(text: str) -> str:
    out, i = [], 0
    while i < len(text):
        pair = text[i : i + 2]
        if pair in _ESCAPES:
            out.append(_ESCAPES[pair])
            i += 2
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def _delimiter(codec: str, allowed: tuple[str, ...]) -> tuple[str, bytes | None]:
    name = codec.strip()
    if name.startswith("delim:"):
        delim = _unescape(name[len("delim:") :]).encode("utf-8")
        if not delim:
            raise CodecError("codec delim:<x> needs a non-empty delimiter")
        return "delim", delim
    if name not in allowed:
        raise CodecError(f"unknown codec {codec!r}; expected one of: {', '.join(allowed)}")
    return name, (b"\n" if name == "lines" else None)


@dataclass(frozen=True)
class WriteCodec:
    """How an output frames each payload: a separator after it, or whole-file writes."""

    name: str
    separator: bytes
    overwrite: bool = False

    def frame(self, payloads: list[bytes]) -> bytes:
        """The bytes for a batch of payloads written in one go."""
        sep = self.separator
        if not sep:
            return b"".join(payloads)
        return sep.join(payloads) + sep


def parse_output_codec(codec: str) -> WriteCodec:
    """`lines` | `all-bytes` | `append` | `delim:<x>` for writing outputs."""
    name, delim = _delimiter(codec, ("lines", "all-bytes", "append"))
    if name == "all-bytes":
        return WriteCodec(name, b"", overwrite=True)
    return WriteCodec(name, delim or b"")


def parse_input_codec(codec: str) -> tuple[str, bytes | None]:
    """Validate an input codec; returns (kind, delimiter) with kind `delim` or `all-bytes`."""
    name, delim = _delimiter(codec, ("lines", "all-bytes"))
    if name == "lines":
        return "lines", b"\n"
    return name, delim


class Splitter:
    """Incrementally splits fed bytes into records, tracking how many bytes are consumed.

    `consumed` counts the bytes of every record returned so far (delimiters included),
    so an input can resume exactly after the last record it emitted.
    """

    def __init__(self, codec: str = "lines", max_buffer: int = 1_000_000) -> None:
        self.kind, self.delim = parse_input_codec(codec)
        self.max_buffer = max_buffer if max_buffer and max_buffer > 0 else 0
        self._buf = bytearray()
        self.consumed = 0
        #: one message per record dropped for exceeding max_buffer (inputs report them)
        self.overflows: list[str] = []
        self._skipping = False

    @property
    def pending(self) -> int:
        """Bytes fed but not yet part of a returned record."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[bytes]:
        """Add bytes; return the complete records they finish."""
        if not data:
            return []
        if self.delim is None:
            self._buf += data
            return []
        delim, dlen = self.delim, len(self.delim)
        if self._skipping:
            end = data.find(delim)
            if end < 0:
                self.consumed += len(data)
                return []
            self.consumed += end + dlen
            data = data[end + dlen :]
            self._skipping = False
        buf = self._buf
        buf += data
        whole = bytes(buf)
        records = whole.split(delim)
        rest = records.pop()  # after the last delimiter: not a whole record yet
        if records:
            done = len(buf) - len(rest)
            del buf[:done]
            self.consumed += done
            records = self._kept(records, done, self.kind == "lines" and b"\r" in whole)
        if self.max_buffer and len(buf) > self.max_buffer:
            self.overflows.append(self._overflow())
            self.consumed += len(buf)
            buf.clear()
            self._skipping = True
        return records

    def _kept(self, records: list[bytes], size: int, cr: bool) -> list[bytes]:
        """The records worth a message: `\\r` before `\\n` stripped (when there is a `cr`),
        empty ones left out, overlong ones reported in `overflows` instead; `size` is how many
        bytes they came from."""
        if cr:
            records = [rec[:-1] if rec.endswith(b"\r") else rec for rec in records]
        limit = self.max_buffer
        if limit and size > limit and max(map(len, records)) > limit:
            kept = []
            for rec in records:
                if len(rec) > limit:
                    self.overflows.append(self._overflow())
                elif rec:
                    kept.append(rec)
            return kept
        if b"" in records:
            return [rec for rec in records if rec]
        return records

    def _overflow(self) -> str:
        return f"record longer than max_buffer ({self.max_buffer} bytes) was skipped"

    def finish(self) -> list[bytes]:
        """End of stream: whatever is left is the last record (or the whole stream)."""
        rec = b"" if self._skipping else bytes(self._buf)
        self.consumed += len(self._buf)
        self._buf.clear()
        self._skipping = False
        if self.kind == "lines" and rec.endswith(b"\r"):
            rec = rec[:-1]
        return [rec] if rec else []
