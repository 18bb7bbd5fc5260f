"""One module per schema revision; see docs/storage.md for adding one."""
