"""Lint of component names: did-you-mean only for typos, Benthos components said plainly, and a
resource whose type is unknown reported once."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from streamforge.config import lint_paths
from streamforge.plugin.benthos_names import BENTHOS_COMPONENTS, missing_component, origin
from streamforge.plugin.similar import close_match, edit_distance

Write = Callable[..., Path]


def problems(path: Path) -> list[str]:
    return [str(p).replace(str(path.parent) + "/", "") for p in lint_paths([str(path)])]


@pytest.mark.parametrize(
    ("name", "choices", "expected"),
    [
        ("cache", ["catch", "try"], None),
        ("retry", ["try", "catch"], None),
        ("reject", ["reject_errored", "drop"], None),
        ("mapings", ["mapping", "mutation"], "mapping"),
        ("kafak", ["kafka", "file"], "kafka"),
        ("htpp_server", ["http_server", "http_client"], "http_server"),
        ("Mapping", ["mapping"], "mapping"),
        ("http-server", ["http_server"], "http_server"),
        ("bloblang", ["bloblang"], None),
        ("x", ["y"], "y"),
        ("zzz_nothing_like_it", ["test_only_sink"], None),
    ],
)
def test_close_match_only_for_typos(name: str, choices: list[str], expected: str | None) -> None:
    assert close_match(name, choices) == expected


def test_edit_distance_counts_a_swap_as_one() -> None:
    assert edit_distance("kafak", "kafka") == 1
    assert edit_distance("cache", "catch") == 2
    assert edit_distance("abc", "abc") == 0
    assert edit_distance("a", "abcdef", limit=2) == 3


def test_known_benthos_and_umh_names() -> None:
    assert origin("output", "aws_s3") == "Benthos"
    assert origin("input", "s7comm") == "benthos-umh"
    assert origin("processor", "no_such_thing") is None
    assert missing_component("rate_limit", "redis") == (
        "`redis` is a Benthos rate limit StreamForge does not have (yet)"
    )
    assert "system_window" in BENTHOS_COMPONENTS["buffer"]


def test_a_benthos_component_streamforge_lacks_is_said_so(write: Write) -> None:
    path = write(
        """
        input:
          s7comm:
            addresses: [DB1.DW20]
        pipeline:
          processors:
            - awk: {program: "{}"}
            - mapings: root = this
        output:
          elasticsearch:
            urls: [http://localhost:9200]
        """
    )
    assert problems(path) == [
        "stream.yaml:2:3: `s7comm` is a benthos-umh input StreamForge does not have (yet)",
        "stream.yaml:6:7: `awk` is a Benthos processor StreamForge does not have (yet)",
        'stream.yaml:7:7: unknown processor type "mapings", did you mean "mapping"?',
        "stream.yaml:9:3: `elasticsearch` is a Benthos output StreamForge does not have (yet)",
    ]


def test_no_suggestion_for_a_different_word(write: Write) -> None:
    path = write(
        """
        input:
          test_only_gen: {}
        pipeline:
          processors:
            - test_only_upperr: {}
            - only_upper_case_everything: {}
        output:
          test_only_sink: {path: x}
        """
    )
    first, second = problems(path)
    assert 'did you mean "test_only_upper"?' in first
    assert "did you mean" not in second


def test_an_unknown_resource_type_is_reported_once(write: Write) -> None:
    path = write(
        """
        input:
          test_only_gen: {}
        pipeline:
          processors:
            - resource: enrich
            - resource: enrich
            - resource: missing
        output:
          resource: sink
        processor_resources:
          - label: enrich
            awk: {program: "{}"}
        output_resources:
          - label: sink
            no_such_output_anywhere: {}
        """
    )
    found = problems(path)
    assert found[:2] == [
        'stream.yaml:7:17: processor resource "missing" is not defined',
        "stream.yaml:12:5: `awk` is a Benthos processor StreamForge does not have (yet)",
    ]
    assert found[2].startswith('stream.yaml:15:5: unknown output type "no_such_output_anywhere"')
    assert len(found) == 3  # no problem at the references to `enrich` and `sink`


def test_an_unknown_cache_type_is_not_reported_again_at_its_users(write: Write) -> None:
    path = write(
        """
        input:
          test_only_gen: {}
        pipeline:
          processors:
            - cache: {resource: seen, operator: get, key: x}
            - cache: {resource: unseen, operator: get, key: x}
        output:
          test_only_sink: {path: x}
        cache_resources:
          - label: seen
            couchbase: {url: "couchbase://localhost", bucket: readings}
        """
    )
    assert problems(path) == [
        'stream.yaml:6:25: field resource: cache resource "unseen" is not defined '
        "(declare it under cache_resources)",
        "stream.yaml:11:5: `couchbase` is a Benthos cache StreamForge does not have (yet)",
    ]
