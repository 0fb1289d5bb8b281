"""Environment variable interpolation at load time: `${VAR}` and `${VAR:default}`.

As in Benthos: a variable that is unset or empty takes the default when one is given
(`${VAR:}` is an explicit empty default); an unset variable without a default is an
error naming it; `${{VAR}}` is the escape for a literal `${VAR}`. Bloblang
interpolations `${! ... }` are left alone.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = [
    "UNSET_VARIABLE",
    "EnvResult",
    "LenientEnviron",
    "has_env_reference",
    "interpolate_env",
    "unset_variable_problem",
]

_ENV = re.compile(r"\$\{([0-9A-Za-z_.]+)(?::((?:\$\{[^}]+\}|[^}])*))?\}")
_ESCAPED = re.compile(r"\$\{(\{[0-9A-Za-z_.]+(?::(?:\$\{[^}]+\}|[^}])*)?\})\}")


class LenientEnviron(dict[str, str]):
    """An environment in which an unset variable reads as empty text and is a warning, not
    an error (`lint --skip-env-var-check`)."""


#: how the problem of an unset variable begins (lint drops other problems at its place)
UNSET_VARIABLE = "environment variable "


def unset_variable_problem(name: str, lenient: bool) -> str:
    """The message of `${name}` unset without a default (a warning when `lenient`)."""
    if lenient:
        return f'{UNSET_VARIABLE}"{name}" is not set and has no default; read as empty text'
    return (
        f'{UNSET_VARIABLE}"{name}" is not set and has no default '
        f"(write ${{{name}:default}} to give one)"
    )


@dataclass
class EnvResult:
    """The interpolated text and the names of variables that were unset without a default."""

    text: str
    missing: list[str] = field(default_factory=list)


def has_env_reference(text: str) -> bool:
    """True when `text` contains `${VAR...}` or an escaped `${{VAR}}`."""
    return "${" in text and (_ENV.search(text) is not None or _ESCAPED.search(text) is not None)


def interpolate_env(text: str, environ: Mapping[str, str] | None = None) -> EnvResult:
    """Replace `${VAR}` / `${VAR:default}` in `text` and unescape `${{VAR}}`."""
    env = os.environ if environ is None else environ
    missing: list[str] = []
    placeholders: list[str] = []

    def protect(m: re.Match[str]) -> str:
        placeholders.append("$" + m.group(1))
        return f"\x00{len(placeholders) - 1}\x00"

    def replace(m: re.Match[str]) -> str:
        name, default = m.group(1), m.group(2)
        value = env.get(name)
        if default is not None:
            return value if value else default
        if value is None:
            missing.append(name)
            return ""
        return value

    protected = _ESCAPED.sub(protect, text) if "${{" in text else text
    out = _ENV.sub(replace, protected)
    if placeholders:
        out = re.sub("\x00(\\d+)\x00", lambda m: placeholders[int(m.group(1))], out)
    return EnvResult(out, missing)
