"""What both simulators' W3C WoT Thing Descriptions (TD 1.1) share: context, security, hosts."""

from __future__ import annotations

import ipaddress
import json
import os
import tempfile
from pathlib import Path
from typing import Any

__all__ = [
    "TD_CONTEXT",
    "advertised_host",
    "nosec",
    "snake_case",
    "url_host",
    "write_td",
]

TD_CONTEXT = "https://www.w3.org/2022/wot/td/v1.1"

_ANY = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}


def advertised_host(host: str) -> str:
    """The address a client on this machine reaches a server bound to `host` at.

    A server bound to every interface (0.0.0.0 or ::) is described by its loopback address;
    any other address is kept as it is.
    """
    return _ANY.get(host, host)


def url_host(host: str) -> str:
    """`host` as it goes into a URL authority: IPv6 literals in brackets."""
    try:
        is_v6 = ipaddress.ip_address(host).version == 6
    except ValueError:
        is_v6 = False
    return f"[{host}]" if is_v6 else host


def nosec() -> dict[str, Any]:
    """The TD terms of a server without security."""
    return {"securityDefinitions": {"nosec_sc": {"scheme": "nosec"}}, "security": ["nosec_sc"]}


def snake_case(words: str) -> str:
    """`Line1.Pump.MotorCurrent` -> `line1_pump_motor_current`."""
    out: list[str] = []
    for part in words.split("."):
        chars: list[str] = []
        for i, char in enumerate(part):
            if char.isupper() and i > 0 and not part[i - 1].isupper():
                chars.append("_")
            chars.append(char.lower())
        out.append("".join(chars))
    return "_".join(out)


def write_td(td: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """Write `td` as JSON to `path`, replacing the file at once (a reader never sees half)."""
    target = Path(path)
    text = json.dumps(td, indent=2, ensure_ascii=False) + "\n"
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    except OSError as exc:
        raise OSError(f"cannot write {target}: {exc.strerror or exc}") from None
    try:
        os.chmod(tmp, 0o644)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
