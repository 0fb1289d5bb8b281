"""`license_check` processor: passes messages on only while the licence grants a feature.

The decision is asked of the licence state once when the processor is built and again only
when a new licence state is installed (a new licence, expiry); per batch the processor reads
the cached answer, so a licensed stream pays nothing per message.
"""

from __future__ import annotations

import logging
import weakref
from typing import TYPE_CHECKING, Any

from prometheus_client import Counter

from streamforge.license.claims import CATEGORIES
from streamforge.message import Message
from streamforge.plugin import METRICS_REGISTRY, BuildContext, Field, Processor, register_processor
from streamforge.plugin.spec import ParsedField

if TYPE_CHECKING:
    from streamforge.license.state import LicenseState

__all__ = ["DENIED", "ON_DENIED", "LicenseCheckProcessor"]

ON_DENIED = ("error", "drop")

DENIED = Counter(
    "streamforge_license_denied",
    "Messages `license_check` flagged or dropped because the licence lacks the feature.",
    ("stream", "component", "feature"),
    registry=METRICS_REGISTRY,
)

log = logging.getLogger("streamforge.processors.license_check")


def _feature_name(value: Any) -> str:
    """The `feature` field: a non-empty name."""
    name = str(value if value is not None else "").strip()
    if not name:
        raise ValueError("feature: must not be empty (e.g. opcua, kafka, parquet)")
    return name


def _category(value: Any) -> str:
    category = str(value if value is not None else "bindings")
    if category not in CATEGORIES:
        raise ValueError(f'category: "{category}" is not one of {", ".join(CATEGORIES)}')
    return category


def _on_denied(value: Any) -> str:
    action = str(value if value is not None else "error")
    if action not in ON_DENIED:
        raise ValueError(f'on_denied: "{action}" is not one of {", ".join(ON_DENIED)}')
    return action


