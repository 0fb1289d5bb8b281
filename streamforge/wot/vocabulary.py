"""Protocol vocabulary terms of forms (`mqv:topic`, `modv:address`, `htv:methodName` ...),
normalised through the TD's `@context`.

Real Thing Descriptions bind the same vocabulary to different prefixes (`mqv:` and `mqtt:`,
`modv:` and `modbus:`, `htv:` and `http:`, `uav:` and `opcua:`) and spell some terms
differently (`unitID` and `unitId`, `function` and `functionCode`). A prefix bound in
`@context` to a known vocabulary IRI names that vocabulary whatever it is called; an unbound
prefix, or one bound to an IRI StreamForge does not know, is recognised by its name.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["VOCABULARIES", "Terms", "prefix_map", "split_terms"]

#: vocabulary -> the IRIs it is published under (with and without the trailing separator)
VOCABULARY_IRIS: dict[str, tuple[str, ...]] = {
    "mqtt": ("https://www.w3.org/2019/wot/mqtt#", "http://www.example.org/mqtt-binding#"),
    "modbus": ("https://www.w3.org/2019/wot/modbus#", "https://www.w3.org/2019/wot/modbus"),
    "http": ("http://www.w3.org/2011/http#", "https://www.w3.org/2011/http#"),
    "opcua": ("http://opcfoundation.org/UA/WoT-Binding/", "http://opcfoundation.org/UA/"),
}

#: prefixes recognised by name when `@context` does not bind them to a known IRI
PREFIX_ALIASES: dict[str, str] = {
    "mqv": "mqtt",
    "mqtt": "mqtt",
    "modv": "modbus",
    "modbus": "modbus",
    "htv": "http",
    "http": "http",
    "uav": "opcua",
    "opcua": "opcua",
}

#: vocabulary -> lower-cased spelling (without a leading `has`) -> canonical term name
TERM_ALIASES: dict[str, dict[str, str]] = {
    "mqtt": {
        "topic": "topic",
        "topicname": "topic",
        "filter": "filter",
        "topicfilters": "filter",
        "qos": "qos",
        "qosflag": "qos",
        "retain": "retain",
        "retainflag": "retain",
        "controlpacket": "controlPacket",
    },
    "modbus": {
        "unitid": "unitID",
        "address": "address",
        "offset": "address",
        "quantity": "quantity",
        "length": "quantity",
        "range": "range",
        "entity": "entity",
        "function": "function",
        "functioncode": "function",
        "functionname": "function",
        "type": "type",
        "payloaddatatype": "type",
        "mostsignificantbyte": "mostSignificantByte",
        "mostsignificantword": "mostSignificantWord",
        "pollingtime": "pollingTime",
        "pollingrate": "pollingTime",
        "timeout": "timeout",
        "zerobasedaddressing": "zeroBasedAddressing",
        "zerobasedaddressingflag": "zeroBasedAddressing",
    },
    "http": {
        "methodname": "methodName",
        "method": "methodName",
        "headers": "headers",
        "fieldname": "fieldName",
        "fieldvalue": "fieldValue",
        "statuscodevalue": "statusCodeValue",
    },
    "opcua": {
        "nodeid": "nodeId",
        "browsepath": "browsePath",
        "method": "method",
        "securitymode": "securityMode",
        "securitypolicy": "securityPolicy",
        "useridentitytoken": "userIdentityToken",
    },
}

VOCABULARIES = tuple(VOCABULARY_IRIS)

#: vocabulary -> canonical term -> value
Terms = dict[str, dict[str, Any]]


def _known_iri(iri: str) -> str | None:
    for vocabulary, iris in VOCABULARY_IRIS.items():
        if iri in iris or iri.rstrip("#/") in (i.rstrip("#/") for i in iris):
            return vocabulary
    return None


def prefix_map(context: Any) -> dict[str, str]:
    """Prefix -> vocabulary, from the prefix bindings of a TD's `@context` and the aliases."""
    found = dict(PREFIX_ALIASES)
    entries = context if isinstance(context, list) else [context]
    for entry in entries:
        if not isinstance(entry, Mapping):
            continue
        for prefix, iri in entry.items():
            if isinstance(iri, Mapping):
                iri = iri.get("@id")
            if not isinstance(iri, str) or not isinstance(prefix, str) or prefix.startswith("@"):
                continue
            vocabulary = _known_iri(iri)
            if vocabulary is not None:
                found[prefix] = vocabulary
    return found


def _canonical(vocabulary: str, local: str) -> str:
    aliases = TERM_ALIASES.get(vocabulary, {})
    key = local.lower()
    if key in aliases:
        return aliases[key]
    if key.startswith("has") and key[3:] in aliases:
        return aliases[key[3:]]
    return local


def split_terms(obj: Mapping[str, Any], prefixes: Mapping[str, str]) -> Terms:
    """The protocol vocabulary terms of a form (or an affordance), by vocabulary.

    `{"modbus:unitId": 3, "href": ...}` with `modbus` known gives `{"modbus": {"unitID": 3}}`;
    terms of vocabularies StreamForge does not know are left out.
    """
    out: Terms = {}
    for key, value in obj.items():
        if not isinstance(key, str) or ":" not in key:
            continue
        prefix, _, local = key.partition(":")
        vocabulary = prefixes.get(prefix)
        if vocabulary is None or not local or local.startswith("//"):
            continue
        out.setdefault(vocabulary, {})[_canonical(vocabulary, local)] = value
    return out
