"""`sync_response` processor: what it hands to the input is the message as it was there, it
passes every message on unchanged, and it is safe with inputs that answer nobody."""

from __future__ import annotations

from pathlib import Path

from streamforge.config import lint_paths
from streamforge.message import Message
from streamforge.plugin import registry
from streamforge.plugin.delivery import answering
from streamforge.plugin.testing import PluginTestContext
from streamforge.processors.sync_response import SyncResponseProcessor


class Peer:
    """An input batch's origin that records the answers it is handed."""

    def __init__(self) -> None:
        self.answers: list[Message] = []

    def respond(self, messages: list[Message]) -> None:
        self.answers.extend(messages)


def processor() -> SyncResponseProcessor:
    spec = registry.get("processor", "sync_response")
    assert spec is not None
    built = spec.factory({}, PluginTestContext(label="answer", type_name="sync_response"))
    assert isinstance(built, SyncResponseProcessor)
    return built


def test_messages_of_inputs_that_answer_nobody_pass_untouched() -> None:
    batch = [Message.from_value({"n": 1}), Message(b"raw", {"k": "v"})]
    out = processor().process_batch(batch)
    assert out is batch and [m.payload for m in out] == [b'{"n":1}', b"raw"]


def test_the_answer_is_the_message_as_it_was_at_the_processor() -> None:
    peer = Peer()
    msg = Message.from_value({"pressure": 4.2}, {"asset": "press-1"})
    with answering(peer):
        (out,) = processor().process_batch([msg])
    assert out is msg
    out.value["pressure"] = 0.0  # later processors change the message in place
    out.metadata["asset"] = "changed"
    ((answer),) = peer.answers
    assert (answer.value, answer.metadata) == ({"pressure": 4.2}, {"asset": "press-1"})


def test_a_message_carrying_its_own_origin_answers_it() -> None:
    batch_peer, own_peer = Peer(), Peer()
    mine = Message(b"mine")
    mine.origin = own_peer
    with answering(batch_peer):
        processor().process_batch([mine, Message(b"other")])
    assert [m.payload for m in own_peer.answers] == [b"mine"]
    assert [m.payload for m in batch_peer.answers] == [b"other"]


def test_outside_a_batch_being_answered_nothing_is_handed_on() -> None:
    peer = Peer()
    with answering(peer):
        pass
    processor().process_batch([Message(b"late")])
    assert peer.answers == []


STREAM = """\
input:
  http_server:
    path: /readings
pipeline:
  processors:
    - sync_response: {}
output:
  drop: {}
"""


def test_lint_accepts_the_benthos_form_and_reports_a_field_it_does_not_have(
    tmp_path: Path,
) -> None:
    path = tmp_path / "stream.yaml"
    path.write_text(STREAM)
    assert [str(p) for p in lint_paths([str(path)])] == []
    path.write_text(STREAM.replace("sync_response: {}", "sync_response:\n        status: 201"))
    found = [str(p).replace(str(tmp_path) + "/", "") for p in lint_paths([str(path)])]
    assert len(found) == 1 and found[0].startswith('stream.yaml:7:9: unknown field "status"')


def test_the_documented_example_lints_clean(tmp_path: Path) -> None:
    spec = registry.get("processor", "sync_response")
    assert spec is not None and spec.examples
    path = tmp_path / "example.yaml"
    for example in spec.examples:
        path.write_text(example + "\n")
        assert [str(p) for p in lint_paths([str(path)])] == []
