"""Policy engines: Rego evaluated in-process with regopy, or by an OPA server over its REST API."""

from __future__ import annotations

import contextlib
import importlib.resources
import json
import re
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final, Protocol
from urllib.parse import quote

import httpx

# google-re2 loads first: the C++ runtime must not bind to regopy's own allocator, which
# makes RE2 crash ("free(): invalid pointer") when regopy is imported before it
with contextlib.suppress(ImportError):
    import re2  # noqa: F401
import regopy
from regopy import rego_shared as _rego

__all__ = [
    "UNDEFINED",
    "OpaEngine",
    "PolicyEngine",
    "PolicyError",
    "RegoEngine",
    "builtin_policy_files",
    "data_ref_path",
    "engine_for",
]

#: where the built-in policies live inside the installed package
POLICY_PACKAGE = "streamforge.policies"

#: the input a newly built RegoEngine is evaluated with once, to catch errors at start-up
_PROBE_INPUT: dict[str, Any] = {
    "license": None,
    "processors": [],
    "request": {"category": "bindings", "feature": "http"},
}
_VALUE_VAR = "sf__value"


class PolicyError(Exception):
    """A policy cannot be loaded or evaluated; for files each line reads `path:line:col: msg`."""


class _Undefined:
    """The answer to a query that is undefined (no rule produced a value)."""

    _instance: _Undefined | None = None

    def __new__(cls) -> _Undefined:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNDEFINED"

    def __bool__(self) -> bool:
        return False


#: returned by PolicyEngine.query when the query is undefined
UNDEFINED: Final = _Undefined()


class PolicyEngine(Protocol):
    """Evaluates Rego queries against a set of policies."""

    def query(self, query: str, input: Mapping[str, Any]) -> Any:
        """The value of a `data.` reference, or for any other query the list of variable
        bindings of its solutions (as OPA's Query API gives them); UNDEFINED when none."""
        ...

    def describe(self) -> str:
        """Where the policies are evaluated, for logs and `license status`."""
        ...


# -- queries ------------------------------------------------------------------------------------

_REF_PART = re.compile(
    r"""\.(?P<name>[A-Za-z_][A-Za-z0-9_]*)
      | \[\s*(?P<string>"(?:[^"\\]|\\.)*")\s*\]
      | \[\s*(?P<number>-?\d+)\s*\]""",
    re.VERBOSE,
)


def data_ref_path(query: str) -> list[str | int] | None:
    """The path of a plain `data` reference (`data.a.b["c"]` -> ["a", "b", "c"]); None for
    any other query (variables, calls, operators, several expressions)."""
    text = query.strip()
    if not text.startswith("data"):
        return None
    pos, path = 4, []
    while pos < len(text):
        match = _REF_PART.match(text, pos)
        if match is None:
            return None
        if match["name"] is not None:
            path.append(match["name"])
        elif match["string"] is not None:
            try:
                path.append(json.loads(match["string"]))
            except ValueError:
                return None
        else:
            path.append(int(match["number"]))
        pos = match.end()
    return path


def _ref_text(path: Sequence[str | int]) -> str:
    """The Rego reference for a path, every key quoted so any string is safe."""
    return "data" + "".join(f"[{json.dumps(part)}]" for part in path)


# -- regopy -------------------------------------------------------------------------------------

_ERROR_AT = re.compile(rb"\(error (\d+):")
_ERROR_MSG = re.compile(rb"\(errormsg (\d+):")
_LOCATION = re.compile(rb"\|(\d+)\|(\d+)")


def _errors(text: str | bytes) -> list[tuple[str | None, int | None, str]]:
    """(module name, byte offset, message) for each error in a rego-cpp error tree.

    rego-cpp prints its trees with length-prefixed atoms (`(errormsg 16:this is unclosed)`),
    so names and messages are sliced by length rather than matched.
    """
    raw = text.encode() if isinstance(text, str) else text
    found: list[tuple[str | None, int | None, str]] = []
    starts = [m.start() for m in _ERROR_AT.finditer(raw)] or [0]
    bounds = [*starts[1:], len(raw)]
    for start, end in zip(starts, bounds):
        chunk = raw[start:end]
        name: str | None = None
        offset: int | None = None
        at = _ERROR_AT.match(chunk)
        if at:
            size = int(at[1])
            name = chunk[at.end() : at.end() + size].decode("utf-8", "replace") or None
            loc = _LOCATION.match(chunk, at.end() + size)
            if loc:
                offset = int(loc[1])
        for msg in _ERROR_MSG.finditer(chunk):
            size = int(msg[1])
            message = chunk[msg.end() : msg.end() + size].decode("utf-8", "replace")
            found.append((name, offset, message))
    return found


def _line_col(source: bytes, offset: int) -> tuple[int, int]:
    offset = max(0, min(offset, len(source)))
    line_start = source.rfind(b"\n", 0, offset) + 1
    line = source.count(b"\n", 0, offset) + 1
    col = len(source[line_start:offset].decode("utf-8", "replace")) + 1
    return line, col


