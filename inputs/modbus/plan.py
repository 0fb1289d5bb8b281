"""Request planning: the tags of one device read with as few requests as Modbus allows.

Tags of one register kind are sorted by address and merged into one read while the span stays
within the protocol's limit (125 registers, 2000 bits) and the hole between two tags is at most
`MAX_GAP_REGISTERS` registers (`MAX_GAP_BITS` bits): reading a few unused registers costs
less than another round trip. A device that rejects a merged read (because a bridged hole or
one tag's address does not exist) gets that read split, see `split`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from streamforge.inputs.modbus.tags import BIT_REGISTERS, Tag

__all__ = [
    "MAX_BITS",
    "MAX_GAP_BITS",
    "MAX_GAP_REGISTERS",
    "MAX_REGISTERS",
    "ReadRequest",
    "plan_requests",
    "split",
]

#: most registers one read of holding or input registers may return
MAX_REGISTERS = 125
#: most bits one read of coils or discrete inputs may return
MAX_BITS = 2000
#: largest hole between two tags still read in one request
MAX_GAP_REGISTERS = 8
MAX_GAP_BITS = 64
_ORDER = {"coil": 0, "discrete": 1, "holding": 2, "input": 3}


@dataclass(frozen=True)
class ReadRequest:
    """One read of `count` registers (or bits) from `address`, serving `tags`."""

    register: str
    address: int
    count: int
    tags: tuple[Tag, ...]

    @classmethod
    def of(cls, tags: Sequence[Tag]) -> ReadRequest:
        """The smallest read covering `tags` (all of one register kind)."""
        start = min(t.address for t in tags)
        end = max(t.end for t in tags)
        return cls(tags[0].register, start, end - start, tuple(tags))

    def describe(self) -> str:
        """`holding 100..119` for error messages."""
        last = self.address + self.count - 1
        where = f"{self.address}" if last == self.address else f"{self.address}..{last}"
        return f"{self.register} {where}"


def plan_requests(tags: Iterable[Tag], *, bridge: bool = True) -> list[ReadRequest]:
    """Reads covering every tag; `bridge=False` merges only tags that touch or overlap."""
    by_register: dict[str, list[Tag]] = {}
    for tag in tags:
        by_register.setdefault(tag.register, []).append(tag)
    requests: list[ReadRequest] = []
    for register in sorted(by_register, key=_ORDER.__getitem__):
        bits = register in BIT_REGISTERS
        limit = MAX_BITS if bits else MAX_REGISTERS
        gap = (MAX_GAP_BITS if bits else MAX_GAP_REGISTERS) if bridge else 0
        ordered = sorted(by_register[register], key=lambda t: (t.address, t.end))
        group: list[Tag] = [ordered[0]]
        start, end = ordered[0].address, ordered[0].end
        for tag in ordered[1:]:
            new_end = max(end, tag.end)
            if tag.address - end <= gap and new_end - start <= limit:
                group.append(tag)
                end = new_end
                continue
            requests.append(ReadRequest.of(group))
            group, start, end = [tag], tag.address, tag.end
        requests.append(ReadRequest.of(group))
    return requests


def split(request: ReadRequest, rejected: Iterable[Tag]) -> list[ReadRequest]:
    """What replaces a merged read the device rejected, once each tag was read alone.

    Tags the device rejected on their own get a read each (only they fail from now on);
    the others are merged again without bridging holes.
    """
    bad = set(rejected)
    good = [t for t in request.tags if t not in bad]
    singles = [ReadRequest.of([t]) for t in request.tags if t in bad]
    return [*(plan_requests(good, bridge=False) if good else []), *singles]
