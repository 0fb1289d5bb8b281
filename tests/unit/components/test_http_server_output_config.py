"""The `http_server` output's config as building reads it, its bodies, and its licence feature."""

from __future__ import annotations

import email.parser
import email.policy

import pytest

from streamforge.license.catalog import feature_of
from streamforge.message import Message
from streamforge.outputs._http_server_hub import batch_body, stream_chunk
from streamforge.outputs.http_server import OutputSettings


def test_defaults_are_connects_endpoints_on_the_streams_server() -> None:
    settings = OutputSettings.from_conf({})
    assert settings.shared
    assert settings.endpoints == ["/get", "/get/stream", "/get/ws"]
    assert settings.verbs == frozenset({"GET"})
    assert settings.timeout == 5.0


def test_an_empty_path_serves_nothing_there() -> None:
    settings = OutputSettings.from_conf({"address": "127.0.0.1:0", "ws_path": "", "path": "/x"})
    assert not settings.shared
    assert settings.endpoints == ["/x", "/get/stream"]


@pytest.mark.parametrize(
    ("conf", "problem"),
    [
        ({"allowed_verbs": ["GET", "P0ST"]}, "allowed_verbs: 'P0ST' is not an HTTP method"),
        ({"timeout": "0s"}, "timeout: must be longer than 0s"),
        ({"ws_path": "/get"}, "ws_path: /get is also path"),
        ({"path": "/operator/x"}, "path: /operator/x is served by the stream's HTTP server"),
        (
            {"cors": {"enabled": True, "allowed_origins": []}},
            "cors.allowed_origins: name at least one origin",
        ),
    ],
)
def test_what_cannot_be_served_is_refused(conf: dict[str, object], problem: str) -> None:
    with pytest.raises(ValueError, match="^" + problem.replace("(", r"\(").replace(")", r"\)")):
        OutputSettings.from_conf(conf)


def test_a_get_body_is_the_message_or_a_multipart_batch() -> None:
    assert batch_body([Message(b"one")]) == (b"one", b"application/octet-stream")
    body, kind = batch_body([Message(b"a"), Message(b"b\r\nc")])
    assert kind.startswith(b"multipart/form-data; boundary=")
    doc = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + kind + b"\r\n\r\n" + body
    )
    parts = list(doc.iter_parts())  # type: ignore[attr-defined]
    assert [p.get_payload(decode=True) for p in parts] == [b"a", b"b\r\nc"]
    assert {p["Content-Type"] for p in parts} == {"application/octet-stream"}


def test_a_stream_chunk_ends_each_message_with_a_newline_and_a_batch_with_an_empty_line() -> None:
    assert stream_chunk([Message(b"one")]) == b"one\n"
    assert stream_chunk([Message(b"a"), Message(b"b")]) == b"a\nb\n\n"


def test_the_output_needs_the_http_binding() -> None:
    assert feature_of("output", "http_server", {}) == [("bindings", "http")]
