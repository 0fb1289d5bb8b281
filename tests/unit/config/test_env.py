"""Environment variable interpolation: ${VAR} and ${VAR:default} as in Benthos."""

from __future__ import annotations

from streamforge.config.env import has_env_reference, interpolate_env


def test_set_variable_is_substituted() -> None:
    assert interpolate_env("tcp://${HOST}:1883", {"HOST": "broker"}).text == "tcp://broker:1883"


def test_default_used_when_unset_or_empty() -> None:
    assert interpolate_env("${PORT:1883}", {}).text == "1883"
    assert interpolate_env("${PORT:1883}", {"PORT": ""}).text == "1883"
    assert interpolate_env("${PORT:1883}", {"PORT": "8883"}).text == "8883"


def test_default_may_contain_colons() -> None:
    assert interpolate_env("${URL:http://h:80/x}", {}).text == "http://h:80/x"


def test_unset_without_default_is_reported_by_name() -> None:
    res = interpolate_env("${A}-${B}-${C:c}", {"A": "a"})
    assert res.text == "a--c"
    assert res.missing == ["B"]


def test_explicit_empty_default_is_not_missing() -> None:
    res = interpolate_env("x${FOO:}y", {})
    assert (res.text, res.missing) == ("xy", [])


def test_escaped_reference_is_literal() -> None:
    res = interpolate_env("${{HOME}} and ${HOME}", {"HOME": "/root"})
    assert res.text == "${HOME} and /root"
    assert res.missing == []


def test_bloblang_interpolation_is_untouched() -> None:
    text = 'out/${! meta("topic") }/${!count("c")}.log'
    res = interpolate_env(text, {})
    assert res.text == text and res.missing == []
    assert not has_env_reference(text)
    assert has_env_reference("a ${B} c")
