"""Built-in outputs: one module per component, importable as streamforge.outputs.<name>."""
