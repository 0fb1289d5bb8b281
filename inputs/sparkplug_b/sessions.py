"""What a Sparkplug host remembers about edge nodes: their sessions and their metric aliases.

An NBIRTH starts a node's session: its bdSeq, sequence number 0, and a new alias table for
the node (each DBIRTH replaces its device's). Every later message of the node (DBIRTH,
NDATA, DDATA, DDEATH) carries the next sequence number, 0..255 wrapping; a number that is not
the next one is a gap. An NDEATH whose bdSeq is not the session's belongs to an older session.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from streamforge.connectors.sparkplug_mqtt import SparkplugTopic
from streamforge.connectors.sparkplug_proto import Metric, Payload

__all__ = ["AliasTable", "NodeSession", "SequenceCheck", "Sessions"]


@dataclass
class AliasTable:
    """One sender's (node or device) metrics as its BIRTH declared them."""

    names: dict[int, str] = field(default_factory=dict)
    #: metric name -> datatype, for DATA that names metrics but leaves the type out
    datatypes: dict[str, int] = field(default_factory=dict)

    def learn(self, metrics: list[Metric]) -> None:
        for m in metrics:
            if m.name is None:
                continue
            if m.alias is not None:
                self.names[m.alias] = m.name
            if m.datatype:
                self.datatypes[m.name] = m.datatype


@dataclass
class NodeSession:
    """One edge node as seen from here."""

    bdseq: int | None = None
    last_seq: int | None = None
    online: bool = False
    #: an NBIRTH of the current session was seen (aliases and types are known)
    born: bool = False
    tables: dict[str, AliasTable] = field(default_factory=dict)


@dataclass(frozen=True)
class SequenceCheck:
    """What a message's sequence number says: a node heard of for the first time, a gap."""

    new_node: bool = False
    expected: int | None = None
    got: int | None = None

    @property
    def gap(self) -> bool:
        return self.expected is not None


def _bdseq(payload: Payload) -> int | None:
    for m in payload.metrics:
        if m.name == "bdSeq" and m.kind in ("long_value", "int_value"):
            return int(m.value)
    return None


class Sessions:
    """Sessions and alias tables of every node heard of (one reader uses it: no locks)."""

    def __init__(self) -> None:
        self.nodes: dict[str, NodeSession] = {}

    def node(self, topic: SparkplugTopic) -> NodeSession:
        session = self.nodes.get(topic.node_key)
        if session is None:
            session = self.nodes[topic.node_key] = NodeSession()
        return session

    def table(self, topic: SparkplugTopic) -> AliasTable | None:
        """The alias table of the message's sender, if its BIRTH was seen."""
        session = self.nodes.get(topic.node_key)
        return None if session is None else session.tables.get(topic.device_key)

    def birth(self, topic: SparkplugTopic, payload: Payload) -> SequenceCheck:
        """Remember an NBIRTH (a new session) or a DBIRTH (a device of the session)."""
        session = self.node(topic)
        if topic.message_type == "NBIRTH":
            # device tables stay until their DBIRTHs replace them: retained births may
            # arrive in any order when a host subscribes
            session.bdseq = _bdseq(payload)
            session.last_seq = payload.seq
            session.online = True
            session.born = True
            check = SequenceCheck()
        else:
            check = self._advance(session, payload)
        table = session.tables[topic.device_key] = AliasTable()
        table.learn(payload.metrics)
        return check

    def data(self, topic: SparkplugTopic, payload: Payload) -> SequenceCheck:
        """Check the sequence number of an NDATA, DDATA or DDEATH."""
        return self._advance(self.node(topic), payload)

    def node_death(self, topic: SparkplugTopic, payload: Payload) -> tuple[bool, int | None]:
        """(whether it ends the current session, its bdSeq) of an NDEATH."""
        session = self.node(topic)
        bdseq = _bdseq(payload)
        known = session.born and session.bdseq is not None
        if known and bdseq is not None and bdseq != session.bdseq:
            return False, bdseq
        if session.born:
            session.tables = {}
        session.online = False
        session.born = False
        session.last_seq = None
        return True, bdseq

    def device_death(self, topic: SparkplugTopic) -> None:
        session = self.nodes.get(topic.node_key)
        if session is not None:
            session.tables.pop(topic.device_key, None)

    @staticmethod
    def _advance(session: NodeSession, payload: Payload) -> SequenceCheck:
        got = payload.seq
        if not session.born:
            if got is not None:
                session.last_seq = got % 256
            if not session.online:
                session.online = True
                return SequenceCheck(new_node=True)
            return SequenceCheck()
        if got is None:
            return SequenceCheck()
        got %= 256
        last = session.last_seq
        session.last_seq = got
        if last is None:
            return SequenceCheck()
        expected = (last + 1) % 256
        if got != expected:
            return SequenceCheck(expected=expected, got=got)
        return SequenceCheck()
