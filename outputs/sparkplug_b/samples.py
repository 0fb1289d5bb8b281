"""Which metric values a message holds, for the `sparkplug_b` output (benthos-umh's rules).

In order:

1. With `behaviour.auto_extract_tag_name` and a `tag_name` metadata: a metric named like a
   configured one takes its value from the configured `value_from` field; otherwise the metric
   is `<virtual_path>:<tag_name>` (dots of the virtual path become colons) and its value is
   the UMH-Core `value` (`{"value": 23.5, "timestamp_ms": ...}`) or the payload itself.
2. Every configured metric whose `value_from` field the JSON object holds.
3. A message the `sparkplug_b` input made (`spb_metric_name`, or `{"name", "value"}`).

The device is `identity.device_id`, else the `location_path` metadata with its dots as colons
(`enterprise.site.line1` is device `enterprise:site:line1`), else none: a node metric.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from streamforge.connectors.sparkplug_types import datatype_code
from streamforge.message import Message, PayloadError

__all__ = ["ConfiguredMetric", "Sample", "device_of", "samples_of"]


@dataclass(frozen=True)
class ConfiguredMetric:
    """A `metrics` entry: a name, its alias, its datatype code and where its value is."""

    name: str
    alias: int
    datatype: int
    value_from: str


@dataclass
class Sample:
    """One metric value of one message."""

    name: str
    value: Any
    datatype: int | None
    timestamp: int | None


def _payload(msg: Message) -> Any:
    try:
        return msg.value
    except PayloadError:
        return msg.payload.decode("utf-8", errors="replace")


def _timestamp(doc: Any, msg: Message) -> int | None:
    """`timestamp_ms` of a UMH-Core document or metadata, or the input's `spb_timestamp`."""
    candidates = [doc.get("timestamp_ms") if isinstance(doc, dict) else None]
    candidates += [msg.metadata.get("timestamp_ms"), msg.metadata.get("spb_timestamp")]
    for value in candidates:
        if isinstance(value, bool) or value is None:
            continue
        if isinstance(value, (int, float)):
            return int(value)
        if isinstance(value, str) and value.strip().isdigit():
            return int(value.strip())
    return None


def _meta_text(msg: Message, key: str) -> str:
    value = msg.metadata.get(key)
    return "" if value is None else str(value)


def device_of(msg: Message, static_device: str) -> str:
    """The device a message's metrics belong to ('' for the node itself)."""
    if static_device:
        return static_device
    location = _meta_text(msg, "location_path")
    return location.replace(".", ":") if location else ""


def samples_of(
    msg: Message, configured: dict[str, ConfiguredMetric], auto_extract_tag_name: bool
) -> list[Sample]:
    """The metric values a message holds; ValueError when it holds none."""
    doc = _payload(msg)
    stamp = _timestamp(doc, msg)
    tag = _meta_text(msg, "tag_name") if auto_extract_tag_name else ""
    if tag:
        known = configured.get(tag)
        if known is not None and isinstance(doc, dict) and known.value_from in doc:
            return [Sample(tag, doc[known.value_from], known.datatype, stamp)]
        virtual = _meta_text(msg, "virtual_path")
        name = f"{virtual.replace('.', ':')}:{tag}" if virtual else tag
        value = doc["value"] if isinstance(doc, dict) and "value" in doc else doc
        known = configured.get(name)
        return [Sample(name, value, known.datatype if known else None, stamp)]
    if isinstance(doc, dict):
        found = [
            Sample(m.name, doc[m.value_from], m.datatype, stamp)
            for m in configured.values()
            if m.value_from in doc
        ]
        if found:
            return found
    name = _meta_text(msg, "spb_metric_name")
    if not name and isinstance(doc, dict) and isinstance(doc.get("name"), str):
        name = doc["name"]
    if name:
        value = doc["value"] if isinstance(doc, dict) and "value" in doc else doc
        datatype = None
        known = configured.get(name)
        if known is not None:
            datatype = known.datatype
        elif _meta_text(msg, "spb_datatype"):
            try:
                datatype = datatype_code(_meta_text(msg, "spb_datatype"))
            except ValueError:
                datatype = None
        return [Sample(name, value, datatype, stamp)]
    raise ValueError(
        "the message names no metric: give it a tag_name metadata (with the value in "
        '{"value": ...}), a field a configured metric reads (metrics[].value_from), or the '
        "spb_metric_name metadata the sparkplug_b input sets"
    )
