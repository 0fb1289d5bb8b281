"""HTTP forms (`http://`, `https://`) -> a `td_http_poll` input for one affordance.

`readproperty` forms are polled with the form's method and headers; `observeproperty` and
event forms are read as server-sent events (`subprotocol: sse`) or by long polling
(`subprotocol: longpoll`, the default for them).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from streamforge.wot.plan import BindingSettings, InputPlan, Reading
from streamforge.wot.problems import TdProblem

__all__ = ["plan_http"]


def _headers(reading: Reading) -> dict[str, str]:
    out: dict[str, str] = {}
    written = reading.form.term("http", "headers")
    for header in written if isinstance(written, list) else []:
        if not isinstance(header, dict):
            continue
        name = value = None
        for key, v in header.items():
            local = str(key).rsplit(":", 1)[-1].lower()
            if local == "fieldname":
                name = v
            elif local == "fieldvalue":
                value = v
        if isinstance(name, str) and value is not None:
            out[name] = str(value)
    return out


def _mode(reading: Reading) -> str:
    if not reading.observed:
        return "poll"
    return "sse" if (reading.form.subprotocol or "").lower() == "sse" else "longpoll"


def plan_http(readings: list[Reading], settings: BindingSettings) -> InputPlan:
    """One HTTP request (polled, long polled or an event stream) for the first affordance."""
    plan = InputPlan(input={})
    reading, others = readings[0], readings[1:]
    if others:
        names = ", ".join(r.affordance.name for r in others)
        plan.warnings.append(
            f"an HTTP stream reads one affordance ({reading.affordance.name}); {names} are left "
            "out (generate each with --property/--event)"
        )
    subprotocol = (reading.form.subprotocol or "").lower()
    if reading.observed and subprotocol not in ("", "sse", "longpoll"):
        plan.problems.append(
            TdProblem(reading.form.path, f"subprotocol {subprotocol} is not supported "
                      "(sse and longpoll are)")
        )  # fmt: skip
    method = reading.form.term("http", "methodName") or "GET"
    headers = _headers(reading)
    url = reading.form.href
    auth = settings.auth
    if auth.token:
        headers["Authorization"] = f"Bearer {auth.token}"
    if auth.apikey:
        if auth.apikey_in == "query":
            parts = urlsplit(url)
            extra = urlencode({auth.apikey_name: auth.apikey})
            url = urlunsplit(
                parts._replace(query=f"{parts.query}&{extra}" if parts.query else extra)
            )
        else:
            headers[auth.apikey_name] = auth.apikey
    use: dict[str, Any] = {
        "url": url,
        "affordance": reading.affordance.name,
        "method": str(method).upper(),
        "headers": headers,
        "mode": _mode(reading),
    }
    if use["mode"] == "poll":
        use["interval"] = settings.interval or "5s"
    if use["mode"] == "longpoll":
        use["timeout"] = "60s"
    if auth.username:
        use["username"], use["password"] = auth.username, auth.password
    plan.input = {"td_http_poll": use}
    plan.readings.append(reading)
    return plan
