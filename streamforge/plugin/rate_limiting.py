"""The `rate_limit` field of components that call a peer (Benthos' name and meaning): each call
waits until the named `rate_limit_resources` entry allows it.

    from streamforge.plugin.rate_limiting import RateLimited, rate_limit_field

    fields=[..., rate_limit_field("The label of a rate limit each request waits for.")]

    self.limited = RateLimited(conf.get("rate_limit"), ctx)
    ...
    if not self.limited.wait(self._stop):  # the component is closing
        return
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from streamforge.plugin.errors import describe_error
from streamforge.plugin.interfaces import BuildContext, RateLimit
from streamforge.plugin.spec import Field

__all__ = ["FAILURE_WAIT", "RateLimited", "rate_limit_field"]

log = logging.getLogger("streamforge.rate_limit")

#: how long to wait before asking a rate limit that failed again (as Benthos)
FAILURE_WAIT = 1.0
#: a rate limit that keeps failing is logged at most this often (seconds)
FAILURE_LOG_INTERVAL = 60.0


def rate_limit_field(description: str, *, advanced: bool = False) -> Field:
    """`rate_limit`: the label of a `rate_limit_resources` entry (lint checks it exists)."""
    return Field(
        "rate_limit",
        "string",
        default="",
        references="rate_limit",
        description=description,
        examples=("api_quota",),
        advanced=advanced,
    )


class RateLimited:
    """The rate limit a component's `rate_limit` field names, or none when it is empty."""

    def __init__(self, label: Any, ctx: BuildContext | None, component: str = "") -> None:
        """`ctx` None (an offline check) resolves nothing; an undefined label raises the
        build context's error naming it."""
        self.label = str(label or "")
        self.component = component or getattr(ctx, "label", "") or "component"
        self.limit: RateLimit | None = None
        if self.label and ctx is not None:
            self.limit = ctx.rate_limit(self.label)
        self._last_failure_log = -FAILURE_LOG_INTERVAL

    @property
    def active(self) -> bool:
        return self.limit is not None

    def wait(self, stop: threading.Event) -> bool:
        """Take one access, waiting as long as the limit says; False when `stop` is set first.

        A rate limit that fails is logged (at most once a minute) and asked again a second
        later, as Benthos does.
        """
        limit = self.limit
        if limit is None:
            return not stop.is_set()
        while not stop.is_set():
            try:
                wait = float(limit.access())
            except Exception as exc:  # noqa: BLE001 - logged, then asked again
                self._failed(exc)
                wait = FAILURE_WAIT
            if wait <= 0:
                return True
            stop.wait(wait)
        return False

    def _failed(self, exc: BaseException) -> None:
        now = time.monotonic()
        if now - self._last_failure_log < FAILURE_LOG_INTERVAL:
            return
        self._last_failure_log = now
        log.error(
            "%s: failed to access rate limit %s: %s; asking again in %gs",
            self.component, self.label, describe_error(exc), FAILURE_WAIT,
        )  # fmt: skip
