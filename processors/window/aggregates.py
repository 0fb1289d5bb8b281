"""Window accumulators: readings and partial aggregates folded together, and the result.

An accumulator is a small list (cheap to update, pickles with recovery snapshots); readings and
earlier windows' aggregates (chaining: raw -> 1 s -> 1 min) fold into the same shape. Variance
uses Welford's update per reading and Chan's formula to combine partials, carried as `m2`
(the sum of squared deviations from the mean), so combining windows is exact and stable.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from streamforge.processors.telemetry.quality import QUALITIES

__all__ = [
    "NUMERIC",
    "Acc",
    "finish",
    "is_number",
    "make_folder",
    "merge_into",
    "new_acc",
    "partial_from",
    "quality_of",
]

#: aggregates that only numbers feed; other values are counted as `skipped`
NUMERIC = frozenset({"sum", "avg", "min", "max", "stddev"})

Acc = list[Any]

# accumulator slots
COUNT, N, SUM, MEAN, M2, MIN, MAX = 0, 1, 2, 3, 4, 5, 6
FIRST, FIRST_NS, LAST, LAST_NS, QUALITY, UNIT, ASSET, PARAMETER = 7, 8, 9, 10, 11, 12, 13, 14

#: a prepared item: (datetime, ns, value, quality rank, unit, asset, parameter, partial, msg)
ITEM_PARTIAL = 7


def new_acc() -> Acc:
    """An empty accumulator."""
    return [0, 0, 0, 0.0, 0.0, None, None, None, None, None, None, 0, None, None, None]


def is_number(value: Any) -> bool:
    """A finite int or float (bools, NaN and infinities are not numbers here)."""
    t = type(value)
    return t is int or (t is float and value - value == 0.0)


def merge_into(acc: Acc, other: Acc) -> Acc:
    """Fold `other` into `acc` (session windows merging, chained aggregates); returns `acc`."""
    if other[COUNT] == 0:
        return acc
    if acc[COUNT] == 0:
        acc[:] = other
        return acc
    acc[COUNT] += other[COUNT]
    if other[FIRST_NS] < acc[FIRST_NS]:
        acc[FIRST], acc[FIRST_NS] = other[FIRST], other[FIRST_NS]
    if other[LAST_NS] >= acc[LAST_NS]:
        acc[LAST], acc[LAST_NS] = other[LAST], other[LAST_NS]
    if other[QUALITY] > acc[QUALITY]:
        acc[QUALITY] = other[QUALITY]
    if acc[UNIT] is None:
        acc[UNIT] = other[UNIT]
    nb = other[N]
    if nb:
        na = acc[N]
        if na == 0:
            acc[N : MAX + 1] = other[N : MAX + 1]
            return acc
        n = na + nb
        delta = other[MEAN] - acc[MEAN]
        acc[MEAN] += delta * nb / n
        acc[M2] += other[M2] + delta * delta * na * nb / n
        acc[SUM] += other[SUM]
        if other[MIN] < acc[MIN]:
            acc[MIN] = other[MIN]
        if other[MAX] > acc[MAX]:
            acc[MAX] = other[MAX]
        acc[N] = n
    return acc


def make_folder(track_var: bool) -> Callable[[Acc, tuple[Any, ...]], Acc]:
    """The fold of one prepared item (a reading or a partial aggregate) into an accumulator."""

    def fold(acc: Acc, item: tuple[Any, ...]) -> Acc:
        partial = item[ITEM_PARTIAL]
        if partial is not None:
            return merge_into(acc, partial)
        ns, x = item[1], item[2]
        acc[COUNT] += 1
        if acc[FIRST_NS] is None:
            acc[FIRST], acc[FIRST_NS], acc[LAST], acc[LAST_NS] = x, ns, x, ns
            acc[UNIT], acc[ASSET], acc[PARAMETER] = item[4], item[5], item[6]
        else:
            if ns < acc[FIRST_NS]:
                acc[FIRST], acc[FIRST_NS] = x, ns
            if ns >= acc[LAST_NS]:
                acc[LAST], acc[LAST_NS] = x, ns
            if acc[UNIT] is None:
                acc[UNIT] = item[4]
        if item[3] > acc[QUALITY]:
            acc[QUALITY] = item[3]
        t = type(x)
        if t is int or (t is float and x - x == 0.0):
            n = acc[N] + 1
            acc[N] = n
            if n == 1:
                acc[SUM] = acc[MIN] = acc[MAX] = x
                if track_var:
                    acc[MEAN], acc[M2] = float(x), 0.0
                return acc
            acc[SUM] += x
            if x < acc[MIN]:
                acc[MIN] = x
            elif x > acc[MAX]:
                acc[MAX] = x
            if track_var:
                delta = x - acc[MEAN]
                acc[MEAN] += delta / n
                acc[M2] += delta * (x - acc[MEAN])
        return acc

    return fold


def _number(aggs: Mapping[str, Any], name: str) -> Any:
    value = aggs.get(name)
    if not is_number(value):
        raise ValueError(f"aggregates.{name}: expected a finite number, got {value!r}")
    return value


def partial_from(
    aggs: Mapping[str, Any],
    wanted: tuple[str, ...],
    ns: int,
    quality: int,
    unit: Any,
    asset: Any,
    parameter: Any,
) -> Acc:
    """An earlier window's `aggregates` as an accumulator, holding what `wanted` needs.

    Raises ValueError naming the missing or bad aggregate.
    """
    count = aggs.get("count")
    if type(count) is not int or count < 0:
        raise ValueError(f"aggregates.count: expected a whole number >= 0, got {count!r}")
    skipped = aggs.get("skipped") or 0
    if type(skipped) is not int or not 0 <= skipped <= count:
        raise ValueError(f"aggregates.skipped: expected 0..count, got {skipped!r}")
    acc = new_acc()
    acc[COUNT], acc[FIRST_NS], acc[LAST_NS] = count, ns, ns
    acc[QUALITY], acc[UNIT], acc[ASSET], acc[PARAMETER] = quality, unit, asset, parameter
    for name, slot in (("first", FIRST), ("last", LAST)):
        if name in wanted:
            if name not in aggs:
                raise ValueError(f"aggregates.{name}: missing; the earlier window must keep it")
            acc[slot] = aggs[name]
    n = count - skipped
    if n == 0 or not NUMERIC.intersection(wanted):
        return acc  # no numeric part is asked for, or there is none
    acc[N] = n
    if aggs.get("sum") is not None:
        total = _number(aggs, "sum")
    elif aggs.get("avg") is not None:
        total = _number(aggs, "avg") * n
    else:
        raise ValueError("aggregates: sum or avg is needed to combine earlier windows")
    acc[SUM], acc[MEAN] = total, total / n
    if "min" in wanted:
        acc[MIN] = _number(aggs, "min")
    if "max" in wanted:
        acc[MAX] = _number(aggs, "max")
    if "stddev" in wanted:
        if aggs.get("m2") is not None:
            acc[M2] = float(_number(aggs, "m2"))
        elif aggs.get("stddev") is not None:
            acc[M2] = float(_number(aggs, "stddev")) ** 2 * n
        else:
            raise ValueError("aggregates: m2 or stddev is needed to combine a stddev")
    return acc


def finish(acc: Acc, wanted: tuple[str, ...]) -> dict[str, Any]:
    """The `aggregates` object of a closed window: `count` first, then as asked."""
    n = acc[N]
    out: dict[str, Any] = {"count": acc[COUNT]}
    for name in wanted:
        if name == "sum":
            out["sum"] = acc[SUM] if n else None
        elif name == "avg":
            out["avg"] = acc[SUM] / n if n else None
        elif name == "min":
            out["min"] = acc[MIN] if n else None
        elif name == "max":
            out["max"] = acc[MAX] if n else None
        elif name == "first":
            out["first"] = acc[FIRST]
        elif name == "last":
            out["last"] = acc[LAST]
        elif name == "stddev":
            out["stddev"] = math.sqrt(max(acc[M2], 0.0) / n) if n else None
            out["m2"] = acc[M2] if n else None
    skipped = acc[COUNT] - n
    if skipped and NUMERIC.intersection(wanted):
        out["skipped"] = skipped
    return out


def quality_of(acc: Acc) -> str:
    """The worst quality folded into the window."""
    return QUALITIES[acc[QUALITY]]
