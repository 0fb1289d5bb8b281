"""How components describe a failure on the message it flags."""

from __future__ import annotations

from streamforge.errors import MappingError

__all__ = ["MissingFileError", "UndefinedResourceError", "describe_error"]


def describe_error(exc: BaseException) -> str:
    """The error text a failed message carries: Bloblang errors as they are, others typed."""
    if isinstance(exc, MappingError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


class MissingFileError(FileNotFoundError, ValueError):
    """A file or directory a component's config names is not there. `lint` warns of it (the
    file may be there where and when the stream runs); `run` refuses the stream."""


class UndefinedResourceError(LookupError, ValueError):
    """A resource a component's config names by label is not defined. `lint` of one file warns
    of it (another file given to `run` with -r may define it); `run` refuses the stream."""

    def __init__(self, message: str, kind: str, labels: list[str]) -> None:
        super().__init__(message)
        self.kind = kind
        self.labels = labels
