"""`streamforge run` end to end, as a user runs it: a subprocess on real files."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest
from peers.stream_run import CLI, out_lines, run_to_end, write

#: test-only components, loaded with --plugins
PLUGIN = '''
from streamforge.plugin import (
    Field, Input, InputReader, Processor, register_input, register_processor,
)
from streamforge.message import Message


class _Broken(InputReader):
    def read(self):
        raise RuntimeError("device exploded")


@register_input("itest_broken")
class Broken(Input):
    """Fails on its first read."""

    def __init__(self, conf, ctx):
        pass

    def open(self, partition, resume_state):
        return _Broken()


@register_processor("itest_upper")
class Upper(Processor):
    """Upper-cases payloads; payloads containing "bad" fail."""

    def __init__(self, conf, ctx):
        pass

    def process_batch(self, batch):
        for m in batch:
            if b"bad" in m.payload:
                m.fail("bad payload")
            else:
                m.set_payload(m.payload.upper())
        return batch
'''


@pytest.fixture()
def plugin(tmp_path: Path) -> Path:
    return write(tmp_path / "itest_plugin.py", PLUGIN)


@pytest.fixture()
def data(tmp_path: Path) -> list[Path]:
    return [
        write(tmp_path / "in" / f"part{i}.txt", "\n".join(f"f{i}-{n}" for n in range(40)))
        for i in range(3)
    ]


def file_stream(tmp_path: Path, name: str, out: str, extra: str = "") -> Path:
    return write(
        tmp_path / "cfg" / f"{name}.yaml",
        f"""
        input:
          file:
            paths: [ "{tmp_path}/in/*.txt" ]
        output:
          file:
            path: "{out}"
        http:
          enabled: false
        {extra}
        """,
    )


def expected(data: list[Path]) -> list[str]:
    return sorted(line for f in data for line in out_lines(f))


def test_file_stream_runs_to_completion_and_exits_zero(tmp_path: Path, data: list[Path]) -> None:
    cfg = file_stream(tmp_path, "copy", f"{tmp_path}/out/copy.txt")
    result = run_to_end(cfg)
    assert result.returncode == 0, result.stderr
    assert sorted(out_lines(tmp_path / "out" / "copy.txt")) == expected(data)


def test_globs_run_several_streams_in_one_dataflow(tmp_path: Path, data: list[Path]) -> None:
    file_stream(tmp_path, "one", f"{tmp_path}/out/one.txt")
    file_stream(tmp_path, "two", f"{tmp_path}/out/two.txt")
    result = run_to_end(f"{tmp_path}/cfg/*.yaml")
    assert result.returncode == 0, result.stderr
    assert sorted(out_lines(tmp_path / "out" / "one.txt")) == expected(data)
    assert sorted(out_lines(tmp_path / "out" / "two.txt")) == expected(data)
    assert "running 2 stream(s): one, two" in result.stderr


def test_bad_config_prints_every_problem_and_starts_nothing(
    tmp_path: Path, data: list[Path]
) -> None:
    good = file_stream(tmp_path, "good", f"{tmp_path}/out/good.txt")
    bad = write(
        tmp_path / "cfg" / "bad.yaml",
        """
        input:
          fiel:
            paths: [ x ]
        output:
          drop: {}
        """,
    )
    result = run_to_end(good, bad)
    assert result.returncode == 1
    problems = [line for line in result.stderr.splitlines() if line.startswith(str(bad))]
    assert problems, result.stderr
    assert problems[0].startswith(f"{bad}:2:3: ")
    assert not (tmp_path / "out" / "good.txt").exists()


def test_missing_file_is_a_problem(tmp_path: Path) -> None:
    result = run_to_end(tmp_path / "nope.yaml")
    assert result.returncode == 1
    assert str(tmp_path / "nope.yaml") in result.stderr


def test_plugins_load_before_configs_and_failures_are_flagged(tmp_path: Path, plugin: Path) -> None:
    write(tmp_path / "in" / "words.txt", "alpha\nbad one\nbeta\n")
    cfg = write(
        tmp_path / "upper.yaml",
        f"""
        input:
          file:
            paths: [ "{tmp_path}/in/words.txt" ]
        pipeline:
          processors:
            - label: shout
              itest_upper: {{}}
        output:
          file:
            path: "{tmp_path}/out.txt"
        http:
          enabled: false
        """,
    )
    result = run_to_end("--plugins", plugin, cfg)
    assert result.returncode == 0, result.stderr
    # the failed message is flagged, logged once with a sample, and the stream goes on
    assert out_lines(tmp_path / "out.txt") == ["ALPHA", "bad one", "BETA"]
    errors = [line for line in result.stderr.splitlines() if "level=error" in line]
    assert len(errors) == 1
    assert "component=shout" in errors[0] and 'error="bad payload"' in errors[0]
    assert 'sample="bad one"' in errors[0]


def test_unknown_plugin_file_exits_one(tmp_path: Path) -> None:
    cfg = file_stream(tmp_path, "x", f"{tmp_path}/x.txt")
    result = run_to_end("--plugins", tmp_path / "missing.py", cfg)
    assert result.returncode == 1
    assert "missing.py" in result.stderr


def test_workers_split_partitions_and_process_each_message_once(
    tmp_path: Path, data: list[Path]
) -> None:
    cfg = file_stream(tmp_path, "w", f"{tmp_path}/out/w.txt")
    result = run_to_end("-w", "3", cfg)
    assert result.returncode == 0, result.stderr
    assert "workers=3" in result.stderr
    assert sorted(out_lines(tmp_path / "out" / "w.txt")) == expected(data)


def test_pipeline_threads_choose_workers_unless_w_is_given(
    tmp_path: Path, data: list[Path]
) -> None:
    cfg = file_stream(
        tmp_path, "t", f"{tmp_path}/out/t.txt", extra="pipeline:\n          threads: 2"
    )
    assert "workers=2" in run_to_end(cfg).stderr
    assert "workers=1" in run_to_end("-w", "1", cfg).stderr


def test_recovery_dir_resumes_where_the_last_run_ended(tmp_path: Path, data: list[Path]) -> None:
    cfg = file_stream(tmp_path, "r", f"{tmp_path}/out/r.txt")
    recovery = tmp_path / "recovery"
    first = run_to_end("--recovery-dir", recovery, cfg)
    assert first.returncode == 0, first.stderr
    assert list(recovery.glob("part-*.sqlite3"))
    with data[0].open("a") as fh:
        fh.write("\nappended")
    second = run_to_end("--recovery-dir", recovery, cfg)
    assert second.returncode == 0, second.stderr
    out = out_lines(tmp_path / "out" / "r.txt")
    assert sorted(out) == expected(data)
    assert out[-1] == "appended"


def stop_after_lines(out: Path, lines: int, *args: str | Path) -> None:
    """`streamforge run ARGS`, stopped with SIGTERM once `out` has `lines` lines; exits 0."""
    proc = subprocess.Popen([*CLI, *map(str, args)], stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while len(out_lines(out)) < lines and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 0, stderr


def test_a_resumed_generate_continues_its_counter_and_random_numbers(tmp_path: Path) -> None:
    out = tmp_path / "gen.txt"
    recovery = tmp_path / "recovery"
    cfg = write(
        tmp_path / "gen.yaml",
        f"""
        input:
          generate:
            count: 300
            interval: 10ms
            batch_size: 5
            mapping: 'root = {{"n": counter(), "r": random_int(seed: 7, max: 1000000)}}'
        output:
          file:
            path: "{out}"
        http:
          enabled: false
        """,
    )
    stop_after_lines(out, 50, "--recovery-dir", recovery, cfg)
    stopped_at = len(out_lines(out))
    assert 50 <= stopped_at < 300

    resumed = run_to_end("--recovery-dir", recovery, cfg)
    assert resumed.returncode == 0, resumed.stderr
    docs = [json.loads(line) for line in out_lines(out)]
    assert [d["n"] for d in docs] == list(range(1, 301)), "every count once, in order"
    rng = random.Random(7)
    assert [d["r"] for d in docs] == [rng.randint(0, 1000000) for _ in range(300)]


def test_json_log_format_with_static_fields(tmp_path: Path, data: list[Path]) -> None:
    logger = "logger: {format: json, static_fields: {site: plant-7}}"
    cfg = file_stream(tmp_path, "j", f"{tmp_path}/j.txt", extra=logger)
    result = run_to_end(cfg)
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stderr.splitlines() if line.strip()]
    assert any(r["msg"].startswith("running 1 stream") for r in records)
    assert all({"level", "ts", "msg"} <= r.keys() for r in records)
    assert {r["site"] for r in records} == {"plant-7"}


def test_log_level_filters_lines(tmp_path: Path, data: list[Path]) -> None:
    cfg = file_stream(tmp_path, "q", f"{tmp_path}/q.txt", extra="logger: {level: warn}")
    result = run_to_end(cfg)
    assert result.returncode == 0, result.stderr
    assert "level=info" not in result.stderr


def test_sigterm_stops_an_endless_stream_gracefully(tmp_path: Path) -> None:
    out = tmp_path / "ticks.txt"
    cfg = write(
        tmp_path / "ticks.yaml",
        f"""
        input:
          generate:
            mapping: 'root = {{"n": counter() - 1}}'
            interval: 10ms
            batch_size: 5
        output:
          file:
            path: "{out}"
        http:
          enabled: false
        """,
    )
    stop_after_lines(out, 20, cfg)
    written = [json.loads(line)["n"] for line in out_lines(out)]
    # every message read before the stop was written, in order, none twice
    assert written == list(range(len(written)))
    assert len(written) >= 20


def _ticking(tmp_path: Path, interval: str) -> tuple[subprocess.Popen[str], Path]:
    """A running stream writing "tick" to a file every `interval` (the first at once)."""
    out = tmp_path / "ticks.txt"
    cfg = write(
        tmp_path / "ticks.yaml",
        f"""
        input:
          generate: {{ interval: {interval}, mapping: 'root = "tick"' }}
        output:
          file: {{ path: "{out}" }}
        http:
          enabled: false
        """,
    )
    return subprocess.Popen([*CLI, str(cfg)], stderr=subprocess.PIPE, text=True), out


def _wait_for_lines(proc: subprocess.Popen[str], out: Path, n: int, timeout: float = 20) -> None:
    """Until `out` has `n` lines or more, the stream running all the while."""
    deadline = time.monotonic() + timeout
    while len(out_lines(out)) < n:
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.05)


def test_sigterm_stops_a_stream_whose_input_waits_an_hour(tmp_path: Path) -> None:
    proc, out = _ticking(tmp_path, "1h")
    _wait_for_lines(proc, out, 1)  # the first tick comes at once, the next in an hour
    assert out_lines(out) == ["tick"]
    stopped = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert time.monotonic() - stopped < 5


def test_sigusr1_prints_where_every_thread_waits_and_the_stream_goes_on(tmp_path: Path) -> None:
    proc, out = _ticking(tmp_path, "50ms")
    _wait_for_lines(proc, out, 1)
    proc.send_signal(signal.SIGUSR1)
    _wait_for_lines(proc, out, len(out_lines(out)) + 5)  # still ticking after its stacks
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "Current thread" in err or "Thread 0x" in err, err
    assert 'File "' in err and "run.py" in err


def test_failing_input_stops_the_run_with_exit_one_and_its_cause(
    tmp_path: Path, plugin: Path
) -> None:
    cfg = write(
        tmp_path / "broken.yaml",
        """
        input:
          label: plc
          itest_broken: {}
        output:
          drop: {}
        http:
          enabled: false
        """,
    )
    result = run_to_end("--plugins", plugin, cfg)
    assert result.returncode == 1
    error = [line for line in result.stderr.splitlines() if "device exploded" in line]
    assert error and "component=plc" in error[0] and "stream=broken" in error[0]


def test_generate_count_reached_ends_the_run(tmp_path: Path) -> None:
    out = tmp_path / "gen.txt"
    cfg = write(
        tmp_path / "gen.yaml",
        f"""
        input:
          generate:
            mapping: 'root = {{"id": counter()}}'
            interval: ""
            count: 25
            batch_size: 10
        pipeline:
          processors:
            - mapping: 'root.id = this.id * 2'
        output:
          file:
            path: "{out}"
        http:
          enabled: false
        """,
    )
    result = run_to_end(cfg)
    assert result.returncode == 0, result.stderr
    assert [json.loads(line)["id"] for line in out_lines(out)] == [2 * n for n in range(1, 26)]
