"""What a supervisor needs from `streamforge run`: an HTTP address of its choosing, and a
recovery directory that only one live run (per cluster member) may use."""

from __future__ import annotations

import json
import signal
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from peers.ports import free_port
from peers.stream_run import Run, out_lines, run_to_end, wait_until, write


def _generate_config(tmp_path: Path, http: str, name: str = "gen") -> Path:
    """An endless counter written to a file, one message every 20 ms."""
    return write(
        tmp_path / f"{name}.yaml",
        f"""
        input:
          generate:
            mapping: 'root.n = counter()'
            interval: 20ms
        output:
          file:
            path: {tmp_path}/{name}-out.jsonl
        http: {http}
        """,
    )


def _counts(path: Path) -> list[int]:
    return [json.loads(line)["n"] for line in out_lines(path)]


def _answers(port: int, path: str) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2):
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


def test_http_address_flag_serves_the_endpoint_even_when_the_config_disables_it(
    tmp_path: Path, runs: list[Run]
) -> None:
    port = free_port()
    cfg = _generate_config(tmp_path, "{ enabled: false }")
    run = Run(cfg, http_port=port, extra_args=("--http-address", f"127.0.0.1:{port}"))
    runs.append(run)
    wait_until(lambda: run.get("/ready")[0] == 200, 10, "/ready on the flag's address")
    sent = f'streamforge_sent_total{{component="output",stream="{cfg.stem}"}}'
    wait_until(lambda: sent in run.get("/metrics")[1], 10, "the output's counter in /metrics")
    assert run.stop() == 0


def test_http_address_off_serves_nothing_on_the_configs_address(
    tmp_path: Path, runs: list[Run]
) -> None:
    port = free_port()
    cfg = _generate_config(tmp_path, f"{{ address: 127.0.0.1:{port} }}")
    run = Run(cfg, extra_args=("--http-address", "off"))
    runs.append(run)
    out = tmp_path / "gen-out.jsonl"
    wait_until(lambda: len(out_lines(out)) >= 5, 10, "the stream writing")
    assert not _answers(port, "/ready")
    assert run.proc.poll() is None
    assert run.stop() == 0


def test_a_bad_http_address_is_refused_before_anything_starts(tmp_path: Path) -> None:
    cfg = _generate_config(tmp_path, "{ enabled: false }")
    result = run_to_end("--http-address", "localhost", cfg, timeout=30)
    assert result.returncode == 1
    assert "streamforge run: --http-address:" in result.stderr
    assert not (tmp_path / "gen-out.jsonl").exists()


def test_a_second_run_on_a_recovery_dir_in_use_is_refused_until_the_first_dies(
    tmp_path: Path, runs: list[Run]
) -> None:
    recovery = tmp_path / "recovery"
    flags = ("--recovery-dir", str(recovery), "--snapshot-interval", "200ms")
    cfg = _generate_config(tmp_path, "{ enabled: false }")
    out = tmp_path / "gen-out.jsonl"
    first = Run(cfg, extra_args=flags)
    runs.append(first)
    wait_until(lambda: len(out_lines(out)) >= 10, 10, "the first run writing")

    second = run_to_end(*flags, cfg, timeout=30)
    assert second.returncode == 1
    refusal = (
        f"streamforge run: recovery directory {recovery} is in use by another run "
        f"(pid {first.proc.pid})"
    )
    assert second.stderr.splitlines()[-1] == refusal, second.stderr
    # the first run is untouched and goes on writing
    written = len(out_lines(out))
    wait_until(lambda: len(out_lines(out)) >= written + 10, 5, "the first run to keep writing")
    assert first.proc.poll() is None

    # kill -9: the lock dies with the process, and a new run resumes from the snapshot
    first.proc.send_signal(signal.SIGKILL)
    first.proc.wait()
    before = _counts(out)
    resumed = Run(cfg, extra_args=flags, log=tmp_path / "resumed.log")
    runs.append(resumed)
    wait_until(lambda: len(out_lines(out)) >= len(before) + 10, 10, "the resumed run writing")
    assert resumed.stop() == 0
    counts = _counts(out)
    assert counts == list(range(1, len(counts) + 1)), "resumed without a gap or a repeat"
    assert "in use" not in resumed.logs()


def test_cluster_members_share_a_recovery_dir_but_a_second_copy_of_one_is_refused(
    tmp_path: Path, runs: list[Run], monkeypatch: pytest.MonkeyPatch
) -> None:
    recovery = tmp_path / "recovery"
    cfg = write(
        tmp_path / "cluster.yaml",
        f"""
        input:
          generate:
            mapping: 'root.n = counter()'
            interval: 20ms
        output:
          file:
            path: "{tmp_path}/out/proc-${{PROC}}.jsonl"
        http: {{ enabled: false }}
        """,
    )
    addresses = [f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"]
    cluster = [arg for a in addresses for arg in ("-a", a)]
    members = []
    for i in range(2):
        monkeypatch.setenv("PROC", str(i))
        member = Run(
            cfg,
            extra_args=("-i", str(i), *cluster, "--recovery-dir", str(recovery)),
            log=tmp_path / f"member-{i}.log",
        )
        runs.append(member)
        members.append(member)
    for member in members:
        member.wait_log("running 1 stream(s)", timeout=10)

    def written() -> int:
        return sum(len(out_lines(tmp_path / "out" / f"proc-{i}.jsonl")) for i in range(2))

    wait_until(lambda: written() >= 10, 10, "the cluster writing")

    # a second copy of member 1 finds its lock taken
    copy = run_to_end(
        "-i", "1", *cluster, "--recovery-dir", recovery, cfg, env={"PROC": "9"}, timeout=30
    )
    assert copy.returncode == 1
    assert copy.stderr.splitlines()[-1] == (
        f"streamforge run: recovery directory {recovery} is in use by another run as cluster "
        f"process 1 (pid {members[1].proc.pid})"
    ), copy.stderr
    # both members run on, neither refused
    now = written()
    wait_until(lambda: written() >= now + 10, 5, "the cluster to keep writing")
    assert all(member.proc.poll() is None for member in members)
    assert "in use" not in members[0].logs() + members[1].logs()
