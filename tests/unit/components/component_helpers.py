"""Helpers for component tests: a build context and small recording outputs/processors."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

from streamforge.config import ConfigError, lint_paths, load_stream
from streamforge.config.model import Location
from streamforge.config.validate import validate_component
from streamforge.engine.instantiate import build_problems
from streamforge.message import Message
from streamforge.plugin import Cache, Kind, Output, Processor, registry
from streamforge.plugin.testing import PluginTestContext


class Ctx(PluginTestContext):
    """A BuildContext whose nested components are given built, or as `{type: conf}`."""

    def __init__(self) -> None:
        super().__init__()

    def cache(self, label: str) -> Cache:
        raise LookupError(f"no cache resource {label!r} in component tests")


class Recorder(Output):
    """Keeps what it is given; fails messages for which `fail(msg)` is true."""

    def __init__(self, fail: Callable[[Message], bool] | None = None, reason: str = "boom"):
        self.batches: list[list[Message]] = []
        self.fail = fail
        self.reason = reason
        self.closed = False
        self.flushed = 0

    @property
    def messages(self) -> list[Message]:
        return [m for b in self.batches for m in b]

    @property
    def payloads(self) -> list[bytes]:
        return [m.payload for m in self.messages]

    def write_batch(self, batch: list[Message]) -> list[Message]:
        failed = [m for m in batch if self.fail is not None and self.fail(m)]
        for m in failed:
            m.error = self.reason
        ok = [m for m in batch if not any(m is f for f in failed)]
        if ok:
            self.batches.append(ok)
        return failed

    def flush(self) -> list[Message]:
        self.flushed += 1
        return []

    def close(self) -> None:
        self.closed = True


class Fn(Processor):
    """A processor from a function over one message (returning a message, a list or None)."""

    def __init__(self, fn: Callable[[Message], Any]):
        self.fn = fn
        self.seen: list[bytes] = []

    def process_batch(self, batch: list[Message]) -> list[Message]:
        out: list[Message] = []
        for m in batch:
            self.seen.append(m.payload)
            r = self.fn(m)
            if isinstance(r, list):
                out.extend(r)
            elif r is not None:
                out.append(r)
        return out


def build(kind: str, name: str, conf: Any, context: Ctx | None = None) -> Any:
    spec = registry.get(kind, name)  # type: ignore[arg-type]
    assert spec is not None, f"unknown {kind} {name}"
    return spec.factory(conf, context or Ctx())


def msgs(*payloads: bytes | str) -> list[Message]:
    return [Message(p) for p in payloads]


#: a stream around the processors given to `lint_processors`: they start on line 5, column 5
_LINT_HEAD = (
    'input:\n  generate: {count: 1, interval: "", mapping: root = 1}\npipeline:\n  processors:\n'
)
_LINT_TAIL = "output:\n  drop: {}\n"


def lint_processors(tmp_path: Path, processors: str) -> list[str]:
    """What `streamforge lint` reports for a stream whose pipeline runs `processors` (a YAML
    list, dedented), as `s.yaml:line:col: ...`; the list starts on line 5, column 5."""
    path = tmp_path / "s.yaml"
    body = textwrap.indent(textwrap.dedent(processors).strip("\n") + "\n", "    ")
    path.write_text(_LINT_HEAD + body + _LINT_TAIL)
    return [str(p).replace(str(tmp_path) + "/", "") for p in lint_paths([str(path)])]


def lint_stream(tmp_path: Path, text: str) -> list[str]:
    """What `streamforge lint` reports for a stream config (dedented): the config's problems,
    then what building its components refuses."""
    path = tmp_path / "stream.yaml"
    path.write_text(textwrap.dedent(text).lstrip())
    try:
        stream = load_stream(path)
    except ConfigError as exc:
        return [str(p) for p in exc.problems]
    return [str(p) for p in build_problems(stream)]


def validated_conf(kind: Kind, name: str, conf: dict[str, Any]) -> dict[str, Any]:
    """A component's config as a stream's would be: checked, with the defaults filled in."""
    cc, problems = validate_component(kind, {name: conf}, Location("test.yaml", 1, 1))
    assert cc is not None, problems
    return dict(cc.conf)
