"""StreamForge: declarative, Benthos-style stream processing for industrial data on Bytewax."""

from streamforge import _moved
from streamforge.message import Message

__version__ = "0.1.0"
__all__ = ["Message", "__version__"]

_moved.install()
