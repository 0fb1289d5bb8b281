"""Gating streams by licence: the refusal lines, max_streams, the `license:` section, and
`streamforge lint` / `run` refusing what the licence does not allow."""

from __future__ import annotations

import logging
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from gate_helpers import write, write_license
from license_helpers import KeyPair
from policy_helpers import license

from streamforge.cli import main
from streamforge.config.loader import load_stream
from streamforge.license import state
from streamforge.license.decisions import Decisions
from streamforge.license.gate import (
    check_limit,
    check_streams,
    gate_streams,
    license_settings,
)
from streamforge.license.policy import PolicyError, RegoEngine

KAFKA_ALARM = textwrap.dedent(
    """
    input:
      kafka:
        addresses: [localhost:9092]
        topics: [readings]
        consumer_group: g
    pipeline:
      processors:
        - mapping: root = this
        - alarm:
            rules: [{name: hot, parameter: t, above: 50}]
    output:
      mqtt:
        urls: ["tcp://localhost:1883"]
        topic: out
        tls: {enabled: true}
    """
).lstrip()

BASE = textwrap.dedent(
    """
    input:
      generate: {mapping: 'root = {"n": counter()}', count: 3, interval: ""}
    output:
      drop: {}
    """
).lstrip()

NO_LICENCE = "(no licence in effect); licence subject: none (base features)"


pytestmark = pytest.mark.usefixtures("no_license")


