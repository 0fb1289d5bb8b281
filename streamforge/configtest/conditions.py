"""Test inputs and output conditions of the Benthos config unit-test format.

Inputs (`content`, `json_content`, `file_content`, `metadata`) become Messages; output
conditions (`content_equals`, `content_matches`, `json_equals`, `json_contains`,
`metadata_equals`, `bloblang`, `file_equals`, `file_json_equals`, `file_json_contains`)
check one resulting message and explain what differed.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Any

from streamforge.message import Message, PayloadError, serialise_value
from streamforge.regexp import RegexpError, compile_regexp

__all__ = [
    "Condition",
    "ConditionSet",
    "DefinitionError",
    "json_contains",
    "json_equal",
    "parse_condition_set",
    "parse_input_part",
]


class DefinitionError(ValueError):
    """A test definition is malformed (unknown field, wrong type, bad regex ...)."""


def scalar_text(value: Any) -> str:
    """A YAML scalar as the string Benthos would decode it into."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        raise DefinitionError(f"expected a string, got {type(value).__name__}")
    return str(value)


def _json_bytes(value: Any) -> bytes:
    """The raw content of `json_content`: JSON text as Benthos marshals the YAML value.

    Keys sorted and whole-number floats without `.0` (the message serialiser writes them
    so); a YAML string is the document's text as it is, and an empty value no content.
    """
    if value is None:
        return b""
    if isinstance(value, str):
        return value.encode("utf-8")
    if not isinstance(value, (dict, list)):
        return scalar_text(value).encode("utf-8")
    return serialise_value(value)


