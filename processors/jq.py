"""`jq` processor: transforms and filters each message with a jq query (libjq, PyPI `jq`).

The query is compiled once, when the processor is built, inside a small prelude that binds
`$metadata` to the message's metadata and keeps the process's environment, `input` and
`halt` out of reach: a config submitted to the manager must not read the operator's
environment variables or stop the process.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import orjson

from streamforge.message import Message, PayloadError, serialise_value
from streamforge.plugin import BuildContext, Field, ParsedField, Processor, register_processor
from streamforge.plugin.optional import require
from streamforge.timefmt.gotime import format_rfc3339_nano

__all__ = ["JqProcessor", "compile_query"]

#: definitions the query runs under; it follows on a line of its own, so a comment ending it
#: cannot hide the closing parenthesis
_PRELUDE = (
    "def env: {}; "
    'def input: error("input is not available in the jq processor"); '
    "def inputs: input; "
    'def halt: error("halt"); '
    'def halt_error($code): error(if type == "string" then . else tojson end); '
    "def halt_error: halt_error(5); "
    "{} as $ENV | .[1] as $metadata | .[0] | (\n"
)
#: longest error text a failed message carries
MAX_ERROR = 300
_TOP_LEVEL = re.compile(r" at <top-level>, ")
#: times reach `_as_json`, which writes them as Go does
_INPUT_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME


def _jq() -> Any:
    return require("jq", "jq", "the jq processor")


def _describe_compile_error(text: str) -> str:
    """libjq's compile errors (`jq: error: ... at <top-level>, line 1, column 4:` followed
    by the quoted line and a caret) as one line: `... at line 1, column 4`."""
    found = [
        _TOP_LEVEL.sub(" at ", line[len("jq: error: ") :]).rstrip(":")
        for line in text.splitlines()
        if line.startswith("jq: error: ")
    ]
    return "; ".join(found) or text.strip()


def compile_query(query: str) -> Any:
    """The compiled program running `query` under the prelude; ValueError naming the line
    and column of the query when it does not compile."""
    jq = _jq()
    if not query.strip():
        raise ValueError("the query is empty")
    try:
        jq.compile(query, args={"metadata": {}})  # errors located in the query as written
    except ValueError as exc:
        raise ValueError(_describe_compile_error(str(exc))) from None
    try:
        return jq.compile(f"{_PRELUDE}{query}\n)")
    except ValueError as exc:
        raise ValueError(
            "import and include are not supported: " + _describe_compile_error(str(exc))
        ) from None


def _check_query(query: Any) -> Any:
    compile_query(str(query))
    return query


def _as_json(value: Any) -> Any:
    """What orjson writes for a value it has no JSON form of (metadata may hold any)."""
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "replace")
    if isinstance(value, datetime):
        return format_rfc3339_nano(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return str(value)


def _input_text(value: Any, metadata: dict[str, Any]) -> str:
    """The program's input, `[document, metadata]`, as JSON text."""
    pair = [value, metadata]
    try:
        return orjson.dumps(pair, default=_as_json, option=_INPUT_OPTIONS).decode()
    except TypeError:  # an integer wider than 64 bits
        return serialise_value(pair).decode()


def _quoted(text: str) -> bytes:
    """A string result as a JSON document (a message whose value is a string is raw text)."""
    return serialise_value([text])[1:-1]


def _short(text: str) -> str:
    return text if len(text) <= MAX_ERROR else text[: MAX_ERROR - 1] + "…"


@register_processor(
    "jq",
    fields=[
        ParsedField(
            "query",
            "string",
            parser=_check_query,
            description="The jq query to filter and transform messages with. The message's "
            "metadata is the variable `$metadata`.",
            examples=(
                "{reading: .value, asset: $metadata.asset}",
                ".readings[] | select(.ok) | .value",
            ),
        ),
        Field(
            "raw",
            "bool",
            default=False,
            advanced=True,
            description="Give the query the payload as a string instead of as parsed JSON.",
        ),
        Field(
            "output_raw",
            "bool",
            default=False,
            advanced=True,
            description="Write string results as raw text (unquoted), as `jq -r` does; "
            "other results are written as JSON, one after the other.",
        ),
    ],
    summary="Transforms and filters messages with jq queries.",
    description=(
        "The query runs on each message's JSON document (its text with `raw: true`) and the "
        "message becomes the result: one value as it is, several as an array of them, none "
        "drops the message. Metadata is kept and is readable as `$metadata`. A message that "
        "is not JSON, or on which the query fails, keeps its content and is flagged with the "
        "reason for `catch` or a `fallback` output. The query is compiled once; one that does "
        "not compile is a lint error. Needs the `jq` extra."
    ),
    examples=(
        "jq:\n  query: '{names: [.sensors[] | select(.line == \"A\") | .name] | sort}'\n",
        "jq:\n  query: '.value'\n  output_raw: true\n",
    ),
)
class JqProcessor(Processor):
    """Transforms and filters messages with a jq query compiled once."""

    def __init__(self, conf: dict[str, Any], ctx: BuildContext | None = None) -> None:
        self.program = compile_query(str(conf["query"]))
        self.raw = bool(conf.get("raw", False))
        self.output_raw = bool(conf.get("output_raw", False))

    def run(self, msg: Message) -> list[Any]:
        """Every value the query emits for `msg`; ValueError when it fails."""
        if self.raw:
            document: Any = msg.payload.decode("utf-8", "replace")
        else:
            document = msg.value
        return list(self.program.input_text(_input_text(document, msg.metadata)).all())

    def process_batch(self, batch: list[Message]) -> list[Message]:
        out: list[Message] = []
        for msg in batch:
            if msg.error is not None:
                out.append(msg)
                continue
            try:
                emitted = self.run(msg)
            except PayloadError as exc:
                out.append(msg.fail(f"jq: {exc}"))
                continue
            except ValueError as exc:
                out.append(msg.fail(_short(f"jq: {exc}")))
                continue
            if not emitted:
                continue
            if self.output_raw:
                msg.set_payload(b"".join(serialise_value(v) for v in emitted))
            elif len(emitted) == 1 and isinstance(emitted[0], str):
                msg.set_payload(_quoted(emitted[0]))
            else:
                msg.set_value(emitted[0] if len(emitted) == 1 else emitted)
            out.append(msg)
        return out
