"""RegoEngine: loading the built-in and user policies, errors with file:line:col, queries."""

from __future__ import annotations

import textwrap
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from streamforge.license import policy as policy_module
from streamforge.license.policy import (
    UNDEFINED,
    OpaEngine,
    PolicyError,
    RegoEngine,
    builtin_policy_files,
    data_ref_path,
    engine_for,
)

REQUEST_KAFKA: dict[str, Any] = {
    "license": None,
    "processors": [],
    "request": {"category": "bindings", "feature": "kafka"},
}


def _policy(directory: Path, name: str, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


@pytest.fixture(scope="module")
def engine() -> RegoEngine:
    return RegoEngine.load(None)


def test_builtin_policy_files() -> None:
    files = builtin_policy_files()
    names = ["authz.rego", "features.rego", "limits.rego", "security.rego"]
    assert [f.name for f in files] == names
    assert all(f.is_file() for f in files)


@pytest.mark.parametrize("regular_package", [False, True])
def test_builtin_policy_files_from_an_installed_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, regular_package: bool
) -> None:
    name = f"installed_policies_{int(regular_package)}"
    package = tmp_path / name
    package.mkdir()
    if regular_package:
        (package / "__init__.py").write_text("")
    for source in builtin_policy_files():
        (package / source.name).write_bytes(source.read_bytes())
    (package / "README.md").write_text("not a policy")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(policy_module, "POLICY_PACKAGE", name)
    files = builtin_policy_files()
    names = ["authz.rego", "features.rego", "limits.rego", "security.rego"]
    assert files == [package / name for name in names]
    engine = RegoEngine.load(None)
    assert engine.files == files
    assert engine.query("data.streamforge.limits.max_streams", {"license": None}) == 5


def test_describe_names_the_interpreter_and_files(engine: RegoEngine) -> None:
    assert engine.describe().startswith("regopy ")
    assert "features.rego" in engine.describe()


@pytest.mark.parametrize(
    ("query", "path"),
    [
        ("data", []),
        ("data.streamforge.features.allow", ["streamforge", "features", "allow"]),
        ('data.streamforge.features.binding_allowed["kafka"]',
         ["streamforge", "features", "binding_allowed", "kafka"]),
        ('data.a["x.y"][2]', ["a", "x.y", 2]),
        ("  data.a.b  ", ["a", "b"]),
    ],
)  # fmt: skip
def test_data_ref_path(query: str, path: list[str | int]) -> None:
    assert data_ref_path(query) == path


@pytest.mark.parametrize(
    "query",
    [
        "input.x",
        "data.a[x]",
        "data.a.f(1)",
        "data.a == 1",
        "x := data.a",
        "data.a; data.b",
        "datum",
    ],
)
def test_data_ref_path_rejects_other_queries(query: str) -> None:
    assert data_ref_path(query) is None


def test_reference_gives_its_value_false_included(engine: RegoEngine) -> None:
    assert engine.query("data.streamforge.features.allow", REQUEST_KAFKA) is False
    assert engine.query("data.streamforge.features.licensed", REQUEST_KAFKA) is False
    assert engine.query("data.streamforge.limits.max_streams", REQUEST_KAFKA) == 5


def test_undefined_reference(engine: RegoEngine) -> None:
    assert engine.query("data.streamforge.features.no_such_rule", REQUEST_KAFKA) is UNDEFINED
    assert engine.query("data.nothing.here", {}) is UNDEFINED


def test_other_queries_give_bindings_per_solution(engine: RegoEngine) -> None:
    solutions = engine.query("data.streamforge.features.binding_allowed[name]", {"license": None})
    assert sorted(s["name"] for s in solutions) == ["http", "mqtt"]
    assert engine.query("x := input.a + 1", {"a": 1}) == [{"x": 2}]
    assert engine.query("input.a == 1", {"a": 1}) == [{}]
    assert engine.query("input.a == 2", {"a": 1}) is UNDEFINED


def test_strings_with_quotes_and_newlines_round_trip(engine: RegoEngine) -> None:
    text = 'say "hi"\\ \n and\ttab ünï'
    request = {"license": None, "request": {"category": "bindings", "feature": text}}
    reason = engine.query("data.streamforge.features.reason", request)
    assert reason == (
        f"binding '{text}' needs a licence feature bindings/{text} (no licence in effect)"
    )


def test_malformed_query_names_the_column(engine: RegoEngine) -> None:
    with pytest.raises(PolicyError) as caught:
        engine.query("input.a +", {})
    assert str(caught.value).startswith("query:1:9: ")


def test_malformed_query_after_good_ones_is_an_error_not_the_last_answer(
    engine: RegoEngine,
) -> None:
    assert engine.query("data.streamforge.limits.max_things", {}) == 10
    with pytest.raises(PolicyError):
        engine.query("data.streamforge.limits.max_things[", {})
    with pytest.raises(PolicyError):
        engine.query("x := (1", {})


