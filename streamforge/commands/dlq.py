"""`streamforge dlq replay`: run dead-lettered messages through a stream again.

The stream's own pipeline and output run, with its input replaced by the dead-lettered
records (JSON Lines files a `file` output wrote, or a Kafka topic read from the beginning).
A record `{"error": ..., "message": <original>, "metadata": {...}}` is replayed as the
original message with its metadata; any other line is replayed as it is.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from streamforge.config.model import StreamConfig
from urllib.parse import urlsplit

__all__ = ["ReplayResult", "add_parser", "main", "replay_stream"]

_REPLAY_LABEL = "dlq_replay"
_MAX_RECORD = 64 * 1024 * 1024
#: seconds without a record after which a Kafka topic counts as read to its end
_KAFKA_QUIET = 1.0


def add_parser(subparsers: Any, name: str) -> argparse.ArgumentParser:
    """Register the `dlq` subcommand and its `replay` action."""
    from streamforge.commands._plugins import add_plugins_option

    parser: argparse.ArgumentParser = subparsers.add_parser(
        name, help="dead-letter queues: replay", description="Work with dead-lettered messages."
    )
    actions = parser.add_subparsers(dest="dlq_action", metavar="ACTION")
    replay = actions.add_parser(
        "replay",
        help="feed dead-lettered messages back into a stream",
        description=(
            "Run a stream's pipeline and output with dead-lettered messages as its input (its "
            "own input is not used), e.g. after its validation rules changed. Prints how many "
            "were replayed, how many now pass and how many are dead-lettered again. Exits 0 "
            "when the replay ran, 1 on a bad config or source."
        ),
    )
    replay.add_argument(
        "--from",
        dest="sources",
        action="append",
        required=True,
        metavar="SOURCE",
        help="file://GLOB (or a plain path/glob) of JSON Lines files, or "
        "kafka://HOST:PORT[,HOST:PORT]/TOPIC read from the beginning; repeatable",
    )
    replay.add_argument("--stream", required=True, metavar="FILE", help="the stream config")
    replay.add_argument(
        "--consume",
        action="store_true",
        help="move the dead-letter files aside (to NAME.replayed-TIMESTAMP) before replaying, "
        "so what fails again lands in fresh files",
    )
    replay.add_argument(
        "--start-at",
        metavar="LABEL",
        default=None,
        help="run the pipeline from the processor with this label on (skip the ones before it, "
        "e.g. those that shape raw input into envelopes)",
    )
    replay.add_argument("-w", "--workers", type=int, default=None, help="Bytewax workers")
    replay.add_argument(
        "--kafka-timeout",
        type=float,
        default=30.0,
        help="seconds to wait for a Kafka topic's records before giving up (default 30)",
    )
    replay.add_argument(
        "--json",
        action="store_true",
        help="print the outcome as one JSON object (read, passed, failed, dropped)",
    )
    add_plugins_option(replay)
    parser.set_defaults(_dlq_parser=parser)
    return parser


def _error(message: str) -> int:
    print(f"streamforge dlq replay: {message}", file=sys.stderr)
    return 1


def main(args: argparse.Namespace) -> int:
    """Dispatch the dlq action."""
    if getattr(args, "dlq_action", None) != "replay":
        args._dlq_parser.print_help()
        return 2
    return replay(args)


def _license_refusals(stream: StreamConfig) -> list[str]:
    """What the licence in effect refuses in the stream (as `run` does before it starts)."""
    from streamforge.license.gate import gate_streams
    from streamforge.license.policy import PolicyError
    from streamforge.license.settings import LicenseSettingsError

    try:
        return [str(p) for p in gate_streams([stream]).problems]
    except (PolicyError, LicenseSettingsError) as exc:
        return str(exc).splitlines()


def replay(args: argparse.Namespace) -> int:
    """Gather the records into a scratch directory, then run the stream over them."""
    from streamforge.commands._plugins import load_cli_plugins
    from streamforge.config.loader import load_stream
    from streamforge.config.model import ConfigError
    from streamforge.engine.dataflow import CompileError

    if args.workers is not None and args.workers < 1:
        return _error("-w/--workers must be at least 1")
    if not load_cli_plugins(args):
        return 1
    try:
        stream = load_stream(args.stream)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 1
    refusals = _license_refusals(stream)
    if refusals:
        for line in refusals:
            print(line, file=sys.stderr)
        return 1
    if args.start_at is not None:
        labels = [p.label for p in stream.processors]
        if args.start_at not in labels:
            known = ", ".join(str(x) for x in labels if x) or "none"
            return _error(
                f"--start-at {args.start_at!r}: no pipeline processor has this label "
                f"(labels: {known})"
            )
        stream = dataclasses.replace(
            stream, processors=stream.processors[labels.index(args.start_at) :]
        )
    with tempfile.TemporaryDirectory(prefix="streamforge-dlq-") as scratch:
        try:
            files = _gather(args.sources, Path(scratch), args.consume, args.kafka_timeout)
        except (OSError, ValueError, RuntimeError) as exc:
            return _error(str(exc))
        if not files:
            _report(ReplayResult(0, 0, 0), getattr(args, "json", False))
            return 0
        try:
            result = replay_stream(stream, files, args.workers)
        except CompileError as exc:
            for line in exc.problems:
                print(line, file=sys.stderr)
            return 1
        _report(result, getattr(args, "json", False))
        return result.code


def _gather(sources: list[str], scratch: Path, consume: bool, kafka_timeout: float) -> list[Path]:
    """Every source's records as JSON Lines files in `scratch` (the sources stay untouched
    unless `consume`), so records dead-lettered again cannot be read again in this replay."""
    from streamforge.inputs.file import expand_paths

    files: list[Path] = []
    stamp = time.strftime("%Y%m%dT%H%M%S")
    for source in sources:
        parts = urlsplit(source)
        if parts.scheme == "kafka":
            target = scratch / f"{len(files):04d}-kafka.jsonl"
            _read_topic(source, target, kafka_timeout)
            files.append(target)
            continue
        if parts.scheme not in ("", "file"):
            raise ValueError(f"--from {source!r}: use file://GLOB or kafka://HOST:PORT/TOPIC")
        pattern = source[len("file://") :] if parts.scheme == "file" else source
        try:
            matched = expand_paths([pattern])
        except FileNotFoundError:
            raise ValueError(f"--from {source!r}: no such file") from None
        for path in map(Path, matched):
            target = scratch / f"{len(files):04d}-{path.name}"
            if consume:
                aside = path.with_name(f"{path.name}.replayed-{stamp}")
                path.rename(aside)
                shutil.copyfile(aside, target)
            else:
                shutil.copyfile(path, target)
            files.append(target)
    return files


def _read_topic(source: str, target: Path, timeout: float) -> None:
    """Every record of a topic, from the beginning to its end when asked, with a fresh group."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition

    from streamforge.message import parse_json, serialise_value

    parts = urlsplit(source)
    topic = parts.path.strip("/")
    if not parts.netloc or not topic:
        raise ValueError(f"--from {source!r}: expected kafka://HOST:PORT/TOPIC")
    consumer = Consumer(
        {
            "bootstrap.servers": parts.netloc,
            "group.id": f"streamforge-dlq-replay-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "enable.partition.eof": False,
        }
    )
    try:
        try:
            meta = consumer.list_topics(topic, timeout=timeout)
        except KafkaException as exc:
            raise RuntimeError(f"--from {source!r}: {exc.args[0].str()}") from None
        tmeta = meta.topics.get(topic)
        if tmeta is None or tmeta.error is not None or not tmeta.partitions:
            why = tmeta.error.str() if tmeta is not None and tmeta.error else "no partitions"
            raise RuntimeError(f"--from {source!r}: topic {topic!r} is not available ({why})")
        # the end: each partition's high watermark when asked, and then a quiet second, as
        # some brokers report a watermark that lags behind what they hold
        ends: dict[int, int] = {}
        assign = []
        for p in sorted(tmeta.partitions):
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout)
            if high > low:
                ends[p] = high
            assign.append(TopicPartition(topic, p, OFFSET_BEGINNING))
        consumer.assign(assign)
        skipped = 0
        last = time.monotonic()
        with target.open("wb") as out:
            while True:
                msg = consumer.poll(0.2)
                now = time.monotonic()
                if msg is None or msg.error() is not None:
                    if not ends and now - last > _KAFKA_QUIET:
                        break
                    if now - last > timeout:
                        raise RuntimeError(f"--from {source!r}: timed out reading topic {topic!r}")
                    continue
                last = now
                raw = msg.value() or b""
                try:
                    line = serialise_value(parse_json(raw))
                except ValueError:
                    line = raw
                if b"\n" in line:
                    skipped += 1
                else:
                    out.write(line + b"\n")
                part, offset = msg.partition(), msg.offset()
                if part is not None and offset is not None and offset + 1 >= ends.get(part, 0):
                    ends.pop(part, None)
        if skipped:
            print(
                f"streamforge dlq replay: skipped {skipped} record(s) of {topic!r} that are "
                "neither JSON nor one line",
                file=sys.stderr,
            )
    finally:
        consumer.close()


