"""docs/components.md is generated from the component specs and must match them."""

from __future__ import annotations

from pathlib import Path

from streamforge.docs_gen import builtin_specs, main, render_components_markdown
from streamforge.plugin import KINDS, load_plugins

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "components.md"
PLUGIN = ROOT / "examples" / "plugins" / "streamforge-unit-convert" / "streamforge_unit_convert.py"


def test_committed_components_doc_matches_the_specs() -> None:
    assert DOC.read_text(encoding="utf-8") == render_components_markdown(), (
        "docs/components.md is stale: run `python -m streamforge.docs_gen`"
    )


def test_every_builtin_component_and_field_is_documented() -> None:
    text = render_components_markdown()
    for kind in KINDS:
        specs = builtin_specs(kind)
        assert specs, f"no built-in {kind}s registered"
        for spec in specs:
            assert f"### `{spec.name}`" in text
            for field in spec.fields:
                assert f"| `{field.name}` |" in text


def test_plugins_loaded_in_the_process_stay_out_of_the_reference() -> None:
    before = render_components_markdown()
    load_plugins([str(PLUGIN)])
    assert render_components_markdown() == before
    assert "unit_convert" not in before


def test_check_mode_reports_a_stale_file(tmp_path: Path) -> None:
    stale = tmp_path / "components.md"
    stale.write_text("# Components\n", encoding="utf-8")
    assert main(["--check", "-o", str(stale)]) == 1
    assert main(["-o", str(stale)]) == 0
    assert main(["--check", "-o", str(stale)]) == 0
