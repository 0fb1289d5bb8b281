"""Run compiled mappings and queries against values and messages."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from streamforge.bloblang import ops
from streamforge.bloblang.compiler import CompiledProgram
from streamforge.bloblang.errors import MappingError
from streamforge.bloblang.registry import DELETED, NOTHING, ExecContext
from streamforge.message import _UNSET as _MSG_UNSET
from streamforge.message import Message, PayloadError

__all__ = ["Executor", "context_for"]

_UNSET: Any = object()


def _parse_reason(exc: Exception) -> str:
    text = str(exc)
    prefix = "failed to parse message as JSON: "
    return "parse as json: " + (text[len(prefix) :] if text.startswith(prefix) else text)


def _this_of(msg: Message) -> Any:
    """The structured value of a message, or a stand-in that fails when referenced."""
    try:
        return msg.value
    except PayloadError as exc:
        return ops.BadThis(_parse_reason(exc))


def _describe(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, MappingError) else f"{type(exc).__name__}: {exc}"


class MessageContext(ExecContext):
    """An ExecContext whose `this` is parsed from the message only when first read."""

    __slots__ = ("_this",)

    def __init__(
        self,
        message: Message | None,
        this: Any = _UNSET,
        *,
        meta_in: dict[str, Any] | None = None,
        meta_out: dict[str, Any] | None = None,
        batch: Sequence[Any] | None = None,
        index: int = 0,
    ) -> None:
        self._this = this
        super().__init__(
            this, meta_in=meta_in, meta_out=meta_out, message=message, batch=batch, index=index
        )

    @property  # type: ignore[override]
    def this(self) -> Any:
        if self._this is _UNSET:
            self._this = _this_of(self.message) if self.message is not None else None
        return self._this

    @this.setter
    def this(self, value: Any) -> None:
        self._this = value


def context_for(ctx: ExecContext, index: int) -> ExecContext:
    """A context for another message of the batch (used by `from` and `from_all`)."""
    batch = ctx.batch if ctx.batch is not None else [ctx.message]
    msg = batch[index]
    if msg is None:
        new = MessageContext(None, ctx.this, meta_in=ctx.meta_in, meta_out=ctx.meta_out,
                             batch=ctx.batch, index=index)  # fmt: skip
    else:
        new = MessageContext(msg, meta_in=msg.metadata, meta_out=ctx.meta_out,
                             batch=ctx.batch, index=index)  # fmt: skip
    new.root = ctx.root
    new.vars = ctx.vars
    return new


class Executor:
    """A parsed and compiled Bloblang mapping (or single query), ready to run many times."""

    __slots__ = (
        "_main", "_needs_ctx", "_stateful", "_uses_meta_out", "_uses_this", "batch_aware",
        "is_query", "source", "text",
    )  # fmt: skip

    def __init__(self, program: CompiledProgram, text: str) -> None:
        self._main = program.main
        self._uses_this = program.uses_this
        self._needs_ctx = program.needs_ctx
        self.is_query = program.is_query
        self.source = program.source
        self.text = text
        self._stateful = program.stateful
        #: whether the mapping looks at the message's batch (`batch_size()`, `from_all()` ...)
        self.batch_aware = program.batch_aware
        self._uses_meta_out = program.uses_meta_out

    def resume_state(self) -> list[Any]:
        """The state of the mapping's stateful functions (`counter()`, seeded `random_int()`),
        to keep in a recovery snapshot; picklable."""
        return [fn.resume_state() for fn in self._stateful]

    def resume(self, states: list[Any]) -> None:
        """Give the stateful functions back what `resume_state` returned (same mapping)."""
        if len(states) != len(self._stateful):
            raise ValueError(
                f"resume state for {len(states)} stateful function(s), the mapping has "
                f"{len(self._stateful)}"
            )
        for fn, state in zip(self._stateful, states):
            fn.resume(state)

    def __repr__(self) -> str:
        kind = "query" if self.is_query else "mapping"
        return f"<bloblang {kind} {self.text[:40]!r}>"

    def _run(self, ctx: Any, this: Any, mi: Any, mo: Any, root: Any) -> Any:
        try:
            return self._main(ctx, this, mi, mo, root, ctx.vars if ctx else None, 0)
        except MappingError:
            raise
        except Exception as exc:  # noqa: BLE001 - RecursionError and friends from deep documents
            raise ops.plain(exc) from None

    def query(self, value: Any, metadata: dict[str, Any] | None = None) -> Any:
        """Run against a plain value: the new root (DELETED/NOTHING) or the query's value.

        Metadata assignments are applied to `metadata` in place.
        """
        meta = metadata if metadata is not None else {}
        ctx = MessageContext(None, value, meta_in=meta, meta_out=meta) if self._needs_ctx else None
        return self._run(ctx, value, meta, meta, NOTHING)

    def query_message(
        self, msg: Message, batch: Sequence[Message] | None = None, index: int = 0
    ) -> Any:
        """Evaluate against a message (for `check` fields and interpolation)."""
        this = _this_of(msg) if self._uses_this else None
        meta = msg.metadata
        ctx = None
        if self._needs_ctx:
            ctx = MessageContext(msg, this if self._uses_this else _UNSET, meta_in=meta,
                                 meta_out=meta, batch=batch, index=index)  # fmt: skip
        return self._run(ctx, this, meta, meta, NOTHING)

    def apply_message(
        self,
        msg: Message,
        batch: Sequence[Message] | None = None,
        index: int = 0,
        *,
        mutate: bool = False,
    ) -> Message | None:
        """Run the mapping on a message; None when the root was deleted.

        `mutate=False` builds a new message (the `mapping` processor), `mutate=True` edits
        `msg` in place (the `mutation` processor). Raises MappingError on failure.
        """
        if mutate:
            return self._mutate(msg, batch, index)
        meta_in = msg.metadata
        meta_out = dict(meta_in)
        this = None
        if self._uses_this:
            try:
                this = msg.value
            except PayloadError as exc:
                this = ops.BadThis(_parse_reason(exc))
        ctx = None
        if self._needs_ctx:
            ctx = MessageContext(msg, this if self._uses_this else _UNSET, meta_in=meta_in,
                                 meta_out=meta_out, batch=batch, index=index)  # fmt: skip
        try:
            root = self._main(ctx, this, meta_in, meta_out, NOTHING,
                              ctx.vars if ctx else None, 0)  # fmt: skip
        except MappingError:
            raise
        except Exception as exc:  # noqa: BLE001 - any failure is the mapping's error
            raise ops.plain(exc) from None
        if root is DELETED:
            return None
        if root is NOTHING:
            new = msg.shallow_copy()
            new.metadata = meta_out
            return new
        if type(root) is str or type(root) is bytes:
            return Message(root, meta_out, error=msg.error)
        return Message(metadata=meta_out, value=root, error=msg.error)

    def _mutate(self, msg: Message, batch: Sequence[Message] | None, index: int) -> Message | None:
        this = _this_of(msg)
        root = NOTHING if type(this) is ops.BadThis else this
        meta = msg.metadata
        ctx = None
        if self._needs_ctx:
            ctx = MessageContext(msg, this, meta_in=meta, meta_out=meta, batch=batch,
                                 index=index)  # fmt: skip
        try:
            root = self._run(ctx, this, meta, meta, root)
        finally:
            if root is this and (type(this) is dict or type(this) is list):
                msg.set_value(this)
        if root is DELETED:
            return None
        if root is NOTHING:
            return msg
        if type(root) is str or type(root) is bytes:
            msg.set_payload(root)
        else:
            msg.set_value(root)
        return msg

    def map_batch(self, batch: list[Message], *, mutate: bool = False) -> list[Message]:
        """Run the mapping over a whole batch (the `mapping`/`mutation` processors' loop).

        Deleted messages are left out; a message whose mapping fails is kept unchanged with
        its `error` set to the failure.
        """
        if mutate or self._needs_ctx:
            return self._map_batch_slow(batch, mutate)
        main = self._main
        uses_this = self._uses_this
        # a mapping that never touches the output metadata hands the input message's dict on
        # (the input message is replaced by its result, so nothing else sees the dict)
        copy_meta = self._uses_meta_out
        loads, new_message = orjson.loads, Message.__new__
        out: list[Message] = []
        append = out.append
        for msg in batch:
            meta_out = msg.metadata.copy() if copy_meta else msg.metadata
            this = None
            if uses_this:
                this = msg._value
                if this is _MSG_UNSET:
                    try:  # the common case of Message.value, without its layers
                        this = msg._value = loads(msg._payload or b"")
                    except Exception:  # noqa: BLE001 - Message.value words the failure
                        this = _this_of(msg)
            try:
                root = main(None, this, msg.metadata, meta_out, NOTHING, None, 0)
            except MappingError as exc:
                msg.error = str(exc)
                append(msg)
                continue
            except Exception as exc:  # noqa: BLE001 - RecursionError and friends
                msg.error = str(ops.plain(exc))
                append(msg)
                continue
            if root is DELETED:
                continue
            if root is NOTHING:
                new = msg.shallow_copy()
                new.metadata = meta_out
                append(new)
            elif type(root) is str or type(root) is bytes:
                append(Message(root, meta_out, error=msg.error))
            else:  # Message.from_value, without a call
                new = new_message(Message)
                new._payload = None
                new._value = root
                new.metadata = meta_out
                new.error = msg.error
                append(new)
        return out

    def _map_batch_slow(self, batch: list[Message], mutate: bool) -> list[Message]:
        out: list[Message] = []
        for i, msg in enumerate(batch):
            try:
                res = self.apply_message(msg, batch, i, mutate=mutate)
            except Exception as exc:  # noqa: BLE001 - a failing message is flagged, not fatal
                msg.error = _describe(exc)
                out.append(msg)
                continue
            if res is not None:
                out.append(res)
        return out
