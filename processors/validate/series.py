"""One series' checks in the `validate` processor: range, rate of change, duplicates, device time,
and the gap timer, with the small picklable state they keep between readings."""

from __future__ import annotations

import math
from typing import Any

from streamforge.durations import describe_seconds
from streamforge.processors.telemetry.quality import Quality
from streamforge.processors.validate.rules import SeriesPlan
from streamforge.timefmt.timestamps import format_nanos, time_nanos

__all__ = ["Found", "check_reading", "gap_event", "gap_due", "new_state"]

#: what the checks found: (quality, reason) pairs
Found = list[tuple[Quality, str]]

#: the reason the telemetry processor gives when it stood in the gateway time
_GATEWAY_TIME_USED = "no device time"


def new_state(asset_id: str, parameter: str, now: float) -> dict[str, Any]:
    """A series' state: last in-order reading, recent device times, last arrival (system time)."""
    return {
        "asset_id": asset_id,
        "parameter": parameter,
        "last": None,  # (device time ns, value) of the last reading a rate is measured from
        "seen": set(),  # device times (ns); those within the duplicate window of the newest count
        "newest": 0,  # the newest device time seen (ns)
        "prune_at": _PRUNE_MIN,  # prune `seen` when it grows past this size
        "arrival": now,  # unix seconds when the last reading arrived
        "last_time": "",  # its device time as written, for the gap event
        "gap_sent": False,
    }


#: `seen` is pruned when it doubles past what the last pruning kept (and at least this size)
_PRUNE_MIN = 16


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else repr(float(x))


#: recently parsed device times: readings of one poll share theirs, so most lookups hit
_PARSED: dict[str, int | None] = {}
_PARSED_SIZE = 4096


def _time_ns(raw: Any) -> int | None:
    if type(raw) is str:
        known = _PARSED.get(raw, -1)
        if known != -1:
            return known
        ns = _parse_ns(raw)
        if len(_PARSED) >= _PARSED_SIZE:
            _PARSED.clear()
        _PARSED[raw] = ns
        return ns
    return _parse_ns(raw)


def _parse_ns(raw: Any) -> int | None:
    if raw is None or raw == "" or isinstance(raw, bool):
        return None
    try:
        return time_nanos(raw)
    except ValueError:
        return None


def _device_time_missing(envelope: dict[str, Any], raw: Any) -> bool:
    if raw is None or raw == "":
        return True
    meta = envelope.get("metadata")
    reasons = meta.get("quality_reasons") if isinstance(meta, dict) else None
    return isinstance(reasons, list) and any(
        isinstance(r, str) and r.startswith(_GATEWAY_TIME_USED) for r in reasons
    )


def check_reading(
    plan: SeriesPlan, envelope: dict[str, Any], state: dict[str, Any] | None, now: float
) -> tuple[Found, bool]:
    """What the plan finds about one envelope, updating `state`; (found, drop the reading)."""
    found: Found = []
    stamps = envelope.get("timestamps")
    raw_time = stamps.get("device_time") if type(stamps) is dict else None
    needs_time = plan.require_device_time or state is not None or plan.future_ns is not None
    device_ns = _time_ns(raw_time) if needs_time else None
    if (
        plan.future_ns is not None
        and device_ns is not None
        and device_ns > now * 1e9 + plan.future_ns
    ):
        ahead = describe_seconds((device_ns - now * 1e9) / 1e9)
        found.append(
            (
                plan.future_quality,
                f"future: device_time {raw_time} is {ahead} ahead of the gateway clock "
                f"(max_ahead {plan.future_text})",
            )
        )
        tracked = None  # neither a duplicate candidate nor the base of the next rate
    else:
        tracked = state

    if plan.require_device_time:
        if _device_time_missing(envelope, raw_time):
            found.append(("UNCERTAIN", "require_device_time: no device time"))
        elif device_ns is None:
            found.append(("UNCERTAIN", f"require_device_time: device_time {raw_time!r} is no time"))

    window = plan.duplicate_ns
    if (
        tracked is not None
        and window is not None
        and device_ns is not None
        and _seen_before(tracked, device_ns, window)
    ):
        if plan.duplicate_drop:
            return found, True
        found.append(("SUSPECT", f"duplicate: device_time {raw_time} already seen"))

    raw_value: Any = envelope.get("value")
    t = type(raw_value)
    value = float(raw_value) if (t is float or t is int) and math.isfinite(raw_value) else None
    if value is None:
        if plan.ranges or plan.rates:
            rule = "range" if plan.ranges else "rate_of_change"
            found.append(("BAD", f"{rule}: value {raw_value!r} is not a finite number"))
    else:
        for low, high, quality in plan.ranges:
            if low is not None and value < low:
                found.append((quality, f"range: {_fmt(value)} is below min {_fmt(low)}"))
            elif high is not None and value > high:
                found.append((quality, f"range: {_fmt(value)} is above max {_fmt(high)}"))

    if tracked is not None and plan.rates and value is not None:
        _rate(plan, tracked, found, value, device_ns, stamps)
    if state is not None and plan.gap_interval is not None:
        state["arrival"] = now
        state["gap_sent"] = False
        state["last_time"] = raw_time if type(raw_time) is str else ""
    return found, False


