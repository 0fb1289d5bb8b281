"""`split`, `group_by`, `group_by_value`, `for_each`, `while` and `parallel` on batches."""

from __future__ import annotations

import threading
from pathlib import Path

from batch_helpers import batch_payloads, chain_of, messages, payloads
from component_helpers import Ctx, Fn, build

from streamforge.message import Message
from streamforge.plugin.batches import Batches, parts_of
from streamforge.plugin.chain import ProcessorChain

# -- split ---------------------------------------------------------------------------------


def test_split_makes_batches_of_size_and_a_remainder(tmp_path: Path) -> None:
    chain = chain_of(tmp_path, "- split: { size: 10 }")
    out = chain.process_batch(messages(*(str(i) for i in range(95))))
    sizes = [len(p) for p in parts_of(out)]
    assert sizes == [10] * 9 + [5]
    assert payloads(out) == [str(i).encode() for i in range(95)]


def test_split_default_is_batches_of_one(tmp_path: Path) -> None:
    out = chain_of(tmp_path, "- split: {}").process_batch(messages("a", "b", "c"))
    assert batch_payloads(out) == [[b"a"], [b"b"], [b"c"]]


def test_split_by_bytes_ends_a_batch_at_whichever_limit_comes_first(tmp_path: Path) -> None:
    chain = chain_of(tmp_path, "- split: { size: 3, byte_size: 10 }")
    out = chain.process_batch(messages("aaaa", "bbbb", "cccc", "d", "e", "f", "g", "x" * 30))
    assert batch_payloads(out) == [
        [b"aaaa", b"bbbb"],
        [b"cccc", b"d", b"e"],
        [b"f", b"g"],
        [b"x" * 30],
    ]


def test_processors_after_a_split_run_once_per_batch(tmp_path: Path) -> None:
    chain = chain_of(
        tmp_path,
        """\
        - split: { size: 2 }
        - mapping: 'root = "%s of %d".format(content().string(), batch_size())'
        - archive: { format: lines }
        """,
    )
    out = chain.process_batch(messages("a", "b", "c", "d", "e"))
    assert type(out) is Batches
    assert batch_payloads(out) == [[b"a of 2\nb of 2"], [b"c of 2\nd of 2"], [b"e of 1"]]


def test_split_keeps_failed_messages_in_place(tmp_path: Path) -> None:
    batch = messages("a", "b", "c")
    batch[1].error = "earlier failure"
    out = chain_of(tmp_path, "- split: { size: 2 }").process_batch(batch)
    assert batch_payloads(out) == [[b"a", b"b"], [b"c"]]
    assert out[1].error == "earlier failure"


# -- group_by / group_by_value -------------------------------------------------------------


def test_group_by_example_archives_and_labels_each_group(tmp_path: Path) -> None:
    chain = chain_of(
        tmp_path,
        """\
        - group_by:
            - check: content().contains("this is a foo")
              processors:
                - archive: { format: lines }
                - compress: { algorithm: gzip }
                - mapping: 'meta grouping = "foo"'
            - check: this.kind == "bar"
              processors:
                - mapping: 'meta grouping = "bar"'
        """,
    )
    batch = messages(
        '"this is a foo 1"',
        '{"kind":"bar","n":1}',
        '"neither"',
        '"this is a foo 2"',
        '{"kind":"bar","n":2}',
    )
    out = chain.process_batch(batch)
    parts = parts_of(out)
    assert [len(p) for p in parts] == [1, 2, 1]
    import gzip

    [foo] = parts[0]
    assert gzip.decompress(foo.payload) == b'"this is a foo 1"\n"this is a foo 2"'
    assert foo.metadata == {"grouping": "foo"}
    assert [m.metadata for m in parts[1]] == [{"grouping": "bar"}] * 2
    assert payloads(parts[2]) == [b'"neither"'] and parts[2][0].metadata == {}


def test_group_by_flags_a_message_whose_check_fails_and_puts_it_last(tmp_path: Path) -> None:
    chain = chain_of(tmp_path, "- group_by:\n    - check: this.n > 1\n")
    out = chain.process_batch(messages('{"n":2}', "not json", '{"n":0}'))
    assert batch_payloads(out) == [[b'{"n":2}'], [b"not json", b'{"n":0}']]
    assert out[1].error is not None and out[2].error is None


def test_group_by_value_groups_in_order_of_first_arrival(tmp_path: Path) -> None:
    chain = chain_of(
        tmp_path,
        """\
        - group_by_value:
            value: '${! meta("kafka_key") }'
        - archive: { format: json_array }
        - mapping: 'root = {"key": meta("kafka_key"), "values": this}'
        """,
    )
    batch = [
        Message(b"1", {"kafka_key": "press"}),
        Message(b"2", {"kafka_key": "oven"}),
        Message(b"3", {"kafka_key": "press"}),
        Message(b"4", {"kafka_key": "mixer"}),
        Message(b"5", {"kafka_key": "oven"}),
    ]
    out = chain.process_batch(batch)
    assert [m.value for m in out] == [
        {"key": "press", "values": [1, 3]},
        {"key": "oven", "values": [2, 5]},
        {"key": "mixer", "values": [4]},
    ]
    assert len(parts_of(out)) == 3


# -- for_each ------------------------------------------------------------------------------


