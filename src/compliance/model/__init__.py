"""Domain models: pure data, no I/O."""
