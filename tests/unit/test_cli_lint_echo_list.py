"""`streamforge lint`, `echo` and `list` as a user runs them."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
import yaml

from streamforge.cli import main

PLUGIN = '''
from streamforge.plugin import Field, Processor, register_processor


@register_processor(
    "test_only_cli_tag",
    fields=[Field("tag", "string", default="t"), Field("times", "int", default=1)],
)
class Tag(Processor):
    """Adds a tag to every message."""

    def __init__(self, conf, ctx):
        self.tag = conf["tag"]

    def process_batch(self, batch):
        return batch
'''


@pytest.fixture(scope="module")
def plugin(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("plugins") / "tag_plugin.py"
    path.write_text(PLUGIN)
    return str(path)


def _write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


GOOD = """
input:
  generate:
    mapping: 'root = {"n": 1}'
    count: 1
    interval: ""
pipeline:
  processors:
    - test_only_cli_tag:
        tag: ${SF_CLI_TAG:blue}
output:
  drop: {}
"""


def test_lint_clean_config_prints_nothing(tmp_path: Path, plugin: str, capsys) -> None:  # type: ignore[no-untyped-def]
    path = _write(tmp_path / "good.yaml", GOOD)
    assert main(["lint", "--plugins", plugin, str(path)]) == 0
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""


def test_lint_reports_every_problem_and_exits_1(tmp_path: Path, plugin: str, capsys) -> None:  # type: ignore[no-untyped-def]
    _write(tmp_path / "good.yaml", GOOD)
    _write(
        tmp_path / "bad.yaml",
        """
        input:
          generate:
            count: lots
        pipeline:
          processors:
            - test_only_cli_tag:
                tims: 2
        output:
          dorp: {}
        """,
    )
    code = main(["lint", "--plugins", plugin, str(tmp_path / "*.yaml")])
    lines = capsys.readouterr().out.splitlines()
    assert code == 1
    bad = str(tmp_path / "bad.yaml")
    assert lines[0].startswith(f"{bad}:1:1: ") or lines[0].startswith(f"{bad}:2:")
    assert f"{bad}:3:12: field count: expected int, got string" in lines
    assert (
        f'{bad}:7:9: unknown field "tims" in processor test_only_cli_tag, did you mean "times"?'
        in lines
    )
    assert any(
        line.startswith(f'{bad}:9:3: unknown output type "dorp", did you mean "drop"?')
        for line in lines
    )
    assert all(line.startswith(bad) for line in lines)
    keys = [(int(x.split(":")[1]), int(x.split(":")[2])) for x in lines]
    assert keys == sorted(keys)


def test_lint_malformed_yaml_and_missing_files(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    bad = _write(tmp_path / "broken.yaml", "input:\n  generate: {\n")
    code = main(["lint", str(bad), str(tmp_path / "absent.yaml")])
    lines = capsys.readouterr().out.splitlines()
    assert code == 1
    assert len(lines) == 2
    assert lines[0] == f"{tmp_path / 'absent.yaml'}:1:1: file not found"
    assert lines[1].startswith(f"{bad}:3:1: invalid YAML:")


def test_lint_unknown_plugin_fails(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    path = _write(tmp_path / "good.yaml", GOOD)
    assert main(["lint", "--plugins", str(tmp_path / "nope.py"), str(path)]) == 1
    assert "nope.py" in capsys.readouterr().err


def test_echo_prints_defaults_and_env(  # type: ignore[no-untyped-def]
    tmp_path: Path, plugin: str, capsys, monkeypatch
) -> None:
    monkeypatch.setenv("SF_CLI_TAG", "green")
    path = _write(tmp_path / "good.yaml", GOOD)
    assert main(["echo", "--plugins", plugin, str(path)]) == 0
    doc = yaml.safe_load(capsys.readouterr().out)
    assert doc["pipeline"]["processors"] == [{"test_only_cli_tag": {"tag": "green", "times": 1}}]
    assert doc["input"]["generate"]["count"] == 1
    assert doc["http"]["address"] == "0.0.0.0:4195"
    assert doc["logger"]["level"] == "INFO"
    assert doc["output"] == {"drop": {}}


def test_echo_bad_config_prints_problems_to_stderr(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    path = _write(tmp_path / "bad.yaml", "input:\n  genrate: {}\n")
    assert main(["echo", str(path)]) == 1
    out = capsys.readouterr()
    assert out.out == ""
    assert out.err.startswith(f'{path}:2:3: unknown input type "genrate", did you mean "generate"?')


def test_list_text_groups_by_kind(plugin: str, capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["list", "--plugins", plugin]) == 0
    text = capsys.readouterr().out
    assert text.index("Inputs:") < text.index("Processors:") < text.index("Outputs:")
    line = next(ln for ln in text.splitlines() if "test_only_cli_tag" in ln)
    assert "Adds a tag to every message." in line
    assert main(["list", "outputs"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("Outputs:") and "Inputs:" not in text and "drop" in text


def test_list_json_gives_spec_dicts(plugin: str, capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["list", "processors", "--format", "json", "--plugins", plugin]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert list(doc) == ["processors"]
    spec = next(s for s in doc["processors"] if s["name"] == "test_only_cli_tag")
    assert spec["kind"] == "processor"
    assert [f["name"] for f in spec["config"]["fields"]] == ["tag", "times"]


def test_list_rejects_unknown_kind(capsys) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SystemExit):
        main(["list", "tracers"])
    assert "tracers" in capsys.readouterr().err


def test_list_rate_limits(capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["list", "rate_limits"]) == 0
    assert "local" in capsys.readouterr().out
