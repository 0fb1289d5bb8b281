"""The engine: components instantiated from configs, keyed stages, the Bytewax dataflow,
its sources and sinks, and running it."""
