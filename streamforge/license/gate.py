"""Check streams against the licence before they start: every component, nested ones included,
and the number of streams.

A refusal reads `file:line:col: input 'kafka': binding 'kafka' needs a licence feature
bindings/kafka (no licence in effect); licence subject: none (base features)`, one line per
component and feature (a user policy's `deny` text is prefixed with the feature it refuses).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from streamforge.config.model import ComponentConfig, Location, Problem, StreamConfig
from streamforge.license.catalog import feature_of, section_used, security_methods
from streamforge.license.decisions import Decisions
from streamforge.license.settings import LicenseSettings
from streamforge.license.state import LicenseState, build_state, install

__all__ = [
    "NO_SUBJECT",
    "Denial",
    "FeatureUse",
    "GateResult",
    "check_limit",
    "check_streams",
    "components",
    "denials",
    "feature_uses",
    "gate_problems",
    "gate_streams",
    "license_settings",
    "subject_of",
]

#: how a refusal names the subject when no licence is in effect
NO_SUBJECT = "none (base features)"


@dataclass(frozen=True)
class FeatureUse:
    """A component of a stream and one licence feature it needs."""

    stream: str
    location: Location
    kind: str
    name: str
    category: str
    feature: str

    @property
    def component(self) -> str:
        """`input 'kafka'`: how messages name the component."""
        return f"{self.kind} {self.name!r}"


@dataclass(frozen=True)
class Denial:
    """A feature use the licence in effect does not allow."""

    use: FeatureUse
    reason: str
    subject: str

    @property
    def message(self) -> str:
        """The refusal without its location."""
        use = self.use
        feature = f"{use.category}/{use.feature}"
        if feature in self.reason:  # the policies' own wording names it already
            return f"{use.component}: {self.reason}; licence subject: {self.subject}"
        return (
            f"{use.component} needs licence feature {feature}: {self.reason}; "
            f"licence subject: {self.subject}"
        )

    def __str__(self) -> str:
        return f"{self.use.location}: {self.message}"


def _nested(value: Any) -> Iterator[ComponentConfig]:
    """Component configs inside a component's config (switch cases, try/catch/branch
    processors, broker/fallback outputs, batching processors...)."""
    if isinstance(value, ComponentConfig):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _nested(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _nested(item)


def _walk(conf: ComponentConfig) -> Iterator[ComponentConfig]:
    yield conf
    for child in _nested(conf.conf):
        yield from _walk(child)
    for proc in conf.processors:
        yield from _walk(proc)


def components(stream: StreamConfig) -> Iterator[ComponentConfig]:
    """Every component of a stream: input, processors, output, resources, and all nested in
    them. `resource:` references are yielded too; the resource itself is yielded once."""
    yield from _walk(stream.input)
    for proc in stream.processors:
        yield from _walk(proc)
    yield from _walk(stream.output)
    for table in stream.resources.values():
        for resource in table.values():
            yield from _walk(resource)


def feature_uses(stream: StreamConfig) -> list[FeatureUse]:
    """Every (component, feature) of a stream that a licence decides on."""
    uses: list[FeatureUse] = []
    for conf in components(stream):
        features = feature_of(conf.kind, conf.type, conf.conf)
        section = section_used(conf.kind, conf.type, conf.conf)
        if section is not None and section in stream.sections:
            shared = [("security", m) for m in security_methods(stream.sections[section])]
            features = list(dict.fromkeys([*features, *shared]))
        for category, feature in features:
            uses.append(
                FeatureUse(stream.name, conf.location, conf.kind, conf.type, category, feature)
            )
    return uses


def subject_of(decisions: Decisions) -> str:
    """The licence subject as refusals name it."""
    return decisions.subject or NO_SUBJECT


def denials(stream: StreamConfig, decisions: Decisions) -> list[Denial]:
    """The feature uses of a stream the decisions refuse. PolicyError when a policy fails."""
    subject = subject_of(decisions)
    return [
        Denial(use, decisions.reason(use.category, use.feature), subject)
        for use in feature_uses(stream)
        if not decisions.allowed(use.category, use.feature)
    ]


def check_limit(decisions: Decisions, resource: str, count: int) -> str | None:
    """Why `count` `resource`s ("streams", "things", "users") exceed the licence's limit;
    None when they are within it. Where things or users are created, call it with the count
    after adding the new one."""
    if decisions.within_limit(resource, count):
        return None
    limit = decisions.limit(resource)
    return (
        f"{count} {resource} exceed the licence limit max_{resource} = {limit}; "
        f"licence subject: {subject_of(decisions)}"
    )


def gate_problems(
    streams: Sequence[StreamConfig], decisions: Decisions, *, limits: bool = True
) -> list[Problem]:
    """Every refusal as a Problem; with `limits`, also more streams than max_streams (located
    at the first stream over the limit)."""
    problems: list[Problem] = []
    for stream in streams:
        problems += [Problem(d.use.location, d.message) for d in denials(stream, decisions)]
    if limits and streams:
        message = check_limit(decisions, "streams", len(streams))
        if message is not None:
            limit = decisions.limit("streams") or 0
            first_over = streams[min(max(limit, 0), len(streams) - 1)]
            where = Location(str(first_over.path), 1, 1)
            problems.append(Problem(where, f"stream {first_over.name!r}: {message}"))
    return problems


def check_streams(
    streams: Sequence[StreamConfig], decisions: Decisions, *, limits: bool = True
) -> list[str]:
    """One line per refused (component, feature) of the streams, and one when there are more
    streams than max_streams; empty when every stream may start. PolicyError when a user
    policy fails."""
    return [str(p) for p in gate_problems(streams, decisions, limits=limits)]


def _comparable(settings: LicenseSettings) -> tuple[Any, ...]:
    return (
        settings.file,
        settings.token,
        settings.public_key_file,
        settings.issuer,
        settings.policy_dir,
        settings.opa_url,
        settings.leeway,
    )


def license_settings(
    streams: Sequence[StreamConfig], env: Mapping[str, str] = os.environ
) -> tuple[LicenseSettings, list[Problem]]:
    """The settings of the first stream with a `license:` section, else the environment's.

    One licence applies to every stream of a process, so a file whose section resolves to
    other settings is a problem at its `license` key naming the file that set them first.
    Raises LicenceSettingsError for a bad environment variable.
    """
    chosen: tuple[StreamConfig, LicenseSettings] | None = None
    problems: list[Problem] = []
    for stream in streams:
        if not stream.license:
            continue
        settings = LicenseSettings.from_config(stream.license, env=env, base_dir=stream.path.parent)
        if chosen is None:
            chosen = (stream, settings)
        elif _comparable(settings) != _comparable(chosen[1]):
            problems.append(
                Problem(
                    _license_key(stream),
                    f"license: differs from the section in {chosen[0].path}; every stream of "
                    "a run uses one licence, so give the same section (or none) in each file",
                )
            )
    if chosen is not None:
        return chosen[1], problems
    return LicenseSettings.from_config(None, env=env), problems


def _license_key(stream: StreamConfig) -> Location:
    from streamforge.config.loader import load_document

    return load_document(stream.path).key_location(("license",))


@dataclass(frozen=True)
class GateResult:
    """The licence state put in effect for some streams, and what it refuses."""

    state: LicenseState
    problems: list[Problem]

    @property
    def lines(self) -> list[str]:
        """The problems as `file:line:col: message` lines."""
        return [str(p) for p in self.problems]


def gate_streams(
    streams: Sequence[StreamConfig],
    *,
    limits: bool = True,
    env: Mapping[str, str] = os.environ,
) -> GateResult:
    """Build the licence state from the streams' `license:` section (or the environment),
    install it for the process, and check every stream against it.

    Raises PolicyError when a user policy cannot be loaded or evaluated (startup refused) and
    LicenceSettingsError for a bad environment variable.
    """
    settings, problems = license_settings(streams, env)
    state = build_state(settings)
    install(state)
    problems += gate_problems(streams, state.decisions, limits=limits)
    return GateResult(state, problems)
