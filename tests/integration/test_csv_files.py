"""CSV files end to end with `streamforge run`: the `csv` input and the file input's `csv`
scanner on plant exports, malformed rows, and delete_on_finish against failing outputs."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from peers.http_sink import HttpSink
from peers.moto_s3 import S3Store, moto_s3  # noqa: F401 - the fixture
from peers.stream_run import CLI, Run, out_lines, run_stream, stream_config, wait_until, write

EXPORT = (
    "timestamp,line,machine,temperature_c,status\n"
    "2024-05-01T08:00:00Z,L1,press-1,71.5,running\n"
    '2024-05-01T08:00:00Z,L1,press-2,68.0,"stopped, waiting for material"\n'
    '2024-05-01T08:01:00Z,L2,oven-1,212.25,"alarm:\noverheat ""zone 3"""\n'
)


def rows(path: Path) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(line) for line in out_lines(path)]


def test_a_plant_export_with_a_header_row(tmp_path: Path) -> None:
    data = tmp_path / "exports"
    write(data / "shift1.csv", EXPORT)
    write(data / "shift2.csv", "timestamp,line,machine,temperature_c,status\n"
          "2024-05-01T16:00:00Z,L2,oven-1,198.0,running\n")  # fmt: skip
    out = tmp_path / "out.jsonl"
    run_stream(
        tmp_path / "csv.yaml",
        f"""
        input:
          csv:
            paths: [ "{data}/*.csv" ]
        pipeline:
          processors:
            - mapping: |
                root = this
                root.temperature_c = this.temperature_c.number()
                root.file = @path.filepath_split().index(-1)
                root.columns = @header.join("|")
        """,
        out,
    )
    got = rows(out)
    assert [(r["file"], r["machine"], r["temperature_c"]) for r in got] == [
        ("shift1.csv", "press-1", 71.5),
        ("shift1.csv", "press-2", 68),
        ("shift1.csv", "oven-1", 212.25),
        ("shift2.csv", "oven-1", 198),
    ]
    assert got[1]["status"] == "stopped, waiting for material"
    assert got[2]["status"] == 'alarm:\noverheat "zone 3"'
    assert {r["columns"] for r in got} == {"timestamp|line|machine|temperature_c|status"}

    # the file input's csv scanner reads the same rows, numbering them per file
    out2 = tmp_path / "scanner.jsonl"
    run_stream(
        tmp_path / "scanner.yaml",
        f"""
        input:
          file:
            paths: [ "{data}/shift1.csv" ]
            scanner:
              csv: {{}}
        pipeline:
          processors:
            - mapping: 'root = {{"row": @csv_row, "machine": this.machine}}'
        """,
        out2,
    )
    assert rows(out2) == [
        {"row": 0, "machine": "press-1"},
        {"row": 1, "machine": "press-2"},
        {"row": 2, "machine": "oven-1"},
    ]


def test_a_semicolon_export_with_decimal_commas_and_a_byte_order_mark(tmp_path: Path) -> None:
    src = tmp_path / "historian.csv"
    src.write_bytes(
        "\ufeffZeit;Anlage;Wert;Einheit\r\n"
        '01.05.2024 08:00;Kessel 1;"1,5";bar\r\n'
        "01.05.2024 08:01;Kessel 1;1,75;bar\r\n"
        '01.05.2024 08:02;"Kessel;2";2,0;bar\r\n'.encode()
    )
    out = tmp_path / "out.jsonl"
    run_stream(
        tmp_path / "s.yaml",
        f"""
        input:
          csv:
            paths: [ "{src}" ]
            delimiter: ";"
        pipeline:
          processors:
            - mapping: |
                root.at = this.Zeit
                root.plant = this.Anlage
                root.value = this.Wert.replace_all(",", ".").number()
        """,
        out,
    )
    assert rows(out) == [
        {"at": "01.05.2024 08:00", "plant": "Kessel 1", "value": 1.5},
        {"at": "01.05.2024 08:01", "plant": "Kessel 1", "value": 1.75},
        {"at": "01.05.2024 08:02", "plant": "Kessel;2", "value": 2},
    ]


