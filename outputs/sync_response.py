"""`sync_response` output: hands each message back to the input that read it, as the answer
to its peer (the `http_server` input answers the request with it).

Messages from inputs that answer nobody are dropped without a failure, as in Benthos.
"""

from __future__ import annotations

from typing import Any

from streamforge.message import Message
from streamforge.plugin import BuildContext, Output, register_output
from streamforge.plugin.delivery import respond_to_inputs

__all__ = ["SyncResponseOutput"]


@register_output(
    "sync_response",
    fields=[],
    summary="Returns each message to the input it came from as the answer to its peer.",
    description=(
        "With the `http_server` input the request is answered with the message: its payload "
        "as the body (several messages of one request: a multipart/mixed body), the status "
        "and headers of the input's `sync_response` settings interpolated against it. The "
        "answer is sent once the stream is done with the request, so with a `broker` "
        "(fan_out) the other outputs are written first. Messages of other inputs are dropped "
        "silently. The output must write while the stream's output does (not under a "
        "`batching` policy of its own), else nothing is answered."
    ),
    examples=("sync_response: {}\n",),
)
class SyncResponseOutput(Output):
    """Returns each message to the input it came from as the answer to its peer."""

    def __init__(self, conf: Any = None, ctx: BuildContext | None = None) -> None:
        self.label = getattr(ctx, "label", "") or "sync_response"

    def write_batch(self, batch: list[Message]) -> list[Message]:
        if batch:
            respond_to_inputs(batch)
        return []
