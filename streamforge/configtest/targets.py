"""Config paths for unit tests: JSON Pointers, labels, mocks, and the processors they target.

Benthos addresses parts of a config with JSON Pointers (`/pipeline/processors/0`) or with
component labels. Mocks replace the node at such an address before anything is built;
the target is the node (one processor) or list (several) the test runs.
"""

from __future__ import annotations

import copy
from typing import Any

__all__ = [
    "TargetError",
    "apply_mocks",
    "get_path",
    "label_paths",
    "label_pointer",
    "parse_pointer",
    "processors_stream",
    "resolve_target",
    "set_path",
]

Segment = str | int
Path_ = list[Segment]

_RESOURCE_KEYS = ("processor_resources", "input_resources", "output_resources")


class TargetError(ValueError):
    """A target or mock path does not resolve in the config."""


def parse_pointer(pointer: str) -> list[str]:
    """Segments of an RFC 6901 JSON Pointer (`~1` is `/`, `~0` is `~`)."""
    if pointer in ("", "/"):
        return []
    if not pointer.startswith("/"):
        raise TargetError(f"JSON Pointer {pointer!r} must start with '/'")
    return [s.replace("~1", "/").replace("~0", "~") for s in pointer[1:].split("/")]


def _fmt(path: Path_) -> str:
    return "/" + "/".join(str(s) for s in path) if path else "/"


def _step(node: Any, seg: str, done: Path_) -> tuple[Any, Segment]:
    if isinstance(node, dict):
        if seg in node:
            return node[seg], seg
        raise TargetError(f"{_fmt([*done, seg])}: no field {seg!r} at {_fmt(done)}")
    if isinstance(node, list):
        try:
            idx = int(seg)
        except ValueError:
            raise TargetError(f"{_fmt(done)} is a list; {seg!r} is not an index") from None
        if not -len(node) <= idx < len(node):
            raise TargetError(f"{_fmt([*done, seg])}: index {idx} out of range ({len(node)} items)")
        return node[idx], idx % len(node)
    raise TargetError(f"{_fmt(done)} is a {type(node).__name__}, cannot go into {seg!r}")


def _benthos_resource_path(root: dict[str, Any], segs: list[str]) -> list[str]:
    """Benthos keeps resources at the top level; StreamForge nests them under `resources`."""
    if segs and segs[0] in _RESOURCE_KEYS and segs[0] not in root:
        res = root.get("resources")
        if isinstance(res, dict) and segs[0] in res:
            return ["resources", *segs]
    return segs


def get_path(root: dict[str, Any], segs: list[str]) -> tuple[Any, Path_]:
    """The node at a pointer's segments and its concrete path (indices as ints)."""
    segs = _benthos_resource_path(root, segs)
    node: Any = root
    done: Path_ = []
    for seg in segs:
        node, key = _step(node, seg, done)
        done.append(key)
    return node, done


def set_path(root: dict[str, Any], path: Path_, value: Any) -> None:
    """Replace the node at a concrete path."""
    if not path:
        raise TargetError("cannot replace the whole config")
    parent: Any = root
    for seg in path[:-1]:
        parent = parent[seg]
    parent[path[-1]] = value


def label_paths(root: Any) -> dict[str, list[Path_]]:
    """Every component label in a config and where it is (outside `tests`)."""
    found: dict[str, list[Path_]] = {}

    def walk(node: Any, path: Path_) -> None:
        if isinstance(node, dict):
            label = node.get("label")
            if isinstance(label, str) and label and len(node) > 1:
                found.setdefault(label, []).append(list(path))
            for k, v in node.items():
                if not path and k == "tests":
                    continue
                walk(v, [*path, k])
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, [*path, i])

    walk(root, [])
    return found


def _path_of_label(root: dict[str, Any], label: str) -> Path_:
    paths = label_paths(root).get(label)
    if not paths:
        raise TargetError(f"no component with label {label!r} in the config")
    if len(paths) > 1:
        where = ", ".join(_fmt(p) for p in paths)
        raise TargetError(f"label {label!r} is used more than once ({where})")
    return paths[0]


