"""`file` output: payloads appended to files whose path may be interpolated per message."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
from collections import OrderedDict
from typing import Any, BinaryIO

from streamforge.connectors.codecs import WriteCodec, output_codec_field, parse_output_codec
from streamforge.message import Message, payloads_of
from streamforge.plugin import BuildContext, Field, Output, register_output
from streamforge.plugin.batching import batching_field, with_batching

__all__ = ["build_file_output", "FileWriter"]

log = logging.getLogger("streamforge.outputs.file")

#: files not written for this long are closed (they reopen on the next write)
IDLE_SECONDS = 30.0
#: at most this many files stay open per output instance
MAX_OPEN = 64
#: how many distinct files a writer names in its log before it stops naming them
MAX_ANNOUNCED = 20
#: how many files' end positions go into a recovery snapshot (the most recently written)
MAX_TRACKED = 4096


@register_output(
    "file",
    fields=[
        Field(
            "path",
            "string",
            interpolable=True,
            description="The file to write to; interpolated per message. Parent dirs are created.",
            examples=("/tmp/data.txt", "/tmp/${! @asset_id }/${! timestamp_unix() }.jsonl"),
        ),
        output_codec_field(
            "How payloads are written: lines, delim:<x>, append (no separator), or "
            "all-bytes (each message replaces the file).",
            ("lines", "all-bytes", "delim:\\n---\\n"),
        ),
        batching_field(),
    ],
    summary="Writes payloads to files, by default one message per line; path may be dynamic.",
    examples=("file:\n  path: ./out/${! @asset_id }.jsonl\n  codec: lines",),
)
def build_file_output(conf: dict[str, Any], ctx: BuildContext | None = None) -> Output:
    """Writes payloads to files, by default one message per line; path may be dynamic."""
    writer = FileWriter(str(conf["path"]), str(conf.get("codec") or "lines"))
    return with_batching(writer, conf.get("batching"), ctx)


class FileWriter(Output):
    """Keeps recently used files open in append mode; closes idle ones.

    Resumable: its snapshot is where each file it wrote ends; resuming from one truncates
    the files to those ends, dropping what was written after the snapshot.
    """

    def __init__(self, path: str, codec: str = "lines") -> None:
        from streamforge.interpolation import InterpolatedString

        self.path = InterpolatedString(path)
        self.codec: WriteCodec = parse_output_codec(codec)
        self._files: OrderedDict[str, tuple[BinaryIO, float]] = OrderedDict()
        self._lock = threading.Lock()
        self._announced: set[str] = set()
        self._ends: OrderedDict[str, int] = OrderedDict()  # path -> its length after our write
        self._journal: _Journal | None = None  # set when resumed (exactly-once runs)

    def write_batch(self, batch: list[Message]) -> list[Message]:
        if not batch:
            return []
        failed: list[Message] = []
        groups: dict[str, list[Message]] = {}
        if self.path.is_static:
            groups[self.path.render(batch[0], batch, 0)] = batch
        else:
            render = self.path.render
            for i, msg in enumerate(batch):
                try:
                    target = render(msg, batch, i)
                except Exception as exc:  # noqa: BLE001 - a bad path fails that message
                    msg.error = f"failed to interpolate file path: {exc}"
                    failed.append(msg)
                    continue
                groups.setdefault(target, []).append(msg)
        with self._lock:
            for target, msgs in groups.items():
                try:
                    self._write(target, msgs)
                except OSError as exc:
                    reason = f"failed to write file {target!r}: {exc}"
                    for m in msgs:
                        m.error = reason
                    failed.extend(msgs)
            self._close_idle()
        return failed

    def _write(self, target: str, msgs: list[Message]) -> None:
        if self.codec.overwrite:
            self._forget(target)
            self._ensure_dir(target)
            with open(target, "wb") as whole:
                whole.write(msgs[-1].payload)
            return
        fh = self._handle(target)
        if self._journal is not None and target not in self._ends:
            self._journal.record(target, fh.tell())
        try:
            fh.write(self.codec.frame(payloads_of(msgs)))
            fh.flush()
            end = fh.tell()
        except OSError:
            self._forget(target)
            raise
        ends = self._ends
        ends[target] = end
        ends.move_to_end(target)
        if len(ends) > MAX_TRACKED:
            ends.popitem(last=False)

    def _handle(self, target: str) -> BinaryIO:
        now = time.monotonic()
        entry = self._files.pop(target, None)
        fh: BinaryIO
        if entry is None:
            self._ensure_dir(target)
            fh = open(target, "ab")  # noqa: SIM115 - cached across batches
            self._announce(target)
        else:
            fh = entry[0]
        self._files[target] = (fh, now)
        while len(self._files) > MAX_OPEN:
            _, (old, _) = self._files.popitem(last=False)
            old.close()
        return fh

    def _announce(self, target: str) -> None:
        """Say once where output goes, for the first files this writer opens."""
        if target in self._announced or len(self._announced) >= MAX_ANNOUNCED:
            return
        self._announced.add(target)
        log.info("writing to %s", os.path.abspath(target))
        if len(self._announced) == MAX_ANNOUNCED:
            log.info("more files follow; not naming each of them")

    @staticmethod
    def _ensure_dir(target: str) -> None:
        parent = os.path.dirname(target)
        if parent:
            os.makedirs(parent, exist_ok=True)

    def _forget(self, target: str) -> None:
        entry = self._files.pop(target, None)
        if entry is not None:
            with contextlib.suppress(OSError):
                entry[0].close()

    def _close_idle(self) -> None:
        if not self._files:
            return
        cutoff = time.monotonic() - IDLE_SECONDS
        while self._files:
            target, (fh, used) = next(iter(self._files.items()))
            if used >= cutoff:
                break
            self._forget(target)

    # -- resuming ---------------------------------------------------------------------------
    @property
    def resumable(self) -> bool:
        return True

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            journal = self._journal.lines if self._journal is not None else 0
            return {"ends": dict(self._ends), "journal": journal}

    def resume(self, state: Any | None, workdir: str) -> None:
        """Truncate every file to where it ended at the snapshot (or before this stream
        first wrote it, for files first written after the snapshot)."""
        ends: dict[str, int] = {}
        seen = 0
        if isinstance(state, dict):
            ends = {str(k): int(v) for k, v in (state.get("ends") or {}).items()}
            seen = int(state.get("journal") or 0)
        with self._lock:
            journal = _Journal(os.path.join(workdir, "files.journal"))
            targets = dict(ends)
            for target, size in journal.entries[seen:]:
                targets.setdefault(target, size)  # the first entry after the snapshot
            for target, end in targets.items():
                self._forget(target)
                self._rewind(target, end)
            self._journal = journal
            self._ends = OrderedDict(ends)

    @staticmethod
    def _rewind(target: str, end: int) -> None:
        try:
            size = os.path.getsize(target)
        except OSError:
            return
        if size <= end:
            return
        try:
            os.truncate(target, end)
        except OSError as exc:
            log.warning("cannot rewind %s to the recovery snapshot: %s", target, exc)
            return
        log.info(
            "rewound %s from %d to %d bytes: what was written after the recovery snapshot "
            "is written again as the input replays it",
            os.path.abspath(target), size, end,
        )  # fmt: skip

    @property
    def open_files(self) -> list[str]:
        """Paths currently held open."""
        return list(self._files)

    def close(self) -> None:
        with self._lock:
            for target in list(self._files):
                self._forget(target)
            if self._journal is not None:
                self._journal.close()


class _Journal:
    """Which files a resumable writer started writing, and how long each was before.

    A file first written after the last snapshot is not in it; the journal, appended to
    before the file is, tells how far to truncate it. Lines are JSON `[path, size]`; a line
    cut off by a kill is dropped when the journal is read.
    """

    def __init__(self, path: str) -> None:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        self.entries: list[tuple[str, int]] = []
        complete = 0
        with contextlib.suppress(FileNotFoundError), open(path, "rb") as fh:
            for line in fh:
                if not line.endswith(b"\n"):
                    break
                try:
                    target, size = json.loads(line)
                except (ValueError, TypeError):
                    break
                self.entries.append((str(target), int(size)))
                complete += len(line)
        self._fh = open(path, "ab", buffering=0)  # noqa: SIM115 - kept for the run
        self._fh.truncate(complete)
        self.lines = len(self.entries)

    def record(self, target: str, size: int) -> None:
        """Note that `target` is about to be written, `size` bytes long before."""
        self._fh.write(json.dumps([target, size]).encode() + b"\n")
        self.lines += 1

    def close(self) -> None:
        self._fh.close()
