"""`file` cache: one file per key in a directory, as Benthos (no expiry)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import quote

from streamforge.plugin import BuildContext, Cache, CacheError, Field, register_cache

__all__ = ["FileCache", "file_name"]


def file_name(key: str) -> str:
    """The file name a key is stored under: percent-encoded so that it names one file in the
    directory whatever it holds (`/`, `..`, NUL); distinct keys get distinct names."""
    if not key:
        return "%"
    name = quote(key, safe="-_~")
    return name.replace(".", "%2E") if name.startswith(".") else name


class FileCache(Cache):
    """Keys as files in `directory`; writes are atomic (a temp file renamed or linked in)."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ValueError(f"directory: cannot create {str(directory)!r}: {exc}") from None

    def _path(self, key: str) -> Path:
        return self.directory / file_name(key)

    def _temp(self, value: bytes) -> str:
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(value)
        except BaseException:
            os.unlink(tmp)
            raise
        return tmp

    def get(self, key: str) -> bytes | None:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise CacheError(f"file cache: {exc}") from None

    def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        try:
            os.replace(self._temp(value), self._path(key))
        except OSError as exc:
            raise CacheError(f"file cache: {exc}") from None

    def add(self, key: str, value: bytes, ttl: float | None = None) -> bool:
        try:
            tmp = self._temp(value)
            try:
                os.link(tmp, self._path(key))
            except FileExistsError:
                return False
            finally:
                os.unlink(tmp)
        except OSError as exc:
            raise CacheError(f"file cache: {exc}") from None
        return True

    def delete(self, key: str) -> None:
        try:
            self._path(key).unlink(missing_ok=True)
        except OSError as exc:
            raise CacheError(f"file cache: {exc}") from None


@register_cache(
    "file",
    fields=[
        Field(
            "directory",
            "string",
            description="The directory holding the items (created when missing).",
            examples=("/var/lib/streamforge/cache",),
        ),
    ],
    summary="Stores each item as a file in a directory.",
    description=(
        "Matches Benthos' `file` cache. Each key is one file in `directory`, its name the key "
        "percent-encoded (so `a/b` is the file `a%2Fb`, not a subdirectory as in Benthos). "
        "There is no expiry: TTLs are ignored, as in Benthos. Meant for development and "
        "debugging, or small state that must survive a restart."
    ),
    examples=("cache_resources:\n  - label: docs\n    file:\n      directory: ./cache",),
)
def file_cache(conf: dict[str, Any], ctx: BuildContext | None = None) -> FileCache:
    """Stores each item as a file in a directory."""
    directory = str((conf or {}).get("directory") or "")
    if not directory:
        raise ValueError("directory: must not be empty")
    return FileCache(directory)
