"""Binlog positions: a file name and an offset in it, written as Redpanda Connect writes them
(`binlog.000042@000001F4`: the offset in eight hex digits, so the text sorts as positions do).
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["BinlogPosition"]


class BinlogPosition(NamedTuple):
    """Where an event ends in the binlog; ordered as the binlog is (numbered files)."""

    file: str
    offset: int

    def __str__(self) -> str:
        return f"{self.file}@{self.offset:08X}"

    @classmethod
    def parse(cls, text: str) -> BinlogPosition:
        """The position `text` names; ValueError when it is not one."""
        name, at, offset = text.strip().rpartition("@")
        if not at or not name:
            raise ValueError(f"{text!r} is not a binlog position (file@OFFSET)")
        try:
            return cls(name, int(offset, 16))
        except ValueError:
            raise ValueError(f"{text!r} is not a binlog position (file@OFFSET)") from None
