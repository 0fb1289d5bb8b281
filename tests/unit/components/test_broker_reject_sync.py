"""The `broker` input, the `reject` and `sync_response` outputs and the shared HTTP client
fields, without a network."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest
from component_helpers import build

from streamforge.config import load_stream
from streamforge.config.model import ConfigError
from streamforge.connectors.http_auth import client_auth, oauth1_header
from streamforge.engine.acks import AckBatch, Acknowledgement, mark_origins
from streamforge.engine.instantiate import StreamBuilder, build_problems
from streamforge.message import Message
from streamforge.plugin import InputReader, registry


def stream_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def drain(reader: InputReader, reads: int = 50) -> list[list[Message]]:
    batches: list[list[Message]] = []
    for _ in range(reads):
        batch = reader.read()
        if batch is None:
            break
        if batch:
            batches.append(batch)
    return batches


class Scripted(InputReader):
    """A reader handing out given batches and recording what was acknowledged."""

    def __init__(self, batches: list[list[Message]]) -> None:
        self.batches = list(batches)
        self.read_so_far = 0
        self.acked: list[tuple[list[Message], str | None]] = []

    def read(self) -> list[Message] | None:
        if not self.batches:
            return None
        self.read_so_far += 1
        return self.batches.pop(0)

    def snapshot(self) -> Any:
        return self.read_so_far

    def ack(self, batch: list[Message], error: str | None) -> None:
        self.acked.append((batch, error))


# -- broker input --------------------------------------------------------------------------------


def test_broker_merges_inputs_with_their_own_processors(tmp_path: Path) -> None:
    data = tmp_path / "in.jsonl"
    data.write_text('{"v": 1}\n{"v": 2}\n')
    path = stream_file(
        tmp_path,
        f"""
    input:
      broker:
        copies: 2
        inputs:
          - file:
              paths: [ {data} ]
            processors:
              - mapping: 'root = this.v * 10'
          - generate:
              count: 2
              interval: ""
              mapping: 'root = "g"'
    output:
      drop: {{}}
    """,
    )
    stream = load_stream(path)
    broker = StreamBuilder(stream).build_input(stream.input)
    parts = broker.partitions()
    assert len(parts) == 4 and len(set(parts)) == 4  # two copies of two single-partition inputs
    got: list[bytes] = []
    for part in parts:
        reader = broker.open(part, None)
        got += [m.payload for b in drain(reader) for m in b]
        reader.close()
    assert sorted(got) == sorted([b"10", b"20", b"g", b"g"] * 2)


def test_broker_batches_and_acknowledges_each_child_batch() -> None:
    from streamforge.inputs.broker import BrokerReader
    from streamforge.plugin.batching import BatchPolicy

    child = Scripted([[Message("a")], [Message("b"), Message("c")], [Message("d")]])
    reader = BrokerReader(child, None, BatchPolicy(count=3))
    first = reader.read()
    assert first == [] and reader.snapshot() == 0  # held back: a restart reads it again
    merged = reader.read()
    assert merged is not None and [m.payload for m in merged] == [b"a", b"b", b"c"]
    assert reader.snapshot() == 2
    last = reader.read()
    assert last == []
    tail = reader.read()  # the child ended: what is held is handed over
    assert tail is not None and [m.payload for m in tail] == [b"d"]
    assert reader.read() is None
    reader.ack(merged, None)
    assert [(len(b), e) for b, e in child.acked] == [(1, None), (2, None)]
    reader.ack(tail, "write failed")
    assert child.acked[-1][1] == "write failed"


def test_broker_acknowledges_a_child_batch_split_over_two_batches_after_both() -> None:
    from streamforge.inputs.broker import BrokerReader
    from streamforge.plugin.batching import BatchPolicy

    child = Scripted([[Message("a"), Message("b"), Message("c")]])
    reader = BrokerReader(child, None, BatchPolicy(count=2))
    first = reader.read()
    assert first is not None and [m.payload for m in first] == [b"a", b"b"]
    assert reader.snapshot() == 0  # "c" is still held
    rest = reader.read()
    assert rest is not None and [m.payload for m in rest] == [b"c"]  # the child ended
    reader.ack(first, None)
    assert child.acked == []
    reader.ack(rest, "nope")
    assert [(len(b), e) for b, e in child.acked] == [(3, "nope")]


def test_broker_acknowledges_batches_its_processors_dropped() -> None:
    from streamforge.inputs.broker import BrokerReader
    from streamforge.plugin.batching import BatchPolicy
    from streamforge.plugin.chain import ProcessorChain

    drop_all = ProcessorChain([build("processor", "mapping", "root = deleted()")])
    child = Scripted([[Message("a"), Message("b")]])
    reader = BrokerReader(child, drop_all, BatchPolicy())
    assert reader.read() == []
    assert len(child.acked) == 1 and child.acked[0][1] is None


def test_broker_config_problems_at_their_place(tmp_path: Path) -> None:
    text = """
    input:
      broker:
        inputs:
          - generate:
              mapping: 'root = 1'
          - file:
              paths: [ ./does-not-exist.jsonl ]
    output:
      drop: {}
    """
    with pytest.raises(ConfigError, match=r"s\.yaml:5:\d+: field mapping: bad Bloblang"):
        load_stream(stream_file(tmp_path, text.replace("'root = 1'", "'root = '")))
    found = build_problems(load_stream(stream_file(tmp_path, text)))
    assert [(p.location.line, "does not exist" in p.message) for p in found] == [(6, True)]
    negative = text.replace("    output:", "        batching: { count: -1 }\n    output:")
    negative = negative.replace("./does-not-exist.jsonl", str(stream_file(tmp_path, "")))
    found = build_problems(load_stream(stream_file(tmp_path, negative)))
    assert any("must not be negative" in p.message for p in found), found


# -- reject --------------------------------------------------------------------------------------


def test_reject_fails_every_message_with_the_interpolated_reason() -> None:
    out = build("output", "reject", "bad reading from ${! @device }: ${! error() }")
    batch = [Message("1", {"device": "d1"}, error="too hot"), Message("2", {"device": "d2"})]
    failed = out.write_batch(batch)
    assert failed == batch
    assert [m.error for m in failed] == [
        "bad reading from d1: too hot",
        "bad reading from d2: null",  # error() of a healthy message is null, as in Benthos
    ]


def test_reject_lints_its_interpolation(tmp_path: Path) -> None:
    path = stream_file(
        tmp_path,
        """
    input:
      stdin: {}
    output:
      reject: '${! this.( }'
    """,
    )
    with pytest.raises(Exception, match=r"s\.yaml:4:"):
        load_stream(path)


# -- sync_response -------------------------------------------------------------------------------


class Answering(Scripted):
    def __init__(self) -> None:
        super().__init__([])
        self.answers: list[tuple[list[Message], list[bytes]]] = []

    def respond(self, batch: list[Message], messages: list[Message]) -> None:
        self.answers.append((batch, [m.payload for m in messages]))


def test_sync_response_hands_messages_back_to_the_input_that_read_them() -> None:
    answering, silent = Answering(), Scripted([])
    request = [Message("q")]
    processed = [Message("answer-1"), Message("answer-2")]
    other = [Message("from elsewhere")]
    mark_origins(
        [
            AckBatch(processed, Acknowledgement(answering.ack, request)),
            AckBatch(other, Acknowledgement(silent.ack, other)),
        ]
    )
    out = build("output", "sync_response", {})
    copies = [processed[0].copy(), other[0].shallow_copy()]  # as fan_out and switch write
    assert out.write_batch(copies) == []
    assert answering.answers == [(request, [b"answer-1"])]
    assert out.write_batch([Message("outside any stream")]) == []  # nothing to answer
    assert answering.answers == [(request, [b"answer-1"])]


# -- the shared HTTP client fields ---------------------------------------------------------------


def test_http_clients_share_benthos_fields() -> None:
    shared = {
        "url", "verb", "headers", "timeout", "retries", "retry_period", "max_retry_backoff",
        "backoff_on", "drop_on", "successful_on", "basic_auth", "oauth", "oauth2", "jwt", "tls",
    }  # fmt: skip
    for kind in ("input", "output", "processor"):
        name = "http" if kind == "processor" else "http_client"
        spec = registry.get(kind, name)  # type: ignore[arg-type]
        assert spec is not None
        names = {f.name for f in spec.fields}
        assert shared <= names, (kind, shared - names)
    http = registry.get("processor", "http")
    assert http is not None
    assert {"metadata", "extract_headers", "rate_limit", "parallel", "batch_as_multipart"} <= {
        f.name for f in http.fields
    }


def test_oauth1_signature_matches_the_specification_example() -> None:
    header = oauth1_header(
        "GET",
        "http://photos.example.net/photos?file=vacation.jpg&size=original",
        {
            "consumer_key": "dpf43f3p2l4k3l03",
            "consumer_secret": "kd94hf93k423kf44",
            "access_token": "nnch734d00sl2jdk",
            "access_token_secret": "pfkkdhi9sl3r4s00",
        },
        nonce="kllo9940pd9333jh",
        timestamp="1191242096",
    )
    assert 'oauth_signature="tR3%2BTy81lMeYAr%2FFid0kMTYa%2FWM%3D"' in header


def test_auth_settings_that_cannot_work_are_refused(tmp_path: Path) -> None:
    assert client_auth({}) is None
    with pytest.raises(ValueError, match="signing_method 'HS999'"):
        client_auth({"jwt": {"enabled": True, "signing_method": "HS999"}})
    with pytest.raises(ValueError, match="private_key_file"):
        client_auth(
            {"jwt": {"enabled": True, "signing_method": "RS256",
                     "private_key_file": str(tmp_path / "none.pem")}}
        )  # fmt: skip
    with pytest.raises(ValueError, match="token_url"):
        client_auth({"oauth2": {"enabled": True}})


def test_http_processor_auth_problems_are_lint_errors(tmp_path: Path) -> None:
    path = stream_file(
        tmp_path,
        """
    input:
      stdin: {}
    pipeline:
      processors:
        - http:
            url: http://enricher/lookup
            jwt: { enabled: true, signing_method: RS256, private_key_file: ./none.pem }
    output:
      http_client:
        url: http://sink/ingest
        oauth2: { enabled: true }
    """,
    )
    found = [f"{p.location}: {p.message}" for p in build_problems(load_stream(path))]
    assert any(":5:" in p and "jwt.private_key_file" in p for p in found), found
    assert any(":9:" in p and "oauth2.token_url" in p for p in found), found


# -- documented examples ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "name"),
    [
        ("processor", "json_schema"),
        ("processor", "protobuf"),
        ("processor", "http"),
        ("output", "sync_response"),
        ("output", "reject"),
        ("input", "broker"),
    ],
)
def test_documented_examples_lint_and_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str, name: str
) -> None:
    monkeypatch.chdir(tmp_path)  # the examples name files relative to where the stream runs
    (tmp_path / "schemas").mkdir()
    (tmp_path / "schemas" / "reading.json").write_text('{"type": "object"}')
    (tmp_path / "testing" / "schema").mkdir(parents=True)
    (tmp_path / "testing" / "schema" / "person.proto").write_text(
        'syntax = "proto3";\npackage testing;\nmessage Person { string first_name = 1; }\n'
    )
    (tmp_path / "readings.jsonl").write_text("{}\n")
    spec = registry.get(kind, name)  # type: ignore[arg-type]
    assert spec is not None and spec.examples
    for i, example in enumerate(spec.examples):
        body = textwrap.indent(example, "  ")
        sections = {
            "input": f"input:\n{body}output:\n  drop: {{}}\n",
            "processor": "input:\n  stdin: {}\npipeline:\n  processors:\n    - "
            + textwrap.indent(example, "      ").lstrip()
            + "output:\n  drop: {}\n",
            "output": f"input:\n  stdin: {{}}\noutput:\n{body}",
        }
        config = tmp_path / f"{name}_{i}.yaml"
        config.write_text(sections[kind])
        assert [str(p) for p in build_problems(load_stream(config))] == [], example