def apply_mocks(root: dict[str, Any], mocks: dict[str, Any]) -> tuple[dict[str, Any], list[Path_]]:
    """A copy of the config with each mocked component replaced, and the paths replaced.

    JSON Pointer keys are applied first, then labels (as Benthos does).
    """
    out = copy.deepcopy(root)
    replaced: list[Path_] = []
    ordered = sorted(mocks.items(), key=lambda kv: not str(kv[0]).startswith("/"))
    for key, replacement in ordered:
        key = str(key)
        if key.startswith("/"):
            original, path = get_path(out, parse_pointer(key))
        else:
            path = _path_of_label(out, key)
            original, _ = get_path(out, [str(s) for s in path])
        replacement = copy.deepcopy(replacement)
        if _is_resource_path(path):
            replacement = _keeping_label(original, replacement)
        set_path(out, path, replacement)
        replaced.append(path)
    return out, replaced


def _keeping_label(original: Any, replacement: Any) -> Any:
    """A mocked resource keeps its label, so `resource: <label>` reaches the mock."""
    label = original.get("label") if isinstance(original, dict) else None
    if isinstance(label, str) and label and isinstance(replacement, dict):
        return {"label": label, **replacement}
    return replacement


def label_pointer(root: dict[str, Any], label: str) -> str:
    """The JSON Pointer of the component carrying `label` (raises TargetError)."""
    path = _path_of_label(root, label)
    return "/" + "/".join(str(s).replace("~", "~0").replace("/", "~1") for s in path)


def _is_resource_path(path: Path_) -> bool:
    """True when `path` is one resource entry (not something nested inside one)."""
    return _is_resource_collection(path[:-1])


def _is_resource_collection(path: Path_) -> bool:
    return path in (["processor_resources"], ["resources", "processor_resources"])


def _as_resource_ref(node: Any, key: Segment) -> Any:
    label = node.get("label") if isinstance(node, dict) else None
    if label is None and isinstance(key, str):
        label = key  # resources written as a map keyed by label
    return {"resource": label} if label else copy.deepcopy(node)


def resolve_target(root: dict[str, Any], target: str) -> list[tuple[Any, Path_ | None]]:
    """The processor configs a `target_processors` value names (pointer or label).

    Each comes with the config path it was taken from. Processors taken from resources
    are referenced as `resource: <label>` (with no path), so they are built from the
    resources section exactly as the stream would build them.
    """
    if target.startswith("/"):
        node, path = get_path(root, parse_pointer(target))
    else:
        path = _path_of_label(root, target)
        node, _ = get_path(root, [str(s) for s in path])
    items: list[tuple[Any, Segment]]
    if isinstance(node, list):
        items = [(node[i], i) for i in range(len(node))]
        parent_path = path
    elif isinstance(node, dict) and _is_resource_collection(path):
        # resources written as a map keyed by label: target them all
        items = [(v, k) for k, v in node.items()]
        parent_path = path
    elif isinstance(node, dict) and path:
        items = [(node, path[-1])]
        parent_path = path[:-1]
    else:
        raise TargetError(f"{target!r} points at a {type(node).__name__}, not processors")
    out: list[tuple[Any, Path_ | None]] = []
    for item, key in items:
        source = [*parent_path, key]
        if _is_resource_path(source):
            out.append((_as_resource_ref(item, key), None))
        else:
            out.append((copy.deepcopy(item), source))
    return out


def _strip_duplicate_labels(targets: list[Any], elsewhere: dict[str, list[Path_]]) -> None:
    for t in targets:
        if isinstance(t, dict) and t.get("label") in elsewhere:
            del t["label"]


def processors_stream(root: dict[str, Any], targets: list[Any]) -> dict[str, Any]:
    """A stream config whose pipeline is exactly `targets`, keeping input, output, resources.

    Input- and output-level processors are dropped (the test runs only its target), and a
    target keeps its label unless another component still carries it.
    """
    synth = copy.deepcopy(root)
    synth.pop("tests", None)
    for section in ("input", "output"):
        comp = synth.get(section)
        if isinstance(comp, dict):
            comp.pop("processors", None)
    pipeline = synth.get("pipeline")
    pipeline = dict(pipeline) if isinstance(pipeline, dict) else {}
    pipeline["processors"] = []
    synth["pipeline"] = pipeline
    _strip_duplicate_labels(targets, label_paths(synth))
    pipeline["processors"] = targets
    return synth
