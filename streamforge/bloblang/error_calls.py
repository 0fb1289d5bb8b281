"""Whether a Bloblang text asks about errors, so its processor must see errored messages.

Benthos runs every processor on failed messages; StreamForge lets them skip processors
that would not notice. A mapping or check that calls `errored()`, `error()` or an
`error_source_*()` function is written for failed messages (e.g. the documented
`root = if errored() { deleted() }`), so such processors receive them too.
"""

from __future__ import annotations

import re

__all__ = ["asks_about_errors", "interpolation_asks_about_errors"]

_ERROR_CALL = re.compile(r"(?<![.\w])(?:errored|error|error_source_\w+)\s*\(")
_INTERPOLATION = re.compile(r"\$\{!(.*?)\}", re.S)
#: string literals and comments, which may mention the functions without calling them
_NOT_CODE = re.compile(r'"""[\s\S]*?"""|"(?:[^"\\\n]|\\.)*"|#[^\n]*')


def asks_about_errors(*texts: str) -> bool:
    """True when any of the Bloblang texts calls an error function."""
    return any(_ERROR_CALL.search(_NOT_CODE.sub('""', t)) for t in texts if t)


def interpolation_asks_about_errors(text: str) -> bool:
    """True when a `${! ... }` part of an interpolated string calls an error function."""
    return "${!" in text and any(asks_about_errors(m) for m in _INTERPOLATION.findall(text))