@register_processor(
    "license_check",
    fields=[
        ParsedField(
            "feature",
            "string",
            parser=_feature_name,
            description=(
                "The licence feature the messages need, as the licence names it within "
                "`category`: a binding (`opcua`, `kafka`, `modbus`), a processor (`alarm`), a "
                "security method (`mtls`) or a storage (`parquet`)."
            ),
            examples=("opcua", "kafka", "alarm"),
        ),
        Field(
            "category",
            "string",
            default="bindings",
            options=CATEGORIES,
            description="The licence category the feature belongs to.",
        ),
        Field(
            "on_denied",
            "string",
            default="error",
            options=ON_DENIED,
            description=(
                "What happens to messages while the feature is not licensed: `error` flags "
                "each one with `license_check: feature <category>/<feature> is not licensed: "
                "<reason>` (route them with `catch`, `switch` on `errored()` or a `fallback` "
                "output); `drop` removes them. Both count in "
                "`streamforge_license_denied_total`."
            ),
        ),
    ],
    summary="Passes messages on only while the licence grants a feature.",
    description=(
        "The licence policies are asked once when the stream starts and again whenever the "
        "licence in effect changes (a new licence is installed, or it expires while the "
        "stream runs); messages in between only read the cached answer, so a licensed "
        "stream pays nothing per message. Unlike the check `lint` and `run` make of a "
        "stream's own components, a denied feature here never stops the stream: the "
        "messages are flagged or dropped until a licence grants the feature again. "
        "Flagged messages count as errors of the processor, and every denied message counts "
        "in `streamforge_license_denied_total{stream, component, feature}` (feature as "
        "`category/name`). See docs/licensing.md."
    ),
    examples=(
        "# Readings an edge gateway reads over OPC UA and publishes over MQTT: forwarded\n"
        "# while the licence grants opcua, kept in a file otherwise\n"
        "input:\n"
        "  mqtt: { urls: [tcp://localhost:1883], topics: [edge/opcua/#] }\n"
        "pipeline:\n"
        "  processors:\n"
        "    - license_check:\n"
        "        feature: opcua\n"
        "output:\n"
        "  switch:\n"
        "    cases:\n"
        "      - check: errored()\n"
        "        output: { file: { path: ./unlicensed.jsonl } }\n"
        "      - output: { http_client: { url: http://historian:8080/readings } }",
        "# A feature the vendor sells by name: without it the messages are dropped\n"
        "pipeline:\n"
        "  processors:\n"
        "    - license_check:\n"
        "        category: storage\n"
        "        feature: historian\n"
        "        on_denied: drop",
    ),
)
class LicenseCheckProcessor(Processor):
    """Passes messages on only while the licence grants a feature."""

    #: it is given errored messages too and passes them on untouched, so a licensed batch
    #: goes through without being split into healthy and errored messages first
    handles_errors = True

    def __init__(self, conf: dict[str, Any], ctx: BuildContext | None = None) -> None:
        from streamforge.license import state

        conf = conf or {}
        self.feature = _feature_name(conf.get("feature"))
        self.category = _category(conf.get("category"))
        self.drop = _on_denied(conf.get("on_denied")) == "drop"
        self.name = f"{self.category}/{self.feature}"
        self.stream = getattr(ctx, "stream", "") or "streamforge"
        self.label = getattr(ctx, "label", "") or "license_check"
        self.denied = DENIED.labels(stream=self.stream, component=self.label, feature=self.name)
        #: (allowed, error text for denied messages), replaced as one value on a licence change
        self.decision: tuple[bool, str] = (False, "")
        # subscribed before asking, so a licence installed in between is not missed
        self._listener = _listener(self)
        state.subscribe(self._listener)
        try:
            self.decision = self._decide(state.current())
        except BaseException:
            state.unsubscribe(self._listener)
            raise
        if not self.decision[0]:
            self._log_denied()

    @property
    def allowed(self) -> bool:
        """Whether the licence in effect grants the feature."""
        return self.decision[0]

    def _decide(self, license_state: LicenseState) -> tuple[bool, str]:
        """The policies' answer; PolicyError when they cannot give one."""
        if license_state.allowed(self.category, self.feature):
            return True, ""
        reason = license_state.decisions.reason(self.category, self.feature)
        subject = license_state.subject
        if subject is not None and subject not in reason:
            reason = f"{reason} (licence of {subject})"
        elif subject is None and "no licence" not in reason:
            reason = f"{reason} (no licence in effect)"
        return False, f"license_check: feature {self.name} is not licensed: {reason}"

    def refresh(self, license_state: LicenseState) -> None:
        """Take the decision of a newly installed licence state."""
        from streamforge.license.policy import PolicyError

        was = self.decision[0]
        try:
            self.decision = self._decide(license_state)
        except PolicyError as exc:
            self.decision = (
                False,
                f"license_check: feature {self.name} is not licensed: the policies cannot "
                f"decide: {exc}",
            )
        if self.decision[0] and not was:
            log.info(
                "license_check: feature %s is licensed now; messages pass",
                self.name,
                extra={"fields": self._log_fields()},
            )
        elif was and not self.decision[0]:
            self._log_denied()

    def _log_fields(self) -> dict[str, str]:
        return {"stream": self.stream, "component": self.label, "feature": self.name}

    def _log_denied(self) -> None:
        log.warning(
            "%s; messages are %s",
            self.decision[1],
            "dropped" if self.drop else "flagged with this error",
            extra={"fields": self._log_fields()},
        )

    def process_batch(self, batch: list[Message]) -> list[Message]:
        allowed, error = self.decision
        if allowed:
            return batch
        if self.drop:
            kept = [msg for msg in batch if msg.error is not None]
            self.denied.inc(len(batch) - len(kept))
            return kept
        denied = 0
        for msg in batch:
            if msg.error is None:
                msg.error = error
                denied += 1
        self.denied.inc(denied)
        return batch

    def close(self) -> None:
        from streamforge.license import state

        state.unsubscribe(self._listener)


def _listener(proc: LicenseCheckProcessor) -> Any:
    """A state listener that refreshes `proc` without keeping it alive; it unsubscribes
    itself once the processor is gone (a processor dropped without close())."""
    from streamforge.license import state

    ref = weakref.ref(proc)

    def on_change(license_state: LicenseState) -> None:
        target = ref()
        if target is None:
            state.unsubscribe(on_change)
        else:
            target.refresh(license_state)

    return on_change
