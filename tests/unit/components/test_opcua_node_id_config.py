"""The `opcua` input's older `nodeID` (benthos-umh): a one-item `nodeIDs`; both is an error."""

from __future__ import annotations

import textwrap
from pathlib import Path

from streamforge.config import lint_paths
from streamforge.config.loader import load_stream
from streamforge.engine.instantiate import build_problems
from streamforge.inputs.opcua.opcua import node_id_list


def lint(tmp_path: Path, opcua: str) -> list[str]:
    path = tmp_path / "s.yaml"
    body = textwrap.indent(textwrap.dedent(opcua).strip(), " " * 4)
    path.write_text(f"input:\n  opcua:\n{body}\noutput:\n  drop: {{}}\n")
    problems = [str(p) for p in lint_paths([str(path)])]
    if not problems:  # then what building refuses, as `streamforge lint` reports it
        problems = [str(p) for p in build_problems(load_stream(path))]
    return [p.replace(str(tmp_path) + "/", "") for p in problems]


def test_node_id_is_a_one_item_node_ids() -> None:
    assert node_id_list({"nodeID": " ns=2;s=Plant.Boiler ", "nodeIDs": []}) == [
        "ns=2;s=Plant.Boiler"
    ]
    assert node_id_list({"nodeID": "", "nodeIDs": ["i=85", "ns=3;i=1"]}) == ["i=85", "ns=3;i=1"]


def test_either_field_lints_clean(tmp_path: Path) -> None:
    assert lint(tmp_path, "endpoint: opc.tcp://plc1:4840\nnodeID: ns=2;s=Plant.Boiler") == []
    assert lint(tmp_path, "endpoint: opc.tcp://plc1:4840\nnodeIDs: [ ns=2;s=Plant ]") == []


def test_both_fields_are_a_lint_error_naming_them(tmp_path: Path) -> None:
    problems = lint(
        tmp_path,
        """
        endpoint: opc.tcp://plc1:4840
        nodeID: ns=2;s=Plant.Boiler
        nodeIDs: [ ns=2;s=Plant.Pump ]
        """,
    )
    assert len(problems) == 1, problems
    assert problems[0].startswith("s.yaml:2:3:") and "nodeID and nodeIDs: give one" in problems[0]


def test_neither_field_or_a_bad_node_id_is_a_lint_error(tmp_path: Path) -> None:
    [none] = lint(tmp_path, "endpoint: opc.tcp://plc1:4840")
    assert none.startswith("s.yaml:2:3:") and "nodeIDs: at least one node id" in none
    [bad] = lint(tmp_path, "endpoint: opc.tcp://plc1:4840\nnodeID: ns=x;s")
    assert bad.startswith("s.yaml:4:13: field nodeID:") and "is not a node id" in bad
