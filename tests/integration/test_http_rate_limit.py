"""`rate_limit` of the `http_client` input and output and the `http` processor in whole
`streamforge run`s against a real loopback HTTP service that notes when each request arrived:
with a `local` limit of 2 per second no three requests come within one second."""

from __future__ import annotations

import textwrap
from pathlib import Path

from peers.http_echo import HttpEcho
from peers.stream_run import Run, out_lines, run_stream, stream_config, wait_until

QUOTA = """
rate_limit_resources:
  - label: quota
    local:
      count: 2
      interval: 1s
"""


def quota(body: str) -> str:
    """A stream config (dedented) with the `quota` rate limit: 2 requests per second."""
    return textwrap.dedent(body) + QUOTA


def assert_at_most_two_per_second(arrivals: list[float]) -> None:
    """Every request's arrival is at least (about) a second after the one two before it.

    The bucket's first second runs from when the stream built it, a little before the first
    request, so the first two requests' wait may look shorter; from the third on it cannot.
    """
    assert len(arrivals) >= 5
    gaps = [later - earlier for earlier, later in zip(arrivals, arrivals[2:])]
    assert min(gaps[2:]) >= 0.9, gaps


def test_the_input_polls_as_the_rate_limit_allows(
    tmp_path: Path, http_echo: HttpEcho, runs: list[Run]
) -> None:
    out = tmp_path / "out.txt"
    config = stream_config(
        tmp_path / "poll.yaml",
        quota(f"""
        input:
          http_client:
            url: {http_echo.url("/upper")}
            verb: POST
            payload: tick
            interval: 0s
            rate_limit: quota
        """),
        out,
    )
    run = Run(config)
    runs.append(run)
    wait_until(lambda: len(http_echo.requests) >= 7, 30, "seven polls")
    assert run.stop() == 0
    arrivals = [r.at for r in http_echo.requests]
    assert_at_most_two_per_second(arrivals)
    assert set(out_lines(out)) == {"TICK"}


def test_the_output_sends_as_the_rate_limit_allows(tmp_path: Path, http_echo: HttpEcho) -> None:
    run_stream(
        tmp_path / "send.yaml",
        quota(f"""
        input:
          generate:
            count: 7
            interval: ""
            mapping: 'root = "reading-" + counter().string()'
        output:
          http_client:
            url: {http_echo.url("/upper")}
            verb: POST
            rate_limit: quota
            max_in_flight: 16
        """),
    )
    requests = http_echo.requests
    assert sorted(r.body for r in requests) == sorted(f"reading-{i}".encode() for i in range(1, 8))
    assert_at_most_two_per_second([r.at for r in requests])


def test_a_processor_and_an_output_naming_one_limit_share_it(
    tmp_path: Path, http_echo: HttpEcho
) -> None:
    run_stream(
        tmp_path / "shared.yaml",
        quota(f"""
        input:
          generate:
            count: 4
            interval: ""
            mapping: 'root = "v" + counter().string()'
        pipeline:
          processors:
            - http:
                url: {http_echo.url("/upper")}
                verb: POST
                rate_limit: quota
        output:
          http_client:
            url: {http_echo.url("/upper")}
            verb: POST
            rate_limit: quota
        """),
    )
    requests = http_echo.requests
    assert sorted(r.body for r in requests) == sorted(
        [f"v{i}".encode() for i in range(1, 5)] + [f"V{i}".encode() for i in range(1, 5)]
    )
    assert_at_most_two_per_second([r.at for r in requests])
