"""Turn a validated stream back into YAML (for `streamforge echo`)."""

from __future__ import annotations

from typing import Any

import yaml

from streamforge.config.model import ComponentConfig, StreamConfig
from streamforge.config.validate import IGNORED_TOP_LEVEL

#: top-level sections echoed as the file wrote them
_AS_WRITTEN = frozenset({"buffer", "metrics", "tracer", "shutdown_timeout", "shutdown_delay"})

__all__ = ["component_to_dict", "dump_yaml", "stream_to_dict"]


def _plain(value: Any) -> Any:
    if isinstance(value, ComponentConfig):
        return component_to_dict(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def component_to_dict(cc: ComponentConfig) -> dict[str, Any]:
    """The YAML form of one component: optional label, its type key, its processors."""
    out: dict[str, Any] = {}
    if cc.label:
        out["label"] = cc.label
    out[cc.type] = _plain(cc.conf)
    if cc.processors:
        out["processors"] = [component_to_dict(p) for p in cc.processors]
    return out


def stream_to_dict(stream: StreamConfig) -> dict[str, Any]:
    """The whole stream in the Benthos v4 layout, with every default filled in."""
    out: dict[str, Any] = {
        "http": dict(stream.http),
        "input": component_to_dict(stream.input),
        "pipeline": {
            "threads": stream.threads,
            "processors": [component_to_dict(p) for p in stream.processors],
        },
        "output": component_to_dict(stream.output),
    }
    resources = {
        f"{kind}_resources": [component_to_dict(c) for c in table.values()]
        for kind, table in stream.resources.items()
        if table
    }
    if resources:
        out["resources"] = resources
    out["logger"] = dict(stream.logger)
    if stream.plugins:
        out["plugins"] = list(stream.plugins)
    if stream.license:
        out["license"] = dict(stream.license)
    for name, value in stream.sections.items():
        out.setdefault(name, _plain(value))
    for key, value in stream.raw.items():
        if key in IGNORED_TOP_LEVEL or key in _AS_WRITTEN:
            out[key] = value
    if stream.tests:
        out["tests"] = list(stream.tests)
    return out


class _Dumper(yaml.SafeDumper):
    """Block style for multi-line strings (mappings stay readable)."""


def _represent_str(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _represent_str)


def dump_yaml(data: Any) -> str:
    """YAML text of plain data, keys in their given order."""
    return yaml.dump(
        data, Dumper=_Dumper, sort_keys=False, default_flow_style=False, allow_unicode=True
    )
