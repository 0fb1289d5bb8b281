"""Benthos-style configs in the shapes Benthos documents: they lint, their inline unit
tests pass, and the runnable ones produce the documented results end to end.

Configs live in tests/conformance/configs/: those with a `tests:` section run through
`streamforge test`; those named `run_*.yaml` run with `streamforge run`, writing into a
temporary directory given as `OUT_DIR`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from streamforge.config import lint_paths

CONFIGS = Path(__file__).parent / "configs"
ALL = sorted(CONFIGS.glob("*.yaml"))
WITH_TESTS = [p for p in ALL if "tests" in (yaml.safe_load(p.read_text()) or {})]
CLI = [sys.executable, "-m", "streamforge"]

#: variables the configs read; unset here so lint and runs see the documented defaults
CONFIG_VARS = ("OUT_DIR", "IN_DIR", "CODEC", "SITE_NAME", "SCALE", "HTTP_ADDR")


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in CONFIG_VARS}
    env.update(extra)
    return env


def run(
    config: str, out_dir: Path, stdin: str = "", **env: str
) -> subprocess.CompletedProcess[str]:
    """`streamforge run` on one config, as a user runs it; fails the test on a non-zero exit."""
    proc = subprocess.run(
        [*CLI, "run", str(CONFIGS / config)],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_env(OUT_DIR=str(out_dir), **env),
    )
    assert proc.returncode == 0, proc.stderr
    return proc


def jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


# -- (a) lint --------------------------------------------------------------------------


@pytest.mark.parametrize("config", ALL, ids=lambda p: p.name)
def test_config_lints_clean(config: Path) -> None:
    assert lint_paths([config], environ=clean_env()) == []


def test_lint_command_accepts_every_config() -> None:
    proc = subprocess.run(
        [*CLI, "lint", str(CONFIGS / "*.yaml")],
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_env(),
    )
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")


# -- (b) inline unit tests ---------------------------------------------------------------


def test_inline_unit_tests_pass() -> None:
    proc = subprocess.run(
        [*CLI, "test", *map(str, WITH_TESTS)],
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_env(),
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    cases = sum(len(yaml.safe_load(p.read_text())["tests"]) for p in WITH_TESTS)
    assert proc.stdout.count("PASS ") == cases
    assert "FAIL" not in proc.stdout


# -- (c) end to end ----------------------------------------------------------------------


def test_dead_letter_queue_gets_failed_messages_with_their_error(tmp_path: Path) -> None:
    run("run_dlq_fallback.yaml", tmp_path)
    good = jsonl(tmp_path / "good.jsonl")
    dlq = jsonl(tmp_path / "dlq.jsonl")
    assert [m["id"] for m in good] == [1, 2, 4, 5]
    assert all(m["scaled"] == 3 for m in good)
    assert [m["id"] for m in dlq] == [3, 6]
    assert all("cannot multiply" in m["error"] and "scaled" not in m for m in dlq)


def test_dead_letter_pattern_with_input_processor_and_output_resources(tmp_path: Path) -> None:
    run("run_dlq_resources.yaml", tmp_path)
    assert jsonl(tmp_path / "accepted.jsonl") == [{"v": 1}] * 3
    (dead,) = (tmp_path / "dead_letters.txt").read_text().splitlines()
    assert dead.startswith("oops | ") and "JSON" in dead


def test_switch_output_routes_by_check_continue_and_error(tmp_path: Path) -> None:
    run("run_switch_output.yaml", tmp_path)
    assert [m["n"] for m in jsonl(tmp_path / "offline.jsonl")] == [4]
    assert [m["n"] for m in jsonl(tmp_path / "alarms.jsonl")] == [3, 6]
    assert [m["n"] for m in jsonl(tmp_path / "all.jsonl")] == [1, 2, 3, 5, 6]


def test_switch_output_strict_mode_fails_unmatched_messages(tmp_path: Path) -> None:
    run("run_switch_strict.yaml", tmp_path)
    assert jsonl(tmp_path / "even.jsonl") == [{"n": 2}, {"n": 4}]
    assert jsonl(tmp_path / "unmatched.jsonl") == [{"n": 1}, {"n": 3}]


def test_broker_fan_out_copies_every_message_to_each_output(tmp_path: Path) -> None:
    run("run_broker.yaml", tmp_path)
    assert jsonl(tmp_path / "copy_a.jsonl") == [{"n": 1}, {"n": 2}, {"n": 3}]
    assert jsonl(tmp_path / "copy_b.jsonl") == [{"n": i, "copy": "b"} for i in (1, 2, 3)]


def test_broker_round_robin_alternates_outputs(tmp_path: Path) -> None:
    run("run_broker_round_robin.yaml", tmp_path)
    assert jsonl(tmp_path / "rr_a.jsonl") == [{"n": 1}, {"n": 3}]
    assert jsonl(tmp_path / "rr_b.jsonl") == [{"n": 2}, {"n": 4}]


def test_metadata_interpolated_into_file_paths(tmp_path: Path) -> None:
    run("run_meta_paths.yaml", tmp_path)
    files = sorted(p.name for p in (tmp_path / "by_line").iterdir())
    assert files == ["even-EVEN.jsonl", "odd-ODD.jsonl"]
    assert jsonl(tmp_path / "by_line" / "odd-ODD.jsonl") == [{"n": 1}, {"n": 3}, {"n": 5}]


def test_generate_every_interval_and_count_end_the_run(tmp_path: Path) -> None:
    run("run_generate_every.yaml", tmp_path)
    assert jsonl(tmp_path / "ticks.jsonl") == [{"tick": 1}, {"tick": 2}, {"tick": 3}]


@pytest.mark.parametrize(
    ("codec", "expected"),
    [
        ("lines", {"a.txt": ["alpha", "beta", "gamma"], "b.txt": ["x|y|z|"]}),
        ("all-bytes", {"a.txt": ["alpha\nbeta\r\n\ngamma"], "b.txt": ["x|y|z|"]}),
        ("delim:|", {"a.txt": ["alpha\nbeta\r\n\ngamma"], "b.txt": ["x", "y", "z"]}),
    ],
)
def test_file_input_codecs(tmp_path: Path, codec: str, expected: dict[str, list[str]]) -> None:
    src = tmp_path / "in"
    src.mkdir()
    (src / "a.txt").write_bytes(b"alpha\nbeta\r\n\ngamma")
    (src / "b.txt").write_bytes(b"x|y|z|")
    (src / "ignored.csv").write_bytes(b"not matched by the glob")
    run("run_file_codecs.yaml", tmp_path / "out", CODEC=codec, IN_DIR=str(src))
    got: dict[str, list[str]] = {}
    for rec in jsonl(tmp_path / "out" / "records.jsonl"):
        got.setdefault(rec["file"], []).append(rec["text"])
    assert got == expected


def test_stdin_lines_to_stdout(tmp_path: Path) -> None:
    proc = run("run_stdin.yaml", tmp_path, stdin="valve open\npump on\nlast line")
    assert proc.stdout.splitlines() == ["VALVE OPEN", "PUMP ON", "LAST LINE"]


def test_failed_messages_are_counted_and_the_stream_goes_on(tmp_path: Path) -> None:
    proc = run("run_errors_counted.yaml", tmp_path)
    out = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [m["n"] for m in out] == list(range(1, 11))
    failed = [m for m in out if m["n"] % 4 == 0]
    assert failed == [{"n": 4}, {"n": 8}]
    assert all(m["after"] is True for m in out if m["n"] % 4)
    assert "10 read, 8 written, 2 dead-lettered, 0 failed (written nowhere)" in proc.stderr
    assert "multiple of four" in proc.stderr


def test_messages_written_nowhere_are_counted_as_failed(tmp_path: Path) -> None:
    proc = run("run_rejected_counted.yaml", tmp_path)
    assert [json.loads(line)["n"] for line in proc.stdout.splitlines()] == [2, 4, 6]
    assert "6 read, 3 written, 0 dead-lettered, 3 failed (written nowhere)" in proc.stderr


def test_drop_output_ends_cleanly(tmp_path: Path) -> None:
    proc = run("run_drop.yaml", tmp_path)
    assert proc.stdout == ""
    assert "3 read, 3 written, 0 dead-lettered, 0 failed (written nowhere)" in proc.stderr


def test_env_vars_swapped_before_yaml_in_flow_mappings(tmp_path: Path) -> None:
    config = tmp_path / "flow.yaml"
    config.write_text(
        "input: { generate: { count: ${N:2}, interval: '', mapping: 'root = \"hi\"' } }\n"
        "output: { file: { path: ${OUT_DIR}/flow.txt } }\n"
        "http: { enabled: false }\n"
    )
    env = clean_env(OUT_DIR=str(tmp_path))
    assert lint_paths([config], environ=env) == []
    proc = subprocess.run(
        [*CLI, "run", str(config)], capture_output=True, text=True, timeout=60, env=env
    )
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "flow.txt").read_text() == "hi\nhi\n"
    problems = lint_paths([config], environ=clean_env())
    assert [(p.location.line, "OUT_DIR" in p.message) for p in problems] == [(2, True)]
