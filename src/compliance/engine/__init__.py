"""Evaluation of rules at a date D (SPEC §4): two backends, durable-rules and pure Python, one interface."""

from compliance.engine.base import BACKENDS, EngineBackend, EngineError, get_backend

__all__ = ["BACKENDS", "EngineBackend", "EngineError", "get_backend"]