def _expected_json(value: Any, what: str) -> Any:
    """The expected document of a json_* condition: a YAML structure or JSON text."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError as exc:
            raise DefinitionError(f"{what}: expected value is not valid JSON: {exc}") from None
    return value


def _short(data: bytes | str, limit: int = 200) -> str:
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    return text if len(text) <= limit else text[:limit] + "..."


# -- JSON comparison ------------------------------------------------------------------------


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _scalar_equal(a: Any, b: Any) -> bool:
    if _is_number(a) and _is_number(b):
        return bool(a == b)
    if type(a) is not type(b) and not (isinstance(a, str) and isinstance(b, str)):
        return False
    return bool(a == b)


def _compare(actual: Any, expected: Any, path: str, superset: bool, out: list[str]) -> None:
    """Collect differences between documents; with `superset`, extra actual content is fine."""
    where = path or "(root)"
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            out.append(f"{where}: expected an object, got {_render(actual)}")
            return
        for key, exp in expected.items():
            sub = f"{path}.{key}" if path else str(key)
            if key not in actual:
                out.append(f"{sub}: missing, expected {_render(exp)}")
            else:
                _compare(actual[key], exp, sub, superset, out)
        if not superset:
            for key in actual:
                if key not in expected:
                    sub = f"{path}.{key}" if path else str(key)
                    out.append(f"{sub}: unexpected field with value {_render(actual[key])}")
        return
    if isinstance(expected, list):
        if not isinstance(actual, list):
            out.append(f"{where}: expected an array, got {_render(actual)}")
            return
        for i, exp in enumerate(expected):
            if i >= len(actual):
                out.append(f"{path}[{i}]: missing, expected {_render(exp)}")
            else:
                _compare(actual[i], exp, f"{path}[{i}]", superset, out)
        if not superset and len(actual) > len(expected):
            out.append(
                f"{where}: {len(actual) - len(expected)} unexpected extra element(s) "
                f"from index {len(expected)}"
            )
        return
    if not _scalar_equal(actual, expected):
        out.append(f"{where}: expected {_render(expected)}, got {_render(actual)}")


def _render(value: Any) -> str:
    return _short(json.dumps(value, ensure_ascii=False, default=str), 120)


def json_equal(actual: Any, expected: Any) -> list[str]:
    """Differences between two JSON documents (empty when structurally equal)."""
    out: list[str] = []
    _compare(actual, expected, "", False, out)
    return out


def json_contains(actual: Any, expected: Any) -> list[str]:
    """Differences that stop `actual` from being a superset of `expected`.

    Objects may carry extra keys; arrays may be longer, and are compared index by index.
    """
    out: list[str] = []
    _compare(actual, expected, "", True, out)
    return out


def _message_json(msg: Message) -> Any:
    try:
        return json.loads(msg.payload)
    except (ValueError, UnicodeDecodeError) as exc:
        raise _CheckFailed(f"message is not valid JSON ({exc}): {_short(msg.payload)}") from None


class _CheckFailed(Exception):
    pass


# -- conditions -----------------------------------------------------------------------------


class Condition(ABC):
    """One named check against one output message."""

    name: str

    def check(self, msg: Message, base_dir: Path) -> str | None:
        """None when the message satisfies the condition, else why not."""
        try:
            return self._check(msg, base_dir)
        except _CheckFailed as exc:
            return str(exc)

    @abstractmethod
    def _check(self, msg: Message, base_dir: Path) -> str | None: ...


class ContentEquals(Condition):
    name = "content_equals"

    def __init__(self, value: Any) -> None:
        self.expected = scalar_text(value)

    def _check(self, msg: Message, base_dir: Path) -> str | None:
        actual = msg.payload.decode("utf-8", "replace")
        if actual == self.expected:
            return None
        return f"content mismatch\n  expected: {self.expected}\n  received: {_short(actual)}"


class ContentMatches(Condition):
    name = "content_matches"

    def __init__(self, value: Any) -> None:
        pattern = scalar_text(value)
        try:
            self.regex = compile_regexp(pattern)
        except RegexpError as exc:
            raise DefinitionError(f"content_matches: bad regular expression: {exc}") from None

    def _check(self, msg: Message, base_dir: Path) -> str | None:
        actual = msg.payload.decode("utf-8", "replace")
        if self.regex.search(actual):
            return None
        return f"pattern mismatch\n   pattern: {self.regex.pattern}\n  received: {_short(actual)}"


class _JSONCondition(Condition):
    superset = False

    def __init__(self, value: Any) -> None:
        self.expected = _expected_json(value, self.name)

    def _expected(self, base_dir: Path) -> Any:
        return self.expected

    def _check(self, msg: Message, base_dir: Path) -> str | None:
        expected = self._expected(base_dir)
        actual = _message_json(msg)
        diffs = json_contains(actual, expected) if self.superset else json_equal(actual, expected)
        if not diffs:
            return None
        title = "JSON superset mismatch" if self.superset else "JSON content mismatch"
        return title + "".join(f"\n  {d}" for d in diffs)


class JSONEquals(_JSONCondition):
    name = "json_equals"


class JSONContains(_JSONCondition):
    name = "json_contains"
    superset = True


def _read_relative(base_dir: Path, rel: str, what: str) -> bytes:
    path = Path(rel)
    if not path.is_absolute():
        path = base_dir / path
    try:
        return path.read_bytes()
    except OSError as exc:
        raise _CheckFailed(f"failed to read {what} file {str(path)!r}: {exc.strerror}") from None


class FileEquals(Condition):
    name = "file_equals"

    def __init__(self, value: Any) -> None:
        self.path = scalar_text(value)

    def _check(self, msg: Message, base_dir: Path) -> str | None:
        expected = _read_relative(base_dir, self.path, "comparison")
        if msg.payload == expected:
            return None
        return (
            f"content mismatch with {self.path}\n  expected: {_short(expected)}\n"
            f"  received: {_short(msg.payload)}"
        )


class _FileJSONCondition(_JSONCondition):
    def __init__(self, value: Any) -> None:
        self.path = scalar_text(value)

    def _expected(self, base_dir: Path) -> Any:
        raw = _read_relative(base_dir, self.path, "comparison JSON")
        try:
            return json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise _CheckFailed(f"comparison file {self.path!r} is not valid JSON: {exc}") from None


class FileJSONEquals(_FileJSONCondition):
    name = "file_json_equals"


class FileJSONContains(_FileJSONCondition):
    name = "file_json_contains"
    superset = True


def _meta_equal(actual: Any, expected: Any) -> bool:
    if _is_number(actual) and _is_number(expected):
        return bool(actual == expected)
    if isinstance(actual, bytes):
        actual = actual.decode("utf-8", "replace")
    return (
        _scalar_equal(actual, expected)
        if not isinstance(expected, (dict, list))
        else (not json_equal(actual, expected))
    )


class MetadataEquals(Condition):
    name = "metadata_equals"

    def __init__(self, value: Any) -> None:
        if not isinstance(value, dict):
            raise DefinitionError("metadata_equals: expected a map of metadata keys to values")
        self.expected = {str(k): v for k, v in value.items()}

    def _check(self, msg: Message, base_dir: Path) -> str | None:
        problems = []
        for key, exp in self.expected.items():
            if key not in msg.metadata:
                problems.append(f"metadata key {key!r} expected but not found")
                continue
            act = msg.metadata[key]
            if not _meta_equal(act, exp):
                problems.append(
                    f"metadata key {key!r} mismatch\n  expected: {_render(exp)}\n"
                    f"  received: {_render(act)}"
                )
        return "\n".join(problems) or None


class BloblangCondition(Condition):
    """A Bloblang query (or mapping assigning `root`) that must give the boolean true."""

    name = "bloblang"

    def __init__(self, value: Any) -> None:
        from streamforge.bloblang import ParseError, parse, parse_query

        self.text = scalar_text(value)
        self.query: Any = None
        self.mapping: Any = None
        try:
            self.query = parse_query(self.text)
        except ParseError as exc:
            try:
                self.mapping = parse(self.text)
            except ParseError:
                raise DefinitionError(f"bloblang: {exc}") from None

    def _evaluate(self, msg: Message) -> Any:
        if self.query is not None:
            return self.query.query_message(msg, [msg], 0)
        probe = msg.copy()
        result = self.mapping.apply_message(probe, [probe], 0)
        return None if result is None else result.value

    def _check(self, msg: Message, base_dir: Path) -> str | None:
        from streamforge.bloblang import MappingError

        try:
            result = self._evaluate(msg)
        except (MappingError, PayloadError) as exc:
            return f"bloblang query failed: {exc}"
        if result is True:
            return None
        if isinstance(result, bool):
            return f"bloblang expression was false: {self.text}"
        return f"bloblang expression returned {_render(result)} rather than a boolean: {self.text}"


CONDITIONS: dict[str, Callable[[Any], Condition]] = {
    c.name: c
    for c in (
        BloblangCondition, ContentEquals, ContentMatches, JSONEquals, JSONContains,
        FileEquals, FileJSONEquals, FileJSONContains, MetadataEquals,
    )
}  # fmt: skip


class ConditionSet:
    """The conditions expected of one output message, checked in alphabetical order."""

    def __init__(self, conditions: list[Condition]) -> None:
        self.conditions = sorted(conditions, key=lambda c: c.name)

    def check(self, msg: Message, base_dir: Path) -> list[str]:
        """Every failed condition, as `name: reason`."""
        out = []
        for cond in self.conditions:
            reason = cond.check(msg, base_dir)
            if reason is not None:
                out.append(f"{cond.name}: {reason}")
        return out


def parse_condition_set(raw: Any) -> ConditionSet:
    """Conditions from a map like `{content_equals: x, metadata_equals: {...}}`."""
    if raw is None:
        return ConditionSet([])
    if not isinstance(raw, dict):
        raise DefinitionError("an expected message must be a map of conditions")
    conds = []
    for key, value in raw.items():
        factory = CONDITIONS.get(str(key))
        if factory is None:
            choices = ", ".join(sorted(CONDITIONS))
            raise DefinitionError(f"unknown output condition {key!r} (choose from {choices})")
        conds.append(factory(value))
    return ConditionSet(conds)


# -- inputs ---------------------------------------------------------------------------------

_INPUT_FIELDS = ("content", "json_content", "file_content", "metadata")


def parse_input_part(raw: Any, base_dir: Path) -> Message:
    """A Message from one `input_batch` item."""
    if not isinstance(raw, dict):
        raise DefinitionError("an input message must be a map (content, metadata ...)")
    for key in raw:
        if key not in _INPUT_FIELDS:
            raise DefinitionError(
                f"input message field not recognised: {key!r} "
                f"(choose from {', '.join(_INPUT_FIELDS)})"
            )
    payload: bytes = b""
    if "content" in raw:
        payload = scalar_text(raw["content"]).encode("utf-8")
    if "json_content" in raw:
        payload = _json_bytes(raw["json_content"])
    if "file_content" in raw:
        rel = scalar_text(raw["file_content"])
        path = Path(rel) if Path(rel).is_absolute() else base_dir / rel
        try:
            payload = path.read_bytes()
        except OSError as exc:
            raise DefinitionError(
                f"file_content: cannot read {str(path)!r}: {exc.strerror}"
            ) from None
    metadata = raw.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise DefinitionError("metadata: expected a map of keys to values")
    return Message(payload, {str(k): v for k, v in metadata.items()})
