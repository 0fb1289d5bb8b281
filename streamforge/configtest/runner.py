"""Run one unit test: build its target processors, feed its input batches, check outputs.

Each test runs in isolation: its environment variables are set while the config is
loaded and the processors run, its mocks are applied to a fresh copy of the config, and
its processors (resources included) are built for it alone.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from streamforge.configtest.conditions import (
    ConditionSet,
    DefinitionError,
    parse_condition_set,
    parse_input_part,
    scalar_text,
)
from streamforge.configtest.discover import TestCase, TestFile
from streamforge.configtest.targets import (
    TargetError,
    apply_mocks,
    label_pointer,
    processors_stream,
    resolve_target,
)
from streamforge.message import Message
from streamforge.plugin import Processor
from streamforge.plugin.chain import ProcessorChain
from streamforge.processors.mapping import MappingProcessor

__all__ = ["CaseResult", "ParsedCase", "parse_case", "run_case", "run_file"]

DEFAULT_TARGET = "/pipeline/processors"
_CASE_FIELDS = frozenset(
    {"name", "environment", "target_processors", "target_mapping", "mocks",
     "input_batch", "input_batches", "output_batches"}
)  # fmt: skip


@dataclass
class CaseResult:
    """The outcome of one test: no failures means it passed."""

    file: TestFile
    case: TestCase
    failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures


@dataclass
class ParsedCase:
    """A test definition checked and turned into messages and conditions."""

    name: str
    environment: dict[str, str]
    target_processors: str
    target_mapping: str
    mocks: dict[str, Any]
    input_batches: list[list[Message]]
    output_batches: list[list[ConditionSet]]


def _as_list(value: Any, what: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise DefinitionError(f"{what} must be a list")
    return value


def parse_case(raw: dict[str, Any], base_dir: Path) -> ParsedCase:
    """Check a `tests:` entry and build its inputs and expected outputs."""
    if "__invalid__" in raw:
        raise DefinitionError(str(raw["__invalid__"]))
    unknown = sorted(str(k) for k in raw if k not in _CASE_FIELDS)
    if unknown:
        choices = ", ".join(sorted(_CASE_FIELDS))
        raise DefinitionError(f"unknown test field(s) {', '.join(unknown)} (choose from {choices})")
    env = raw.get("environment") or {}
    if not isinstance(env, dict):
        raise DefinitionError("environment must be a map of variable names to values")
    mocks = raw.get("mocks") or {}
    if not isinstance(mocks, dict):
        raise DefinitionError("mocks must be a map of labels or JSON Pointers to components")
    batches: list[list[Message]] = []
    for b, batch in enumerate(_as_list(raw.get("input_batches"), "input_batches")):
        batch = _as_list(batch, f"input_batches[{b}]")
        batches.append([parse_input_part(p, base_dir) for p in batch])
    single = _as_list(raw.get("input_batch"), "input_batch")
    if single:
        batches.append([parse_input_part(p, base_dir) for p in single])
    expected: list[list[ConditionSet]] = []
    for b, batch in enumerate(_as_list(raw.get("output_batches"), "output_batches")):
        batch = _as_list(batch, f"output_batches[{b}]")
        expected.append([parse_condition_set(c) for c in batch])
    return ParsedCase(
        name=str(raw.get("name") or ""),
        environment={str(k): scalar_text(v) for k, v in env.items()},
        target_processors=scalar_text(raw.get("target_processors")) or DEFAULT_TARGET,
        target_mapping=scalar_text(raw.get("target_mapping")),
        mocks={str(k): v for k, v in mocks.items()},
        input_batches=batches,
        output_batches=expected,
    )


@contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables for the duration of a test, then restore them."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, old in saved.items():
            if old is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = old


class TestSetupError(Exception):
    """The target processors could not be provided; carries one line per problem."""

    __test__ = False  # not a pytest test class

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


class _FileMapping(MappingProcessor):
    """The `mapping` processor, running a mapping parsed from a file."""

    def __init__(self, executor: Any) -> None:
        self.executor = executor


def _mapping_processors(path_text: str, base_dir: Path) -> list[Processor]:
    from streamforge.bloblang import ParseError, parse

    path = Path(path_text)
    if not path.is_absolute():
        path = base_dir / path
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TestSetupError(
            [f"target_mapping: cannot read {str(path)!r}: {exc.strerror}"]
        ) from None
    try:
        executor = parse(text, import_paths=(str(path.parent),))
    except ParseError as exc:
        raise TestSetupError([f"{path}:{exc.line}:{exc.column}: {exc.reason}"]) from None
    return [_FileMapping(executor)]


def _split_target(target: str, config: Path) -> tuple[Path, str]:
    """`other.yaml#/pipeline/processors` -> (other.yaml beside config, pointer)."""
    if "#" in target:
        file_part, _, fragment = target.partition("#")
        file_part = unquote(file_part.removeprefix("file://"))
        path = Path(file_part) if file_part else config
        if file_part and not path.is_absolute():
            path = config.parent / path
        if not fragment:
            raise TestSetupError([f"target_processors {target!r} has no path after '#'"])
        return path, fragment
    return config, target


def _remap_nodes(
    nodes: dict[tuple[Any, ...], Any],
    sources: list[list[Any] | None],
    mocked: list[list[Any]],
) -> dict[tuple[Any, ...], Any]:
    """Positions for the synthetic stream: targets keep the lines they came from.

    A mocked component keeps the position of what it replaced, but nothing inside it.
    """
    pipeline = ("pipeline", "processors")
    dead = [tuple(m) for m in mocked]

    def alive(p: tuple[Any, ...]) -> bool:
        return not any(len(p) > len(d) and p[: len(d)] == d for d in dead)

    out = {p: info for p, info in nodes.items() if p[:2] != pipeline and alive(p)}
    for j, src in enumerate(sources):
        if src is None:
            continue
        base = tuple(src)
        for p, info in nodes.items():
            if p[: len(base)] == base and alive(p):
                key = (*pipeline, j, *p[len(base) :])
                out[key] = info
    return out


def _processors_from_config(case: ParsedCase, tf: TestFile) -> list[Processor]:
    from streamforge.config import YamlDocument, load_document, validate_document
    from streamforge.config.resource_files import with_resources
    from streamforge.engine.instantiate import BuildError, StreamBuilder

    config, target = _split_target(case.target_processors, tf.config)
    if config == tf.config and not tf.has_stream and not tf.resources:
        raise TestSetupError(
            [
                f"{tf.definition}: no config to test: put the tests beside a config "
                "(foo.yaml + foo_test.yaml), name one in target_processors "
                "(other.yaml#/pipeline/processors), or use target_mapping"
            ]
        )
    doc = load_document(config)
    if doc.data is None and doc.problems:
        raise TestSetupError([str(p) for p in doc.problems])
    doc = with_resources(doc, tf.resources)
    stream, problems = validate_document(doc, config.stem, config)
    if problems or stream is None:
        raise TestSetupError([str(p) for p in problems] or [f"{config}: invalid config"])
    if not isinstance(doc.data, dict):
        raise TestSetupError([f"{config}: not a stream config"])
    try:
        raw = doc.data
        if not target.startswith("/"):
            # a label names what carried it before mocks replaced anything (as in Benthos)
            target = label_pointer(raw, target)
        mocked: list[list[Any]] = []
        if case.mocks:
            raw, mocked = apply_mocks(raw, case.mocks)
        targets = resolve_target(raw, target)
    except TargetError as exc:
        raise TestSetupError([f"{config}: {exc}"]) from None
    synth = YamlDocument(
        file=doc.file,
        source=doc.source,
        data=processors_stream(raw, [t for t, _ in targets]),
        nodes=_remap_nodes(doc.nodes, [src for _, src in targets], mocked),
        borrowed=doc.borrowed,
    )
    built, problems = validate_document(synth, config.stem, config)
    if problems or built is None:
        raise TestSetupError([str(p) for p in problems] or [f"{config}: invalid test target"])
    try:
        return StreamBuilder(built).build_processors(built.processors)
    except BuildError as exc:
        raise TestSetupError([str(exc)]) from None


def provide_processors(case: ParsedCase, tf: TestFile) -> list[Processor]:
    """The processors a test runs (call inside the test's environment)."""
    if case.target_mapping:
        return _mapping_processors(case.target_mapping, tf.definition.parent)
    return _processors_from_config(case, tf)


def _is_output_level(case: ParsedCase) -> bool:
    """Whether the target is an output's own `processors:` (these see errored messages)."""
    if case.target_mapping:
        return False
    parts = case.target_processors.strip("/").split("/")
    outputs = parts[0] == "output" or "output_resources" in parts[:2]
    return outputs and parts[-1] == "processors" and parts.count("processors") == 1


def _contents(batch: list[Message]) -> str:
    return "[" + ", ".join(repr(m.payload.decode("utf-8", "replace")) for m in batch) + "]"


def compare_outputs(
    actual: list[list[Message]], expected: list[list[ConditionSet]], base_dir: Path
) -> list[str]:
    """Failures between actual and expected output batches, Benthos-style."""
    failures: list[str] = []
    if len(actual) < len(expected):
        failures.append(f"wrong batch count, expected {len(expected)}, got {len(actual)}")
    for b, batch in enumerate(actual):
        if b >= len(expected):
            failures.append(f"unexpected batch {b}: {_contents(batch)}")
            continue
        exp = expected[b]
        if len(exp) != len(batch):
            failures.append(
                f"batch {b}: wrong message count, expected {len(exp)}, got {len(batch)}"
            )
        for m, msg in enumerate(batch):
            if m >= len(exp):
                failures.append(
                    f"batch {b} message {m}: unexpected message: "
                    f"{msg.payload.decode('utf-8', 'replace')}"
                )
                continue
            reasons = exp[m].check(msg, base_dir)
            failures.extend(f"batch {b} message {m}: {r}" for r in reasons)
            if reasons and msg.error is not None:
                failures.append(f"batch {b} message {m}: message flagged with error: {msg.error}")
    return failures


def run_case(tf: TestFile, case: TestCase) -> CaseResult:
    """Run one test of a file."""
    result = CaseResult(tf, case)
    base_dir = tf.definition.parent
    try:
        parsed = parse_case(case.raw, base_dir)
    except DefinitionError as exc:
        result.failures.append(f"bad test definition: {exc}")
        return result
    outputs: list[list[Message]] = []
    with environment(parsed.environment):
        try:
            chain = ProcessorChain(
                provide_processors(parsed, tf),
                skip_errored=not _is_output_level(parsed),
            )
        except TestSetupError as exc:
            result.failures.extend(exc.problems)
            return result
        except Exception as exc:  # noqa: BLE001 - one broken test must not stop the others
            result.failures.append(f"cannot build the processors: {type(exc).__name__}: {exc}")
            return result
        try:
            for batch in parsed.input_batches:
                out = chain.process_batch(batch)
                if out:
                    outputs.append(out)
        finally:
            chain.close()
    result.failures.extend(compare_outputs(outputs, parsed.output_batches, base_dir))
    return result


def run_file(tf: TestFile) -> list[CaseResult]:
    """Run every test of a definition file, in order."""
    return [run_case(tf, case) for case in tf.cases]
