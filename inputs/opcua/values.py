"""OPC UA values to StreamForge messages: a DataValue becomes a JSON payload plus metadata.

Scalars map to JSON (numbers, bools, strings); DateTime becomes an RFC 3339 string, ByteString
base64 text, NodeId/QualifiedName/Guid their string forms, LocalizedText its text, structures
objects, and arrays JSON arrays (nested for multi-dimensional values).
"""

from __future__ import annotations

import base64
import dataclasses
import enum
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from asyncua import ua

from streamforge.connectors.opcua import datatype_name, status_name, status_text
from streamforge.message import Message
from streamforge.timefmt.gotime import format_rfc3339_nano

__all__ = ["NodeInfo", "datatype_name", "json_value", "status_name", "tag_type"]

_NUMBER_TYPES = frozenset(
    {
        "SByte", "Byte", "Int16", "UInt16", "Int32", "UInt32", "Int64", "UInt64", "Float",
        "Double", "Number", "Integer", "UInteger", "Decimal", "Duration", "UtcTime",
    }
)  # fmt: skip
_STRING_TYPES = frozenset(
    {"String", "LocalizedText", "DateTime", "Guid", "ByteString", "NodeId", "QualifiedName",
     "XmlElement", "LocaleId", "NumericRange", "StatusCode"}
)  # fmt: skip
#: declared types too general to name the value; the value's own Variant type is reported
_ABSTRACT_TYPES = frozenset({"BaseDataType", "Number", "Integer", "UInteger", ""})


def _utc(dt: datetime) -> datetime:
    return dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None else dt.astimezone(timezone.utc)


def timestamp(dt: datetime | None) -> str | None:
    """An OPC UA timestamp as RFC 3339 UTC with nanoseconds; None when the server gave none."""
    if dt is None or dt.year < 1601 or dt.year == 1601 and dt.month == 1 and dt.day == 1:
        return None
    return format_rfc3339_nano(_utc(dt))


def json_value(value: Any) -> Any:
    """A Variant's Python value as a JSON-friendly value (see the module docstring)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        if isinstance(value, enum.Enum):
            return value.value
        return value
    if isinstance(value, list):
        return [json_value(v) for v in value]
    if isinstance(value, datetime):
        return timestamp(value)
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, ua.LocalizedText):
        return value.Text
    if isinstance(value, (ua.NodeId, ua.QualifiedName)):
        return value.to_string()
    if isinstance(value, ua.StatusCode):
        return status_name(value)
    if isinstance(value, ua.Variant):
        return json_value(value.Value)
    if isinstance(value, enum.Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: json_value(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): json_value(v) for k, v in value.items()}
    return str(value)


def tag_type(value: Any, declared: str) -> str:
    """`number`, `string`, `bool` or `other`: from the value, or the declared type when null."""
    t = type(value)
    if t is bool:
        return "bool"
    if t is int or t is float:
        return "number"
    if t is str:
        return "string"
    if value is not None:
        return "other"
    if declared == "Boolean":
        return "bool"
    if declared in _NUMBER_TYPES:
        return "number"
    if declared in _STRING_TYPES:
        return "string"
    return "other"


@dataclass
class NodeInfo:
    """A variable the input reads, with the metadata every message of it carries."""

    nodeid: ua.NodeId
    name: str
    path: str
    datatype: str = ""
    #: set when the node could not be resolved (unknown id, not a variable ...)
    error: str = ""
    error_status: int = 0
    base: dict[str, Any] = dataclasses.field(default_factory=dict)

    def prepare(self, endpoint: str) -> None:
        """Build the metadata shared by all messages of this node (once per resolve)."""
        self.base = {
            "opcua_tag_name": self.name,
            "opcua_tag_path": self.path,
            "opcua_attr_nodeid": self.nodeid.to_string(),
            "opcua_attr_datatype": self.datatype,
            "opcua_endpoint": endpoint,
        }

    def message(self, dv: ua.DataValue) -> Message:
        """One message for a value of this node (a subscription change or a poll)."""
        meta = dict(self.base)
        status = dv.StatusCode
        code = status.value if status is not None else 0
        variant = dv.Value
        raw = variant.Value if variant is not None else None
        value = json_value(raw)
        if self.datatype in _ABSTRACT_TYPES and variant is not None and raw is not None:
            meta["opcua_attr_datatype"] = variant.VariantType.name
        meta["opcua_tag_type"] = tag_type(value, meta["opcua_attr_datatype"])
        meta["opcua_attr_statuscode"] = status_name(code)
        source = timestamp(dv.SourceTimestamp)
        if source is not None:
            meta["opcua_source_timestamp"] = source
        server = timestamp(dv.ServerTimestamp)
        if server is not None:
            meta["opcua_server_timestamp"] = server
        if code & 0x80000000:
            meta["opcua_error"] = f"node {meta['opcua_attr_nodeid']}: {status_text(code)}"
        return Message.from_value(value, meta)

    def failure(self, code: int, error: str) -> Message:
        """A BAD message for a node that cannot be read: payload null, the status and the cause."""
        meta = dict(self.base)
        meta["opcua_tag_type"] = tag_type(None, self.datatype)
        meta["opcua_attr_statuscode"] = status_name(code)
        meta["opcua_error"] = error
        return Message.from_value(None, meta)
