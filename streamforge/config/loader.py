"""Load stream config files: read, interpolate, validate; globs expand to many streams."""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from streamforge.config.model import ConfigError, Location, Problem, StreamConfig
from streamforge.config.resource_files import resource_problems, with_resources
from streamforge.config.validate import validate_document
from streamforge.config.yamlpos import YamlDocument, load_yaml

__all__ = [
    "expand_paths",
    "lint_paths",
    "lint_stream",
    "load_document",
    "load_resource_files",
    "load_stream",
    "load_streams",
    "sort_problems",
    "stream_names",
]


def sort_problems(problems: Iterable[Problem]) -> list[Problem]:
    """Problems ordered by file, line and column (and message, for stable output)."""
    return sorted(
        problems, key=lambda p: (p.location.file, p.location.line, p.location.column, p.message)
    )


def expand_paths(patterns: Sequence[str | os.PathLike[str]]) -> tuple[list[Path], list[Problem]]:
    """Expand globs (`streams/*.yaml`, `**`) into files; patterns matching nothing are problems."""
    paths: list[Path] = []
    problems: list[Problem] = []
    seen: set[Path] = set()
    for pattern in patterns:
        text = os.fspath(pattern)
        if glob.has_magic(text):
            matches = sorted(Path(m) for m in glob.glob(text, recursive=True))
            matches = [m for m in matches if m.is_file()]
        else:
            matches = [Path(text)] if Path(text).is_file() else []
        if not matches:
            reason = "no files match this pattern" if glob.has_magic(text) else "file not found"
            if Path(text).is_dir():
                reason = "is a directory (give a glob such as DIR/*.yaml)"
            problems.append(Problem(Location(text, 1, 1), reason))
        for m in matches:
            key = m.resolve()
            if key not in seen:
                seen.add(key)
                paths.append(m)
    return paths, problems


def stream_names(paths: Sequence[Path]) -> list[str]:
    """A unique stream name per file: its stem, with `_2`, `_3`... for repeated stems."""
    names: list[str] = []
    used: set[str] = set()
    for p in paths:
        base = p.stem or "stream"
        name, n = base, 1
        while name in used:
            n += 1
            name = f"{base}_{n}"
        used.add(name)
        names.append(name)
    return names


def load_document(
    path: str | os.PathLike[str], *, environ: Mapping[str, str] | None = None
) -> YamlDocument:
    """Read one YAML file with positions; unreadable files become a problem."""
    p = Path(path)
    try:
        source = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        doc = YamlDocument(file=str(p), source="", data=None)
        doc.problems.append(Problem(Location(str(p), 1, 1), f"not UTF-8 text: {exc.reason}"))
        return doc
    except OSError as exc:
        doc = YamlDocument(file=str(p), source="", data=None)
        doc.problems.append(Problem(Location(str(p), 1, 1), exc.strerror or str(exc)))
        return doc
    return load_yaml(source, str(p), environ=environ)


def load_resource_files(
    patterns: Sequence[str | os.PathLike[str]], *, environ: Mapping[str, str] | None = None
) -> tuple[list[YamlDocument], list[Problem]]:
    """Read the resource files (`-r/--resources`) matched by `patterns`, once per run."""
    paths, problems = expand_paths(patterns)
    docs: list[YamlDocument] = []
    for path in paths:
        doc = load_document(path, environ=environ)
        problems.extend(doc.problems)
        if doc.data is None and doc.problems:
            continue
        problems.extend(resource_problems(doc))
        docs.append(doc)
    return docs, problems


def _validate(
    path: Path,
    name: str,
    environ: Mapping[str, str] | None,
    resources: Sequence[YamlDocument] = (),
    *,
    resources_elsewhere: bool = False,
) -> tuple[StreamConfig | None, list[Problem]]:
    doc = load_document(path, environ=environ)
    if doc.data is None and doc.problems:
        return None, list(doc.problems)
    return validate_document(
        with_resources(doc, resources), name, path, resources_elsewhere=resources_elsewhere
    )


def lint_stream(
    path: str | os.PathLike[str],
    *,
    name: str | None = None,
    environ: Mapping[str, str] | None = None,
    resources: Sequence[YamlDocument] = (),
) -> tuple[StreamConfig | None, list[Problem]]:
    """Validate one stream file as `lint` does: the stream (None when it has errors) and its
    problems, where a resource that neither the file nor `resources` defines is a warning, as
    it may come from a resource file the stream runs with (Benthos lints file by file too)."""
    p = Path(path)
    return _validate(p, name or p.stem, environ, resources, resources_elsewhere=True)


def load_stream(
    path: str | os.PathLike[str],
    *,
    name: str | None = None,
    environ: Mapping[str, str] | None = None,
    resources: Sequence[YamlDocument] = (),
) -> StreamConfig:
    """Load and validate one stream file; raises ConfigError listing every problem.

    `resources` are resource files (see `load_resource_files`) whose lists it may use.
    """
    p = Path(path)
    stream, problems = _validate(p, name or p.stem, environ, resources)
    if problems or stream is None:
        raise ConfigError(sort_problems(problems))
    return stream


def load_streams(
    patterns: Sequence[str | os.PathLike[str]],
    *,
    environ: Mapping[str, str] | None = None,
    resources: Sequence[YamlDocument] = (),
) -> list[StreamConfig]:
    """Load every file matched by `patterns` as a stream; raises ConfigError with all problems."""
    paths, problems = expand_paths(patterns)
    streams: list[StreamConfig] = []
    for path, name in zip(paths, stream_names(paths)):
        stream, found = _validate(path, name, environ, resources)
        problems.extend(found)
        if stream is not None:
            streams.append(stream)
    if problems:
        raise ConfigError(sort_problems(problems))
    return streams


#: top-level sections that give a file something to run or test
_CONTENT = ("input", "output", "pipeline", "resources", "tests")


def _at_top(stream: StreamConfig) -> Location:
    return Location(str(stream.path) if stream.path else stream.name, 1, 1)


def unrunnable(stream: StreamConfig) -> list[Problem]:
    """Why `run` refuses a stream that does not name both an `input` and an `output`.

    A file of resources, processors and unit tests is still linted and tested.
    """
    raw = stream.raw if isinstance(stream.raw, dict) else {}
    missing = [f"`{key}`" for key in ("input", "output") if key not in raw]
    if not missing:
        return []
    return [
        Problem(_at_top(stream), f"nothing to run: the config has no {' and no '.join(missing)}")
    ]


def empty(stream: StreamConfig) -> list[Problem]:
    """Why lint refuses a config with nothing to run or test in it."""
    raw = stream.raw if isinstance(stream.raw, dict) else {}
    if any(key in _CONTENT or key.endswith("_resources") for key in raw):
        return []
    return [
        Problem(
            _at_top(stream),
            "the config is empty: it has no input, output, pipeline, resources or tests",
        )
    ]


def lint_paths(
    patterns: Sequence[str | os.PathLike[str]], *, environ: Mapping[str, str] | None = None
) -> list[Problem]:
    """Every problem in the files matched by `patterns`, sorted by file, line and column."""
    paths, problems = expand_paths(patterns)
    for path, name in zip(paths, stream_names(paths)):
        stream, found = _validate(path, name, environ)
        problems.extend(found)
        if stream is not None:
            problems.extend(empty(stream))
    return sort_problems(problems)
