"""The Benthos service sections of a stream: `buffer`, `metrics`, `tracer`, and shutdown.

`buffer`, `metrics` and `tracer` each hold one type key (as a component does); a type Benthos
has and StreamForge does not is a lint error saying so, never dropped. The checked sections
land in `StreamConfig.buffer`, `.metrics` and `.tracer` as `{"type": ..., "conf": {...}}`
(plus `mapping` for metrics).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from streamforge.config.telemetry import (
    AWS_CLOUDWATCH,
    OPEN_TELEMETRY_COLLECTOR,
    check_aws_cloudwatch,
    check_open_telemetry_collector,
)
from streamforge.durations import parse_duration
from streamforge.plugin.benthos_names import missing_component
from streamforge.plugin.similar import close_match
from streamforge.plugin.spec import Field

__all__ = [
    "BUFFER_TYPES",
    "METRICS_TYPES",
    "SERVICE_FIELDS",
    "SERVICE_SECTIONS",
    "TRACER_TYPES",
    "check_service_sections",
]

_BATCH_POLICY = Field(
    "batch_policy",
    "object",
    default={},
    description="Groups messages into batches in the buffer; the first trigger to fire wins.",
    fields=(
        Field("enabled", "bool", default=False, description="Whether to batch at all."),
        Field("count", "int", default=0, description="Messages per batch; 0: no count."),
        Field("byte_size", "int", default=0, description="Bytes per batch; 0: no size."),
        Field("period", "duration", default="", description="Flush an incomplete batch after."),
        Field("check", "query", default="", description="A message for which it is true ends "
              "the batch."),
        Field("processors", "array", default=[], item=Field("processor", "processor"),
              description="Processors run on each batch as it leaves the buffer."),
    ),
)  # fmt: skip

BUFFER_TYPES: dict[str, Field] = {
    "memory": Field(
        "memory",
        "object",
        default={},
        description="Holds messages in memory between the input and the pipeline.",
        fields=(
            Field(
                "limit",
                "int",
                default=524288000,
                description="Bytes a batch being gathered may hold before it is flushed.",
            ),
            _BATCH_POLICY,
        ),
    ),  # fmt: skip
    "system_window": Field(
        "system_window",
        "object",
        default={},
        description=(
            "Chops the stream into tumbling or sliding windows of the system clock; each window "
            "leaves the buffer as one batch when the clock passes its end (plus "
            "allowed_lateness), every message with metadata `window_end_timestamp`."
        ),
        fields=(
            Field(
                "timestamp_mapping",
                "mapping",
                default="root = now()",
                description="A mapping giving each message's time: a timestamp, an RFC 3339 "
                "string or unix seconds.",
            ),
            Field(
                "size",
                "duration",
                description="How long each window is.",
                examples=("30s", "1m", "1h"),
            ),
            Field(
                "slide",
                "duration",
                default="",
                description="Sliding windows: how far apart windows start; empty: tumbling.",
            ),
            Field(
                "offset",
                "duration",
                default="",
                description="Moves window boundaries from the whole of the size.",
            ),
            Field(
                "allowed_lateness",
                "duration",
                default="",
                description="How long after its end a window waits for late messages.",
            ),
        ),
    ),  # fmt: skip
    "none": Field("none", "object", default={}, description="No buffer (the default)."),
}

METRICS_TYPES: dict[str, Field] = {
    "prometheus": Field(
        "prometheus",
        "object",
        default={},
        description="Prometheus metrics, served on the HTTP server's /metrics.",
        fields=(
            Field(
                "use_histogram_timing",
                "bool",
                default=False,
                advanced=True,
                description="Timings are histograms in StreamForge whatever this says.",
            ),
            Field(
                "histogram_buckets",
                "array",
                default=[],
                item=Field("bucket", "float"),
                advanced=True,
                description="Not supported: StreamForge's timing histograms "
                "have fixed buckets (leave empty).",
            ),
            Field(
                "summary_quantiles_objectives",
                "array",
                default=[],
                item=Field("q", "any"),
                advanced=True,
                description="Accepted; StreamForge reports no summaries.",
            ),
            Field(
                "add_process_metrics",
                "bool",
                default=False,
                description="Add the process' CPU, memory and file descriptor metrics.",
            ),
            Field(
                "add_go_metrics",
                "bool",
                default=False,
                description="Add the language runtime's metrics (Python's garbage collector "
                "and platform, as Benthos adds Go's).",
            ),
            Field(
                "push_url",
                "string",
                default="",
                advanced=True,
                description="A Prometheus Pushgateway to push the metrics to (after the "
                "mapping) at shutdown, and every push_interval when one is set. Without "
                "the /metrics/job/... path.",
                examples=("http://pushgateway:9091",),
            ),
            Field(
                "push_interval",
                "duration",
                default="",
                advanced=True,
                description="How often to push while the stream runs; empty: only at shutdown.",
                examples=("15s",),
            ),
            Field(
                "push_job_name",
                "string",
                default="benthos_push",
                advanced=True,
                description="The job the pushed metrics are grouped under (their `job` label).",
            ),
            Field(
                "push_basic_auth",
                "object",
                default={},
                advanced=True,
                description="HTTP Basic credentials for the Pushgateway; used when both are set.",
                fields=(
                    Field("username", "string", default="", description="The user name."),
                    Field(
                        "password",
                        "string",
                        default="",
                        secret=True,
                        description="The password.",
                    ),
                ),
            ),
            Field(
                "file_output_path",
                "string",
                default="",
                advanced=True,
                description="Write the metrics in the text format to this file at the end "
                "of the run.",
            ),
        ),
    ),  # fmt: skip
    "aws_cloudwatch": AWS_CLOUDWATCH,
    "none": Field("none", "object", default={}, description="No metrics: /metrics is off."),
}

TRACER_TYPES: dict[str, Field] = {
    "open_telemetry_collector": OPEN_TELEMETRY_COLLECTOR,
    "none": Field("none", "object", default={}, description="No tracing (the default)."),
}

#: section name -> (kind for names, its types, the type when none is given, extra keys)
SERVICE_SECTIONS: dict[str, tuple[str, dict[str, Field], str, dict[str, Field]]] = {
    "buffer": ("buffer", BUFFER_TYPES, "none", {"label": Field("label", "string", default="")}),
    "metrics": (
        "metrics",
        METRICS_TYPES,
        "prometheus",
        {
            "mapping": Field(
                "mapping",
                "mapping",
                default="",
                description=(
                    "A Bloblang mapping over each metric: `this` is its name, metadata its "
                    "labels; `root` renames it, `deleted()` drops it, `meta` edits labels."
                ),
            )
        },
    ),
    "tracer": ("tracer", TRACER_TYPES, "none", {}),
}


def _section_field(name: str) -> Field:
    _kind, types, _default, extra = SERVICE_SECTIONS[name]
    return Field(name, "object", default={}, fields=(*types.values(), *extra.values()))


#: the sections as stream fields (for the JSON Schema and the secrets walk), and shutdown
SERVICE_FIELDS: tuple[Field, ...] = (
    *(_section_field(name) for name in SERVICE_SECTIONS),
    Field(
        "shutdown_timeout",
        "duration",
        default="20s",
        description="How long a stop may take to end inputs and flush outputs before it aborts.",
    ),
    Field(
        "shutdown_delay",
        "duration",
        default="0s",
        description="How long to wait after a stop signal, reporting not ready, before stopping.",
    ),
)

#: checks of a type's validated conf beyond field types: raise ValueError(field, message)
_CHECKS: dict[tuple[str, str], Callable[[dict[str, Any]], None]] = {}


def _check_window(conf: dict[str, Any]) -> None:
    from streamforge.plugin.windows import system_window_spec

    system_window_spec(conf)


def _check_prometheus(conf: dict[str, Any]) -> None:
    if conf.get("histogram_buckets"):
        raise ValueError(
            "histogram_buckets: not supported: StreamForge's timing histograms have fixed "
            "buckets (leave it empty)"
        )
    url = str(conf.get("push_url") or "").strip()
    if not url:
        return
    parts = urlsplit(url if "://" in url else "http://" + url)
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"push_url: {url!r}: a Pushgateway URL is http:// or https://")
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise ValueError(f"push_url: {url!r}: not a valid port") from None
    if not parts.hostname:
        raise ValueError(f"push_url: {url!r}: no host (e.g. http://pushgateway:9091)")
    if "/metrics/job" in parts.path:
        raise ValueError(f"push_url: {url!r}: leave out /metrics/job/...: the job is push_job_name")
    job = str(conf.get("push_job_name") or "")
    if not job:
        raise ValueError("push_job_name: must not be empty when push_url is set")
    if parse_duration(conf.get("push_interval")) < 0:
        raise ValueError("push_interval: must not be negative")


_CHECKS[("buffer", "system_window")] = _check_window
_CHECKS[("metrics", "prometheus")] = _check_prometheus
_CHECKS[("metrics", "aws_cloudwatch")] = check_aws_cloudwatch
_CHECKS[("tracer", "open_telemetry_collector")] = check_open_telemetry_collector


def _present(raw: Any, field: str) -> tuple[str | int, ...]:
    """The longest prefix of the dotted `field` (`sampling.ratio`, `http.0.address`) that
    the config has, as a path: a problem is reported at the deepest place written."""
    path: list[str | int] = []
    node = raw
    for part in field.split("."):
        if isinstance(node, dict) and part in node:
            path.append(part)
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            path.append(int(part))
            node = node[int(part)]
        else:
            break
    return tuple(path)


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    return {dict: "object", list: "array", str: "string", bool: "bool"}.get(
        type(value), type(value).__name__
    )


def _one_section(v: Any, name: str, value: Any) -> dict[str, Any] | None:
    kind, types, default, extra = SERVICE_SECTIONS[name]
    if value is None:
        value = {}
    if not isinstance(value, dict):
        v.at((name,), f"{name}: expected an object, got {_type_name(value)}")
        return None
    keys = [k for k in value if k not in extra]
    ok = True
    for key in keys:
        if key in types:
            continue
        ok = False
        text = str(key)
        missing = missing_component(kind, text)
        if missing is not None:
            v.at_key((name, key), f"{name} type {text!r} is not supported: {missing}")
            continue
        hint = close_match(text, list(types) + list(extra))
        how = f', did you mean "{hint}"?' if hint else f" (valid: {', '.join(types)})"
        v.at_key((name, key), f'unknown {name} type "{text}"{how}')
    known = [k for k in keys if k in types]
    if len(known) > 1:
        v.at_key((name, known[1]), f"{name} has more than one type: {', '.join(known)} (use one)")
        return None
    if not ok:
        return None
    ctype = known[0] if known else default
    before = len(v.problems)
    raw = value.get(ctype)
    if raw is None:
        raw = {}
    where = f"{name} {ctype}"
    conf = v.value(types[ctype], raw, (name, ctype), "", where)
    out: dict[str, Any] = {"type": ctype, "conf": conf}
    for key, f in extra.items():
        if key in value:
            out[key] = v.value(f, value[key], (name, key), key, name)
        else:
            out[key] = f.default
    if len(v.problems) > before:
        return None
    check = _CHECKS.get((name, ctype))
    if check is not None:
        try:
            check(conf)
        except ValueError as exc:
            text = str(exc)
            field, _, _message = text.partition(":")
            v.at((name, ctype, *_present(raw, field)), f"{where}: {text}")
            return None
    return out


def check_service_sections(v: Any, body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Validate `buffer`, `metrics` and `tracer` with the validator `v`: name -> section.

    A missing section is its default type; an invalid one is reported and left at its
    default, so the problems are all found but nothing half-checked is used.
    """
    out: dict[str, dict[str, Any]] = {}
    for name, (_kind, types, default, extra) in SERVICE_SECTIONS.items():
        fallback: dict[str, Any] = {"type": default, "conf": v.default(types[default])}
        fallback.update({k: f.default for k, f in extra.items()})
        section = _one_section(v, name, body[name]) if name in body else None
        out[name] = section if section is not None else fallback
    return out
