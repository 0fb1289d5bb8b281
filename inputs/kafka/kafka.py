"""`kafka` input: each topic-partition is a partition of the stream, spread over Bytewax workers.

Every partition is read by its own consumer with `assign()` (no group rebalancing: Bytewax
decides which worker reads which partition). The next offset to read is the partition's
recovery state, so a stream run with `--recovery-dir` resumes where it stopped. Without a
recovery snapshot a partition starts from the consumer group's committed offset when
`consumer_group` is set, else from the oldest or newest message (`start_from_oldest`).

With `consumer_group`, offsets are committed to the group only after the outputs wrote every
message of a batch. A batch that failed to be written is never committed past: the group's
offset stays at the start of the first failed batch for the rest of the run, so a restart
without a recovery snapshot reads that batch again.

The readers live in `_kafka_reader`; confluent-kafka is imported when partitions are listed or
opened, not to register the input.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from streamforge.connectors.kafka import (
    ClientHealth,
    addresses_field,
    client_config,
    client_id_field,
    sasl_field,
    split_addresses,
    tls_field,
    version_and_rack_fields,
)
from streamforge.connectors.tls import check_tls_files
from streamforge.plugin import (
    BuildContext,
    Field,
    Input,
    InputReader,
    Processor,
    register_input,
)
from streamforge.plugin.batching import BatchPolicy, batching_field
from streamforge.plugin.spec import ParsedField

if TYPE_CHECKING:
    from confluent_kafka.admin import AdminClient

    from streamforge.inputs.kafka.reader import KafkaReader

__all__ = ["KafkaInput", "TopicSpec", "parse_topics"]

log = logging.getLogger("streamforge.inputs.kafka")

#: how soon a consumer whose local queue is full (queued.min.messages) looks again; librdkafka
#: waits 1 s, in which a stream reading 100k msg/s drains that queue and then waits idle
FETCH_QUEUE_BACKOFF_MS = 50
#: how long listing a topic's partitions may take when the stream is built
METADATA_TIMEOUT = 3.0
#: a partition key for a topic whose partitions were not known when the stream was built
WHOLE_TOPIC = "*"

_RANGE = re.compile(r"^(\d+)(?:-(\d+))?$")


def _patterns(values: Any, field: str) -> list[re.Pattern[str]]:
    """Compiled topic patterns; ValueError naming a pattern that does not compile."""
    out: list[re.Pattern[str]] = []
    for value in values or []:
        try:
            out.append(re.compile(str(value)))
        except re.error as exc:
            raise ValueError(f"{field}: {value!r} is not a regular expression: {exc}") from None
    return out


@dataclass(frozen=True)
class TopicSpec:
    """One topic to read: all of its partitions (None) or the listed ones."""

    topic: str
    partitions: tuple[int, ...] | None = None


def parse_topics(items: Any) -> list[TopicSpec]:
    """Parse `topics`: `name`, `name:3`, `name:0-3`; an item may list several, comma separated."""
    specs: dict[str, set[int] | None] = {}
    for item in [items] if isinstance(items, str) else list(items or []):
        for raw in str(item).split(","):
            text = raw.strip()
            if not text:
                continue
            topic, sep, parts = text.rpartition(":") if ":" in text else (text, "", "")
            topic = topic.strip()
            if not topic:
                raise ValueError(f"topics: {text!r} has no topic name")
            if not sep:
                specs[topic] = None
                continue
            m = _RANGE.match(parts.strip())
            if m is None:
                raise ValueError(f"topics: {text!r}: expected topic:partition or topic:first-last")
            first, last = int(m.group(1)), int(m.group(2) or m.group(1))
            if last < first:
                raise ValueError(f"topics: {text!r}: the range ends before it starts")
            if topic in specs and specs[topic] is None:
                continue
            specs.setdefault(topic, set()).update(range(first, last + 1))  # type: ignore[union-attr]
    if not specs:
        raise ValueError("topics: at least one topic is needed")
    return [TopicSpec(t, None if p is None else tuple(sorted(p))) for t, p in specs.items()]


def _check_multi_header(value: Any) -> Any:
    if value is True:
        raise ValueError(
            "multi_header: headers as arrays are not supported; each header is "
            "one metadata value (the last one when a key repeats)"
        )
    return value


def _benthos_consumer_fields() -> list[Field]:
    """Benthos' consumer tuning fields: offsets here are committed after every written batch
    and partitions are assigned by Bytewax, so these change nothing (`multi_header: true`,
    which would change the metadata's shape, is refused)."""
    return [
        Field(
            "checkpoint_limit",
            "int",
            default=1024,
            advanced=True,
            description="Accepted for Benthos compatibility: offsets are committed once the "
            "outputs wrote each batch, however many are in flight.",
        ),
        Field(
            "commit_period",
            "duration",
            default="1s",
            advanced=True,
            description="Accepted for Benthos compatibility: offsets are committed after each "
            "written batch.",
        ),
        Field(
            "max_processing_period",
            "duration",
            default="100ms",
            advanced=True,
            description="Accepted for Benthos compatibility (no group rebalancing here).",
        ),
        Field(
            "group",
            "object",
            default={},
            advanced=True,
            description="Accepted for Benthos compatibility: Bytewax, not a consumer group, "
            "assigns partitions, so there are no group sessions to time out.",
            fields=(
                Field("session_timeout", "duration", default="10s"),
                Field("heartbeat_interval", "duration", default="3s"),
                Field("rebalance_timeout", "duration", default="60s"),
            ),
        ),
        Field(
            "fetch_buffer_cap",
            "int",
            default=256,
            advanced=True,
            description="Accepted for Benthos compatibility: the client's own fetch queue applies.",
        ),
        ParsedField(
            "multi_header",
            "bool",
            default=False,
            advanced=True,
            parser=_check_multi_header,
            description="Only false: each header is one metadata value.",
        ),
        Field(
            "extract_tracing_map",
            "string",
            default="",
            advanced=True,
            description="Accepted for Benthos compatibility; trace context is not read from "
            "records.",
        ),
        Field(
            "auto_replay_nacks",
            "bool",
            default=True,
            advanced=True,
            description="Accepted for Benthos compatibility: a batch that failed to be "
            "written is never committed past (see above).",
        ),
    ]


@register_input(
    "kafka",
    fields=[
        addresses_field(),
        Field(
            "topics",
            "array",
            item=Field("topic", "string"),
            description=(
                "Topics to consume. `foo:0` reads only partition 0 of `foo`, `foo:0-3` "
                "partitions 0 to 3; an item may list several topics, comma separated."
            ),
            examples=(["plant.telemetry"], ["foo:0", "bar:0-3"]),
        ),
        Field(
            "consumer_group",
            "string",
            default="",
            description=(
                "A consumer group to commit offsets to once the outputs wrote them; without a "
                "recovery snapshot, partitions start from the group's committed offsets. "
                "Bytewax, not the group, decides which worker reads which partition."
            ),
        ),
        client_id_field(),
        Field(
            "start_from_oldest",
            "bool",
            default=True,
            description=(
                "With no recovery snapshot and no committed offset, start from the oldest "
                "message (true) or only read new ones (false)."
            ),
        ),
        tls_field(),
        sasl_field(),
        batching_field(),
        *version_and_rack_fields(),
        *_benthos_consumer_fields(),
    ],
    summary="Consumes Kafka topics; partitions spread over workers, offsets in recovery state.",
    description=(
        "Metadata: `kafka_key`, `kafka_topic`, `kafka_partition`, `kafka_offset`, "
        "`kafka_timestamp_unix`, `kafka_timestamp_ms`, `kafka_tombstone_message` and every "
        "message header. Kafka inputs never end: reaching the end of a partition waits for more."
    ),
    examples=(
        "kafka:\n  addresses: [ localhost:9092 ]\n  topics: [ plant.telemetry ]\n"
        "  consumer_group: streamforge",
    ),
)
class KafkaInput(Input):
    """Consumes Kafka topics; partitions spread over workers, offsets in recovery state."""

    replays_from_snapshot = True

    def __init__(self, conf: dict[str, Any], ctx: BuildContext | None = None) -> None:
        self.settings = client_config(conf)
        tls = conf.get("tls") or {}
        if tls.get("enabled"):
            check_tls_files(tls)  # librdkafka loads them when a consumer starts
        #: topics named by regular expression (Redpanda Connect's regexp_topics), matched
        #: against the cluster's topics when the partitions are listed
        self.patterns = _patterns(conf.get("topic_patterns"), "regexp_topics_include")
        self.excludes = _patterns(conf.get("topic_excludes"), "regexp_topics_exclude")
        topics = conf.get("topics")
        self.topics = parse_topics(topics) if topics or not self.patterns else []
        self.group = str(conf.get("consumer_group") or "")
        self.start_from_oldest = bool(conf.get("start_from_oldest", True))
        policy = BatchPolicy.from_conf(conf.get("batching"))
        #: `batching`: records are handed on in batches of this policy (None: as read)
        self.batching: BatchPolicy | None = policy if policy.active else None
        procs = (conf.get("batching") or {}).get("processors") or []
        self.batch_processors: Processor | None = None
        if procs:
            if ctx is None:
                raise ValueError("batching.processors: need a build context")
            self.batch_processors = ctx.build_chain(list(procs))
        self.stream = ctx.stream if ctx is not None else "stream"
        self.label = ctx.label if ctx is not None else "kafka"
        self.peer = ",".join(split_addresses(conf.get("addresses")))
        self._lock = threading.Lock()
        self._list_lock = threading.Lock()
        self._parts: dict[str, tuple[str, int | None]] | None = None
        self._health: ClientHealth | None = None

    @property
    def health(self) -> ClientHealth:
        """The connection state shared by this input's readers in this process."""
        with self._lock:
            if self._health is None:
                self._health = ClientHealth("kafka input", self.stream, self.label, self.peer)
            return self._health

    # -- partitions --------------------------------------------------------------------------
    def partitions(self) -> list[str]:
        with self._list_lock:
            if self._parts is None:
                self._parts = self._list_partitions()
            return list(self._parts)

    def _list_partitions(self) -> dict[str, tuple[str, int | None]]:
        from confluent_kafka.admin import AdminClient

        parts: dict[str, tuple[str, int | None]] = {}
        admin: AdminClient | None = None
        for spec in self.topics:
            if spec.partitions is not None:
                for p in spec.partitions:
                    parts[f"{spec.topic}-{p}"] = (spec.topic, p)
                continue
            health = self.health
            if admin is None:
                admin = AdminClient(self._admin_config(health))
            found = self._topic_partitions(admin, spec.topic, health)
            if found is None:
                parts[f"{spec.topic}-{WHOLE_TOPIC}"] = (spec.topic, None)
            else:
                for p in found:
                    parts[f"{spec.topic}-{p}"] = (spec.topic, p)
        if self.patterns:
            if admin is None:
                admin = AdminClient(self._admin_config(self.health))
            for topic, partitions in self._matching_topics(admin).items():
                for p in partitions:
                    parts.setdefault(f"{topic}-{p}", (topic, p))
        return parts

    def _matching_topics(self, admin: AdminClient) -> dict[str, list[int]]:
        """The cluster's topics (not internal ones) that a pattern matches and no exclude
        does, with their partitions. ValueError when none match: the topics are matched when
        the stream starts, so a stream of no topics would read nothing."""
        from confluent_kafka import KafkaException

        try:
            meta = admin.list_topics(timeout=METADATA_TIMEOUT)
        except KafkaException as exc:
            why = f"cannot list the cluster's topics to match regexp_topics: {exc.args[0].str()}"
            log.error("kafka input %s: %s", self.label, why)
            raise ValueError(why) from None
        found: dict[str, list[int]] = {}
        for name, tmeta in meta.topics.items():
            if name.startswith("__") or tmeta.error is not None or not tmeta.partitions:
                continue
            if any(p.search(name) for p in self.patterns) and not any(
                x.search(name) for x in self.excludes
            ):
                found[name] = sorted(tmeta.partitions)
        if not found:
            wanted = ", ".join(p.pattern for p in self.patterns)
            why = (
                f"no topic of the cluster matches {wanted} (regexp_topics are matched when "
                "the stream starts)"
            )
            log.error("kafka input %s: %s", self.label, why)
            raise ValueError(why)
        return dict(sorted(found.items()))

    def _admin_config(self, health: ClientHealth) -> dict[str, Any]:
        conf = {k: v for k, v in self.settings.items() if k != "statistics.interval.ms"}
        conf["allow.auto.create.topics"] = False
        conf["error_cb"] = health.error_cb
        return conf

    def _topic_partitions(
        self, admin: AdminClient, topic: str, health: ClientHealth
    ) -> list[int] | None:
        """The topic's partitions, or None when they cannot be listed now (logged)."""
        from confluent_kafka import KafkaException

        try:
            meta = admin.list_topics(topic, timeout=METADATA_TIMEOUT)
        except KafkaException as exc:
            admin.poll(0)  # serves error_cb, which records the specific cause
            health.down(
                f"cannot list the partitions of topic {topic!r}: {exc.args[0].str()}; "
                "the whole topic is read by one worker once the broker answers"
            )
            return None
        health.up()
        tmeta = meta.topics.get(topic)
        if tmeta is None or tmeta.error is not None or not tmeta.partitions:
            why = tmeta.error.str() if tmeta is not None and tmeta.error else "no partitions"
            health.warn(f"topic {topic!r} is not available ({why}); waiting for it to be created")
            return None
        return sorted(tmeta.partitions)

    # -- readers -----------------------------------------------------------------------------
    def open(self, partition: str, resume_state: Any | None) -> InputReader:
        from streamforge.inputs.kafka.reader import KafkaGroupReader, KafkaReader

        with self._list_lock:
            known = (self._parts or {}).get(partition)
        if known is None:
            topic, _, part = partition.rpartition("-")
            known = (topic, None if part == WHOLE_TOPIC else int(part))
        topic, part_index = known
        resume: dict[int, int] = {}
        if isinstance(resume_state, dict):
            resume = {int(k): int(v) for k, v in resume_state.items()}
        elif isinstance(resume_state, int) and part_index is not None:
            resume = {part_index: resume_state}
        cls = KafkaGroupReader if self.group else KafkaReader
        return cls(self, topic, part_index, resume)

    def consumer_config(self, reader: KafkaReader) -> dict[str, Any]:
        """Consumer settings for one reader: manual assignment, no automatic commits."""
        conf = dict(self.settings)
        conf.update(
            {
                "group.id": self.group or f"streamforge.{self.stream}.{self.label}",
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                "enable.partition.eof": False,
                "allow.auto.create.topics": False,
                "auto.offset.reset": "earliest" if self.start_from_oldest else "latest",
                "fetch.queue.backoff.ms": FETCH_QUEUE_BACKOFF_MS,
                "error_cb": self.health.error_cb,
                "stats_cb": self.health.stats_cb,
                "on_commit": reader.on_commit,
            }
        )
        return conf

    def start_offset(self) -> int:
        """Where a partition without recovery state starts."""
        from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, OFFSET_STORED

        if self.group:
            return int(OFFSET_STORED)
        return int(OFFSET_BEGINNING if self.start_from_oldest else OFFSET_END)
