"""Third-party plugins advertised under the `streamforge.plugins` entry-point group."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from streamforge.plugin import PluginError, load_entry_points, registry

PLUGIN_MODULE = '''
from streamforge.plugin import Processor, register_processor

@register_processor("{name}")
class Tagged(Processor):
    """Adds a tag to every message's metadata."""

    def __init__(self, conf, ctx):
        pass

    def process_batch(self, batch):
        for msg in batch:
            msg.metadata["tagged"] = "yes"
        return batch
'''


def install_fake_distribution(site: Path, module: str, body: str, target: str) -> None:
    """A minimal installed distribution (dist-info with entry_points.txt) under `site`."""
    (site / f"{module}.py").write_text(body)
    dist = site / f"{module}-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(f"[streamforge.plugins]\n{module} = {target}\n")


def test_an_installed_plugin_registers_through_its_entry_point(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_fake_distribution(
        tmp_path, "sf_ep_tagger", PLUGIN_MODULE.format(name="ep_tagger"), "sf_ep_tagger"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    assert registry.get("processor", "ep_tagger") is None
    load_entry_points()
    spec = registry.get("processor", "ep_tagger")
    assert spec is not None
    assert spec.summary == "Adds a tag to every message's metadata."


def test_a_broken_plugin_is_named_in_the_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_fake_distribution(tmp_path, "sf_ep_broken", "import not_a_module_anywhere\n",
                              "sf_ep_broken")  # fmt: skip
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(PluginError, match="sf_ep_broken"):
        load_entry_points()


def test_the_cli_reports_a_broken_plugin_in_one_line(tmp_path: Path) -> None:
    install_fake_distribution(tmp_path, "sf_ep_broken2", "raise RuntimeError('boom')\n",
                              "sf_ep_broken2")  # fmt: skip
    proc = subprocess.run(
        [sys.executable, "-m", "streamforge", "list", "processors"],
        env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 1
    assert "sf_ep_broken2" in proc.stderr and "boom" in proc.stderr
    assert "Traceback" not in proc.stderr
