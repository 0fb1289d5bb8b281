"""Built-in caches: one module per cache type, importable as streamforge.caches.<name>."""
