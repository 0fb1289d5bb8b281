"""An `opcua` input opened in the test process, collecting what it delivers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from peers.stream_run import wait_until
from streamforge.inputs.opcua.opcua import OpcuaReader
from streamforge.message import Message
from streamforge.plugin import load_builtins, registry


class _Ctx:
    stream = "opcua_test"
    label = "opcua_in"
    path = "input"


class Reading:
    """An `opcua` input opened in this process; `until` collects what it delivers."""

    def __init__(self, conf: dict[str, Any]) -> None:
        load_builtins()
        spec = registry.get("input", "opcua")
        assert spec is not None
        self.reader: OpcuaReader = spec.factory(conf, _Ctx()).open("0", None)
        self.messages: list[Message] = []

    def drain(self) -> list[Message]:
        batch = self.reader.read() or []
        self.messages.extend(batch)
        return batch

    def until(self, cond: Callable[[list[Message]], bool], what: str, timeout: float = 15) -> None:
        def check() -> bool:
            self.drain()
            return cond(self.messages)

        wait_until(check, timeout, what)

    def by_path(self) -> dict[str, Message]:
        return {m.metadata["opcua_tag_path"]: m for m in self.messages}

    def of(self, tag: str) -> list[Any]:
        """The values delivered for the tag named `tag`."""
        return [m.value for m in self.messages if m.metadata["opcua_tag_name"] == tag]

    def names(self) -> set[str]:
        return {m.metadata["opcua_tag_name"] for m in self.messages}

    def close(self) -> None:
        self.reader.close()


@pytest.fixture
def reading() -> Iterator[Callable[[dict[str, Any]], Reading]]:
    """Opens `opcua` inputs for a test; closes them after it."""
    opened: list[Reading] = []

    def open_(conf: dict[str, Any]) -> Reading:
        opened.append(Reading(conf))
        return opened[-1]

    yield open_
    for r in opened:
        r.close()
