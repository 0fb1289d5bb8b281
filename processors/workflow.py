"""`workflow` processor: a DAG of `branch` processors, independent branches run in parallel.

The order comes from `order` (tiers of branch names) or is inferred: a branch depends on every
branch whose `result_map` writes a path (or metadata key) its `request_map` reads. Each tier's
branches build their requests and run their processors at the same time; their results are then
mapped into the messages one branch after another, before the next tier starts. What happened is
recorded in each message at `meta_path`, and branches that succeeded in an earlier run of the
workflow (listed there) are skipped.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from streamforge.bloblang import ast
from streamforge.message import Message, PayloadError
from streamforge.plugin import BuildContext, Field, Processor, register_processor
from streamforge.plugin.batches import Batches
from streamforge.plugin.errors import UndefinedResourceError, describe_error
from streamforge.processors.branch import BRANCH_FIELDS, BranchProcessor

__all__ = ["WorkflowProcessor", "infer_order", "mapping_paths"]

Path = tuple[str, ...]
#: metadata keys are paths starting with this marker, so they never meet document paths
META = "@"

# -- which paths a mapping reads and writes ------------------------------------------------


def _children(node: Any) -> Iterator[Any]:
    if dataclasses.is_dataclass(node):
        for f in dataclasses.fields(node):
            yield getattr(node, f.name)
    elif isinstance(node, (list, tuple)):
        yield from node
    elif isinstance(node, dict):
        yield from node.values()


def _segments(segments: tuple[str | int, ...]) -> Path:
    return tuple(str(s) for s in segments)


def _reads(node: Any, params: frozenset[str], out: set[Path]) -> None:
    if isinstance(node, ast.Path):
        target = node.target
        if isinstance(target, ast.This):
            out.add(_segments(node.segments))
            return
        if isinstance(target, ast.Name) and target.name not in params:
            out.add((target.name, *_segments(node.segments)))
            return
        _reads(target, params, out)
        return
    if isinstance(node, ast.This):
        out.add(())
        return
    if isinstance(node, ast.Name):
        if node.name not in params:
            out.add((node.name,))
        return
    if isinstance(node, ast.MetaGet):
        out.add((META,) if node.key is None else (META, node.key))
        return
    if isinstance(node, ast.Call) and node.name in ("meta", "metadata", "json"):
        arg = node.args[0] if node.args else None
        if node.name == "json":
            text = arg.value if isinstance(arg, ast.Literal) else None
            out.add(tuple(str(text).split(".")) if text else ())
        else:
            key = arg.value if isinstance(arg, ast.Literal) else None
            out.add((META, str(key)) if key is not None else (META,))
        for a in node.args[1:]:
            _reads(a, params, out)
        return
    if isinstance(node, ast.Lambda):
        inner = params | {node.param} if node.param else params
        _reads(node.body, inner, out)
        return
    for child in _children(node):
        if isinstance(child, (ast.Node, list, tuple, dict)):
            _reads(child, params, out)


def _statements(stmts: list[Any], reads: set[Path], writes: set[Path]) -> None:
    for s in stmts:
        if isinstance(s, ast.Assign):
            _reads(s.value, frozenset(), reads)
            if s.kind == "root":
                writes.add(_segments(s.path))
            elif s.kind == "meta":
                writes.add((META, *_segments(s.path)))
        elif isinstance(s, ast.IfStmt):
            for cond, body in s.branches:
                _reads(cond, frozenset(), reads)
                _statements(body, reads, writes)
            if s.otherwise:
                _statements(s.otherwise, reads, writes)
        elif isinstance(s, ast.MapDef):
            _statements(s.body, reads, set())


def mapping_paths(text: str) -> tuple[set[Path], set[Path]]:
    """The document paths (and `@`-prefixed metadata keys) a mapping reads and writes."""
    from streamforge.bloblang.parser import parse_mapping

    reads: set[Path] = set()
    writes: set[Path] = set()
    if text.strip():
        _statements(parse_mapping(text).statements, reads, writes)
    return reads, writes


def _overlap(a: Path, b: Path) -> bool:
    n = min(len(a), len(b))
    return a[:n] == b[:n]


def infer_order(needs: dict[str, set[Path]], gives: dict[str, set[Path]]) -> list[list[str]]:
    """Tiers of branch names: each branch after every branch writing what its request reads.

    Raises ValueError naming the branches of a dependency cycle.
    """
    deps = {
        name: {
            other
            for other, written in gives.items()
            if other != name and any(_overlap(r, w) for r in wanted for w in written)
        }
        for name, wanted in needs.items()
    }
    tiers: list[list[str]] = []
    done: set[str] = set()
    while len(done) < len(deps):
        tier = sorted(n for n, d in deps.items() if n not in done and d <= done)
        if not tier:
            stuck = sorted(n for n in deps if n not in done)
            raise ValueError(f"branches depend on each other in a cycle: {', '.join(stuck)}")
        tiers.append(tier)
        done.update(tier)
    return tiers


# -- the processor -------------------------------------------------------------------------


class _Record:
    """What the workflow did to one message."""

    __slots__ = ("succeeded", "skipped", "failed", "not_started")

    def __init__(self, names: list[str], skip: set[str]) -> None:
        self.succeeded: list[str] = []
        self.skipped: list[str] = [n for n in names if n in skip]
        self.failed: dict[str, str] = {}
        self.not_started: set[str] = {n for n in names if n not in skip}

    def done(self, name: str, outcome: str, error: str = "") -> None:
        self.not_started.discard(name)
        if outcome == "succeeded":
            self.succeeded.append(name)
        elif outcome == "skipped":
            self.skipped.append(name)
        else:
            self.failed[name] = error

    def as_object(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.succeeded:
            out["succeeded"] = list(self.succeeded)
        if self.not_started:
            out["not_started"] = sorted(self.not_started)
        if self.skipped:
            out["skipped"] = list(self.skipped)
        if self.failed:
            out["failed"] = dict(self.failed)
        return out


#: (index of the message in the batch, its result or None when skipped, an error or None)
_Outcome = tuple[int, Message | None, str | None]


@register_processor(
    "workflow",
    fields=[
        Field(
            "meta_path",
            "string",
            default="meta.workflow",
            description="A dot path in each message where the workflow records which branches "
            "succeeded, were skipped or failed; empty records nothing.",
        ),
        Field(
            "order",
            "array",
            default=[],
            item=Field("tier", "array", item=Field("branch", "string")),
            description="Tiers of branch names run in order, the branches of a tier in "
            "parallel; empty infers the order from the branches' maps.",
            examples=([["foo", "bar"], ["baz"]],),
        ),
        Field(
            "branch_resources",
            "array",
            default=[],
            advanced=True,
            item=Field("label", "string"),
            description="Labels of `branch` processor resources that take part, by label.",
        ),
        Field(
            "branches",
            "map",
            default={},
            item=Field("branch", "object", fields=BRANCH_FIELDS),
            description="The branches, by name (letters, digits, `_` and `-`).",
        ),
    ],
    summary="Runs a DAG of branch processors, performing independent ones in parallel.",
    description=(
        "Without `order`, a branch runs after every branch whose `result_map` writes what its "
        "`request_map` reads (a `request_map` reading `this` as a whole depends on every "
        "branch that writes). At `meta_path` each message gets `succeeded`, `skipped`, "
        "`failed` (name: error) and `not_started`, with the record of an earlier run under "
        "`previous`; branches listed as `succeeded` there are skipped, and a non-empty "
        "`apply` list there runs only the branches it names. With an empty `meta_path`, a "
        "message a branch failed is flagged with an error instead."
    ),
    examples=(
        "workflow:\n  meta_path: meta.workflow\n  branches:\n    foo:\n"
        "      request_map: 'root = \"\"'\n      processors:\n"
        "        - mapping: 'root = \"foo result\"'\n      result_map: root.foo = this\n"
        "    bar:\n      request_map: root = this.foo\n      processors:\n"
        "        - mapping: root = this.uppercase()\n      result_map: root.bar = this",
    ),
)
class WorkflowProcessor(Processor):
    """Runs a DAG of branch processors, performing independent ones in parallel."""

    def __init__(self, conf: dict[str, Any], ctx: BuildContext) -> None:
        self.branches: dict[str, BranchProcessor] = {}
        needs: dict[str, set[Path]] = {}
        gives: dict[str, set[Path]] = {}
        for name, bconf in dict(conf.get("branches") or {}).items():
            _check_name(str(name))
            self.branches[str(name)] = BranchProcessor(dict(bconf), ctx)
            reads, _ = mapping_paths(str(bconf.get("request_map") or ""))
            _, writes = mapping_paths(str(bconf.get("result_map") or ""))
            needs[str(name)], gives[str(name)] = reads, writes
        order = [[str(n) for n in tier] for tier in conf.get("order") or []]
        resources = [str(label) for label in conf.get("branch_resources") or []]
        for label in resources:
            if label in self.branches:
                raise ValueError(f"branch {label!r} is both a branch and a branch resource")
        # a name in order that no branch has is a branch processor resource (as in Benthos)
        from_order = [n for tier in order for n in tier if n not in self.branches]
        unknown = sorted(
            {n for n in from_order if n not in resources and not ctx.has_processor_resource(n)}
        )
        if unknown:
            raise UndefinedResourceError(
                f"order names unknown branches: {', '.join(unknown)} (neither under `branches` "
                "nor a branch processor under processor_resources)",
                "processor",
                unknown,
            )
        resources += [n for n in dict.fromkeys(from_order) if n not in resources]
        for label in resources:
            branch = _resource_branch(ctx, label)
            self.branches[label] = branch
            needs[label] = mapping_paths(branch.request.text)[0] if branch.request else set()
            gives[label] = mapping_paths(branch.result.text)[1] if branch.result else set()
        if order:
            listed = [n for tier in order for n in tier]
            missing = sorted(set(self.branches) - set(listed))
            if missing:
                raise ValueError(f"branches missing from order: {', '.join(missing)}")
            self.tiers = order
        else:
            self.tiers = infer_order(needs, gives)
        self.names = [n for tier in self.tiers for n in tier]
        meta_path = str(conf.get("meta_path") or "")
        self.meta_path: list[str] = [p for p in meta_path.split(".") if p] if meta_path else []
        self.batch_aware = any(b.batch_aware for b in self.branches.values())
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    # -- per batch -------------------------------------------------------------------------

    def process_batch(self, batch: list[Message]) -> list[Message]:
        records = [_Record(self.names, self._skip_list(m)) for m in batch]
        for tier in self.tiers:
            if len(tier) == 1:
                outcomes = [self._run_branch(tier[0], batch, records)]
            else:
                pool = self._threads()
                outcomes = list(pool.map(lambda n: self._run_branch(n, batch, records), tier))
            for name, results in zip(tier, outcomes):
                self._apply(name, batch, results, records)
        for m, rec in zip(batch, records):
            self._record(m, rec)
        return batch

    def _threads(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                widest = max(len(t) for t in self.tiers)
                self._pool = ThreadPoolExecutor(widest, thread_name_prefix="streamforge-workflow")
            return self._pool

    def _skip_list(self, msg: Message) -> set[str]:
        if not self.meta_path:
            return set()
        try:
            found: Any = msg.value
        except PayloadError:
            return set()
        for key in self.meta_path:
            found = found.get(key) if isinstance(found, dict) else None
        if not isinstance(found, dict):
            return set()
        skip: set[str] = set()
        apply = found.get("apply")
        if isinstance(apply, list) and apply:
            skip = set(self.names) - {a for a in apply if isinstance(a, str)}
        done = found.get("succeeded")
        if isinstance(done, list):
            skip |= {s for s in done if isinstance(s, str) and s in self.branches}
        return skip

    def _run_branch(
        self, name: str, batch: list[Message], records: list[_Record]
    ) -> list[_Outcome]:
        """Requests and the branch's processors; reads the messages, changes none of them."""
        branch = self.branches[name]
        outcomes: list[_Outcome] = []
        requests: list[Message] = []
        owners: list[int] = []
        for i, msg in enumerate(batch):
            if name in records[i].skipped:
                continue
            req: Message | None
            if branch.request is None:
                req = msg.copy()
                req.error = None
            else:
                try:
                    req = branch.request.apply_message(msg, batch, i, mutate=False)
                except Exception as exc:  # noqa: BLE001 - recorded as the branch's failure
                    outcomes.append((i, None, f"request mapping failed: {describe_error(exc)}"))
                    continue
            if req is None:
                outcomes.append((i, None, None))
                continue
            requests.append(req)
            owners.append(i)
        if not requests:
            return outcomes
        results = branch.chain.process_batch(requests)
        if type(results) is Batches:
            results = list(results)
        matched = _match(requests, results)
        if matched is None:
            reason = (
                f"branch processors returned {len(results)} messages for {len(requests)} "
                "requests; results cannot be matched to their messages"
            )
            outcomes.extend((i, None, reason) for i in owners)
            return outcomes
        for i, res in zip(owners, matched):
            if res is None:
                outcomes.append((i, None, None))
            elif res.error is not None:
                outcomes.append((i, None, res.error))
            else:
                outcomes.append((i, res, None))
        return outcomes

    def _apply(
        self, name: str, batch: list[Message], outcomes: list[_Outcome], records: list[_Record]
    ) -> None:
        """Map a branch's results into their messages and record what happened."""
        branch = self.branches[name]
        results = [res for _, res, _ in outcomes if res is not None]
        k = 0
        for i, res, error in outcomes:
            rec = records[i]
            if error is not None:
                rec.done(name, "failed", error)
                continue
            if res is None:
                rec.done(name, "skipped")
                continue
            if branch.result is not None:
                try:
                    branch._map_result(batch[i], res, results, k)
                except Exception as exc:  # noqa: BLE001 - the message keeps its content
                    rec.done(name, "failed", f"result mapping failed: {describe_error(exc)}")
                    k += 1
                    continue
            k += 1
            rec.done(name, "succeeded")

    def _record(self, msg: Message, rec: _Record) -> None:
        if not self.meta_path:
            if rec.failed:
                failed = ", ".join(f"{n}: {e}" for n, e in rec.failed.items())
                msg.error = f"workflow branches failed: {failed}"
            return
        try:
            doc = msg.value
        except PayloadError as exc:
            msg.error = f"workflow: cannot record at {'.'.join(self.meta_path)}: {exc}"
            return
        if not isinstance(doc, dict):
            msg.error = (
                f"workflow: cannot record at {'.'.join(self.meta_path)}: the message is not "
                "a JSON object"
            )
            return
        target = doc
        for key in self.meta_path[:-1]:
            nxt = target.get(key)
            if not isinstance(nxt, dict):
                nxt = target[key] = {}
            target = nxt
        current = rec.as_object()
        previous = target.get(self.meta_path[-1])
        if previous is not None:
            current["previous"] = previous
        target[self.meta_path[-1]] = current
        msg.set_value(doc)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        for branch in self.branches.values():
            branch.close()


def _match(requests: list[Message], outputs: list[Message]) -> list[Message | None] | None:
    """One result (None when dropped) per request, or None when they cannot be matched."""
    if len(outputs) == len(requests):
        return list(outputs)
    index = {id(r): k for k, r in enumerate(requests)}
    if not all(id(o) in index for o in outputs):
        return None
    found: list[Message | None] = [None] * len(requests)
    for o in outputs:
        found[index[id(o)]] = o
    return found


def _check_name(name: str) -> None:
    if not name or not all(c.isalnum() or c in "_-" for c in name):
        raise ValueError(f"branch name {name!r} may only hold letters, digits, '_' and '-'")


def _resource_branch(ctx: BuildContext, label: str) -> BranchProcessor:
    """The `branch` processor resource `label`."""
    proc = ctx.processor_resource(label)
    if not isinstance(proc, BranchProcessor):
        raise ValueError(f"processor resource {label!r} is not a branch processor")
    return proc
