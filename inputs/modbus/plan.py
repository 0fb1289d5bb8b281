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
    "OPTIMIZATIONS",
    "ReadRequest",
    "plan",
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
#: `optimization` values (benthos-umh's, after Telegraf's Modbus plugin)
OPTIMIZATIONS = ("none", "max_insert", "shrink", "rearrange", "aggressive")


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


def plan_requests(
    tags: Iterable[Tag], *, bridge: bool = True, max_fill: int | None = None
) -> list[ReadRequest]:
    """Reads covering every tag; `bridge=False` merges only tags that touch or overlap;
    `max_fill` is the largest hole bridged (registers or bits), instead of the defaults."""
    by_register: dict[str, list[Tag]] = {}
    for tag in tags:
        by_register.setdefault(tag.register, []).append(tag)
    requests: list[ReadRequest] = []
    for register in sorted(by_register, key=_ORDER.__getitem__):
        bits = register in BIT_REGISTERS
        limit = MAX_BITS if bits else MAX_REGISTERS
        gap = (MAX_GAP_BITS if bits else MAX_GAP_REGISTERS) if bridge else 0
        if max_fill is not None:
            gap = max_fill
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


def _rearranged(tags: Sequence[Tag], limit: int) -> list[ReadRequest]:
    """The fewest reads covering `tags` (one register kind), and among those the ones reading
    the fewest registers: a shortest path over the sorted tags, a read spanning a run of
    consecutive tags of at most `limit` registers."""
    ordered = sorted(tags, key=lambda t: (t.address, t.end))
    n = len(ordered)
    # best[i]: (reads, registers, start of the last read) covering ordered[:i]
    best: list[tuple[int, int, int] | None] = [None] * (n + 1)
    best[0] = (0, 0, 0)
    for i in range(1, n + 1):
        end = 0
        for j in range(i, 0, -1):  # the last read serves ordered[j-1:i]
            end = max(end, ordered[j - 1].end)
            span = end - ordered[j - 1].address
            if span > limit:
                break
            prev = best[j - 1]
            if prev is None:
                continue
            cand = (prev[0] + 1, prev[1] + span, j - 1)
            current = best[i]
            if current is None or cand[:2] < current[:2]:
                best[i] = cand
    out: list[ReadRequest] = []
    i = n
    while i > 0:
        step = best[i]
        assert step is not None
        out.append(ReadRequest.of(ordered[step[2] : i]))
        i = step[2]
    return out[::-1]


def plan(
    tags: Iterable[Tag],
    optimization: str = "none",
    *,
    max_fill: int = 50,
    one_per_field: bool = False,
    coils_from_zero: bool = False,
) -> list[ReadRequest]:
    """The reads of one device as benthos-umh's `optimization` and workarounds ask for.

    none and shrink merge tags whose registers touch or overlap (no tag is marked to be left
    out, so shrink has nothing to strip); max_insert also reads holes of at most `max_fill`
    registers (bits); rearrange and aggressive make the fewest reads the limits allow and,
    among those, read the fewest registers (there is one group per device and register kind, so
    aggressive has no groups to mix). `one_per_field` gives every tag a read of its own;
    `coils_from_zero` starts the first coil read at address 0.
    """
    tags = list(tags)
    if one_per_field:
        requests = [ReadRequest.of([t]) for t in sorted(tags, key=_tag_order)]
    elif optimization in ("none", "shrink"):
        requests = plan_requests(tags, bridge=False)
    elif optimization == "max_insert":
        requests = plan_requests(tags, max_fill=max_fill)
    elif optimization in ("rearrange", "aggressive"):
        by_register: dict[str, list[Tag]] = {}
        for tag in tags:
            by_register.setdefault(tag.register, []).append(tag)
        requests = []
        for register in sorted(by_register, key=_ORDER.__getitem__):
            limit = MAX_BITS if register in BIT_REGISTERS else MAX_REGISTERS
            requests.extend(_rearranged(by_register[register], limit))
    else:
        raise ValueError(f"optimization {optimization!r} is not one of {', '.join(OPTIMIZATIONS)}")
    if coils_from_zero:
        coils = [i for i, r in enumerate(requests) if r.register == "coil"]
        if coils:
            first = requests[coils[0]]
            end = first.address + first.count
            if end > MAX_BITS:
                raise ValueError(
                    f"workarounds.readCoilsStartingAtZero: the first coil read ends at address "
                    f"{end - 1}, beyond the {MAX_BITS} coils one read from address 0 returns"
                )
            requests[coils[0]] = ReadRequest("coil", 0, end, first.tags)
    return requests


def _tag_order(tag: Tag) -> tuple[int, int, int]:
    return (_ORDER[tag.register], tag.address, tag.end)


def split(request: ReadRequest, rejected: Iterable[Tag]) -> list[ReadRequest]:
    """What replaces a merged read the device rejected, once each tag was read alone.

    Tags the device rejected on their own get a read each (only they fail from now on);
    the others are merged again without bridging holes.
    """
    bad = set(rejected)
    good = [t for t in request.tags if t not in bad]
    singles = [ReadRequest.of([t]) for t in request.tags if t in bad]
    return [*(plan_requests(good, bridge=False) if good else []), *singles]
