"""Where the licence, its public key and the policies come from: a config `license:` section,
then the environment."""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streamforge.durations import DurationError, parse_duration
from streamforge.license.token import DEFAULT_ISSUER
from streamforge.plugin import Field

__all__ = [
    "DEFAULT_LEEWAY",
    "ENV_LICENSE",
    "ENV_LICENSE_FILE",
    "ENV_OPA_URL",
    "ENV_POLICY_DIR",
    "ENV_PUBLIC_KEY_FILE",
    "LICENSE_FIELDS",
    "LicenseSettings",
    "LicenseSettingsError",
]

#: the licence token itself
ENV_LICENSE = "STREAMFORGE_LICENSE"
ENV_LICENSE_FILE = "STREAMFORGE_LICENSE_FILE"
ENV_PUBLIC_KEY_FILE = "STREAMFORGE_LICENSE_PUBLIC_KEY_FILE"
ENV_POLICY_DIR = "STREAMFORGE_POLICY_DIR"
ENV_OPA_URL = "STREAMFORGE_OPA_URL"

#: seconds of clock skew tolerated at a licence's expiry and start
DEFAULT_LEEWAY = 60.0

#: The `license:` section of a config, described with the same Field types as components.
LICENSE_FIELDS: list[Field] = [
    Field("file", "string", default="",
          description=f"The licence (a signed JWT) file; relative to the config. Without it, "
                      f"{ENV_LICENSE} (the token) or {ENV_LICENSE_FILE} is used.",
          examples=("/etc/streamforge/licence.jwt",)),
    Field("public_key_file", "string", default="",
          description=f"The vendor's PEM public key (RSA, EC P-256 or Ed25519) that signed the "
                      f"licence; relative to the config. Default: {ENV_PUBLIC_KEY_FILE}.",
          examples=("/etc/streamforge/licensing.pub.pem",)),
    Field("issuer", "string", default=DEFAULT_ISSUER,
          description="The `iss` a licence must carry.", advanced=True),
    Field("policy_dir", "string", default="",
          description=f"A directory of your own Rego policies, added to the built-in ones; "
                      f"relative to the config. Default: {ENV_POLICY_DIR}."),
    Field("opa_url", "string", default="",
          description=f"Evaluate the policies on a running OPA server at this URL instead of "
                      f"in-process. Default: {ENV_OPA_URL}.",
          examples=("http://localhost:8181",), advanced=True),
    Field("leeway", "duration", default="60s",
          description="Clock skew tolerated at the licence's expiry and start.", advanced=True),
]  # fmt: skip

_KNOWN = tuple(f.name for f in LICENSE_FIELDS)
_PATH_KEYS = ("file", "public_key_file", "policy_dir")


class LicenseSettingsError(ValueError):
    """A `license:` section (or environment variable) that cannot be used; `key` names the
    field at fault ("" for the section itself), or the variable."""

    def __init__(self, key: str, message: str) -> None:
        self.key = key
        where = key if key.startswith("STREAMFORGE_") else f"license.{key}".rstrip(".")
        super().__init__(f"{where}: {message}")


@dataclass(frozen=True)
class LicenseSettings:
    """Where to find the licence and how to check it; paths from a config are absolute."""

    file: str | None = None
    token: str | None = None
    public_key_file: str | None = None
    issuer: str = DEFAULT_ISSUER
    policy_dir: str | None = None
    opa_url: str | None = None
    leeway: float = DEFAULT_LEEWAY
    base_dir: Path | None = None

    @classmethod
    def from_config(
        cls,
        section: Mapping[str, Any] | None,
        env: Mapping[str, str] = os.environ,
        base_dir: Path | None = None,
    ) -> LicenseSettings:
        """Settings from a `license:` section (which wins) and the environment.

        A licence file in the config replaces both STREAMFORGE_LICENSE and
        STREAMFORGE_LICENSE_FILE; relative config paths resolve against `base_dir` (the
        config file's directory), relative environment paths against the working directory.
        Raises LicenceSettingsError (a ValueError) naming the key at fault.
        """
        if section is None:
            section = {}
        if not isinstance(section, Mapping):
            raise LicenseSettingsError("", f"expected an object, got {_type_name(section)}")
        for key in section:
            if key not in _KNOWN:
                match = difflib.get_close_matches(str(key), _KNOWN, n=1, cutoff=0.6)
                hint = (
                    f', did you mean "{match[0]}"?' if match else f" (known: {', '.join(_KNOWN)})"
                )
                raise LicenseSettingsError(str(key), f"unknown field{hint}")
        conf = {key: _string(key, section.get(key)) for key in _KNOWN if key != "leeway"}
        for key in _PATH_KEYS:
            path = conf[key]
            if path is not None:
                conf[key] = _resolve(path, base_dir)

        def env_value(name: str) -> str | None:
            return (env.get(name) or "").strip() or None

        file, token = conf["file"], None
        if file is None:
            token = env_value(ENV_LICENSE)
            file = env_value(ENV_LICENSE_FILE)
            file = _resolve(file, None) if file else None
        public_key_file = conf["public_key_file"] or _expand(env_value(ENV_PUBLIC_KEY_FILE))
        policy_dir = conf["policy_dir"] or _expand(env_value(ENV_POLICY_DIR))
        opa_url = conf["opa_url"] or env_value(ENV_OPA_URL)
        if opa_url is not None and not opa_url.startswith(("http://", "https://")):
            key = "opa_url" if conf["opa_url"] else ENV_OPA_URL
            raise LicenseSettingsError(key, f"expected an http:// or https:// URL, got {opa_url!r}")
        return cls(
            file=file,
            token=token,
            public_key_file=public_key_file,
            issuer=conf["issuer"] or DEFAULT_ISSUER,
            policy_dir=policy_dir,
            opa_url=opa_url.rstrip("/") if opa_url else None,
            leeway=_leeway(section.get("leeway")),
            base_dir=base_dir,
        )


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "bool", int: "int", float: "number", str: "string", list: "array",
            dict: "object"}.get(type(value), type(value).__name__)  # fmt: skip


def _string(key: str, value: Any) -> str | None:
    """A string setting; "" and null mean "not set"."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise LicenseSettingsError(key, f"expected a string, got {_type_name(value)}")
    return value.strip() or None


def _expand(path: str | None) -> str | None:
    return os.path.expanduser(path) if path else None


def _resolve(path: str, base_dir: Path | None) -> str:
    expanded = Path(path).expanduser()
    if base_dir is not None and not expanded.is_absolute():
        expanded = Path(base_dir) / expanded
    return str(expanded)


def _leeway(value: Any) -> float:
    if value is None or value == "":
        return DEFAULT_LEEWAY
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise LicenseSettingsError(
            "leeway", f"expected a duration such as 60s, got {_type_name(value)}"
        )
    try:
        seconds = parse_duration(value)
    except DurationError as exc:
        raise LicenseSettingsError("leeway", str(exc)) from None
    if seconds < 0:
        raise LicenseSettingsError("leeway", f"must not be negative, got {value!r}")
    return seconds
