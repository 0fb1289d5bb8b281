"""Load YAML keeping the line and column of every key and value.

The document is composed into nodes (which carry source marks) and built into plain
Python data plus a table of positions keyed by path tuples such as
`("pipeline", "processors", 2, "mapping")`. Scalars follow YAML 1.2 core resolution as
Benthos (Go yaml.v3) does: only `true`/`false` are booleans, `off` and `12:30` stay
strings. `${VAR}` environment references are resolved on string scalars here, so a
plain `count: ${N:5}` becomes the integer 5. Duplicate keys and malformed YAML become
problems with the parser's line and column.
"""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from streamforge.config.env import (
    LenientEnviron,
    has_env_reference,
    interpolate_env,
    unset_variable_problem,
)
from streamforge.config.model import Location, Problem

__all__ = ["NodeInfo", "Path", "YamlDocument", "load_yaml", "path_str"]

Path = tuple[str | int, ...]

_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_BOOL = "tag:yaml.org,2002:bool"
_NULL = "tag:yaml.org,2002:null"
_MERGE = "tag:yaml.org,2002:merge"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"


class _CoreLoader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 core-schema implicit resolution."""

    yaml_implicit_resolvers: dict[Any, Any] = {}


for _tag, _regexp, _first in (
    (_BOOL, r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    # digits may be grouped with underscores (5_000_000), as Benthos' YAML reader allows
    (_INT, r"^(?:[-+]?[0-9][0-9_]*|0o[0-7]+|0x[0-9a-fA-F]+)$", "-+0123456789"),
    (
        _FLOAT,
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
        "-+0123456789.",
    ),
    (_NULL, r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    (_MERGE, r"^(?:<<)$", "<"),
):
    _CoreLoader.add_implicit_resolver(_tag, re.compile(_regexp), list(_first))


@dataclass(frozen=True)
class NodeInfo:
    """Where a value sits in the source (and its key, for mapping entries)."""

    location: Location
    key_location: Location | None
    style: str | None  # scalar style: None (plain), "'", '"', "|", ">"; "" for collections
    start: int  # source index of the node start
    end: int  # source index of the node end


@dataclass
class YamlDocument:
    """Plain data from one YAML file, with positions and load problems."""

    file: str
    source: str
    data: Any
    nodes: dict[Path, NodeInfo] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    #: parts taken from another file (resource files): path here -> (that file, path there)
    borrowed: dict[Path, tuple[YamlDocument, Path]] = field(default_factory=dict)
    _line_starts: list[int] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        self._line_starts = [0] + [m.end() for m in re.finditer("\n", self.source)]

    def location(self, path: Path) -> Location:
        """Location of the value at `path`, or of its closest known ancestor."""
        for i in range(len(path), -1, -1):
            info = self.nodes.get(path[:i])
            if info is not None:
                return info.location
        return Location(self.file, 1, 1)

    def key_location(self, path: Path) -> Location:
        """Location of the key naming `path` (falls back to the value's location)."""
        info = self.nodes.get(path)
        if info is not None and info.key_location is not None:
            return info.key_location
        return self.location(path)

    def plain_text(self, path: Path) -> str | None:
        """The text of the plain (unquoted) scalar at `path` as written (`007`, `1_000`),
        None when there is none."""
        for prefix, (origin, there) in self.borrowed.items():
            if path[: len(prefix)] == prefix:
                return origin.plain_text(there + path[len(prefix) :])
        info = self.nodes.get(path)
        if info is None or info.style is not None:
            return None
        text = self.source[info.start : info.end].strip()
        return text or None

    def index_location(self, index: int) -> Location:
        """Location of a source index."""
        line = bisect.bisect_right(self._line_starts, index) - 1
        return Location(self.file, line + 1, index - self._line_starts[line] + 1)

    def scalar_location(self, path: Path, value: str, line: int, column: int) -> Location:
        """Map a 1-based line/column inside the string scalar at `path` to the file.

        Used to report Bloblang errors at their place in the YAML file. Literal block
        scalars map exactly; other styles are aligned character by character, which is
        exact unless escapes change lengths.
        """
        for prefix, (origin, there) in self.borrowed.items():
            if path[: len(prefix)] == prefix:
                return origin.scalar_location(there + path[len(prefix) :], value, line, column)
        info = self.nodes.get(path)
        if info is None:
            return self.location(path)
        lines = value.split("\n")
        line = min(max(line, 1), len(lines))
        column = max(column, 1)
        if info.style == "|":
            return self._literal_location(info, line, column)
        offset = sum(len(v) + 1 for v in lines[: line - 1]) + column - 1
        return self.index_location(self._align(info, value, offset))

    def _content_start(self, info: NodeInfo) -> int:
        start = info.start
        if info.style in ("|", ">"):
            nl = self.source.find("\n", start)
            return info.end if nl < 0 else nl + 1
        if info.style in ("'", '"'):
            return start + 1
        return start

    def _literal_location(self, info: NodeInfo, line: int, column: int) -> Location:
        first = self._content_start(info)
        first_line = bisect.bisect_right(self._line_starts, first) - 1
        indent = 0
        for ln in self.source[first : info.end].split("\n"):
            if ln.strip():
                indent = len(ln) - len(ln.lstrip(" "))
                break
        return Location(self.file, first_line + line, indent + column)

    def _align(self, info: NodeInfo, value: str, offset: int) -> int:
        src, i, end = self.source, self._content_start(info), info.end
        limit = max(end if info.style is None else end - 1, info.start)
        pos = i
        for ch in value[: offset + 1]:
            while i < end:
                s = src[i]
                if s == ch or (s == "\n" and ch in " \n"):
                    break
                if s in " \t\r\n\\'\"":
                    i += 1
                    continue
                break
            pos = min(i, limit)
            i += 1
        if offset >= len(value):
            pos = min(pos + 1 + offset - len(value), limit) if value else i
        return min(pos, limit)


def path_str(path: Path) -> str:
    """Dotted form of a path: ("pipeline", "processors", 2) -> "pipeline.processors.2"."""
    return ".".join(str(p) for p in path)


class _Builder:
    def __init__(
        self, doc: YamlDocument, environ: Mapping[str, str] | None, *, swap_env: bool = True
    ) -> None:
        self.doc = doc
        self.environ = environ
        self.swap_env = swap_env
        self.resolver = _CoreLoader("")

    def loc(self, mark: Any) -> Location:
        return Location(self.doc.file, mark.line + 1, mark.column + 1)

    def problem(self, mark: Any, message: str, warning: bool = False) -> None:
        self.doc.problems.append(Problem(self.loc(mark), message, warning))

    def build(self, node: yaml.Node, path: Path, key: yaml.Node | None) -> Any:
        style = getattr(node, "style", None) if isinstance(node, yaml.ScalarNode) else ""
        self.doc.nodes[path] = NodeInfo(
            location=self.loc(node.start_mark),
            key_location=self.loc(key.start_mark) if key is not None else None,
            style=style,
            start=node.start_mark.index,
            end=node.end_mark.index,
        )
        if isinstance(node, yaml.MappingNode):
            return self.mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i), None) for i, item in enumerate(node.value)]
        assert isinstance(node, yaml.ScalarNode)
        return self.scalar(node)

    def mapping(self, node: yaml.MappingNode, path: Path) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        first_seen: dict[Any, Any] = {}
        merged: list[tuple[yaml.Node, yaml.Node]] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                sources = (
                    value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
                )
                for src in sources:
                    if isinstance(src, yaml.MappingNode):
                        merged.extend(src.value)
                    else:
                        self.problem(src.start_mark, "merge key '<<' expects a mapping")
                continue
            key = self.scalar(key_node) if isinstance(key_node, yaml.ScalarNode) else None
            if key is None and not isinstance(key_node, yaml.ScalarNode):
                self.problem(key_node.start_mark, "mapping keys must be scalars")
                continue
            if isinstance(key, (list, dict)) or key is None:
                key = "null" if key is None else str(key)
            if key in first_seen:
                self.problem(
                    key_node.start_mark,
                    f'duplicate key "{key}" (first defined at line {first_seen[key].line + 1})',
                )
                continue
            first_seen[key] = key_node.start_mark
            out[key] = self.build(value_node, (*path, key), key_node)
        for key_node, value_node in merged:
            if not isinstance(key_node, yaml.ScalarNode):
                continue
            key = self.scalar(key_node)
            if key not in out:
                out[key] = self.build(value_node, (*path, key), key_node)
        return out

    def scalar(self, node: yaml.ScalarNode) -> Any:
        value: str = node.value
        tag = node.tag
        if self.swap_env and "${" in value and tag in (_STR, _INT, _FLOAT, _BOOL, _NULL):
            res = interpolate_env(value, self.environ)
            lenient = isinstance(self.environ, LenientEnviron)
            for name in res.missing:
                self.problem(node.start_mark, unset_variable_problem(name, lenient), lenient)
            if res.text != value:
                implicit = self.resolver.resolve(yaml.ScalarNode, value, (True, False))
                if node.style is None and tag == implicit:
                    tag = self.resolver.resolve(yaml.ScalarNode, res.text, (True, False))
                    if tag == _NULL and res.missing:
                        tag = _STR  # an unset variable reads as empty text (Benthos), not null
                value = res.text
        try:
            return _convert(tag, value)
        except ValueError:
            self.problem(node.start_mark, f"cannot read {value!r} as {tag.rsplit(':', 1)[-1]}")
            return value


