"""Benthos v4 `scanner` of inputs that read byte streams (`stdin`, `file`), on the codecs.

`scanner: {lines: {custom_delimiter, max_buffer_size}}` and `scanner: {to_the_end: {}}` are
the splitters the `codec` field names (`lines`, `delim:<x>`, `all-bytes`); when a scanner is
given it replaces `codec` and `max_buffer`. Other Benthos scanners are refused by name.
"""

from __future__ import annotations

from typing import Any

from streamforge.plugin.spec import ParsedField

__all__ = ["SCANNERS", "scanner_codec", "scanner_field"]

#: scanner -> its fields
SCANNERS: dict[str, tuple[str, ...]] = {
    "lines": ("custom_delimiter", "max_buffer_size"),
    "to_the_end": (),
}


def _escape(delimiter: str) -> str:
    """A delimiter as the `delim:` codec spells it (a tab or a new line written escaped)."""
    return delimiter.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def scanner_codec(scanner: Any, codec: str, max_buffer: int) -> tuple[str, int]:
    """The (codec, max_buffer) a `scanner` value means; `codec`/`max_buffer` when it is empty.

    Raises ValueError naming what is wrong (lint reports it at the field).
    """
    if not scanner:
        return codec, max_buffer
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
    conf = conf or {}
    if not isinstance(conf, dict):
        raise ValueError(f"{name}: expected an object")
    for key in conf:
        if key not in SCANNERS[name]:
            valid = ", ".join(SCANNERS[name]) or "none"
            raise ValueError(f'{name}: unknown field "{key}" (valid: {valid})')
    if name == "to_the_end":
        return "all-bytes", max_buffer
    delimiter = conf.get("custom_delimiter") or ""
    if not isinstance(delimiter, str):
        raise ValueError("lines.custom_delimiter: expected a string")
    size = conf.get("max_buffer_size", max_buffer)
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise ValueError("lines.max_buffer_size: expected a number of bytes")
    return (f"delim:{_escape(delimiter)}" if delimiter else "lines"), size


def scanner_field(source: str) -> ParsedField:
    """The `scanner` field of an input reading `source`."""
    return ParsedField(
        "scanner",
        "map",
        default={},
        parser=lambda value: scanner_codec(value, "lines", 1_000_000),
        description=(
            f"How {source} is split into messages, as Benthos' scanners: `lines` (with "
            "`custom_delimiter` and `max_buffer_size`) or `to_the_end` (everything as one "
            "message). Replaces `codec` when given."
        ),
        examples=({"lines": {}}, {"lines": {"custom_delimiter": "|"}}, {"to_the_end": {}}),
    )
