"""Which licence features a component needs: its binding, the processor itself, storage, and
the security methods its config turns on.

Everything lives in the tables below. Core components (generate, file, stdin, stdout, drop,
broker, switch, fallback, reject_errored, caches, and any plugin input or output that declares
nothing) need no feature. A plugin declares its own with `register_feature`:

    from streamforge.license.catalog import register_feature

    register_feature("input", "profinet", "bindings", "profinet")

after which `streamforge lint` and `run` refuse a stream using the `profinet` input unless the
licence grants `bindings/profinet`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from streamforge.license.claims import CATEGORIES

__all__ = [
    "register_section_user",
    "section_used",
    "BINDINGS",
    "PROCESSOR_FEATURES",
    "SECURITY_RULES",
    "feature_of",
    "register_feature",
    "registered_features",
    "security_methods",
]

Feature = tuple[str, str]

#: inputs and outputs that talk a licensed protocol -> the binding they need (the
#: `http_server` and `http_client` inputs and outputs share their names, so one entry maps both)
BINDINGS: dict[str, str] = {
    "mqtt": "mqtt",
    "http_server": "http",
    "http_client": "http",
    "kafka": "kafka",
    "modbus": "modbus",
    "opcua": "opcua",
}

#: processors gated by another feature than ("processors", name)
PROCESSOR_FEATURES: dict[str, Feature] = {
    "parquet_encode": ("storage", "parquet"),
    "parquet_decode": ("storage", "parquet"),
    # an HTTP client, as the http_client input and output are
    "http": ("bindings", "http"),
}

_SCRAM = ("SCRAM-SHA-256", "SCRAM-SHA-512")


def _blocks(conf: Any, key: str) -> Iterator[Mapping[str, Any]]:
    """Every object under `key` anywhere in a component's own config (nested components,
    which are checked on their own, are not entered)."""
    if isinstance(conf, Mapping):
        for name, value in conf.items():
            if name == key and isinstance(value, Mapping):
                yield value
            else:
                yield from _blocks(value, key)
    elif isinstance(conf, list):
        for value in conf:
            yield from _blocks(value, key)


def _enabled(conf: Any, key: str) -> list[Mapping[str, Any]]:
    return [block for block in _blocks(conf, key) if block.get("enabled") is True]


def _text(conf: Any, key: str) -> str:
    value = conf.get(key) if isinstance(conf, Mapping) else None
    return value.strip() if isinstance(value, str) else ""


def _has_client_cert(tls: Mapping[str, Any]) -> bool:
    certs = tls.get("client_certs")
    if not isinstance(certs, list):
        return False
    return any(
        isinstance(c, Mapping) and any(_text(c, k) for k in ("cert", "cert_file")) for c in certs
    )


def _basic_auth(conf: Any) -> bool:
    """HTTP basic auth enabled, or a user name to log in with (MQTT `user`, OPC UA
    `username`, a `credentials.username`)."""
    if _enabled(conf, "basic_auth") or _text(conf, "user") or _text(conf, "username"):
        return True
    # sparkplug_b's `mqtt.credentials.username`
    return any(_text(block, "username") for block in _blocks(conf, "credentials"))


def _tls(conf: Any) -> bool:
    return any(not _has_client_cert(tls) for tls in _enabled(conf, "tls"))


def _mtls(conf: Any) -> bool:
    return any(_has_client_cert(tls) for tls in _enabled(conf, "tls"))


def _sasl_mechanisms(conf: Any) -> set[str]:
    """Mechanisms of `sasl` objects, and of `sasl` lists (Redpanda Connect's form), upper
    case (Kafka's are written `PLAIN`, AMQP 1.0's `plain`)."""
    found = {str(block.get("mechanism") or "") for block in _blocks(conf, "sasl")}
    for listed in _lists(conf, "sasl"):
        found.update(str(b.get("mechanism") or "") for b in listed if isinstance(b, Mapping))
    return {mechanism.upper() for mechanism in found}


def _lists(conf: Any, key: str) -> Iterator[list[Any]]:
    """Every list under `key` anywhere in a component's own config."""
    if isinstance(conf, Mapping):
        for name, value in conf.items():
            if name == key and isinstance(value, list):
                yield value
            else:
                yield from _lists(value, key)
    elif isinstance(conf, list):
        for value in conf:
            yield from _lists(value, key)


def _sasl_plain(conf: Any) -> bool:
    return "PLAIN" in _sasl_mechanisms(conf)


def _sasl_scram(conf: Any) -> bool:
    return bool(_sasl_mechanisms(conf) & set(_SCRAM))


def _opcua_certificate(conf: Any) -> bool:
    return _text(conf, "securityMode") in ("Sign", "SignAndEncrypt")


def _bearer_token(conf: Any) -> bool:
    """A JWT or OAuth 2 block enabled, or a `bearer_token` set."""
    return bool(_enabled(conf, "jwt") or _enabled(conf, "oauth2") or _text(conf, "bearer_token"))


#: security method -> whether a component config uses it (checked for every component)
SECURITY_RULES: dict[str, Callable[[Any], bool]] = {
    "basic_auth": _basic_auth,
    "tls": _tls,
    "mtls": _mtls,
    "sasl_plain": _sasl_plain,
    "sasl_scram": _sasl_scram,
    "opcua_certificate": _opcua_certificate,
    "bearer_token": _bearer_token,
}

_lock = threading.Lock()
_registered: dict[tuple[str, str], list[Feature]] = {}


def register_feature(kind: str, name: str, category: str, feature: str) -> None:
    """Declare that component `name` of `kind` ("input", "processor", "output", "cache") needs
    licence feature `category`/`feature` (category: bindings, processors, security, storage).

    Plugins call it when they register the component; calling it again with another feature
    adds that one too. For a processor the declared features replace ("processors", name).
    """
    if category not in CATEGORIES:
        raise ValueError(f"unknown feature category {category!r} (known: {', '.join(CATEGORIES)})")
    if not feature:
        raise ValueError("the feature name must not be empty")
    with _lock:
        features = _registered.setdefault((kind, name), [])
        if (category, feature) not in features:
            features.append((category, feature))


_section_users: dict[tuple[str, str], tuple[str, Callable[[Any], bool] | None]] = {}


def register_section_user(
    kind: str, name: str, section: str, when: Callable[[Any], bool] | None = None
) -> None:
    """Declare that component `name` of `kind` connects with the settings of the top-level
    `section` (`redpanda_common` with `redpanda:`), always or `when` its config says so: the
    section's security methods (TLS, SASL ...) then count as the component's own."""
    with _lock:
        _section_users[(kind, name)] = (section, when)


def section_used(kind: str, name: str, conf: Any = None) -> str | None:
    """The top-level section a component with config `conf` connects with, if any."""
    with _lock:
        entry = _section_users.get((kind, name))
    if entry is None:
        return None
    section, when = entry
    return section if when is None or when(conf or {}) else None


def registered_features() -> dict[tuple[str, str], list[Feature]]:
    """What plugins declared with register_feature, by (kind, name)."""
    with _lock:
        return {key: list(value) for key, value in _registered.items()}


def security_methods(conf: Any) -> list[str]:
    """The security methods a component config turns on, in SECURITY_RULES order."""
    return [method for method, uses in SECURITY_RULES.items() if uses(conf)]


def feature_of(kind: str, name: str, conf: Any) -> list[Feature]:
    """The (category, feature) pairs component `name` of `kind` needs with config `conf`;
    empty for core components. `conf` is the component's own config (defaults filled in)."""
    if name == "resource":
        return []
    with _lock:
        declared = list(_registered.get((kind, name), ()))
    features: list[Feature] = []
    if kind in ("input", "output"):
        binding = BINDINGS.get(name)
        if binding is not None:
            features.append(("bindings", binding))
        features += declared
    elif kind == "processor":
        features += declared or [PROCESSOR_FEATURES.get(name, ("processors", name))]
    else:
        features += declared
    features += [("security", method) for method in security_methods(conf)]
    return list(dict.fromkeys(features))
