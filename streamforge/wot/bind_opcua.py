"""OPC UA forms (`opc.tcp://host:port/path?id=<node id>`) -> a `td_opcua` input."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlsplit

from streamforge.wot.plan import BindingSettings, InputPlan, Reading
from streamforge.wot.problems import TdProblem

__all__ = ["node_id_of", "plan_opcua"]


def node_id_of(reading: Reading) -> Any:
    """The node id: the href's `?id=`, else the form's (or the affordance's) `opcua:nodeId`."""
    query = dict(parse_qsl(urlsplit(reading.form.href).query, keep_blank_values=True))
    if query.get("id"):
        return query["id"]
    value = reading.form.term("opcua", "nodeId")
    if value is None:
        value = reading.affordance.terms.get("opcua", {}).get("nodeId")
    return value


def _endpoint(href: str) -> str:
    parts = urlsplit(href)
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"


def plan_opcua(readings: list[Reading], settings: BindingSettings) -> InputPlan:
    """Read every property's node on one server: subscribed when observed, else polled."""
    plan = InputPlan(input={})
    servers: dict[str, list[Reading]] = {}
    for r in readings:
        servers.setdefault(_endpoint(r.form.href), []).append(r)
    endpoint, chosen = next(iter(servers.items()))
    for other, skipped in list(servers.items())[1:]:
        names = ", ".join(r.affordance.name for r in skipped)
        plan.warnings.append(f"a stream reads one OPC UA server: {names} on {other} are left out")
    node_ids: list[str] = []
    for r in chosen:
        node = node_id_of(r)
        if not isinstance(node, str) or not node:
            why = "a browse path is not supported" if isinstance(node, dict) else "none is given"
            plan.problems.append(
                TdProblem(r.form.path, f"no OPC UA node id ({why}): add ?id=<node id> to the "
                          "href or opcua:nodeId to the form")
            )  # fmt: skip
            continue
        if node not in node_ids:
            node_ids.append(node)
        plan.routes.append((node, r.affordance.name, False))
        plan.readings.append(r)
    observed = [r for r in plan.readings if r.observed]
    subscribe = bool(observed)
    if subscribe and len(observed) < len(plan.readings):
        polled = ", ".join(r.affordance.name for r in plan.readings if not r.observed)
        plan.warnings.append(f"one OPC UA input subscribes to every node, also {polled}")
    use: dict[str, Any] = {
        "endpoint": endpoint,
        "node_ids": node_ids,
        "subscribe": subscribe,
        "interval": settings.interval or "1s",
    }
    auth = settings.auth
    if auth.username:
        use["username"], use["password"] = auth.username, auth.password
    if auth.opcua_mode != "None":
        use["security_mode"], use["security_policy"] = auth.opcua_mode, auth.opcua_policy
    if auth.certificate_dir:
        use["certificate_dir"] = auth.certificate_dir
    if auth.server_certificate_fingerprint:
        use["server_certificate_fingerprint"] = auth.server_certificate_fingerprint
    plan.input = {"td_opcua": use}
    plan.key = "@opcua_attr_nodeid"
    return plan