def _located(
    errors: Sequence[tuple[str | None, int | None, str]],
    sources: Mapping[str, bytes],
    fallback: str,
) -> str:
    """One `file:line:col: message` line per distinct error."""
    lines: list[str] = []
    for name, offset, message in errors:
        label = name or fallback
        source = sources.get(name or "")
        if source is not None and offset is not None:
            line, col = _line_col(source, offset)
            text = f"{label}:{line}:{col}: {message}"
        else:
            text = f"{label}: {message}"
        if text not in lines:
            lines.append(text)
    return "\n".join(lines) or f"{fallback}: the Rego interpreter rejected it"


def _new_interpreter() -> Any:
    interpreter = regopy.Interpreter()
    # rego-cpp prints errors on stdout at its default level; they are read from the results
    interpreter.log_level = regopy.LogLevel.NONE
    return interpreter


_QUERY_CHECK = "package streamforge_query_check\n\nimport rego.v1\n\nq if {\n"
_QUERY_CHECK_LINES = _QUERY_CHECK.count("\n")


def _check_query_syntax(query: str) -> None:
    """Raise PolicyError `query:line:col: message` when `query` does not parse.

    The check parses the query as a rule body in a scratch interpreter: an interpreter that
    has answered a query answers a malformed one with the previous result instead of an error.
    """
    source = f"{_QUERY_CHECK}{query}\n}}\n"
    try:
        _new_interpreter().add_module("query", source)
    except regopy.RegoError as exc:
        raw = source.encode()
        start = len(_QUERY_CHECK.encode())
        end = start + len(query.encode())
        lines, outside = [], []
        for _name, offset, message in _errors(str(exc)):
            if offset is None or not start <= offset < end:
                outside.append(f"query: {message}")
                continue
            line, col = _line_col(raw, offset)
            lines.append(f"query:{line - _QUERY_CHECK_LINES}:{col}: {message}")
        found = list(dict.fromkeys(lines or outside[:1]))
        raise PolicyError("\n".join(found) or f"query: cannot parse {query!r}") from None


class RegoEngine:
    """Rego policies evaluated in-process by regopy (Microsoft's rego-cpp)."""

    def __init__(self, policy_files: Sequence[Path | str]) -> None:
        self.files = [Path(p) for p in policy_files]
        self._sources: dict[str, bytes] = {}
        self._interpreter = self._build(self.files)
        self._lock = threading.Lock()
        self._checked: set[str] = set()
        problems = self._probe()
        if problems:
            raise PolicyError(self._blame(problems))

    @classmethod
    def load(cls, policy_dir: str | Path | None = None) -> RegoEngine:
        """The built-in policies plus every `*.rego` in `policy_dir` (sorted by name).

        PolicyError when a policy does not parse or evaluate; its text names the file.
        """
        files = builtin_policy_files()
        if policy_dir is not None and str(policy_dir) != "":
            directory = Path(policy_dir).expanduser()
            if not directory.is_dir():
                raise PolicyError(f"{directory}: policy directory not found")
            files += sorted(directory.glob("*.rego"))
        return cls(files)

    def _build(self, files: Sequence[Path]) -> Any:
        interpreter = _new_interpreter()
        for path in files:
            name = str(path)
            try:
                source = path.read_bytes()
            except OSError as exc:
                raise PolicyError(f"{path}: {exc.strerror or exc}") from None
            self._sources[name] = source
            try:
                interpreter.add_module(name, source.decode("utf-8"))
            except UnicodeDecodeError as exc:
                raise PolicyError(f"{path}: not UTF-8 text ({exc.reason})") from None
            except regopy.RegoError as exc:
                raise PolicyError(_located(_errors(str(exc)), self._sources, name)) from None
        return interpreter

    def _probe(self, interpreter: Any | None = None) -> list[str]:
        """Messages from evaluating every document once; rego-cpp compiles rules lazily."""
        ok, text, errors = self._run(
            interpreter or self._interpreter, f"{_VALUE_VAR} := data", json.dumps(_PROBE_INPUT)
        )
        if ok and not text.lstrip().startswith("("):
            return []
        return errors or [m for _n, _o, m in _errors(text)] or ["the policies do not evaluate"]

    def _blame(self, problems: list[str]) -> str:
        """Name the first policy file that brings the problem in, trying each on its own."""
        builtins = set(builtin_policy_files())
        users = [p for p in self.files if p not in builtins]
        base = [p for p in self.files if p in builtins]
        for path in users:
            if self._probe(self._build([*base, path])):
                return "\n".join(f"{path}: {message}" for message in problems)
        names = ", ".join(str(p) for p in (users or self.files))
        return "\n".join(f"{names}: {message}" for message in problems)

    @staticmethod
    def _run(interpreter: Any, query: str, input_json: str) -> tuple[bool, str, list[str]]:
        # regopy's Output parses the JSON itself and fails on error results, so the result is
        # read through the C API: ok flag, text, and the messages of an error tree.
        interpreter.set_input_term(input_json)
        output = _rego.rego_query(interpreter._impl, query)
        try:
            ok = bool(_rego.rego_output_ok(output))
            text = _rego.rego_output_string(output)
            errors: list[str] = []
            if not ok:
                node = regopy.Node(_rego.rego_output_node(output))
                for i in range(len(node)):
                    errors += [m for _n, _o, m in _errors(node.at(i).json())]
        finally:
            _rego.rego_free_output(output)
        return ok, text, errors

    def query(self, query: str, input: Mapping[str, Any]) -> Any:
        """See PolicyEngine.query."""
        path = data_ref_path(query)
        if path is not None:
            text = f"{_VALUE_VAR} := {_ref_text(path)}"
        else:
            text = query
            if query not in self._checked:
                _check_query_syntax(query)
                self._checked.add(query)
        input_json = json.dumps(input)
        try:
            with self._lock:
                ok, out, errors = self._run(self._interpreter, text, input_json)
        except regopy.RegoError as exc:
            raise PolicyError(f"{query}: {exc}") from None
        if not ok or out.lstrip().startswith("("):
            messages = errors or [m for _n, _o, m in _errors(out)] or ["evaluation failed"]
            raise PolicyError("\n".join(f"{query}: {m}" for m in messages))
        if out.strip() == "undefined":
            return UNDEFINED
        try:
            parsed = json.loads(out)
        except ValueError:
            raise PolicyError(
                f"{query}: the Rego interpreter gave a result that is not JSON: {out[:200]}"
            ) from None
        results = parsed if isinstance(parsed, list) else [parsed]
        if path is not None:
            return results[0].get("bindings", {}).get(_VALUE_VAR, UNDEFINED)
        solutions = [
            {k: v for k, v in r.get("bindings", {}).items() if k not in ("input", "data")}
            for r in results
        ]
        return solutions or UNDEFINED

    def describe(self) -> str:
        """See PolicyEngine.describe."""
        return f"regopy {regopy.__version__} ({', '.join(p.name for p in self.files)})"


