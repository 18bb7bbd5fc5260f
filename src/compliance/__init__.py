"""compliance: holds government agencies to their targets with declarative rules, tasks and an audit log."""

__version__ = "0.1.0"
