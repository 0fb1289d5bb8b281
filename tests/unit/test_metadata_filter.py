"""Choosing which metadata keys become headers."""

from __future__ import annotations

from streamforge.metadata_filter import MetadataFilter, metadata_filter_field

META = {"asset_id": "press-01", "asset_site": "north", "kafka_key": "k", "n": 3}


def test_nothing_passes_by_default() -> None:
    wanted = MetadataFilter(None)
    assert not wanted.active
    assert wanted.select(META) == {}


def test_prefixes_and_patterns_choose_keys_and_exclusions_win() -> None:
    wanted = MetadataFilter(
        {
            "include_prefixes": ["asset_"],
            "include_patterns": ["^n$"],
            "exclude_prefixes": ["asset_s"],
        }
    )
    assert wanted.select(META) == {"asset_id": "press-01", "n": "3"}


def test_the_spec_field_lists_exclusions_only_when_asked() -> None:
    plain = metadata_filter_field("metadata", "headers")
    with_exclude = metadata_filter_field("metadata", "headers", exclude=True)
    assert [f.name for f in plain.fields] == ["include_prefixes", "include_patterns"]
    assert with_exclude.default == {
        "include_prefixes": [], "include_patterns": [], "exclude_prefixes": [],
    }  # fmt: skip