def test_unknown_function_is_an_error(engine: RegoEngine) -> None:
    with pytest.raises(PolicyError, match="no_such_function"):
        engine.query("no_such_function(1)", {})


def test_queries_from_many_threads_each_get_their_own_input(engine: RegoEngine) -> None:
    results: dict[int, object] = {}

    def ask(n: int) -> None:
        for _ in range(20):
            got = engine.query("x := input.n * 2", {"n": n})
            if got != [{"x": 2 * n}]:
                results[n] = got
                return
        results[n] = "ok"

    threads = [threading.Thread(target=ask, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {n: "ok" for n in range(8)}


# -- user policies ------------------------------------------------------------------------------


def test_user_policy_adds_a_deny(tmp_path: Path) -> None:
    _policy(tmp_path, "site.rego", """
        package streamforge.features

        import rego.v1

        deny contains "mqtt is switched off on this site" if input.request.feature == "mqtt"
    """)  # fmt: skip
    engine = RegoEngine.load(tmp_path)
    mqtt = {"license": None, "request": {"category": "bindings", "feature": "mqtt"}}
    http = {"license": None, "request": {"category": "bindings", "feature": "http"}}
    assert engine.query("data.streamforge.features.allow", mqtt) is False
    assert engine.query("data.streamforge.features.reason", mqtt) == (
        "mqtt is switched off on this site"
    )
    assert engine.query("data.streamforge.features.allow", http) is True
    assert "site.rego" in engine.describe()


def test_user_policies_load_in_name_order_and_only_rego_files(tmp_path: Path) -> None:
    _policy(tmp_path, "b.rego", "package site\n\nimport rego.v1\n\nb := a + 1\n")
    _policy(tmp_path, "a.rego", "package site\n\nimport rego.v1\n\na := 1\n")
    _policy(tmp_path, "notes.txt", "this is not Rego {")
    engine = RegoEngine.load(tmp_path)
    assert [f.name for f in engine.files][-2:] == ["a.rego", "b.rego"]
    assert engine.query("data.site.b", {}) == 2


def test_user_policy_with_syntax_error_names_file_line_and_column(tmp_path: Path) -> None:
    bad = _policy(tmp_path, "bad.rego", """
        package streamforge.features

        import rego.v1

        deny contains "x" if {
            input.request.feature ==
        }
    """)  # fmt: skip
    with pytest.raises(PolicyError) as caught:
        RegoEngine.load(tmp_path)
    assert str(caught.value).splitlines()[0] == f"{bad}:6:27: Invalid boolean operator"


def test_every_syntax_error_on_its_own_line(tmp_path: Path) -> None:
    bad = _policy(tmp_path, "two.rego", "package site\n\nx := ==\ny := 1 +\n")
    with pytest.raises(PolicyError) as caught:
        RegoEngine.load(tmp_path)
    lines = str(caught.value).splitlines()
    assert any(line.startswith(f"{bad}:3:") for line in lines)
    assert any(line.startswith(f"{bad}:4:") for line in lines)
    assert all(line.startswith(f"{bad}:") for line in lines)


def test_user_policy_that_does_not_evaluate_is_named(tmp_path: Path) -> None:
    _policy(tmp_path, "a_fine.rego", "package site\n\nimport rego.v1\n\nfine := true\n")
    loop = _policy(tmp_path, "b_loop.rego", "package site\n\nimport rego.v1\n\nx if y\n\ny if x\n")
    with pytest.raises(PolicyError) as caught:
        RegoEngine.load(tmp_path)
    assert str(caught.value) == f"{loop}: Recursion detected in rule body: data.site.x"


def test_missing_policy_dir(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="policy directory not found"):
        RegoEngine.load(tmp_path / "nope")


def test_policy_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.rego"
    path.write_bytes(b'package site\n\nname := "caf\xe9"\n')
    with pytest.raises(PolicyError, match=f"{path}: not UTF-8"):
        RegoEngine.load(tmp_path)


# -- engine_for ---------------------------------------------------------------------------------


@dataclass
class Settings:
    policy_dir: str | None = None
    opa_url: str | None = None


def test_engine_for_picks_in_process_or_opa(tmp_path: Path) -> None:
    _policy(tmp_path, "site.rego", "package site\n\nanswer := 42\n")
    local = engine_for(Settings(policy_dir=str(tmp_path)))
    assert isinstance(local, RegoEngine)
    assert local.query("data.site.answer", {}) == 42
    assert isinstance(engine_for(Settings()), RegoEngine)
    remote = engine_for(Settings(opa_url="http://127.0.0.1:8181"))
    assert isinstance(remote, OpaEngine)
    assert remote.describe() == "OPA at http://127.0.0.1:8181"
    remote.close()
