"""Find test definitions: inline `tests:` in configs and `*_test.yaml` files beside them.

Benthos' pairing rule: `foo_benthos_test.yaml` (StreamForge also accepts `foo_test.yaml`)
holds the tests of `foo.yaml` in the same folder; a config without such a file may carry
its tests inline, and so may a file holding only resources (`processor_resources`). A test
file with no sibling config stands alone and targets a config with
`target_processors: other.yaml#/pipeline/processors`, or a mapping with `target_mapping`.
PATH may be a file, a folder (walked recursively), `folder/...` or a glob.
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from streamforge.config.yamlpos import TOO_DEEP, YamlDocument

__all__ = ["TEST_SUFFIXES", "TestCase", "TestFile", "discover", "expand_paths", "path_pair"]

#: stem suffixes of separate test definition files, most specific first
TEST_SUFFIXES = ("_benthos_test", "_test")
YAML_EXTS = (".yaml", ".yml")
_GLOB_CHARS = re.compile(r"[*?\[]")
_HAS_TESTS = re.compile(r"^tests\s*:", re.MULTILINE)
#: top-level keys that make a file something to test: a stream, or resources alone
_TESTABLE_KEYS = (
    "input", "pipeline", "output", "resources", "input_resources", "processor_resources",
    "output_resources", "cache_resources", "rate_limit_resources",
)  # fmt: skip


class _CoreSchemaLoader(yaml.SafeLoader):
    """YAML 1.2 core schema, as Benthos reads test definitions: `on`/`off` stay strings."""

    yaml_implicit_resolvers: dict[Any, Any] = {}


for _tag, _pattern, _first in (
    ("bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    ("int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", "-+0123456789"),
    (
        "float",
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
        "-+0123456789.",
    ),
    ("null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    ("merge", r"^(?:<<)$", "<"),
):
    _CoreSchemaLoader.add_implicit_resolver(
        f"tag:yaml.org,2002:{_tag}", re.compile(_pattern), list(_first)
    )


def _int_core(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int:
    text = str(loader.construct_scalar(node))
    if text.startswith(("0o", "0x")):
        return int(text[2:], 8 if text[1] == "o" else 16)
    return int(text)


_CoreSchemaLoader.add_constructor("tag:yaml.org,2002:int", _int_core)


#: test fields Benthos decodes into strings: a scalar keeps its literal text (`1.10`, `0x1F`)
_TEXT_FIELDS = frozenset(
    {"name", "target_processors", "target_mapping", "content", "content_equals",
     "content_matches", "file_content", "file_equals", "file_json_equals",
     "file_json_contains", "bloblang"}
)  # fmt: skip
#: fields whose values are documents or components, typed as YAML types them
_TYPED_FIELDS = frozenset(
    {"json_content", "json_equals", "json_contains", "metadata", "metadata_equals", "mocks"}
)
_STR_TAG = "tag:yaml.org,2002:str"
_NON_TEXT_TAGS = frozenset(f"tag:yaml.org,2002:{t}" for t in ("int", "float", "bool"))


def _as_text(node: yaml.Node) -> None:
    if isinstance(node, yaml.ScalarNode) and node.tag in _NON_TEXT_TAGS:
        node.tag = _STR_TAG


def _keep_literal_text(tests: yaml.Node) -> None:
    """Retag numbers and booleans of string fields as strings, before construction."""
    stack = [tests]
    while stack:
        node = stack.pop()
        if isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
        elif isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                name = getattr(key, "value", None)
                if name in _TEXT_FIELDS:
                    _as_text(value)
                elif name == "environment" and isinstance(value, yaml.MappingNode):
                    for _, item in value.value:
                        _as_text(item)
                elif name not in _TYPED_FIELDS:
                    stack.append(value)


def _load_tests_doc(text: str) -> Any:
    """The YAML document, with the string fields of its `tests:` keeping their text."""
    loader = _CoreSchemaLoader(text)
    try:
        node = loader.get_single_node()
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if getattr(key, "value", None) == "tests":
                    _keep_literal_text(value)
        return None if node is None else loader.construct_document(node)
    finally:
        loader.dispose()


@dataclass
class TestCase:
    """One entry of a `tests:` list, with the line it starts on."""

    __test__ = False  # not a pytest test class

    name: str
    line: int
    raw: dict[str, Any]


@dataclass
class TestFile:
    """A test definition file and the config its tests target by default."""

    __test__ = False  # not a pytest test class

    definition: Path
    config: Path
    cases: list[TestCase] = field(default_factory=list)
    #: set when the definition could not be read; the file then counts as one failure
    error: str | None = None
    #: True when `config` holds components to test (a stream or resources), not only tests
    has_stream: bool = True
    #: resource files (`-r/--resources`) whose resources every test may target and use
    resources: Sequence[YamlDocument] = ()


def _walk(folder: Path) -> list[Path]:
    found: list[Path] = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found.extend(Path(root) / f for f in sorted(files) if f.endswith(YAML_EXTS))
    return found


def expand_paths(paths: list[str]) -> tuple[list[Path], list[str]]:
    """Files named by PATH arguments, and the arguments that matched nothing."""
    files: list[Path] = []
    missing: list[str] = []
    for arg in paths:
        if arg == "..." or arg.endswith(("/...", os.sep + "...")):
            folder = Path(arg[: -len("...")] or ".")
            if folder.is_dir():
                files.extend(_walk(folder))
            else:
                missing.append(arg)
            continue
        if _GLOB_CHARS.search(arg):
            matches = sorted(glob.glob(arg, recursive=True))
            if not matches:
                missing.append(arg)
            for m in matches:
                p = Path(m)
                if p.is_dir():
                    files.extend(_walk(p))
                elif p.suffix in YAML_EXTS:
                    files.append(p)
            continue
        p = Path(arg)
        if p.is_dir():
            files.extend(_walk(p))
        elif p.is_file():
            files.append(p)
        else:
            missing.append(arg)
    return files, missing


def path_pair(path: Path) -> tuple[Path, Path]:
    """(config, definition) for a config or a test file, per Benthos' naming rule."""
    stem, ext = path.stem, path.suffix
    for suffix in TEST_SUFFIXES:
        if stem.endswith(suffix) and len(stem) > len(suffix):
            config = path.with_name(stem[: -len(suffix)] + ext)
            return (config if config.is_file() else path), path
    for suffix in TEST_SUFFIXES:
        definition = path.with_name(stem + suffix + ext)
        if definition.is_file():
            return path, definition
    return path, path


