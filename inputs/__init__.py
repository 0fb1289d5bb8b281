"""Built-in inputs: one module per component, importable as streamforge.inputs.<name>."""
