"""Loading components: the built-in modules, entry-point plugins, plugin files and modules."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Sequence
from pathlib import Path

from streamforge.plugin.registry import PluginError

__all__ = ["load_builtins", "load_entry_points", "load_plugins"]

_BUILTIN_MODULES = (
    "streamforge.inputs",
    "streamforge.processors",
    "streamforge.outputs",
    "streamforge.caches",
)
_builtins_loaded = False
_entry_points_loaded = False


def load_builtins() -> None:
    """Import every built-in component module (each registers itself), and entry points."""
    global _builtins_loaded, _entry_points_loaded
    if not _builtins_loaded:
        import pkgutil

        for pkg_name in _BUILTIN_MODULES:
            pkg = importlib.import_module(pkg_name)
            for info in pkgutil.iter_modules(pkg.__path__):
                if not info.name.startswith("_"):
                    importlib.import_module(f"{pkg_name}.{info.name}")
        _builtins_loaded = True
    if not _entry_points_loaded:
        _entry_points_loaded = True
        load_entry_points()


def load_entry_points(group: str = "streamforge.plugins") -> None:
    """Load third-party plugins advertised under the `streamforge.plugins` entry-point group."""
    from importlib.metadata import entry_points

    for ep in entry_points(group=group):
        try:
            obj = ep.load()
        except Exception as exc:
            raise PluginError(f"plugin entry point {ep.name!r} ({ep.value}) failed: {exc}") from exc
        if callable(obj) and not isinstance(obj, type):
            obj()


def load_plugins(refs: Sequence[str], base_dir: Path | None = None) -> None:
    """Load plugins given as Python file paths or importable module names."""
    for ref in refs:
        path = Path(ref)
        if base_dir is not None and not path.is_absolute():
            candidate = base_dir / path
            if candidate.exists():
                path = candidate
        if ref.endswith(".py") or path.exists():
            if not path.exists():
                raise PluginError(f"plugin file {ref!r} does not exist")
            mod_name = f"streamforge_plugin_{abs(hash(str(path.resolve())))}"
            if mod_name in sys.modules:
                continue
            spec = importlib.util.spec_from_file_location(mod_name, path)
            if spec is None or spec.loader is None:
                raise PluginError(f"cannot load plugin file {ref!r}")
            module = importlib.util.module_from_spec(spec)
            sys.modules[mod_name] = module
            try:
                spec.loader.exec_module(module)
            except Exception as exc:
                del sys.modules[mod_name]
                raise PluginError(f"plugin file {ref!r} failed to load: {exc}") from exc
        else:
            try:
                importlib.import_module(ref)
            except ImportError as exc:
                raise PluginError(f"plugin module {ref!r} cannot be imported: {exc}") from exc