def _line_of_tests(text: str) -> list[int]:
    """1-based start lines of the items of the top-level `tests:` list."""
    try:
        node = yaml.compose(text, Loader=_CoreSchemaLoader)
    except yaml.YAMLError:
        return []
    if not isinstance(node, yaml.MappingNode):
        return []
    for key, value in node.value:
        if getattr(key, "value", None) == "tests" and isinstance(value, yaml.SequenceNode):
            return [item.start_mark.line + 1 for item in value.value]
    return []


def _yaml_problem(path: Path, exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    if mark is not None:
        reason = getattr(exc, "problem", None) or str(exc)
        return f"{path}:{mark.line + 1}:{mark.column + 1}: {reason}"
    return f"{path}:1:1: {exc}"


def load_definition(definition: Path, config: Path, explicit: bool) -> TestFile | None:
    """The tests of one definition file; None when it holds no tests."""
    try:
        text = definition.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return TestFile(definition, config, error=f"{definition}: cannot read: {exc}")
    try:
        doc = _load_tests_doc(text)
    except yaml.YAMLError as exc:
        if not explicit and not _HAS_TESTS.search(text):
            return None
        return TestFile(definition, config, error=_yaml_problem(definition, exc))
    except RecursionError:
        return TestFile(definition, config, error=f"{definition}:1:1: {TOO_DEEP}")
    if not isinstance(doc, dict) or "tests" not in doc:
        return None
    tests = doc["tests"]
    if tests is None:
        return None
    if not isinstance(tests, list):
        return TestFile(definition, config, error=f"{definition}: `tests` must be a list")
    lines = _line_of_tests(text)
    cases = []
    for i, raw in enumerate(tests):
        line = lines[i] if i < len(lines) else 0
        if not isinstance(raw, dict):
            raw = {"__invalid__": f"test {i} must be a map, got {type(raw).__name__}"}
        name = str(raw.get("name") or f"test {i}")
        cases.append(TestCase(name, line, raw))
    has_stream = config != definition or any(k in doc for k in _TESTABLE_KEYS)
    return TestFile(definition, config, cases, has_stream=has_stream)


def discover(
    paths: list[str], resources: Sequence[YamlDocument] = ()
) -> tuple[list[TestFile], list[str]]:
    """Test files reachable from PATH arguments (each definition once), and unmatched args.

    `resources` (resource files read once) are given to every test file.
    """
    files, missing = expand_paths(paths)
    explicit = {Path(a).resolve() for a in paths if Path(a).is_file()}
    seen: set[Path] = set()
    out: list[TestFile] = []
    for path in files:
        config, definition = path_pair(path)
        key = definition.resolve()
        if key in seen:
            continue
        seen.add(key)
        tf = load_definition(definition, config, path.resolve() in explicit)
        if tf is not None:
            tf.resources = resources
            out.append(tf)
    return out, missing