MALFORMED = 'tag,value\nt1,1\nt2,"2"x\nt3,3\n'


def test_a_malformed_row_ends_reading_its_file_and_keeps_it(tmp_path: Path) -> None:
    data = tmp_path / "in"
    bad = write(data / "a_bad.csv", MALFORMED)
    good = write(data / "b_good.csv", "tag,value\nt9,9\n")
    out = tmp_path / "out.jsonl"
    done = run_stream(
        tmp_path / "s.yaml",
        f"""
        input:
          file:
            paths: [ "{data}/*.csv" ]
            delete_on_finish: true
            scanner:
              csv: {{}}
        """,
        out,
    )
    assert rows(out) == [{"tag": "t1", "value": "1"}, {"tag": "t9", "value": "9"}]
    assert f"csv row 1 of {bad} (line 3): text after the closing quote" in done.stderr
    assert "the rest of the file is not read and the file is kept" in done.stderr
    assert bad.exists() and not good.exists()


def test_with_continue_on_error_a_malformed_row_is_routed_and_reading_goes_on(
    tmp_path: Path,
) -> None:
    src = write(tmp_path / "in.csv", MALFORMED)
    out = tmp_path / "out.jsonl"
    dead = tmp_path / "dead.jsonl"
    done = run_stream(
        tmp_path / "s.yaml",
        f"""
        input:
          file:
            paths: [ "{src}" ]
            scanner:
              csv:
                continue_on_error: true
        output:
          switch:
            cases:
              - check: errored()
                output:
                  file: {{ path: "{dead}", codec: lines }}
                  processors:
                    - mapping: 'root = {{"row": @csv_row, "error": error()}}'
              - output:
                  file: {{ path: "{out}", codec: lines }}
        """,
    )
    assert rows(out) == [{"tag": "t1", "value": "1"}, {"tag": "t3", "value": "3"}]
    [failed] = rows(dead)
    assert failed["row"] == 1
    assert failed["error"].startswith(f"csv row 1 of {src} (line 3): text after the closing")
    assert "not read" not in done.stderr


def test_delete_on_finish_keeps_a_file_whose_rows_were_not_written(tmp_path: Path) -> None:
    src = write(tmp_path / "in" / "batch.csv", "tag;value\nt1;1\nt2;2\nt3;3\n")
    before = src.read_bytes()
    done = run_stream(
        tmp_path / "rejecting.yaml",
        f"""
        input:
          csv:
            paths: [ "{src}" ]
            delimiter: ";"
            delete_on_finish: true
            auto_replay_nacks: false
        output:
          fallback:
            - reject: "historian down"
            - reject: "archive down"
        """,
    )
    assert src.read_bytes() == before  # nothing was written: the file stays as it was
    assert "dropping them, the file is kept" in done.stderr

    out = tmp_path / "out.jsonl"
    run_stream(
        tmp_path / "writing.yaml",
        f"""
        input:
          csv:
            paths: [ "{src}" ]
            delimiter: ";"
            delete_on_finish: true
            batch_count: 2
        output:
          fallback:
            - reject: "historian down"
            - file: {{ path: "{out}", codec: lines }}
        """,
    )
    assert [r["tag"] for r in rows(out)] == ["t1", "t2", "t3"]
    assert not src.exists()


def test_delete_on_finish_waits_for_an_output_that_fails_first(
    tmp_path: Path, http_sink: HttpSink
) -> None:
    http_sink.status = 503
    src = write(tmp_path / "in" / "readings.csv",
                "machine,value\n" + "".join(f"m{i},{i}\n" for i in range(20)))  # fmt: skip
    config = stream_config(
        tmp_path / "s.yaml",
        f"""
        input:
          csv:
            paths: [ "{src}" ]
            delete_on_finish: true
            batch_count: 5
        output:
          http_client:
            url: "{http_sink.url("/ingest")}"
            retries: 0
            circuit_breaker: {{ failures: 0 }}
        """,
    )
    run = Run(config)
    try:
        # every row was sent and refused, and some were sent again
        wait_until(lambda: len(http_sink.all_requests) >= 25, 30, "failing writes")
        assert src.exists()  # read to its end, nothing written yet
        assert run.proc.poll() is None
        http_sink.status = None
        assert run.proc.wait(timeout=60) == 0
    finally:
        run.stop()
    # every row arrived (a batch that failed in part is sent again whole: at least once)
    got = {int(json.loads(body)["value"]) for body in http_sink.bodies()}
    assert got == set(range(20))
    assert not src.exists()
    assert "sending them again" in run.logs()