def test_for_each_runs_processors_on_batches_of_one(tmp_path: Path) -> None:
    mapping = "mapping: 'root = \"%s %d\".format(content().string(), batch_size())'"
    plain = chain_of(tmp_path, f"- {mapping}").process_batch(messages("a", "b", "c"))
    assert payloads(plain) == [b"a 3", b"b 3", b"c 3"]
    each = chain_of(tmp_path, f"- for_each:\n    - {mapping}").process_batch(
        messages("a", "b", "c")
    )
    assert payloads(each) == [b"a 1", b"b 1", b"c 1"]


def test_for_each_archive_works_per_message_and_keeps_order(tmp_path: Path) -> None:
    chain = chain_of(
        tmp_path,
        """\
        - for_each:
            - unarchive: { format: lines }
            - archive: { format: json_array }
        """,
    )
    out = chain.process_batch(messages("1\n2", "3", "4\n5\n6"))
    assert [m.value for m in out] == [[1, 2], [3], [4, 5, 6]]


# -- while ---------------------------------------------------------------------------------


def test_while_loops_until_the_check_fails(tmp_path: Path) -> None:
    chain = chain_of(
        tmp_path,
        """\
        - while:
            check: this.n < 5
            processors:
              - mapping: 'root.n = this.n + 1'
        """,
    )
    out = chain.process_batch(messages('{"n":0}', '{"n":3}'))
    # the check reads the first message of the batch: both loop five times
    assert [m.value for m in out] == [{"n": 5}, {"n": 8}]


def test_while_at_least_once_and_max_loops(tmp_path: Path) -> None:
    once = chain_of(
        tmp_path,
        """\
        - while:
            at_least_once: true
            check: 'false'
            processors: [ { mapping: 'root.n = this.n + 1' } ]
        """,
    )
    assert once.process_batch(messages('{"n":0}'))[0].value == {"n": 1}
    capped = chain_of(
        tmp_path,
        """\
        - while:
            max_loops: 3
            check: 'true'
            processors: [ { mapping: 'root.n = this.n + 1' } ]
        """,
    )
    assert capped.process_batch(messages('{"n":0}'))[0].value == {"n": 3}
    never = chain_of(
        tmp_path, "- while:\n    check: this.missing.field > 1\n    processors: [ { noop: {} } ]"
    )
    out = never.process_batch(messages('{"n":0}'))
    assert out[0].value == {"n": 0} and out[0].error is None


def test_while_ends_when_the_processors_drop_everything(tmp_path: Path) -> None:
    chain = chain_of(
        tmp_path,
        """\
        - while:
            check: 'true'
            processors:
              - mapping: 'root = if this.n > 2 { deleted() } else { {"n": this.n + 1} }'
        """,
    )
    assert chain.process_batch(messages('{"n":0}')) == []


def test_while_errored_retries_failed_messages(tmp_path: Path) -> None:
    chain = chain_of(
        tmp_path,
        """\
        - mapping: 'root = if this.tries < 3 { throw("not yet") } else { this }'
        - while:
            max_loops: 10
            check: errored()
            processors:
              - catch: []
              - mapping: 'root.tries = this.tries + 1'
              - mapping: 'root = if this.tries < 3 { throw("not yet") } else { this }'
        """,
    )
    [retried] = chain.process_batch(messages('{"tries":0}'))
    assert retried.value == {"tries": 3} and retried.error is None
    [healthy] = chain.process_batch(messages('{"tries":5}'))
    assert healthy.value == {"tries": 5} and healthy.error is None  # never looped


# -- parallel ------------------------------------------------------------------------------


def test_parallel_processes_messages_at_the_same_time_in_order() -> None:
    barrier = threading.Barrier(4, timeout=5)
    threads: set[int] = set()

    def meet(m: Message) -> Message:
        threads.add(threading.get_ident())
        barrier.wait()  # breaks (and the test fails) unless four run at once
        return Message(m.payload.upper(), dict(m.metadata))

    proc = build("processor", "parallel", {"cap": 4, "processors": [Fn(meet)]}, Ctx())
    try:
        out = proc.process_batch(messages("a", "b", "c", "d", "e", "f", "g", "h"))
    finally:
        proc.close()
    assert payloads(out) == [b"A", b"B", b"C", b"D", b"E", b"F", b"G", b"H"]
    assert all(m.error is None for m in out)
    assert len(threads) == 4


def test_parallel_gives_each_message_a_batch_of_one(tmp_path: Path) -> None:
    chain = chain_of(
        tmp_path,
        """\
        - parallel:
            cap: 2
            processors:
              - mapping: 'root = "%s %d".format(content().string(), batch_size())'
        """,
    )
    try:
        out = chain.process_batch(messages("a", "b", "c"))
    finally:
        chain.close()
    assert payloads(out) == [b"a 1", b"b 1", b"c 1"]


def test_a_chain_runs_the_rest_per_batch_and_skips_failed_ones() -> None:
    seen: list[list[bytes]] = []

    class Record(Fn):
        def process_batch(self, batch: list[Message]) -> list[Message]:
            seen.append(payloads(batch))
            return batch

    split = build("processor", "split", {"size": 2}, Ctx())
    batch = messages("a", "b", "c")
    out = ProcessorChain([split, Record(lambda m: m)]).process_batch(batch)
    assert seen == [[b"a", b"b"], [b"c"]]
    assert batch_payloads(out) == [[b"a", b"b"], [b"c"]]
