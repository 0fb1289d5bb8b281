"""The manager: `streamforge serve`, a REST service that stores, runs and watches streams."""