def test_aws_s3_objects_read_with_the_csv_scanner(
    moto_s3: S3Store,  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    s3 = moto_s3.client()
    s3.create_bucket(Bucket="exports")
    s3.put_object(Bucket="exports", Key="plant/shift1.csv", Body=EXPORT.encode())
    s3.put_object(Bucket="exports", Key="plant/broken.csv", Body=MALFORMED.encode())
    out = tmp_path / "out.jsonl"
    done = run_stream(
        tmp_path / "s.yaml",
        f"""
        input:
          aws_s3:
            bucket: exports
            prefix: plant/
            delete_objects: true
            scanner:
              csv: {{}}
            {moto_s3.config(12)}
        pipeline:
          processors:
            - mapping: 'root = {{"key": @s3_key, "row": @csv_row, "machine": this.machine}}'
        """,
        out,
    )
    got = rows(out)
    assert [(r["key"], r["row"], r["machine"]) for r in got] == [
        ("plant/broken.csv", 0, None),  # the rows before the malformed one
        ("plant/shift1.csv", 0, "press-1"),
        ("plant/shift1.csv", 1, "press-2"),
        ("plant/shift1.csv", 2, "oven-1"),
    ]
    assert "csv row 1 of exports/plant/broken.csv (line 3)" in done.stderr
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="exports").get("Contents") or []]
    assert keys == ["plant/broken.csv"]  # the object that did not parse stays


def test_killed_and_resumed_every_row_is_written_once(tmp_path: Path) -> None:
    """kill -9 twice mid-file (snapshots every 200 ms), resume with the same recovery
    directory: the csv input goes on after its last snapshot, header and row count kept."""
    total = 4000
    src = write(tmp_path / "in.csv", "id,note\n" + "".join(
        f'{i},"reading {i}\nchecked, ok"\n' if i % 7 == 0 else f"{i},plain {i}\n"
        for i in range(total)))  # fmt: skip
    out = tmp_path / "out.jsonl"
    config = stream_config(
        tmp_path / "s.yaml",
        f"""
        input:
          csv:
            paths: [ "{src}" ]
            batch_count: 20
        pipeline:
          processors:
            - sleep: {{ duration: 20ms }}
        """,
        out,
    )
    args = [*CLI, "--recovery-dir", str(tmp_path / "recovery"), "--snapshot-interval", "200ms",
            str(config)]  # fmt: skip
    kills = 0
    for target in (total // 5, total // 2):
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while len(out_lines(out)) < target and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        if proc.poll() is None:
            proc.kill()
            kills += 1
        proc.communicate(timeout=30)
    final = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert final.returncode == 0, final.stderr
    assert kills == 2
    got = Counter(json.loads(line)["id"] for line in out_lines(out))
    assert set(got) == {str(i) for i in range(total)}
    assert max(got.values()) == 1  # exactly once
    last = json.loads(out_lines(out)[-1])
    assert last == {"id": str(total - 1), "note": f"plain {total - 1}"}


def test_lint_points_at_the_bad_field(tmp_path: Path) -> None:
    src = write(tmp_path / "in.csv", EXPORT)
    config = write(
        tmp_path / "s.yaml",
        f"""
        input:
          file:
            paths: [ "{src}" ]
            scanner:
              csv:
                custom_delimiter: "; "
        output:
          drop: {{}}
        """,
    )
    done = subprocess.run(
        [sys.executable, "-m", "streamforge", "lint", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert (
        f"{config}:5:7: field scanner: csv: custom_delimiter: expected one character, got '; '"
        in done.stdout + done.stderr
    )