@dataclasses.dataclass(frozen=True)
class ReplayResult:
    """What a replay did: records read, now passing, dead-lettered again; the run's exit code."""

    read: int
    passed: int
    failed: int
    code: int = 0

    @property
    def dropped(self) -> int:
        """Records the pipeline dropped (neither passed nor failed)."""
        return max(self.read - self.passed - self.failed, 0)


def _report(result: ReplayResult, as_json: bool) -> None:
    if as_json:
        fields = {"read": result.read, "passed": result.passed, "failed": result.failed}
        print(json.dumps({**fields, "dropped": result.dropped}))
    elif result.read == 0:
        print("replayed 0: nothing to replay")
    else:
        print(
            f"replayed {result.read}: {result.passed} now pass, {result.failed} dead-lettered "
            "again" + (f", {result.dropped} dropped by the pipeline" if result.dropped else "")
        )


def replay_stream(stream: Any, files: list[Path], workers: int | None) -> ReplayResult:
    """Run `stream`'s pipeline and output with the records of `files` (JSON Lines) as its
    input, counted as they leave the pipeline. Raises `CompileError` when it cannot build."""
    from streamforge.config.model import ComponentConfig
    from streamforge.observability.metrics import stream_totals
    from streamforge.processors.validate.replay import register_replay_processors, tally
    from streamforge.runtime.run import RunOptions, run_streams

    register_replay_processors()
    token = uuid.uuid4().hex
    where = stream.input.location
    unwrap = ComponentConfig("processor", "_dlq_unwrap", {}, "input.processors.0", where)
    replay_input = ComponentConfig(
        "input",
        "file",
        {
            "paths": [str(f) for f in files],
            "codec": "lines",
            "max_buffer": _MAX_RECORD,
            "delete_on_finish": False,
        },
        "input",
        where,
        label=_REPLAY_LABEL,
        processors=[unwrap],
    )
    count = ComponentConfig(
        "processor",
        "_dlq_tally",
        {"token": token},
        f"pipeline.processors.{len(stream.processors)}",
        where,
        label="dlq_replay_tally",
    )
    replayed = dataclasses.replace(
        stream, input=replay_input, processors=[*stream.processors, count]
    )
    code = run_streams([replayed], RunOptions(workers=workers, http=False))
    totals = stream_totals(replayed.name, _REPLAY_LABEL, replayed.output.display_label)
    result = tally(token)
    return ReplayResult(int(totals["read"]), result.passed, result.failed, code)
