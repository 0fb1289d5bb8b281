"""Form resolution: hrefs against `base`, default operations, and which binding a form is for."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

__all__ = [
    "BINDINGS",
    "TD_LEVEL_OPS",
    "binding_of",
    "default_ops",
    "endpoint_of",
    "is_absolute",
    "ops_of",
    "resolve_href",
]

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")

#: href scheme -> binding name
SCHEME_BINDINGS: dict[str, str] = {
    "mqtt": "mqtt",
    "mqtts": "mqtt",
    "modbus+tcp": "modbus",
    "modbus": "modbus",
    "modbus+udp": "modbus",
    "opc.tcp": "opcua",
    "http": "http",
    "https": "http",
    "kafka": "kafka",
}

#: the bindings StreamForge generates streams for
BINDINGS = ("modbus", "mqtt", "opcua", "http", "kafka")

#: affordance operation -> the TD-level (`forms` of the Thing) operations that also serve it
TD_LEVEL_OPS: dict[str, tuple[str, ...]] = {
    "readproperty": ("readallproperties", "readmultipleproperties"),
    "writeproperty": ("writeallproperties", "writemultipleproperties"),
    "observeproperty": ("observeallproperties",),
    "unobserveproperty": ("unobserveallproperties",),
    "subscribeevent": ("subscribeallevents",),
    "unsubscribeevent": ("unsubscribeallevents",),
    "queryaction": ("queryallactions",),
}


def is_absolute(uri: str) -> bool:
    """True for a URI with a scheme (`mqtt://broker/x`, `urn:x`), not a relative reference."""
    return bool(_SCHEME.match(uri))


def binding_of(href: str) -> str | None:
    """The binding a resolved href is for, by its scheme; None for schemes not bound."""
    scheme = href.split(":", 1)[0].lower() if is_absolute(href) else ""
    return SCHEME_BINDINGS.get(scheme)


def default_ops(kind: str, *, read_only: bool = False, write_only: bool = False) -> tuple[str, ...]:
    """The operations of a form without `op`, as TD 1.1 assigns them per affordance kind.

    Properties: read and write (read only when `readOnly`, write only when `writeOnly`);
    actions: invoke; events: subscribe and unsubscribe.
    """
    if kind == "property":
        ops = ["readproperty", "writeproperty"]
        if read_only and not write_only:
            ops.remove("writeproperty")
        elif write_only and not read_only:
            ops.remove("readproperty")
        return tuple(ops)
    if kind == "action":
        return ("invokeaction",)
    return ("subscribeevent", "unsubscribeevent")


def ops_of(value: object) -> tuple[str, ...]:
    """`op` as written (one string or a list) as a tuple; () when absent."""
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list):
        return tuple(v for v in value if isinstance(v, str))
    return ()


# -- RFC 3986 reference resolution (urllib.parse.urljoin skips schemes it does not know) -----


def _remove_dot_segments(path: str) -> str:
    out: list[str] = []
    inp = path
    while inp:
        if inp.startswith("../"):
            inp = inp[3:]
        elif inp.startswith("./"):
            inp = inp[2:]
        elif inp.startswith("/./"):
            inp = "/" + inp[3:]
        elif inp == "/.":
            inp = "/"
        elif inp.startswith("/../"):
            inp = "/" + inp[4:]
            if out:
                out.pop()
        elif inp == "/..":
            inp = "/"
            if out:
                out.pop()
        elif inp in (".", ".."):
            inp = ""
        else:
            start = 1 if inp.startswith("/") else 0
            end = inp.find("/", start)
            end = len(inp) if end < 0 else end
            out.append(inp[:end])
            inp = inp[end:]
    return "".join(out)


def _parts(uri: str) -> tuple[str | None, str | None, str, str | None, str | None]:
    match = re.match(r"^(?:([^:/?#]+):)?(?://([^/?#]*))?([^?#]*)(?:\?([^#]*))?(?:#(.*))?$", uri)
    assert match is not None  # the pattern matches every string
    scheme, authority, path, query, fragment = match.groups()
    return scheme, authority, path, query, fragment


def _join(
    scheme: str | None, authority: str | None, path: str, query: str | None, frag: str | None
) -> str:
    out = f"{scheme}:" if scheme else ""
    if authority is not None:
        out += f"//{authority}"
    out += path
    if query is not None:
        out += f"?{query}"
    if frag is not None:
        out += f"#{frag}"
    return out


def resolve_href(base: str | None, href: str) -> str:
    """`href` resolved against `base` by RFC 3986 §5.2, for any scheme (`modbus+tcp`,
    `opc.tcp`, `mqtt` ...); `href` unchanged when it is absolute or there is no base."""
    if not base or is_absolute(href):
        return href
    b_scheme, b_auth, b_path, b_query, _ = _parts(base)
    _, r_auth, r_path, r_query, r_frag = _parts(href)
    if r_auth is not None:
        return _join(b_scheme, r_auth, _remove_dot_segments(r_path), r_query, r_frag)
    if not r_path:
        return _join(b_scheme, b_auth, b_path, r_query if r_query is not None else b_query, r_frag)
    if r_path.startswith("/"):
        path = _remove_dot_segments(r_path)
    else:
        if b_auth is not None and not b_path:
            merged = "/" + r_path
        else:
            merged = b_path[: b_path.rfind("/") + 1] + r_path
        path = _remove_dot_segments(merged)
    return _join(b_scheme, b_auth, path, r_query, r_frag)


def endpoint_of(href: str) -> str:
    """`scheme://authority` of an absolute href: what a connection is opened to."""
    parts = urlsplit(href)
    return f"{parts.scheme}://{parts.netloc}"
