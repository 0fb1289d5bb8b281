"""Real protocol peers started by pytest fixtures on free loopback ports."""
