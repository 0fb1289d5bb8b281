"""The `local` rate limit's bucket and the `rate_limit` processor's waiting."""

from __future__ import annotations

import threading

import pytest

from streamforge.message import Message
from streamforge.plugin import RateLimit, registry
from streamforge.plugin.testing import PluginTestContext
from streamforge.processors.rate_limit import RateLimitProcessor
from streamforge.processors.rate_limit.local import LocalRateLimit, local_rate_limit


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_local_allows_count_per_interval_then_says_how_long_to_wait() -> None:
    clock = Clock()
    limit = LocalRateLimit(3, 1.0, clock=clock)
    assert [limit.access() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limit.access() == pytest.approx(1.0)
    clock.now += 0.4
    assert limit.access() == pytest.approx(0.6)
    clock.now += 0.6
    assert [limit.access() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limit.access() == pytest.approx(1.0)


def test_local_is_shared_safely_by_threads() -> None:
    limit = LocalRateLimit(500, 3600.0)
    granted: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        n = sum(1 for _ in range(200) if limit.access() == 0)
        with lock:
            granted.append(n)

    threads = [threading.Thread(target=worker) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(granted) == 500


def test_local_spec_defaults_and_refusals() -> None:
    limit = local_rate_limit({})
    assert (limit.size, limit.interval) == (1000, 1.0)
    with pytest.raises(ValueError, match="larger than zero"):
        local_rate_limit({"count": 0})
    with pytest.raises(ValueError, match="negative"):
        local_rate_limit({"interval": "-1s"})
    spec = registry.get("rate_limit", "local")
    assert spec is not None and spec.kind == "rate_limit"


class Scripted(RateLimit):
    """Answers each access from a script of waits; records the waits asked."""

    def __init__(self, answers: list[float | Exception]) -> None:
        self.answers = answers
        self.calls = 0

    def access(self) -> float:
        answer = self.answers[self.calls] if self.calls < len(self.answers) else 0.0
        self.calls += 1
        if isinstance(answer, Exception):
            raise answer
        return answer


def processor(limit: RateLimit) -> RateLimitProcessor:
    spec = registry.get("processor", "rate_limit")
    assert spec is not None
    ctx = PluginTestContext(label="rl", type_name="rate_limit", rate_limits={"r": limit})
    built = spec.factory({"resource": "r"}, ctx)
    assert isinstance(built, RateLimitProcessor)
    return built


def test_processor_takes_one_access_per_message_and_asks_again_after_waiting() -> None:
    limit = Scripted([0.0, 0.01, 0.02, 0.0, 0.0])
    batch = [Message.from_value({"i": i}) for i in range(3)]
    out = processor(limit).process_batch(batch)
    assert out == batch and [m.error for m in out] == [None] * 3
    assert limit.calls == 5  # one wait of 10 ms and one of 20 ms before the second message


def test_processor_logs_a_failing_limit_and_asks_again(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    import streamforge.processors.rate_limit as module

    monkeypatch.setattr(module, "FAILURE_WAIT", 0.01)
    limit = Scripted([RuntimeError("limiter down"), 0.0])
    out = processor(limit).process_batch([Message.from_value({})])
    assert [m.error for m in out] == [None]
    assert limit.calls == 2
    assert "limiter down" in caplog.text


def test_closing_stops_a_wait() -> None:
    proc = processor(LocalRateLimit(1, 3600.0))
    proc.process_batch([Message.from_value({})])
    timer = threading.Timer(0.1, proc.close)
    timer.start()
    out = proc.process_batch([Message.from_value({})])
    timer.join()
    assert len(out) == 1


def test_an_unknown_rate_limit_is_refused_when_built() -> None:
    spec = registry.get("processor", "rate_limit")
    assert spec is not None
    with pytest.raises(LookupError, match="no rate limit resource 'nope'"):
        spec.factory({"resource": "nope"}, PluginTestContext())
