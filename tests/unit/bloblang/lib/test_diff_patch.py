"""`diff` and `patch` exchange Benthos' change records: Type, Path, From and To."""

from __future__ import annotations

from typing import Any

import pytest

from streamforge.bloblang import parse
from streamforge.bloblang.errors import MappingError


def run(mapping: str, doc: Any) -> Any:
    return parse(mapping).query(doc)


def test_diff_documented_update_and_create() -> None:
    doc = {
        "before": {"name": "Alice", "age": 30},
        "after": {"name": "Alice", "age": 31, "city": "NYC"},
    }
    assert run("root.changes = this.before.diff(this.after)", doc) == {
        "changes": [
            {"From": 30, "Path": ["age"], "To": 31, "Type": "update"},
            {"From": None, "Path": ["city"], "To": "NYC", "Type": "create"},
        ]
    }


def test_diff_documented_delete() -> None:
    doc = {"old_config": {"debug": True, "timeout": 30}, "new_config": {"timeout": 60}}
    assert run("root.changelog = this.old_config.diff(this.new_config)", doc) == {
        "changelog": [
            {"From": True, "Path": ["debug"], "To": None, "Type": "delete"},
            {"From": 30, "Path": ["timeout"], "To": 60, "Type": "update"},
        ]
    }


def test_patch_applies_benthos_records() -> None:
    doc = {
        "current": {"name": "Alice", "age": 30},
        "changelog": [
            {"Type": "update", "Path": ["age"], "From": 30, "To": 31},
            {"Type": "create", "Path": ["city"], "From": None, "To": "NYC"},
        ],
    }
    assert run("root.updated = this.current.patch(this.changelog)", doc) == {
        "updated": {"age": 31, "city": "NYC", "name": "Alice"}
    }


def test_patch_restores_with_inverse_records() -> None:
    doc = {
        "modified": {"timeout": 60},
        "reverse_changelog": [
            {"Type": "create", "Path": ["debug"], "From": None, "To": True},
            {"Type": "update", "Path": ["timeout"], "From": 60, "To": 30},
        ],
    }
    assert run("root.restored = this.modified.patch(this.reverse_changelog)", doc) == {
        "restored": {"debug": True, "timeout": 30}
    }


def test_patch_accepts_lowercase_keys_as_benthos_decoding_does() -> None:
    changes = [{"type": "update", "path": ["a", "b"], "from": 1, "to": 2}]
    assert run(
        "root = this.doc.patch(this.changes)", {"doc": {"a": {"b": 1}}, "changes": changes}
    ) == {"a": {"b": 2}}


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ({"a": 1, "b": [1, 2, 3], "c": {"d": "x"}}, {"a": 2, "b": [1, 3], "c": {}, "e": True}),
        ({"list": [1]}, {"list": [1, 2, {"x": [3]}]}),
        ({"n": 1}, {"n": "1"}),
        ([1, {"a": 2}], [1, {"a": 3}, 4]),
    ],
)
def test_diff_then_patch_round_trips(before: Any, after: Any) -> None:
    doc = {"before": before, "after": after}
    assert run("root = this.before.patch(this.before.diff(this.after))", doc) == after


def test_nested_leaf_records_from_benthos_create_parents_and_append() -> None:
    changes = [
        {"Type": "create", "Path": ["a", "b", "c"], "From": None, "To": 1},
        {"Type": "create", "Path": ["items", "1"], "From": None, "To": "y"},
    ]
    doc = {"doc": {"items": ["x"]}, "changes": changes}
    assert run("root = this.doc.patch(this.changes)", doc) == {
        "a": {"b": {"c": 1}},
        "items": ["x", "y"],
    }


def test_null_targets_stay_null() -> None:
    assert run("root = this.a.diff({})", {"a": None}) is None
    assert run("root = this.a.patch([])", {"a": None}) is None


def test_unknown_change_type_is_an_error() -> None:
    with pytest.raises(MappingError, match="unknown change type 'move'"):
        run('root = this.patch([{"Type": "move", "Path": ["a"]}])', {"a": 1})
