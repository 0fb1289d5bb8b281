"""Resource files (`-r/--resources`, as `benthos -r`): labelled components shared by configs.

A resource file holds only resource lists (`processor_resources`, `cache_resources`, ...,
or the same lists under `resources:`). Each config loaded with resource files sees their
resources appended after its own; problems keep pointing into the file that holds them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from streamforge.config.model import Problem
from streamforge.config.yamlpos import NodeInfo, YamlDocument

__all__ = ["RESOURCE_LISTS", "resource_problems", "with_resources"]

#: the top-level lists a resource file may hold
RESOURCE_LISTS = (
    "input_resources", "processor_resources", "output_resources", "cache_resources",
    "rate_limit_resources",
)  # fmt: skip
#: also accepted and ignored: unit tests written beside the resources
_IGNORED = frozenset({"tests"})
_Path = tuple[Any, ...]


def _lists_of(doc: YamlDocument) -> tuple[dict[str, tuple[_Path, list[Any]]], list[Problem]]:
    """The resource lists of one file, each with the path it sits at, and misplaced keys."""
    found: dict[str, tuple[_Path, list[Any]]] = {}
    problems: list[Problem] = []
    data = doc.data
    if data is None:
        return found, problems
    if not isinstance(data, dict):
        problems.append(Problem(doc.location(()), "a resources file must be a map of resources"))
        return found, problems
    allowed = ", ".join(RESOURCE_LISTS)
    for key, value in data.items():
        if key in _IGNORED:
            continue
        if key == "resources" and isinstance(value, dict):
            for sub, items in value.items():
                if sub in RESOURCE_LISTS and isinstance(items, list):
                    found[sub] = (("resources", sub), items)
                else:
                    where = doc.key_location(("resources", sub))
                    problems.append(Problem(where, f"field {sub} is not a resource list"))
            continue
        if key in RESOURCE_LISTS and isinstance(value, list):
            found[key] = ((key,), value)
            continue
        if key in RESOURCE_LISTS:
            problems.append(Problem(doc.location((key,)), f"field {key} must be a list"))
            continue
        problems.append(
            Problem(
                doc.key_location((key,)),
                f"field {key} is not allowed in a resources file (only {allowed})",
            )
        )
    return found, problems


def resource_problems(doc: YamlDocument) -> list[Problem]:
    """What in a resources file is not a resource list."""
    return _lists_of(doc)[1]


def with_resources(doc: YamlDocument, resources: Sequence[YamlDocument]) -> YamlDocument:
    """`doc` with the resource files' lists appended to its own (positions kept per file).

    The config's own data is not changed; a config that is not a map is returned as is
    (validation reports it).
    """
    if not resources or not isinstance(doc.data, (dict, type(None))):
        return doc
    data: dict[Any, Any] = dict(doc.data or {})
    nodes: dict[_Path, NodeInfo] = dict(doc.nodes)
    borrowed = dict(doc.borrowed)
    for extra in resources:
        lists, _ = _lists_of(extra)
        for key, (at, items) in lists.items():
            own = data.get(key)
            merged = list(own) if isinstance(own, list) else []
            offset = len(merged)
            merged.extend(items)
            data[key] = merged
            if (key,) not in nodes and at in extra.nodes:
                nodes[(key,)] = extra.nodes[at]
            for i in range(len(items)):
                borrowed[(key, offset + i)] = (extra, at + (i,))
            for path, info in extra.nodes.items():
                if len(path) > len(at) and path[: len(at)] == at:
                    index = path[len(at)]
                    if isinstance(index, int):
                        nodes[(key, offset + index) + path[len(at) + 1 :]] = info
    return YamlDocument(
        file=doc.file,
        source=doc.source,
        data=data,
        nodes=nodes,
        problems=list(doc.problems),
        borrowed=borrowed,
    )
