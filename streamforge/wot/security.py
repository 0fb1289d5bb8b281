"""Security schemes of a TD mapped to the settings of the component that reads the Thing.

Credentials are given by scheme name (the keys of `securityDefinitions`), e.g.
`{"basic_sc": {"username": "reader", "password": "..."}}`; a scheme that needs them and has none
is a problem naming the scheme.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from streamforge.wot.model import Form, SecurityScheme, ThingDescription
from streamforge.wot.problems import TdProblem, json_path

__all__ = ["Auth", "resolve_auth"]

#: credential keys each scheme needs
NEEDS: dict[str, tuple[str, ...]] = {
    "basic": ("username", "password"),
    "bearer": ("token",),
    "apikey": ("key",),
}
#: OPC UA security modes of the pre-1.00 `messageMode` spelling
_MESSAGE_MODES = {"none": "None", "sign": "Sign", "sign_encrypt": "SignAndEncrypt"}
OPCUA_POLICIES = ("None", "Basic256Sha256", "Aes128_Sha256_RsaOaep", "Aes256_Sha256_RsaPss")
#: bindings that can use each kind of credential
SUPPORTED: dict[str, tuple[str, ...]] = {
    "basic": ("mqtt", "opcua", "http", "kafka"),
    "bearer": ("http",),
    "apikey": ("http",),
}


@dataclass
class Auth:
    """What the security of the chosen forms asks of the reading component."""

    username: str = ""
    password: str = ""
    token: str = ""
    apikey_name: str = ""
    apikey_in: str = "header"
    apikey: str = ""
    kafka_mechanism: str = "PLAIN"
    opcua_mode: str = "None"
    opcua_policy: str = "None"
    certificate_dir: str = ""
    server_certificate_fingerprint: str = ""
    warnings: list[str] = field(default_factory=list)
    problems: list[TdProblem] = field(default_factory=list)


def _names(td: ThingDescription, forms: Iterable[Form]) -> list[str]:
    names: list[str] = []
    for form in forms:
        for name in form.security if form.security is not None else td.security:
            if name not in names:
                names.append(name)
    return names


def _expand(td: ThingDescription, name: str, creds: Mapping[str, Any], seen: set[str]) -> list[str]:
    """Scheme names behind `name`: itself, or the members of a combo (allOf: all; oneOf: the
    first whose credentials are given or that needs none)."""
    scheme = td.security_definitions.get(name)
    if scheme is None or name in seen:
        return []
    seen.add(name)
    if scheme.scheme != "combo":
        return [name]
    all_of = scheme.get("allOf")
    if isinstance(all_of, list):
        return [n for member in all_of for n in _expand(td, str(member), creds, seen)]
    one_of = [str(m) for m in scheme.get("oneOf") or []]
    for member in one_of:
        member_scheme = td.security_definitions.get(member)
        if member_scheme is not None and (member in creds or member_scheme.scheme not in NEEDS):
            return _expand(td, member, creds, seen)
    return _expand(td, one_of[0], creds, seen) if one_of else []


def resolve_auth(
    td: ThingDescription,
    forms: Iterable[Form],
    binding: str,
    credentials: Mapping[str, Mapping[str, Any]],
) -> Auth:
    """The settings the security of `forms` (theirs, else the TD's) needs for `binding`."""
    auth = Auth()
    names: list[str] = []
    seen: set[str] = set()
    for name in _names(td, forms):
        names.extend(n for n in _expand(td, name, credentials, seen) if n not in names)
    for name in names:
        _apply(td.security_definitions[name], binding, credentials.get(name) or {}, auth)
    return auth


def _apply(scheme: SecurityScheme, binding: str, given: Mapping[str, Any], auth: Auth) -> None:
    kind, name = scheme.scheme, scheme.name
    where = json_path(["securityDefinitions", name])
    if kind == "nosec":
        return
    if kind == "auto":
        auth.warnings.append(f'security scheme "{name}" is auto: nothing is configured for it')
        return
    if kind in ("uav:channelsec", "uav:channel-security"):
        _opcua_channel(scheme, binding, given, auth)
        return
    if kind == "uav:authentication":
        token = str(scheme.get("uav:userIdentityToken") or "Anonymous")
        if token == "Anonymous":
            return
        if token != "UserName":
            auth.problems.append(
                TdProblem(where, f"OPC UA user identity {token} is not supported (UserName is)")
            )
            return
        kind = "basic"
    if binding == "modbus":
        auth.warnings.append(f'Modbus has no security: scheme "{name}" ({kind}) is ignored')
        return
    if kind not in NEEDS:
        auth.problems.append(
            TdProblem(where, f'security scheme "{kind}" is not supported by StreamForge')
        )
        return
    if binding not in SUPPORTED[kind]:
        auth.problems.append(
            TdProblem(where, f'security scheme "{kind}" cannot be used with the {binding} binding')
        )
        return
    values = {k: given.get(k) for k in NEEDS[kind]}
    if kind == "apikey" and not values["key"]:
        values["key"] = given.get("value")
    missing = [k for k, v in values.items() if v in (None, "")]
    if missing:
        keys = " and ".join(f'"{k}"' for k in NEEDS[kind])
        auth.problems.append(
            TdProblem(
                where,
                f'security scheme "{name}" ({kind}) needs credentials: give {keys} under '
                f'"{name}" in the credentials',
            )
        )
        return
    if kind == "basic":
        auth.username, auth.password = str(values["username"]), str(values["password"])
        if given.get("mechanism"):
            auth.kafka_mechanism = str(given["mechanism"])
    elif kind == "bearer":
        auth.token = str(values["token"])
    else:
        auth.apikey = str(values["key"])
        auth.apikey_name = str(scheme.get("name") or "X-API-Key")
        auth.apikey_in = str(scheme.get("in") or "header")
        if auth.apikey_in not in ("header", "query"):
            auth.problems.append(
                TdProblem(where, f'an API key "in": "{auth.apikey_in}" is not supported '
                          "(header and query are)")
            )  # fmt: skip


def _opcua_channel(
    scheme: SecurityScheme, binding: str, given: Mapping[str, Any], auth: Auth
) -> None:
    where = json_path(["securityDefinitions", scheme.name])
    if binding != "opcua":
        auth.problems.append(
            TdProblem(where, f'OPC UA scheme "{scheme.scheme}" cannot be used with {binding}')
        )
        return
    terms = scheme.terms.get("opcua", {})
    mode = terms.get("securityMode")
    if mode is None and scheme.get("messageMode") is not None:
        mode = _MESSAGE_MODES.get(str(scheme.get("messageMode")).lower())
    policy = terms.get("securityPolicy", scheme.get("policy"))
    policy = str(policy or "None").rsplit("#", 1)[-1]
    if mode not in ("None", "Sign", "SignAndEncrypt"):
        auth.problems.append(TdProblem(where, f"OPC UA security mode {mode!r} is not known"))
        return
    if policy not in OPCUA_POLICIES:
        allowed = ", ".join(OPCUA_POLICIES)
        auth.problems.append(
            TdProblem(where, f"OPC UA security policy {policy} is not supported ({allowed})")
        )
        return
    auth.opcua_mode, auth.opcua_policy = mode, policy
    auth.certificate_dir = str(given.get("certificate_dir") or "")
    auth.server_certificate_fingerprint = str(given.get("server_certificate_fingerprint") or "")
