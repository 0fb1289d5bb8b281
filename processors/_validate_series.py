"""One series' checks in the `validate` processor: range, rate of change, duplicates, device time,
and the gap timer, with the small picklable state they keep between readings."""

from __future__ import annotations

import math
from typing import Any

from streamforge.processors._telemetry_time import canonical_nanos, format_nanos, time_nanos
from streamforge.processors._validate_rules import SeriesPlan
from streamforge.quality import Quality

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
        "seen": [],  # device times (ns) within the duplicate window of the newest
        "arrival": now,  # unix seconds when the last reading arrived
        "last_time": "",  # its device time as written, for the gap event
        "gap_sent": False,
    }


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
    if type(raw) is str:
        ns = canonical_nanos(raw)
        if ns is not None:
            return ns
    try:
        return time_nanos(raw)
    except ValueError:
        return None


def _finite(value: Any) -> float | None:
    t = type(value)
    if (t is int or t is float) and math.isfinite(value):
        return float(value)
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
    raw_time = stamps.get("device_time") if isinstance(stamps, dict) else None
    needs_time = plan.require_device_time or (state is not None and plan.stateful)
    device_ns = _time_ns(raw_time) if needs_time else None

    if plan.require_device_time:
        if _device_time_missing(envelope, raw_time):
            found.append(("UNCERTAIN", "require_device_time: no device time"))
        elif device_ns is None:
            found.append(("UNCERTAIN", f"require_device_time: device_time {raw_time!r} is no time"))

    if state is not None and plan.duplicate_window is not None and device_ns is not None:
        seen: list[int] = state["seen"]
        if device_ns in seen:
            if plan.duplicate_drop:
                return found, True
            found.append(("SUSPECT", f"duplicate: device_time {raw_time} already seen"))
        else:
            seen.append(device_ns)
            cutoff = max(seen) - int(plan.duplicate_window * 1e9)
            if min(seen) < cutoff:
                state["seen"] = [s for s in seen if s >= cutoff]

    raw_value = envelope.get("value")
    value = _finite(raw_value)
    if (plan.ranges or plan.rates) and value is None:
        rule = "range" if plan.ranges else "rate_of_change"
        found.append(("BAD", f"{rule}: value {raw_value!r} is not a finite number"))
    elif value is not None:
        for low, high, quality in plan.ranges:
            if low is not None and value < low:
                found.append((quality, f"range: {_fmt(value)} is below min {_fmt(low)}"))
            elif high is not None and value > high:
                found.append((quality, f"range: {_fmt(value)} is above max {_fmt(high)}"))

    if state is not None:
        if plan.rates and value is not None:
            _rate(plan, state, found, value, device_ns, stamps)
        state["arrival"] = now
        state["gap_sent"] = False
        state["last_time"] = raw_time if isinstance(raw_time, str) else ""
    return found, False


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
    if not any(q == "BAD" for q, _ in found):
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
