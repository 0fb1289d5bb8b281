"""`lint` reports what `run` refuses when it builds inputs and outputs, without a peer.

Inputs are built (they connect in `open`); outputs whose building connects (mqtt, kafka,
http_client) are checked by their offline check; nested outputs are checked in place.
"""

from __future__ import annotations

import logging
import socket
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from streamforge.cli import main

OK_INPUT = "input:\n  generate: {count: 1, mapping: 'root = 1'}\n"
OK_OUTPUT = "output:\n  drop: {}\n"


@pytest.fixture(autouse=True)
def _keep_logging() -> Iterator[None]:
    """`run` sends logs to the captured stderr; later tests must not log to it."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def write(tmp_path: Path, text: str, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text) + "http: {enabled: false}\n")
    return path


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[str]]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, (captured.out + captured.err).splitlines()


CASES = [
    pytest.param(
        "input:\n  file: {paths: [./missing.jsonl]}\n" + OK_OUTPUT,
        "2:3: input 'file' (input): file './missing.jsonl' does not exist",
        id="file-input-path",
    ),
    pytest.param(
        "input:\n  generate: {count: -1, mapping: 'root = 1'}\n" + OK_OUTPUT,
        "2:3: input 'generate' (input): count must not be negative",
        id="generate-count",
    ),
    pytest.param(
        "input:\n  http_server: {address: 'localhost:port'}\n" + OK_OUTPUT,
        "2:3: input 'http_server' (input): invalid port in http address 'localhost:port'",
        id="http-server-address",
    ),
    pytest.param(
        "input:\n  mqtt: {urls: [tcp://localhost:1883], topics: ['plant/#/x']}\n" + OK_OUTPUT,
        "2:3: input 'mqtt' (input): topics: 'plant/#/x': '#' must be the whole last level",
        id="mqtt-input-topic-filter",
    ),
    pytest.param(
        "input:\n  mqtt: {urls: ['tcp://localhost:99999'], topics: [a]}\n" + OK_OUTPUT,
        "2:3: input 'mqtt' (input): url 'tcp://localhost:99999': the port is not a number "
        "in 1-65535",
        id="mqtt-input-url",
    ),
    pytest.param(
        "input:\n  mqtt: {urls: [tcp://h:1883], topics: [a], will: {enabled: true}}\n" + OK_OUTPUT,
        "2:3: input 'mqtt' (input): will.topic is required when will.enabled is true",
        id="mqtt-input-will",
    ),
    pytest.param(
        "input:\n  mqtt:\n    urls: [ssl://localhost:8883]\n    topics: [a]\n"
        "    tls: {enabled: true, root_cas_file: ./missing-ca.pem}\n" + OK_OUTPUT,
        "2:3: input 'mqtt' (input): tls.root_cas_file: cannot load './missing-ca.pem': "
        "No such file or directory",
        id="mqtt-input-tls-file",
    ),
    pytest.param(
        "input:\n  kafka: {addresses: [localhost:9092], topics: ['readings:x']}\n" + OK_OUTPUT,
        "2:3: input 'kafka' (input): topics: 'readings:x': expected topic:partition or "
        "topic:first-last",
        id="kafka-input-topics",
    ),
    pytest.param(
        "input:\n  kafka:\n    addresses: [localhost:9092]\n    topics: ['readings:0']\n"
        "    tls: {enabled: true, root_cas_file: ./missing-ca.pem}\n" + OK_OUTPUT,
        "2:3: input 'kafka' (input): tls.root_cas_file: cannot load './missing-ca.pem': "
        "No such file or directory",
        id="kafka-input-tls-file",
    ),
    pytest.param(
        "input:\n  modbus:\n    busyRetries: -1\n"
        "    addresses: [{name: t, register: holding, address: 0, type: INT16}]\n" + OK_OUTPUT,
        "2:3: input 'modbus' (input): busyRetries must not be negative",
        id="modbus-busy-retries",
    ),
    pytest.param(
        "input:\n  opcua: {endpoint: 'opc.tcp://localhost:4840', nodeIDs: ['ns=2;i=1'], "
        "securityMode: Sign}\n" + OK_OUTPUT,
        "2:3: input 'opcua' (input): securityMode Sign: needs a securityPolicy, "
        "e.g. Basic256Sha256",
        id="opcua-security",
    ),
    pytest.param(
        OK_INPUT + "output:\n  mqtt: {urls: [tcp://localhost:1883], topic: a, qos: 3}\n",
        "4:3: output 'mqtt' (output): qos: must be 0, 1 or 2, got 3",
        id="mqtt-output-qos",
    ),
    pytest.param(
        OK_INPUT + "output:\n  mqtt: {urls: [tcp://localhost:1883], topic: a, retained: maybe}\n",
        "4:3: output 'mqtt' (output): retained: 'maybe' is not a boolean",
        id="mqtt-output-retained",
    ),
    pytest.param(
        OK_INPUT + "output:\n  mqtt: {urls: [tcp://h:1883], topic: a, write_timeout: 0s}\n",
        "4:3: output 'mqtt' (output): write_timeout must be positive",
        id="mqtt-output-write-timeout",
    ),
    pytest.param(
        OK_INPUT + "output:\n  kafka: {addresses: [localhost:9092], topic: a, "
        "partitioner: manual}\n",
        "4:3: output 'kafka' (output): partitioner manual needs a partition",
        id="kafka-output-partitioner",
    ),
    pytest.param(
        OK_INPUT + "output:\n  kafka:\n    addresses: [localhost:9092]\n    topic: a\n"
        "    tls: {enabled: true, root_cas_file: ./missing-ca.pem}\n",
        "4:3: output 'kafka' (output): tls.root_cas_file: cannot load './missing-ca.pem': "
        "No such file or directory",
        id="kafka-output-tls-file",
    ),
    pytest.param(
        OK_INPUT + "output:\n  http_client:\n    url: http://localhost:1/x\n"
        "    tls: {enabled: true, root_cas_file: ./missing-ca.pem}\n",
        "4:3: output 'http_client' (output): tls.root_cas_file: cannot load "
        "'./missing-ca.pem': No such file or directory",
        id="http-client-tls-file",
    ),
    pytest.param(
        OK_INPUT + "output:\n  stdout: {batching: {count: -1}}\n",
        "4:3: output 'stdout' (output): batching count and byte_size must not be negative",
        id="batching-count",
    ),
    pytest.param(
        OK_INPUT + "output:\n  fallback: []\n",
        "4:3: output 'fallback' (output): fallback needs at least one output",
        id="fallback-empty",
    ),
    pytest.param(
        OK_INPUT + "output:\n  switch: {cases: []}\n",
        "4:3: output 'switch' (output): switch output needs at least one case",
        id="switch-empty",
    ),
    pytest.param(
        OK_INPUT + "output:\n  broker: {outputs: []}\n",
        "4:3: output 'broker' (output): broker needs at least one output",
        id="broker-empty",
    ),
    pytest.param(
        OK_INPUT + "output:\n  switch:\n    cases:\n      - output:\n          kafka: "
        "{addresses: [localhost:9092], topic: a, partitioner: manual}\n",
        "7:11: output 'kafka' (output.switch.cases.0.output): partitioner manual needs a partition",
        id="switch-nested-output",
    ),
    pytest.param(
        OK_INPUT + "output:\n  reject_errored:\n    mqtt: {urls: [tcp://h:1883], topic: a, "
        "qos: 3}\n",
        "5:5: output 'mqtt' (output.reject_errored): qos: must be 0, 1 or 2, got 3",
        id="reject-errored-nested-output",
    ),
    pytest.param(
        OK_INPUT + "output:\n  resource: out\noutput_resources:\n  - label: out\n"
        "    mqtt: {urls: [tcp://h:1883], topic: a, qos: 3}\n",
        "6:5: output 'mqtt' (out): qos: must be 0, 1 or 2, got 3",
        id="output-resource",
    ),
    pytest.param(
        OK_INPUT + "output:\n  file:\n    path: ./out.jsonl\n    batching:\n      count: 2\n"
        "      processors:\n        - avro: {operator: from_json, schema_path: ./missing.avsc}\n",
        "9:11: processor 'avro' (output.file.batching.processors.0): schema_path: "
        "No such file or directory: missing.avsc",
        id="batching-processor",
    ),
]


#: cases whose file is not there: lint warns (the file may be there where the stream runs)
MISSING_FILES = {
    "file-input-path",
    "mqtt-input-tls-file",
    "kafka-input-tls-file",
    "kafka-output-tls-file",
    "http-client-tls-file",
    "batching-processor",
}


@pytest.mark.parametrize(("config", "expected"), CASES)
def test_lint_reports_what_run_refuses_at_the_components_place(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
    config: str,
    expected: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    path = write(tmp_path, config)
    if request.node.callspec.id in MISSING_FILES:
        place, message = expected.split(": ", 1)
        warning = f"{path}:{place}: warning: {message}; `run` needs it"
        assert cli(capsys, "lint", str(path)) == (0, [warning])
    else:
        assert cli(capsys, "lint", str(path)) == (1, [f"{path}:{expected}"])
    code, lines = cli(capsys, "run", str(path))
    assert code == 1
    assert f"{path}:{expected}" in lines  # the same line run prints


def test_lint_reports_every_nested_output_that_run_refuses(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(
        tmp_path,
        """
        input:
          generate: {count: 1, mapping: "root = 1"}
        output:
          broker:
            outputs:
              - mqtt: {urls: [tcp://localhost:1883], topic: a, qos: 3}
              - drop: {}
              - kafka: {addresses: [localhost:9092], topic: a, timeout: 0s}
        """,
    )
    assert cli(capsys, "lint", str(path)) == (
        1,
        [
            f"{path}:7:9: output 'mqtt' (output.broker.outputs.0): qos: must be 0, 1 or 2, got 3",
            f"{path}:9:9: output 'kafka' (output.broker.outputs.2): timeout must be positive",
        ],
    )


def test_an_unused_output_resource_is_checked_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(
        tmp_path,
        """
        input:
          generate: {count: 1, mapping: "root = 1"}
        output:
          drop: {}
        output_resources:
          - label: spare
            mqtt: {urls: [tcp://localhost:1883], topic: a, qos: 3}
        """,
    )
    assert cli(capsys, "lint", str(path)) == (
        1,
        [f"{path}:7:5: output 'mqtt' (spare): qos: must be 0, 1 or 2, got 3"],
    )


def test_good_inputs_and_outputs_lint_clean_without_connecting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A peer that listens sees no connection from lint, and nothing is written."""
    with socket.socket() as peer:
        peer.bind(("127.0.0.1", 0))
        peer.listen()
        peer.settimeout(0.2)
        port = peer.getsockname()[1]
        (tmp_path / "in.jsonl").write_text('{"a": 1}\n')
        path = write(
            tmp_path,
            f"""
            input:
              file: {{paths: ["{tmp_path}/in.jsonl"]}}
            output:
              broker:
                outputs:
                  - mqtt: {{urls: [tcp://127.0.0.1:{port}], topic: a}}
                  - kafka: {{addresses: [127.0.0.1:{port}], topic: a}}
                  - http_client: {{url: "http://127.0.0.1:{port}/x"}}
                  - file: {{path: "{tmp_path}/out/o.jsonl"}}
            """,
        )
        assert cli(capsys, "lint", str(path)) == (0, [])
        with pytest.raises(socket.timeout):
            peer.accept()
    assert not (tmp_path / "out").exists()
