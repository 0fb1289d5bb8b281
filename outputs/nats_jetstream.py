"""`nats_jetstream` output: publishes each message to a JetStream stream, as Benthos does.

A message counts as written once JetStream acknowledged storing it. Up to `max_in_flight`
publishes await their acknowledgement at a time; a publish that times out or finds the
server away is tried again with backoff until `write_timeout`, then fails.
"""

from __future__ import annotations

import asyncio
import time
from itertools import repeat

from streamforge.connectors.nats import (
    NatsOutputBase,
    check_nats_output,
    describe_error,
    nats_output_fields,
)
from streamforge.connectors.peer import fail_each
from streamforge.license.catalog import register_feature
from streamforge.message import Message
from streamforge.plugin import register_output
from streamforge.plugin.spec import offline_check

__all__ = ["NatsJetStreamOutput"]

register_feature("output", "nats_jetstream", "bindings", "nats")


@register_output(
    "nats_jetstream",
    fields=nats_output_fields(1024),
    summary="Publishes messages to a NATS JetStream stream; written once stored.",
    examples=(
        "nats_jetstream:\n  urls: [ nats://127.0.0.1:4222 ]\n"
        "  subject: plant.${! @asset_id }.telemetry",
    ),
)
@offline_check(check_nats_output)
class NatsJetStreamOutput(NatsOutputBase):
    """Publishes messages to a NATS JetStream stream."""

    protocol = "nats_jetstream"

    def write_batch(self, batch: list[Message]) -> list[Message]:
        failed: list[Message] = []
        items = self.prepare(batch, failed)
        if not items:
            return failed
        deadline = time.monotonic() + self.write_timeout
        why = self.wait_connected(deadline)
        if why is not None:
            return fail_each(self.name, (m for m, _, _ in items), repeat(why), failed)
        try:
            results = self.client.loop.run(
                self._publish_all(items, deadline), self.write_timeout + 10.0
            )
        except Exception as exc:  # noqa: BLE001 - the loop is gone (closing)
            results = [describe_error(exc)] * len(items)
        fail_each(self.name, (m for m, _, _ in items), results, failed)
        if self.client.connected and any(r is None for r in results):
            self.client.link.up()
        return failed

    async def _publish_all(
        self, items: list[tuple[Message, str, dict[str, str] | None]], deadline: float
    ) -> list[str | None]:
        """Publish every item (at most `max_in_flight` at once); per item None when stored,
        else why not. Transient failures are retried with backoff until `deadline`."""
        js = self.client.js
        limit = asyncio.Semaphore(self.max_in_flight)

        async def publish(i: int) -> BaseException | None:
            msg, subject, headers = items[i]
            async with limit:
                timeout = max(min(deadline - time.monotonic(), 5.0), 0.5)
                try:
                    await js.publish(subject, msg.payload, timeout=timeout, headers=headers)
                except Exception as exc:  # noqa: BLE001 - sorted out by retry_each
                    return exc
            return None

        return await self.client.link.retry_each(
            len(items),
            publish,
            transient=self._transient,
            describe=describe_error,
            deadline=deadline,
        )
