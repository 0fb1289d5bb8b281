"""The README's main job: `streamforge run streams/quickstart.yaml` with no broker or device."""

from __future__ import annotations

import json
from pathlib import Path

from peers.stream_run import run_to_end

REPO = Path(__file__).resolve().parents[2]
ENVELOPE_KEYS = {
    "asset_id", "parameter", "value", "unit", "quality", "classification", "timestamps",
}  # fmt: skip


def test_quickstart_writes_the_telemetry_envelope_and_says_where(tmp_path: Path) -> None:
    out_dir = tmp_path / "quickstart"
    env = {"QUICKSTART_OUT": str(out_dir), "QUICKSTART_INTERVAL": "0s"}
    proc = run_to_end("streams/quickstart.yaml", env=env, cwd=REPO)
    assert proc.returncode == 0, proc.stderr

    files = sorted(out_dir.glob("*.jsonl"))
    assert [f.name for f in files] == ["oven-07.jsonl", "press-01.jsonl", "press-02.jsonl"]
    docs = [json.loads(line) for f in files for line in f.read_text().splitlines()]
    assert len(docs) == 240
    for doc in docs:
        assert doc.keys() >= ENVELOPE_KEYS
        assert doc["timestamps"]["device_time"].endswith("Z")
        assert isinstance(doc["value"], (int, float))
    params = {d["parameter"] for d in docs}
    assert params == {"temperature", "pressure", "vibration", "power"}
    assert {d["classification"] for d in docs} <= {"TELEMETRY", "ALARM"}

    logs = proc.stdout + proc.stderr
    for f in files:
        assert f"writing to {f}" in logs
    assert (
        "stream quickstart: 240 read, 240 written, 0 dead-lettered, 0 failed (written nowhere)"
        in logs
    )
