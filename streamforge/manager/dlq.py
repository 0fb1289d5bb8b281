"""A managed stream's dead letters: where its config writes them, reading and replaying them.

Dead letters are what a stream's dead-letter outputs write: a `fallback` entry after the first,
a `switch` case on `errored()`, or an output labelled like one (`dead_letter`, `dlq` ...), when
it is a `file` output (JSON Lines under the data root). Replaying runs `streamforge dlq replay
--consume` on them in a process of its own, so the manager and the running stream are never
at risk; what fails again lands in fresh dead-letter files.
"""

from __future__ import annotations

import base64
import glob
import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from streamforge.config.env import interpolate_env

__all__ = [
    "DeadLetter",
    "DeadLetterPage",
    "ReplayOutcome",
    "dead_letter_files",
    "dead_letter_patterns",
    "read_dead_letters",
    "replay_dead_letters",
]

#: seconds a replay may take before it is ended
REPLAY_TIMEOUT = 300.0
_DEAD_LABEL = re.compile(r"dead|dlq", re.IGNORECASE)
_BLOBLANG = re.compile(r"\$\{!.*?\}")
_ERRORED_CHECK = re.compile(r"(?<![!\w])errored\(\)")


@dataclass(frozen=True)
class DeadLetter:
    """One dead-lettered record as an operator reads it."""

    file: str
    line: int
    payload: str
    encoding: str  # text or base64
    metadata: dict[str, Any]
    error: str | None
    when: str | None


@dataclass(frozen=True)
class DeadLetterPage:
    entries: list[DeadLetter]
    total: int
    next: str | None


@dataclass(frozen=True)
class ReplayOutcome:
    files: int
    read: int
    passed: int
    failed: int
    dropped: int