def _convert(tag: str, value: str) -> Any:
    if tag in (_STR, _MERGE):
        return value
    if tag == _NULL:
        return None
    if tag == _BOOL:
        low = value.lower()
        if low not in ("true", "false"):
            raise ValueError(value)
        return low == "true"
    if tag == _INT:
        v = value.replace("_", "")
        if v.lower().startswith(("0x", "0o", "0b")):
            return int(v, 0)
        return int(v, 10)
    if tag == _FLOAT:
        low = value.lower().replace("_", "")
        if low in (".inf", "+.inf"):
            return math.inf
        if low == "-.inf":
            return -math.inf
        if low == ".nan":
            return math.nan
        return float(low)
    # timestamps, binary and application tags are kept as the text written
    return value


#: the problem of a document nested deeper than the parser can follow
TOO_DEEP = "invalid YAML: the document is nested too deeply"


def load_yaml(
    source: str, file: str = "<config>", *, environ: Mapping[str, str] | None = None
) -> YamlDocument:
    """Parse `source` into a YamlDocument; problems are collected, never raised.

    `environ` is the environment used for `${VAR}` references (default: os.environ).
    """
    doc = YamlDocument(file=file, source=source, data=None)
    try:
        node = yaml.compose(source, Loader=_CoreLoader)
    except yaml.MarkedYAMLError as exc:
        if has_env_reference(source) and _load_swapped(doc, environ):
            return doc
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        reason = exc.problem or exc.context or "malformed YAML"
        if exc.context and exc.problem:
            reason = f"{exc.problem} ({exc.context})"
        doc.problems.append(Problem(Location(file, line, col), f"invalid YAML: {reason}"))
        return doc
    except yaml.YAMLError as exc:
        doc.problems.append(Problem(Location(file, 1, 1), f"invalid YAML: {exc}"))
        return doc
    except RecursionError:
        doc.problems.append(Problem(Location(file, 1, 1), TOO_DEEP))
        return doc
    if node is None:
        doc.data = None
        return doc
    try:
        doc.data = _Builder(doc, environ).build(node, (), None)
    except RecursionError:
        doc.data = None
        doc.problems.append(Problem(Location(file, 1, 1), TOO_DEEP))
    return doc


def _load_swapped(doc: YamlDocument, environ: Mapping[str, str] | None) -> bool:
    """Swap `${VAR}` references in the raw text first, then parse, as Benthos does.

    Only used when the text is not valid YAML as written (e.g. `{ path: ${DIR}/x }` in a
    flow mapping). Returns False when the swapped text does not parse either.
    """
    swapped = interpolate_env(doc.source, environ)
    try:
        node = yaml.compose(swapped.text, Loader=_CoreLoader)
    except (yaml.YAMLError, RecursionError):
        return False
    for name in swapped.missing:
        at = max(doc.source.find("${" + name), 0)
        line = doc.source.count("\n", 0, at)
        column = at - (doc.source.rfind("\n", 0, at) + 1)
        lenient = isinstance(environ, LenientEnviron)
        doc.problems.append(
            Problem(
                Location(doc.file, line + 1, column + 1),
                unset_variable_problem(name, lenient),
                lenient,
            )
        )
    if node is not None:
        doc.data = _Builder(doc, environ, swap_env=False).build(node, (), None)
    return True
