"""Built-in processors: one module per component, importable as streamforge.processors.<name>."""