def _file_paths(node: Any) -> list[str]:
    """Every `file` output path inside an output tree."""
    found: list[str] = []
    if isinstance(node, dict):
        file_conf = node.get("file")
        if isinstance(file_conf, dict) and isinstance(file_conf.get("path"), str):
            found.append(file_conf["path"])
        for key, value in node.items():
            if key != "processors":
                found.extend(_file_paths(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(_file_paths(value))
    return found


def _dead_outputs(node: Any, resources: dict[str, Any]) -> list[Any]:
    """The outputs of an output tree that receive errored messages."""
    if isinstance(node, list):
        return [d for item in node for d in _dead_outputs(item, resources)]
    if not isinstance(node, dict):
        return []
    if isinstance(node.get("label"), str) and _DEAD_LABEL.search(node["label"]):
        return [node]
    if isinstance(node.get("resource"), str):
        target = resources.get(node["resource"])
        if target is None:
            return []
        if _DEAD_LABEL.search(node["resource"]):
            return [target]
        return _dead_outputs(target, {k: v for k, v in resources.items() if k != node["resource"]})
    dead: list[Any] = []
    fallback = node.get("fallback")
    if isinstance(fallback, list) and fallback:
        dead.extend(fallback[1:])
        dead.extend(_dead_outputs(fallback[0], resources))
    switch = node.get("switch")
    cases = switch.get("cases") if isinstance(switch, dict) else switch
    if isinstance(cases, list):
        for case in cases:
            if not isinstance(case, dict):
                continue
            check = case.get("check")
            if isinstance(check, str) and _ERRORED_CHECK.search(check):
                dead.append(case.get("output"))
            else:
                dead.extend(_dead_outputs(case.get("output"), resources))
    for key in ("broker", "reject_errored"):
        inner = node.get(key)
        if isinstance(inner, dict):
            dead.extend(_dead_outputs(inner.get("outputs", inner), resources))
    return dead


def dead_letter_patterns(config_yaml: str, data_root: Path, env: dict[str, str]) -> list[str]:
    """Where the stream's dead-letter outputs write, as globs (empty: it has none)."""
    try:
        tree = yaml.safe_load(interpolate_env(config_yaml, env).text)
    except yaml.YAMLError:
        return []
    if not isinstance(tree, dict):
        return []
    resources = {
        r["label"]: r
        for r in tree.get("output_resources") or []
        if isinstance(r, dict) and isinstance(r.get("label"), str)
    }
    patterns: list[str] = []
    for output in _dead_outputs(tree.get("output"), resources):
        for path in _file_paths(output):
            pattern = _BLOBLANG.sub("*", path)
            full = pattern if Path(pattern).is_absolute() else str(data_root / pattern)
            if full not in patterns:
                patterns.append(full)
    return patterns


def dead_letter_files(patterns: list[str]) -> list[Path]:
    """The dead-letter files written so far (existing, sorted)."""
    files = {Path(p) for pattern in patterns for p in glob.glob(pattern) if Path(p).is_file()}
    return sorted(files)


def _entry(name: str, number: int, raw: bytes) -> DeadLetter:
    try:
        record = json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        record = None
    metadata: dict[str, Any] = {}
    error: str | None = None
    when: str | None = None
    body: bytes | str = raw
    if isinstance(record, dict):
        error = record.get("error") if isinstance(record.get("error"), str) else None
        when = next(
            (
                record[k]
                for k in ("dead_lettered_at", "when", "time")
                if isinstance(record.get(k), str)
            ),
            None,
        )
        if isinstance(record.get("metadata"), dict):
            metadata = record["metadata"]
        if "message" in record and "error" in record:
            original = record["message"]
            body = original if isinstance(original, str) else json.dumps(original)
    if isinstance(body, str):
        return DeadLetter(name, number, body, "text", metadata, error, when)
    try:
        return DeadLetter(name, number, body.decode("utf-8"), "text", metadata, error, when)
    except UnicodeDecodeError:
        text = base64.b64encode(body).decode("ascii")
        return DeadLetter(name, number, text, "base64", metadata, error, when)


def read_dead_letters(
    files: list[Path], data_root: Path, limit: int, cursor: str | None
) -> DeadLetterPage:
    """Up to `limit` records from position `cursor` on (oldest file first, in line order)."""
    try:
        start = int(cursor) if cursor else 0
    except ValueError:
        raise ValueError(f"cursor: {cursor!r} is not one this endpoint gave") from None
    if start < 0:
        raise ValueError(f"cursor: {cursor!r} is not one this endpoint gave")
    entries: list[DeadLetter] = []
    total = 0
    for path in files:
        try:
            name = str(path.relative_to(data_root))
        except ValueError:
            name = str(path)
        try:
            with path.open("rb") as fh:
                for number, raw in enumerate(fh, start=1):
                    raw = raw.rstrip(b"\r\n")
                    if not raw:
                        continue
                    if start <= total < start + limit:
                        entries.append(_entry(name, number, raw))
                    total += 1
        except OSError:
            continue  # moved aside by a replay meanwhile
    more = total > start + limit
    return DeadLetterPage(entries, total, str(start + limit) if more else None)


def replay_dead_letters(
    stream_id: str,
    config_yaml: str,
    files: list[Path],
    *,
    workdir: Path,
    data_root: Path,
    env: dict[str, str],
) -> ReplayOutcome:
    """`streamforge dlq replay --consume` over `files` with the stream's config; RuntimeError
    with the command's complaint when it fails."""
    if not files:
        return ReplayOutcome(0, 0, 0, 0, 0)
    scratch = workdir / "dlq-replay"
    scratch.mkdir(parents=True, exist_ok=True)
    config = scratch / f"{stream_id}.yaml"
    config.write_text(config_yaml)
    args = [sys.executable, "-m", "streamforge", "dlq", "replay", "--consume", "--json"]
    for path in files:
        args += ["--from", str(path)]
    args += ["--stream", str(config)]
    try:
        done = subprocess.run(
            args, cwd=data_root, env=env, capture_output=True, text=True, errors="replace",
            timeout=REPLAY_TIMEOUT, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"the replay took longer than {REPLAY_TIMEOUT:g}s") from None
    summary = _summary(done.stdout)
    if done.returncode != 0 or summary is None:
        lines = [x for x in done.stderr.splitlines() if x.strip()]
        why = lines[-1] if lines else f"exit code {done.returncode}"
        raise RuntimeError(f"the replay failed: {why}")
    return ReplayOutcome(
        len(files), summary["read"], summary["passed"], summary["failed"], summary["dropped"]
    )


def _summary(stdout: str) -> dict[str, int] | None:
    for line in reversed(stdout.splitlines()):
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict) and {"read", "passed", "failed", "dropped"} <= set(value):
            return {k: int(value[k]) for k in ("read", "passed", "failed", "dropped")}
    return None