@pytest.fixture(autouse=True)
def _keep_logging() -> Iterator[None]:
    """`run` configures logging onto the captured stderr; later tests must not log there."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture(scope="module")
def rego() -> RegoEngine:
    return RegoEngine.load(None)


@pytest.fixture
def ed(key_pairs: dict[str, KeyPair]) -> KeyPair:
    return key_pairs["EdDSA"]


def test_refusals_without_a_license(tmp_path: Path, rego: RegoEngine) -> None:
    stream = load_stream(write(tmp_path / "plant.yaml", KAFKA_ALARM))
    lines = check_streams([stream], Decisions(rego, None))
    f = tmp_path / "plant.yaml"
    assert lines == [
        f"{f}:2:3: input 'kafka': binding 'kafka' needs a "
        f"licence feature bindings/kafka {NO_LICENCE}",
        f"{f}:9:7: processor 'alarm': processor 'alarm' "
        f"needs a licence feature processors/alarm {NO_LICENCE}",
        f"{f}:12:3: output 'mqtt': security method 'tls' "
        f"needs a licence feature security/tls {NO_LICENCE}",
    ]


def test_refusals_name_the_license_subject(tmp_path: Path, rego: RegoEngine) -> None:
    stream = load_stream(write(tmp_path / "plant.yaml", KAFKA_ALARM))
    granted = license(bindings=["kafka"], security=["mtls"])
    lines = check_streams([stream], Decisions(rego, granted))
    f = tmp_path / "plant.yaml"
    assert lines == [
        f"{f}:9:7: processor 'alarm': processor 'alarm' "
        "needs a licence feature processors/alarm, not granted by the licence of acme-001; "
        "licence subject: acme-001",
        f"{f}:12:3: output 'mqtt': security method 'tls' "
        "needs a licence feature security/tls, not granted by the licence of acme-001; "
        "licence subject: acme-001",
    ]
    everything = license(bindings=["kafka"], processors=["alarm"], security=["tls"])
    assert check_streams([stream], Decisions(rego, everything)) == []


def test_base_stream_passes_without_license(tmp_path: Path, rego: RegoEngine) -> None:
    stream = load_stream(write(tmp_path / "base.yaml", BASE))
    assert check_streams([stream], Decisions(rego, None)) == []


def test_max_streams(tmp_path: Path, rego: RegoEngine) -> None:
    streams = [load_stream(write(tmp_path / f"s{i}.yaml", BASE)) for i in range(1, 7)]
    defaults = Decisions(rego, None)
    assert check_streams(streams[:5], defaults) == []
    assert check_streams(streams, defaults) == [
        f"{tmp_path / 's6.yaml'}:1:1: stream 's6': 6 streams exceed the licence limit "
        "max_streams = 5; licence subject: none (base features)"
    ]
    assert check_streams(streams, defaults, limits=False) == []
    bigger = Decisions(rego, license(capabilities={"max_streams": 6}))
    assert check_streams(streams, bigger) == []
    smaller = Decisions(rego, license(capabilities={"max_streams": 2}))
    assert check_streams(streams, smaller) == [
        f"{tmp_path / 's3.yaml'}:1:1: stream 's3': 6 streams exceed the licence limit "
        "max_streams = 2; licence subject: acme-001"
    ]


def test_check_limit_for_things(rego: RegoEngine) -> None:
    defaults = Decisions(rego, None)
    assert check_limit(defaults, "things", 10) is None
    assert check_limit(defaults, "things", 11) == (
        "11 things exceed the licence limit max_things = 10; licence subject: none (base features)"
    )
    granted = Decisions(rego, license(capabilities={"max_things": 100}))
    assert check_limit(granted, "things", 11) is None


def test_license_section_from_the_config(tmp_path: Path, ed: KeyPair) -> None:
    """A relative licence path resolves against the config; its licence grants kafka."""
    (tmp_path / "keys").mkdir()
    write_license(
        ed,
        tmp_path / "keys" / "licence.jwt",
        {"bindings": ["kafka"], "processors": ["alarm"], "security": ["tls"]},
    )
    (tmp_path / "keys" / "pub.pem").write_bytes(ed.public_pem)
    config = write(
        tmp_path / "plant.yaml",
        KAFKA_ALARM + "license:\n  file: keys/licence.jwt\n  public_key_file: keys/pub.pem\n",
    )
    result = gate_streams([load_stream(config)])
    assert result.problems == []
    assert result.state.subject == "acme-001"
    assert state.current() is result.state


def test_different_sections_in_two_files(tmp_path: Path) -> None:
    a = write(tmp_path / "a" / "a.yaml", BASE + "license: {file: licence.jwt}\n")
    b = write(tmp_path / "b" / "b.yaml", BASE + "license: {file: licence.jwt}\n")
    c = write(tmp_path / "a" / "c.yaml", BASE + "license: {file: licence.jwt}\n")
    none = write(tmp_path / "none.yaml", BASE)
    streams = [load_stream(p) for p in (a, b, c, none)]
    settings, problems = license_settings(streams, env={})
    assert settings.file == str(tmp_path / "a" / "licence.jwt")
    assert [str(p) for p in problems] == [
        f"{b}:5:1: license: differs from the section in {a}; every stream of a run uses one "
        "licence, so give the same section (or none) in each file"
    ]


def test_lint_reports_refusals_with_other_problems(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plant = write(tmp_path / "plant.yaml", KAFKA_ALARM)
    broken = write(tmp_path / "broken.yaml", "input:\n  generat: {}\n")
    assert main(["lint", str(plant), str(broken)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f'{broken}:2:3: unknown input type "generat"')
    assert out[1:] == [
        f"{plant}:2:3: input 'kafka': binding 'kafka' "
        f"needs a licence feature bindings/kafka {NO_LICENCE}",
        f"{plant}:9:7: processor 'alarm': processor "
        f"'alarm' needs a licence feature processors/alarm {NO_LICENCE}",
        f"{plant}:12:3: output 'mqtt': security method "
        f"'tls' needs a licence feature security/tls {NO_LICENCE}",
    ]


def test_lint_does_not_count_files_as_one_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = [str(write(tmp_path / f"s{i}.yaml", BASE)) for i in range(7)]
    assert main(["lint", *files]) == 0
    assert capsys.readouterr().out == ""


def test_lint_passes_with_a_license_from_the_environment(
    tmp_path: Path, ed: KeyPair, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    features = {"bindings": ["kafka"], "processors": ["alarm"], "security": ["tls"]}
    monkeypatch.setenv(
        "STREAMFORGE_LICENSE_FILE", str(write_license(ed, tmp_path / "l.jwt", features))
    )
    monkeypatch.setenv("STREAMFORGE_LICENSE_PUBLIC_KEY_FILE", str(ed.public_file))
    plant = write(tmp_path / "plant.yaml", KAFKA_ALARM)
    assert main(["lint", str(plant)]) == 0
    assert capsys.readouterr().out == ""


def test_lint_of_the_license_section(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write(
        tmp_path / "s.yaml",
        BASE + "license:\n  fiel: licence.jwt\n  leeway: 5 minutes\n  opa_url: 8181\n",
    )
    other = write(tmp_path / "t.yaml", BASE + "license:\n  leeway: -5s\n")
    assert main(["lint", str(config), str(other)]) == 1
    assert capsys.readouterr().out.splitlines() == [
        f'{config}:6:3: unknown field "fiel" in stream.license, did you mean "file"?',
        f"{config}:7:11: field license.leeway: invalid duration '5 minutes': expected a number "
        "with a unit such as 500ms, 1s, 1m30s",
        f"{other}:6:11: license.leeway: must not be negative, got '-5s'",
    ]


def test_run_refuses_to_start(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plant = write(tmp_path / "plant.yaml", KAFKA_ALARM)
    assert main(["run", str(plant)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert [line for line in err if "needs a licence feature" in line] == [
        f"{plant}:2:3: input 'kafka': binding 'kafka' "
        f"needs a licence feature bindings/kafka {NO_LICENCE}",
        f"{plant}:9:7: processor 'alarm': processor "
        f"'alarm' needs a licence feature processors/alarm {NO_LICENCE}",
        f"{plant}:12:3: output 'mqtt': security method "
        f"'tls' needs a licence feature security/tls {NO_LICENCE}",
    ]


def test_run_refuses_more_streams_than_max_streams(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = [str(write(tmp_path / f"s{i}.yaml", BASE)) for i in range(1, 7)]
    assert main(["run", *files]) == 1
    err = capsys.readouterr().err
    assert (
        f"{tmp_path / 's6.yaml'}:1:1: stream 's6': 6 streams exceed the licence limit "
        "max_streams = 5; licence subject: none (base features)"
    ) in err.splitlines()


BROKEN_POLICY = """
    package streamforge.features

    import rego.v1

    deny contains msg if {
        msg := "no kafka here"
        input.request.feature == "kafka"
    """


def test_broken_user_policy_refuses_lint_and_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = write(tmp_path / "policies" / "site.rego", BROKEN_POLICY)
    config = write(
        tmp_path / "s.yaml",
        BASE + "license:\n  policy_dir: policies\n",
    )
    assert main(["lint", str(config)]) == 1
    out = capsys.readouterr().out
    assert out.startswith(f"{policy}:5:")
    assert main(["run", str(config)]) == 1
    err = capsys.readouterr().err
    assert f"{policy}:5:" in err
    assert "nothing started" in err
    with pytest.raises(PolicyError, match=str(policy)):
        gate_streams([load_stream(config)])


def test_user_policy_refusal_is_a_gate_line(tmp_path: Path) -> None:
    """A site policy denying a feature the licence grants: the line carries its reason."""
    write(
        tmp_path / "policies" / "site.rego",
        """
        package streamforge.features

        import rego.v1

        deny contains "alarms are handled by the SCADA system" if {
            input.request.feature == "alarm"
        }
        """,
    )
    config = write(tmp_path / "s.yaml", KAFKA_ALARM + "license:\n  policy_dir: policies\n")
    result = gate_streams([load_stream(config)])
    assert (
        f"{config}:9:7: processor 'alarm' needs licence feature processors/alarm: alarms are "
        "handled by the SCADA system; licence subject: none (base features)"
    ) in result.lines
