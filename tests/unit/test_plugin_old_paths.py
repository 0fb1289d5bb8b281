"""Plugins written against the import paths of StreamForge 0.1 still load, with a warning."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from streamforge.message import Message
from streamforge.plugin import load_plugins, registry
from streamforge.plugin.testing import PluginTestContext

OLD_STYLE_PLUGIN = '''
from streamforge.components import BuildContext, Field, Processor, register_processor
from streamforge.pipeline import ProcessorChain
from streamforge.stateful import KeyedProcessor
from streamforge.runtime.metrics import component_metrics


@register_processor("old_style_count", fields=[Field("start", "int", default=0)])
class OldStyleCount(KeyedProcessor):
    """Counts readings per series, keyed by the old default key."""

    def __init__(self, conf, ctx: BuildContext) -> None:
        self.start = conf.get("start", 0)
        self.metrics = component_metrics(ctx.stream, ctx.label)

    def process_key(self, key, batch, state):
        n = state if state is not None else self.start
        for msg in batch:
            n += 1
            msg.metadata["series"] = key
            msg.metadata["n"] = n
        return batch, n
'''

OLD_PATHS = [
    "streamforge.components",
    "streamforge.pipeline",
    "streamforge.stateful",
    "streamforge.runtime.metrics",
]


def test_a_plugin_on_the_old_paths_loads_with_a_deprecation_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in OLD_PATHS:  # each old path warns when first imported
        monkeypatch.delitem(sys.modules, name, raising=False)
    plugin = tmp_path / "old_style_plugin.py"
    plugin.write_text(OLD_STYLE_PLUGIN)
    with pytest.warns(DeprecationWarning) as warned:
        load_plugins([str(plugin)])
    texts = [str(w.message) for w in warned]
    for name in OLD_PATHS:
        assert any(t.startswith(f"{name} is deprecated") for t in texts), texts
    assert all("goes away in StreamForge 0.3" in t for t in texts)

    spec = registry.get("processor", "old_style_count")
    assert spec is not None
    proc = spec.factory({"start": 10}, PluginTestContext(label="counter"))
    readings = [
        Message(value={"asset_id": "press-01", "parameter": "temperature", "value": v})
        for v in (1.0, 2.0)
    ] + [Message(value={"asset_id": "oven-07", "parameter": "power", "value": 3.0})]
    out = proc.process_batch(readings)
    assert [(m.metadata["series"], m.metadata["n"]) for m in out] == [
        ("press-01/temperature", 11),
        ("press-01/temperature", 12),
        ("oven-07/power", 11),
    ]


def test_old_paths_are_the_new_modules() -> None:
    with pytest.warns(DeprecationWarning, match="streamforge.build is deprecated"):
        sys.modules.pop("streamforge.build", None)
        from streamforge.build import StreamBuilder
    from streamforge.engine.instantiate import StreamBuilder as Moved

    assert StreamBuilder is Moved
