"""The Bloblang function and method library; importing this registers every module in it."""

import importlib
import pkgutil


def load_all() -> None:
    """Import every library module so its functions and methods register."""
    for info in pkgutil.iter_modules(__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"{__name__}.{info.name}")