def _seen_before(state: dict[str, Any], device_ns: int, window: int) -> bool:
    """Whether a device time was seen within `window` of the newest; remembers it if not."""
    seen = state["seen"]
    if type(seen) is not set:  # a state written before `seen` became a set
        seen = state["seen"] = set(seen)
        state.setdefault("newest", max(seen, default=0))
        state.setdefault("prune_at", _PRUNE_MIN)
    newest = state["newest"]
    if device_ns in seen and device_ns >= newest - window:
        return True
    seen.add(device_ns)
    if device_ns > newest:
        state["newest"] = newest = device_ns
    if len(seen) > state["prune_at"]:
        cutoff = newest - window
        kept = {s for s in seen if s >= cutoff}
        state["seen"] = kept
        state["prune_at"] = max(2 * len(kept), _PRUNE_MIN)
    return False


def _rate(
    plan: SeriesPlan,
    state: dict[str, Any],
    found: Found,
    value: float,
    device_ns: int | None,
    stamps: Any,
) -> None:
    """The change per second since the last in-order reading; the reading becomes the last one
    unless it is out of order or BAD."""
    t = device_ns
    if t is None and isinstance(stamps, dict):
        t = _time_ns(stamps.get("gateway_time"))
    if t is None:
        return
    last = state["last"]
    if last is not None:
        seconds = (t - last[0]) / 1e9
        if seconds < 0:
            found.append(
                ("SUSPECT", "rate_of_change: device_time is earlier than the previous reading's")
            )
            return
        if seconds == 0:
            return
        rate = abs(value - last[1]) / seconds
        for limit, quality in plan.rates:
            if rate > limit:
                found.append(
                    (
                        quality,
                        f"rate_of_change: {rate:.6g}/s exceeds max_per_second {_fmt(limit)}",
                    )
                )
    if not found or all(q != "BAD" for q, _ in found):
        state["last"] = (t, value)


def gap_due(plan: SeriesPlan, state: dict[str, Any]) -> float | None:
    """Unix seconds when the series' gap event is due; None when none is pending."""
    if plan.gap_interval is None or state.get("gap_sent"):
        return None
    return float(state["arrival"]) + plan.gap_interval


def gap_event(
    plan: SeriesPlan, state: dict[str, Any], now: float, adapter_id: str
) -> dict[str, Any]:
    """The EVENT envelope saying the series has had no reading for a while."""
    stamp = format_nanos(int(now * 1e9))
    parameter = str(state["parameter"])
    return {
        "asset_id": state["asset_id"],
        "parameter": f"{parameter}.gap",
        "value": round(now - float(state["arrival"]), 3),
        "unit": "s",
        "quality": "GOOD",
        "classification": "EVENT",
        "timestamps": {"device_time": stamp, "gateway_time": stamp},
        "clock_skew_ms": 0,
        "metadata": {
            "adapter_id": adapter_id,
            "gap": {
                "parameter": parameter,
                "expected_interval": plan.gap_text,
                "last_reading": state.get("last_time") or None,
            },
        },
    }
