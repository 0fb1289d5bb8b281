"""Problems found in a Thing Description, each at the JSON path of the term it is about."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = ["TdError", "TdProblem", "json_path"]

_BARE_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def json_path(parts: Iterable[str | int]) -> str:
    """`$.properties.temperature.forms[0].href` for ("properties", "temperature", "forms", 0,
    "href"); keys that are no plain names are quoted, `$['@context']`."""
    out = "$"
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _BARE_KEY.match(part):
            out += f".{part}"
        else:
            quoted = part.replace("\\", "\\\\").replace("'", "\\'")
            out += f"['{quoted}']"
    return out


@dataclass(frozen=True)
class TdProblem:
    """One problem of a Thing Description: where (a JSON path) and what."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class TdError(Exception):
    """A Thing Description cannot be used as it is; carries every problem found."""

    def __init__(self, problems: Sequence[TdProblem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))
