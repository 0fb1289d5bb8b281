"""`validate` in running streams: BAD envelopes dead-lettered, replayed after a rule change,
gap events on system time, schemas from a schema registry (a test server), Kafka replay."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from bytewax.testing import run_main
from peers.schema_registry import TestSchemaRegistry
from peers.tansu import Tansu

from streamforge.config import load_stream
from streamforge.engine.dataflow import compile_streams
from streamforge.message import Message
from streamforge.plugin import load_builtins, registry

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "streams" / "validate-with-dlq.yaml"
CLI = [sys.executable, "-m", "streamforge"]


def streamforge(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [*CLI, *args],
        env={**os.environ, **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


@pytest.fixture
def example(tmp_path: Path) -> dict[str, Any]:
    """The example stream run once: 240 envelopes, the warm temperatures dead-lettered."""
    env = {
        "VALIDATE_OUT": str(tmp_path / "out"),
        "VALIDATE_DLQ": str(tmp_path / "dlq"),
        "VALIDATE_INTERVAL": "1ms",
    }
    streamforge("run", str(EXAMPLE), env=env, cwd=tmp_path)
    return {
        "env": env,
        "good": tmp_path / "out" / "good.jsonl",
        "dlq": tmp_path / "dlq" / "dead-letter.jsonl",
        "dir": tmp_path,
    }


def test_example_stream_sends_bad_envelopes_to_the_dead_letter_file(
    example: dict[str, Any],
) -> None:
    good, dead = lines(example["good"]), lines(example["dlq"])
    assert len(good) + len(dead) == 240
    assert dead, "the example's temperature limit should dead-letter the warmest readings"
    for record in dead:
        envelope = record["message"]
        assert envelope["parameter"] == "temperature" and envelope["value"] > 60
        assert envelope["quality"] == "BAD"
        assert record["error"] == f"validate: range: {envelope['value']:g} is above max 60"
        assert envelope["metadata"]["validation"]["reasons"] == [
            f"range: {envelope['value']:g} is above max 60"
        ]
        assert record["metadata"]["quality"] == "BAD" and "fallback_error" not in record["metadata"]
    assert all(e["value"] <= 60 for e in good if e["parameter"] == "temperature")
    assert {e["quality"] for e in good} <= {"GOOD", "SUSPECT", "UNCERTAIN"}


def test_replay_dead_letters_again_until_the_rules_change_then_they_pass(
    example: dict[str, Any],
) -> None:
    dead = lines(example["dlq"])
    n = len(dead)
    replay = ["dlq", "replay", "--consume", "--stream", str(EXAMPLE)]
    same = streamforge(
        *replay, "--from", f"file://{example['dlq']}", env=example["env"], cwd=example["dir"]
    )
    assert same.stdout.strip() == f"replayed {n}: 0 now pass, {n} dead-lettered again"
    again = lines(example["dlq"])  # --consume moved the old file aside: this one is new
    assert sorted(r["message"]["sequence"] for r in again) == sorted(
        r["message"]["sequence"] for r in dead
    )
    assert [r["error"] for r in sorted(again, key=lambda r: r["message"]["sequence"])] == [
        r["error"] for r in sorted(dead, key=lambda r: r["message"]["sequence"])
    ]

    relaxed = {**example["env"], "VALIDATE_TEMPERATURE_MAX": "70"}
    fixed = streamforge(
        *replay, "--from", f"{example['dlq'].parent}/*.jsonl", env=relaxed, cwd=example["dir"]
    )
    assert fixed.stdout.strip() == f"replayed {n}: {n} now pass, 0 dead-lettered again"
    assert not example["dlq"].exists()
    good = lines(example["good"])
    assert len(good) == 240
    replayed = {e["sequence"]: e for e in good[-n:]}
    assert set(replayed) == {r["message"]["sequence"] for r in dead}
    for e in replayed.values():
        assert e["quality"] == "GOOD" and "validation" not in e["metadata"]


def test_replay_reads_a_kafka_topic_from_the_beginning(
    example: dict[str, Any], tansu: Tansu
) -> None:
    dead = example["dlq"].read_bytes().splitlines()
    topic = tansu.create_topic(tansu.new_topic_name("dlq"), partitions=2)
    tansu.produce(topic, [(i % 2, None, rec, None) for i, rec in enumerate(dead)])
    relaxed = {**example["env"], "VALIDATE_TEMPERATURE_MAX": "70"}
    result = streamforge(
        "dlq", "replay", "--from", f"kafka://{tansu.address}/{topic}", "--stream", str(EXAMPLE),
        "--start-at", "check_quality", env=relaxed, cwd=example["dir"],
    )  # fmt: skip
    n = len(dead)
    assert result.stdout.strip() == f"replayed {n}: {n} now pass, 0 dead-lettered again"
    assert len(lines(example["good"])) == 240


def test_replay_names_a_missing_file_and_an_unknown_start_label(tmp_path: Path) -> None:
    replay = [*CLI, "dlq", "replay", "--from", str(tmp_path / "nope.jsonl"), "--stream"]
    result = subprocess.run([*replay, str(EXAMPLE)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "nope.jsonl" in result.stderr and "no such file" in result.stderr
    result = subprocess.run(
        [*replay, str(EXAMPLE), "--start-at", "chek_quality"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "--start-at 'chek_quality': no pipeline processor has this label" in result.stderr
    assert "check_quality" in result.stderr


# -- gap events on system time, in a compiled stream --------------------------------------------


def test_gap_event_is_emitted_when_a_series_goes_quiet(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    config = tmp_path / "gap.yaml"
    config.write_text(
        textwrap.dedent(
            f"""
            input:
              generate:
                count: 40
                interval: 50ms
                batch_size: 1
                mapping: |
                  let n = counter()
                  root.asset_id = "tank-1"
                  root.parameter = if $n <= 2 {{ "level" }} else {{ "flow" }}
                  root.value = $n
                  root.quality = "GOOD"
                  root.timestamps = {{"device_time": now()}}
            pipeline:
              processors:
                - validate:
                    rules:
                      - parameter: level
                        gap: {{expected_interval: 300ms}}
            output:
              file: {{path: "{out}", codec: lines}}
            """
        ).lstrip()
    )
    compiled = compile_streams([load_stream(config)])
    run_main(compiled.flow)
    compiled.close()
    written = lines(out)
    events = [e for e in written if e.get("classification") == "EVENT"]
    assert len(events) == 1
    (event,) = events
    assert event["asset_id"] == "tank-1" and event["parameter"] == "level.gap"
    assert event["value"] >= 0.3 and event["unit"] == "s" and event["quality"] == "GOOD"
    last_level = [e for e in written if e["parameter"] == "level"][-1]
    assert event["metadata"]["gap"] == {
        "parameter": "level",
        "expected_interval": "300ms",
        "last_reading": last_level["timestamps"]["device_time"],
    }
    assert len(written) == 41


# -- schema from a schema registry (a test server) ---------------------------------------------

ENVELOPE_SCHEMA = {
    "type": "object",
    "required": ["asset_id", "value"],
    "properties": {"value": {"type": "number", "maximum": 100}},
}


def build_validate(conf: dict[str, Any]) -> Any:
    load_builtins()
    spec = registry.get("processor", "validate")
    assert spec is not None
    return spec.factory(conf, None)  # type: ignore[arg-type]


def registry_conf(url: str, subject: str, cache: Path) -> dict[str, Any]:
    return {"schema_registry": {"url": url, "subject": subject, "cache_dir": str(cache)}}


def test_schema_from_the_registry_judges_envelopes_and_survives_an_outage(
    schema_registry: TestSchemaRegistry, tmp_path: Path
) -> None:
    schema_registry.register("envelope-value", json.dumps(ENVELOPE_SCHEMA), "JSON")
    conf = registry_conf(schema_registry.url, "envelope-value", tmp_path / "cache")
    proc = build_validate(conf)
    ok, hot = proc.process_batch(
        [
            Message.from_value({"asset_id": "a", "value": 50}),
            Message.from_value({"asset_id": "a", "value": 150}),
        ]
    )
    assert ok.error is None
    assert hot.error == "validate: schema: $.value: 150 is greater than the maximum of 100"

    schema_registry.stop()  # a restart while the registry is down uses the disk cache
    (again,) = build_validate(conf).process_batch([Message.from_value({"asset_id": "a"})])
    assert again.error == "validate: schema: $: 'value' is a required property"


def test_registry_subject_that_is_not_json_schema_fails_the_build(
    schema_registry: TestSchemaRegistry, tmp_path: Path
) -> None:
    avro = {"type": "record", "name": "R", "fields": [{"name": "x", "type": "int"}]}
    schema_registry.register("avro-value", avro)
    conf = registry_conf(schema_registry.url, "avro-value", tmp_path / "cache")
    with pytest.raises(ValueError, match="has schemaType AVRO; validate needs a JSON Schema"):
        build_validate(conf)
    with pytest.raises(ValueError, match="schema_registry: subject 'nope' not found"):
        build_validate(registry_conf(schema_registry.url, "nope", tmp_path / "cache"))


def test_series_state_carries_over_a_restart_with_recovery(tmp_path: Path) -> None:
    """Readings appended after a restart are judged against the ones read before it."""
    readings = tmp_path / "readings.jsonl"
    out = tmp_path / "judged.jsonl"
    config = tmp_path / "judge.yaml"
    config.write_text(
        textwrap.dedent(
            f"""
            http: {{ enabled: false }}
            input:
              file: {{ paths: ["{readings}"], codec: lines }}
            pipeline:
              processors:
                - validate:
                    rules:
                      - parameter: "*"
                        rate_of_change: {{ max_per_second: 1 }}
                        duplicate: {{ window: 1m }}
            output:
              file: {{ path: "{out}", codec: lines }}
            """
        )
    )

    def reading(second: int, value: float) -> str:
        return json.dumps(
            {
                "asset_id": "boiler-1",
                "parameter": "temperature",
                "value": value,
                "quality": "GOOD",
                "timestamps": {"device_time": f"2024-05-01T12:00:{second:02d}Z"},
            }
        )

    recovery = ["--recovery-dir", str(tmp_path / "recovery"), "--snapshot-interval", "100ms"]
    readings.write_text("\n".join(reading(s, 20.0 + s * 0.5) for s in range(3)) + "\n")
    streamforge("run", *recovery, str(config), env={}, cwd=tmp_path)
    assert [r["quality"] for r in lines(out)] == ["GOOD"] * 3

    with readings.open("a") as f:
        f.write(reading(1, 20.5) + "\n")  # seen in the first run: a duplicate
        f.write(reading(3, 40.0) + "\n")  # 19 units in the second since the last reading
    streamforge("run", *recovery, str(config), env={}, cwd=tmp_path)
    judged = lines(out)
    assert len(judged) == 5  # the first run's three are not read again
    duplicate, jump = judged[3], judged[4]
    assert duplicate["quality"] == "SUSPECT"
    assert any("duplicate" in r for r in duplicate["metadata"]["validation"]["reasons"])
    assert jump["quality"] == "SUSPECT"
    assert any("rate_of_change" in r for r in jump["metadata"]["validation"]["reasons"])
