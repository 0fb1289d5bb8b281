"""Request coalescing: as few reads as Modbus allows, split when the device refuses one."""

from __future__ import annotations

from typing import Any

from streamforge.inputs.modbus.plan import ReadRequest, plan_requests, split
from streamforge.inputs.modbus.tags import Tag, parse_tags


def tags(*entries: dict[str, Any]) -> list[Tag]:
    return parse_tags([{"name": f"t{i}", **e} for i, e in enumerate(entries)])


def spans(requests: list[ReadRequest]) -> list[tuple[str, int, int]]:
    return [(r.register, r.address, r.count) for r in requests]


def test_adjacent_registers_are_one_read() -> None:
    plan = plan_requests(tags(*({"address": a} for a in range(20))))
    assert spans(plan) == [("holding", 0, 20)]


def test_reads_stop_at_125_registers() -> None:
    plan = plan_requests(tags(*({"address": a} for a in range(200))))
    assert spans(plan) == [("holding", 0, 125), ("holding", 125, 75)]


def test_multi_register_tags_are_not_cut() -> None:
    plan = plan_requests(tags(*({"address": a * 4, "type": "FLOAT64"} for a in range(40))))
    assert spans(plan) == [("holding", 0, 124), ("holding", 124, 36)]


def test_small_holes_are_bridged_large_ones_are_not() -> None:
    plan = plan_requests(tags({"address": 0}, {"address": 9}, {"address": 30}))
    assert spans(plan) == [("holding", 0, 10), ("holding", 30, 1)]


def test_register_kinds_and_bits_are_read_apart() -> None:
    plan = plan_requests(
        tags(
            *({"register": "coil", "address": a * 10} for a in range(300)),
            {"register": "discrete", "address": 0},
            {"register": "input", "address": 0},
            {"register": "holding", "address": 0},
        )
    )
    assert spans(plan) == [
        ("coil", 0, 1991),
        ("coil", 2000, 991),
        ("discrete", 0, 1),
        ("holding", 0, 1),
        ("input", 0, 1),
    ]


def test_overlapping_tags_share_a_read() -> None:
    plan = plan_requests(
        tags(
            {"address": 4, "type": "UINT32"},
            {"address": 5, "type": "BIT", "bit": 2},
            {"address": 5},
        )
    )
    assert spans(plan) == [("holding", 4, 2)]


def test_split_isolates_the_rejected_tag_and_stops_bridging() -> None:
    t = tags({"address": 0}, {"address": 1}, {"address": 5}, {"address": 9})
    (merged,) = plan_requests(t)
    assert spans([merged]) == [("holding", 0, 10)]
    replaced = split(merged, [t[2]])
    assert spans(replaced) == [("holding", 0, 2), ("holding", 9, 1), ("holding", 5, 1)]
    assert [tag.name for tag in replaced[-1].tags] == ["t2"]
