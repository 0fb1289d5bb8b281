"""How components describe a failure on the message it flags."""

from __future__ import annotations

from streamforge.errors import MappingError

__all__ = ["MissingFileError", "describe_error"]


def describe_error(exc: BaseException) -> str:
    """The error text a failed message carries: Bloblang errors as they are, others typed."""
    if isinstance(exc, MappingError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


class MissingFileError(FileNotFoundError, ValueError):
    """A file or directory a component's config names is not there. `lint` warns of it (the
    file may be there where and when the stream runs); `run` refuses the stream."""
