"""The public API of StreamForge components: what built-ins and third-party plugins import.

    from streamforge.plugin import BuildContext, Field, Message, Processor, register_processor

    @register_processor("upper", fields=[Field("field", "string", default="value")])
    class Upper(Processor):
        def __init__(self, conf: dict, ctx: BuildContext) -> None:
            self.field = conf["field"]
            self.log = ctx.logger

        def process_batch(self, batch: list[Message]) -> list[Message]: ...

- `spec`: `Field`, `ParsedField`, `ComponentSpec` — what a component's config takes.
- `registry`: `register_input|processor|output|cache|rate_limit` and the registry they fill.
- `interfaces`: the base classes and `BuildContext` (logger, metrics, nested components).
- `keyed`: `KeyedProcessor`, for processors that keep state per key.
- `readers`: `QueuedReader`, for inputs fed from a thread or event loop of their own.
- `errors`: `describe_error`, the text a failed message carries.
- `loading`: built-ins, entry-point plugins and plugin files.
- `testing`: `PluginTestContext`, a build context for a component's own tests.
- `connection`: `Backoff` with jitter and `Connection` state shown in metrics and /ready.

Metric families with labels of their own register in `METRICS_REGISTRY` (served on /metrics).
"""

from __future__ import annotations

from streamforge.message import Message, PayloadError
from streamforge.observability.logging import RateLimitedErrorLogger
from streamforge.observability.metrics import REGISTRY as METRICS_REGISTRY
from streamforge.observability.metrics import ComponentMetrics
from streamforge.plugin.connection import Backoff, Connection, connection
from streamforge.plugin.errors import describe_error
from streamforge.plugin.interfaces import (
    BuildContext,
    Cache,
    CacheError,
    Input,
    InputReader,
    Output,
    Processor,
    RateLimit,
)
from streamforge.plugin.loading import load_builtins, load_entry_points, load_plugins
from streamforge.plugin.registry import (
    PluginError,
    Registry,
    register,
    register_cache,
    register_input,
    register_output,
    register_processor,
    register_rate_limit,
    registry,
)
from streamforge.plugin.spec import (
    KINDS,
    REQUIRED,
    ComponentSpec,
    Field,
    Kind,
    ParsedField,
)

__all__ = [
    "KINDS",
    "METRICS_REGISTRY",
    "REQUIRED",
    "Backoff",
    "BuildContext",
    "Cache",
    "CacheError",
    "ComponentMetrics",
    "ComponentSpec",
    "Connection",
    "Field",
    "Input",
    "InputReader",
    "Kind",
    "Message",
    "Output",
    "ParsedField",
    "PayloadError",
    "PluginError",
    "Processor",
    "RateLimit",
    "RateLimitedErrorLogger",
    "Registry",
    "connection",
    "describe_error",
    "load_builtins",
    "load_entry_points",
    "load_plugins",
    "register",
    "register_cache",
    "register_input",
    "register_output",
    "register_processor",
    "register_rate_limit",
    "registry",
]