# -- OPA ----------------------------------------------------------------------------------------


class OpaEngine:
    """Policies evaluated by a running OPA server: Data API for references, else Query API."""

    def __init__(self, url: str, timeout: float = 5.0) -> None:
        self.url = url.rstrip("/")
        self._client = httpx.Client(base_url=self.url, timeout=timeout)

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    def _post(self, path: str, body: Mapping[str, Any], query: str) -> dict[str, Any]:
        try:
            response = self._client.post(path, json=body)
        except httpx.TimeoutException:
            raise PolicyError(f"OPA at {self.url}: no answer to {query} in time") from None
        except httpx.HTTPError as exc:
            raise PolicyError(f"OPA at {self.url} is not reachable: {exc}") from None
        try:
            doc = response.json()
        except ValueError:
            doc = None
        if response.status_code != 200 or not isinstance(doc, dict):
            raise PolicyError(f"OPA at {self.url}: {query}: {_opa_error(response, doc)}")
        return doc

    def query(self, query: str, input: Mapping[str, Any]) -> Any:
        """See PolicyEngine.query."""
        path = data_ref_path(query)
        if path is not None:
            url = "/v1/data" + "".join(f"/{quote(str(part), safe='')}" for part in path)
            doc = self._post(url, {"input": dict(input)}, query)
            return doc.get("result", UNDEFINED)
        doc = self._post("/v1/query", {"query": query, "input": dict(input)}, query)
        result = doc.get("result")
        return result if result else UNDEFINED

    def describe(self) -> str:
        """See PolicyEngine.describe."""
        return f"OPA at {self.url}"


def _opa_error(response: httpx.Response, doc: Any) -> str:
    if isinstance(doc, dict) and doc.get("message"):
        text = str(doc["message"])
        details = [str(e.get("message")) for e in doc.get("errors") or [] if isinstance(e, dict)]
        return "; ".join([text, *[d for d in details if d and d != text]])
    return f"HTTP {response.status_code}: {response.text[:200]}"


# -- loading ------------------------------------------------------------------------------------


def builtin_policy_files() -> list[Path]:
    """The built-in `*.rego` files: from the installed package `streamforge.policies`, else
    from `policies/` in the source tree."""
    try:
        root = importlib.resources.files(POLICY_PACKAGE)
        found = sorted(
            Path(str(entry))
            for entry in root.iterdir()
            if entry.name.endswith(".rego") and entry.is_file()
        )
    except (ModuleNotFoundError, FileNotFoundError, NotADirectoryError):
        found = []
    if found:
        return found
    source_tree = Path(__file__).resolve().parents[2] / "policies"
    found = sorted(source_tree.glob("*.rego"))
    if not found:
        raise PolicyError(f"the built-in policies are missing (package {POLICY_PACKAGE})")
    return found


class _EngineSettings(Protocol):
    """What engine_for reads from LicenceSettings."""

    @property
    def policy_dir(self) -> str | None: ...

    @property
    def opa_url(self) -> str | None: ...


def engine_for(settings: _EngineSettings) -> PolicyEngine:
    """OPA when `license.opa_url` is set, else the built-in and user policies in-process."""
    if settings.opa_url:
        return OpaEngine(settings.opa_url)
    return RegoEngine.load(settings.policy_dir)
