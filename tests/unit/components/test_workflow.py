"""`workflow`: a DAG of branches, its inferred order, records at meta_path, parallel tiers."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from batch_helpers import chain_of, messages, stream_yaml
from component_helpers import Ctx, Fn, build

from streamforge.config.loader import load_stream
from streamforge.engine.instantiate import build_problems
from streamforge.message import Message
from streamforge.processors.workflow import infer_order, mapping_paths

DOC_EXAMPLE = """\
- workflow:
    meta_path: meta.workflow
    branches:
      shout:
        request_map: 'root = this.name'
        processors:
          - mapping: 'root = content().string().uppercase()'
        result_map: 'root.loud = content().string()'
      count:
        request_map: 'root = this.name'
        processors:
          - mapping: 'root = content().length()'
        result_map: 'root.length = this'
      sentence:
        request_map: 'root = {"l": this.loud, "n": this.length}'
        processors:
          - mapping: 'root = "%s has %d letters".format(this.l, this.n)'
        result_map: 'root.sentence = content().string()'
"""


def test_mapping_paths_reads_and_writes() -> None:
    reads, writes = mapping_paths(
        'root.a.b = this.x.y\nfoo = bar.baz\nmeta k = meta("q")\n'
        "root.c = @z\nroot.d = this.items.map_each(i -> i.v + this.w)"
    )
    assert reads == {("x", "y"), ("bar", "baz"), ("@", "q"), ("@", "z"), ("items",), ("w",)}
    assert writes == {("a", "b"), ("foo",), ("@", "k"), ("c",), ("d",)}


def test_order_is_inferred_from_what_results_write_and_requests_read() -> None:
    needs = {"a": set(), "b": {("x",)}, "c": {("x", "y"), ("z",)}, "d": {("@", "k")}}
    gives = {"a": {("x",)}, "b": {("z",)}, "c": {("out",)}, "d": set()}
    assert infer_order(needs, gives) == [["a", "d"], ["b"], ["c"]]
    with pytest.raises(ValueError, match="cycle: a, b"):
        infer_order({"a": {("y",)}, "b": {("x",)}}, {"a": {("x",)}, "b": {("y",)}})


def test_workflow_runs_branches_in_dependency_order_and_records_them(tmp_path: Path) -> None:
    chain = chain_of(tmp_path, DOC_EXAMPLE)
    [workflow] = chain.processors
    assert workflow.tiers == [["count", "shout"], ["sentence"]]  # type: ignore[attr-defined]
    [out] = chain.process_batch(messages('{"name":"ada"}'))
    doc = out.value
    assert doc["loud"] == "ADA" and doc["length"] == 3
    assert doc["sentence"] == "ADA has 3 letters"
    assert doc["meta"]["workflow"] == {"succeeded": ["count", "shout", "sentence"]}
    assert out.error is None


def test_a_second_run_skips_what_succeeded_and_keeps_the_previous_record(
    tmp_path: Path,
) -> None:
    chain = chain_of(tmp_path, DOC_EXAMPLE)
    [once] = chain.process_batch(messages('{"name":"ada"}'))
    once.set_value({**once.value, "name": "grace"})
    [twice] = chain.process_batch([once])
    assert twice.value["loud"] == "ADA"  # not run again
    record = twice.value["meta"]["workflow"]
    assert record["skipped"] == ["count", "shout", "sentence"]
    assert record["previous"] == {"succeeded": ["count", "shout", "sentence"]}


def test_apply_runs_only_the_branches_it_names(tmp_path: Path) -> None:
    chain = chain_of(tmp_path, DOC_EXAMPLE)
    [out] = chain.process_batch(messages('{"name":"ada","meta":{"workflow":{"apply":["shout"]}}}'))
    assert out.value["loud"] == "ADA" and "length" not in out.value
    assert out.value["meta"]["workflow"]["succeeded"] == ["shout"]


def test_failures_are_recorded_per_branch_and_dependants_still_run(tmp_path: Path) -> None:
    chain = chain_of(
        tmp_path,
        """\
        - workflow:
            branches:
              good:
                request_map: 'root = this.n'
                processors: [ { mapping: 'root = this * 2' } ]
                result_map: 'root.double = this'
              bad:
                request_map: 'root = this.n'
                processors: [ { mapping: 'root = throw("service down")' } ]
                result_map: 'root.bad = this'
              skipper:
                request_map: 'root = if this.n > 1 { deleted() } else { this.n }'
                processors: [ { noop: {} } ]
                result_map: 'root.small = true'
        """,
    )
    out = chain.process_batch(messages('{"n":2}', '{"n":1}'))
    first, second = (m.value["meta"]["workflow"] for m in out)
    assert first["succeeded"] == ["good"] and first["skipped"] == ["skipper"]
    assert set(first["failed"]) == {"bad"} and "service down" in first["failed"]["bad"]
    assert second["succeeded"] == ["good", "skipper"] and second["failed"].keys() == {"bad"}
    assert [m.error for m in out] == [None, None]  # the record carries the failures
    assert out[1].value["double"] == 2 and out[1].value["small"] is True


def test_without_meta_path_a_failed_branch_flags_the_message(tmp_path: Path) -> None:
    chain = chain_of(
        tmp_path,
        """\
        - workflow:
            meta_path: ""
            branches:
              bad:
                processors: [ { mapping: 'root = throw("nope")' } ]
        """,
    )
    [out] = chain.process_batch(messages('{"n":1}'))
    assert out.value == {"n": 1}
    assert out.error is not None and out.error.startswith("workflow branches failed: bad: ")


def test_explicit_order_and_branch_resources(tmp_path: Path) -> None:
    chain = chain_of(
        tmp_path,
        """\
        - workflow:
            order: [ [ first ], [ enrich ] ]
            branch_resources: [ enrich ]
            branches:
              first:
                request_map: 'root = ""'
                processors: [ { mapping: 'root = "one"' } ]
                result_map: 'root.first = content().string()'
        """,
        resources="""\
        processor_resources:
          - label: enrich
            branch:
              request_map: 'root = this.first'
              processors: [ { mapping: 'root = content().string() + " two"' } ]
              result_map: 'root.second = content().string()'
        """,
    )
    [out] = chain.process_batch(messages("{}"))
    assert out.value["first"] == "one" and out.value["second"] == "one two"
    assert out.value["meta"]["workflow"]["succeeded"] == ["first", "enrich"]


def _problems(tmp_path: Path, processors: str) -> list[str]:
    config = tmp_path / "bad.yaml"
    config.write_text(stream_yaml(processors))
    return [str(p) for p in build_problems(load_stream(config))]


def test_bad_workflows_are_config_errors(tmp_path: Path) -> None:
    cycle = """\
    - workflow:
        branches:
          a: { request_map: 'root = this.y', processors: [], result_map: 'root.x = this' }
          b: { request_map: 'root = this.x', processors: [], result_map: 'root.y = this' }
    """
    [problem] = _problems(tmp_path, cycle)
    assert f"{tmp_path / 'bad.yaml'}:6:" in problem and "cycle: a, b" in problem
    unknown = """\
    - workflow:
        order: [ [ a, c ] ]
        branches:
          a: { processors: [] }
    """
    [problem] = _problems(tmp_path, unknown)
    assert "order names unknown branches: c (neither under `branches` nor" in problem
    missing = """\
    - workflow:
        order: [ [ a ] ]
        branches:
          a: { processors: [] }
          b: { processors: [] }
    """
    [problem] = _problems(tmp_path, missing)
    assert "branches missing from order: b" in problem


def test_branches_of_a_tier_run_at_the_same_time() -> None:
    barrier = threading.Barrier(2, timeout=5)

    def meet(m: Message) -> Message:
        barrier.wait()  # breaks unless both branches run at once
        return Message(b'"met"')

    branch = {"request_map": "", "processors": [Fn(meet)]}
    proc = build(
        "processor",
        "workflow",
        {
            "meta_path": "meta.workflow",
            "branches": {
                "a": {**branch, "result_map": "root.a = this"},
                "b": {**branch, "result_map": "root.b = this"},
            },
        },
        Ctx(),
    )
    try:
        [out] = proc.process_batch(messages("{}"))
    finally:
        proc.close()
    assert out.value["a"] == "met" and out.value["b"] == "met"
    assert out.value["meta"]["workflow"] == {"succeeded": ["a", "b"]}


def test_order_may_name_branch_processor_resources(tmp_path: Path) -> None:
    """As in Benthos: a name in `order` that no branch has is a branch processor resource."""
    chain = chain_of(
        tmp_path,
        """\
        - workflow:
            meta_path: results
            order: [ [ double, square ], [ total ] ]
        """,
        resources="""\
        processor_resources:
          - label: double
            branch:
              request_map: 'root = this.n'
              processors: [ { mapping: 'root = this * 2' } ]
              result_map: 'root.double = this'
          - label: square
            branch:
              request_map: 'root = this.n'
              processors: [ { mapping: 'root = this * this' } ]
              result_map: 'root.square = this'
          - label: total
            branch:
              request_map: 'root = this.double + this.square'
              processors: [ { noop: {} } ]
              result_map: 'root.total = this'
        """,
    )
    [out] = chain.process_batch(messages('{"n": 3}'))
    assert (out.value["double"], out.value["square"], out.value["total"]) == (6, 9, 15)
    assert out.value["results"]["succeeded"] == ["double", "square", "total"]
